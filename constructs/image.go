package constructs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsecr"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DockerfilePath is the consumer's Dockerfile, relative to the repository root (the build context).
const DockerfilePath = "consumer/Dockerfile"

// ecrImage matches a private ECR image URI: account, region, repository name.
var ecrImage = regexp.MustCompile(`^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?/([a-z0-9._/-]+)(?::[\w.-]+|@sha256:[0-9a-f]{64})?$`)

// FindSourceDirectory returns the repository root: the nearest directory above this package's
// source file, or else above the working directory, that holds consumer/Dockerfile. Both
// starting points matter: `go test` runs in the package folder and `cdk synth` in the folder
// of cdk.json, and a -trimpath build has no absolute source path.
func FindSourceDirectory() (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, DockerfilePath)); err == nil {
				return dir, nil
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", errors.New("no directory holding " + DockerfilePath + " above this package or the working directory: set SourceDirectory, ImageUri or ContainerImage")
}

// image is the container image of the consumer and, for an ECR URI or an asset, the
// repository the execution role must pull from.
type image struct {
	image awsecs.ContainerImage
	ecr   awsecr.IRepository // nil when the image needs no ECR grant (or grants it itself)
	asset awsecrassets.DockerImageAsset
}

func newImage(scope constructs.Construct, s *settings) (*image, error) {
	switch {
	case s.ContainerImage != nil:
		return &image{image: s.ContainerImage}, nil
	case s.ImageUri != "":
		img := &image{image: awsecs.ContainerImage_FromRegistry(jsii.String(s.ImageUri), nil)}
		if m := ecrImage.FindStringSubmatch(s.ImageUri); m != nil {
			partition := "aws"
			if m[3] != "" {
				partition = "aws-cn"
			}
			img.ecr = awsecr.Repository_FromRepositoryAttributes(scope, jsii.String("ImageRepository"), &awsecr.RepositoryAttributes{
				RepositoryArn:  jsii.Sprintf("arn:%s:ecr:%s:%s:repository/%s", partition, m[2], m[1], m[4]),
				RepositoryName: jsii.String(m[4]),
			})
		}
		return img, nil
	}
	dir := s.SourceDirectory
	if dir == "" {
		var err error
		if dir, err = FindSourceDirectory(); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, DockerfilePath)); err != nil {
		return nil, fmt.Errorf("SourceDirectory %q: %w", dir, err)
	}
	platform := awsecrassets.Platform_LINUX_ARM64()
	if s.architecture == "X86_64" {
		platform = awsecrassets.Platform_LINUX_AMD64()
	}
	// The root .dockerignore keeps the context to Makefile + consumer/, so infra edits and
	// cdk.out never change the image hash.
	asset := awsecrassets.NewDockerImageAsset(scope, jsii.String("Image"), &awsecrassets.DockerImageAssetProps{
		Directory: jsii.String(dir),
		File:      jsii.String(DockerfilePath),
		Platform:  platform,
	})
	return &image{image: awsecs.ContainerImage_FromDockerImageAsset(asset), asset: asset}, nil
}
