package constructs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// No Docker engine runs here, so the Dockerfile's contract with the construct is checked as text:
// what the task definition relies on must be what the image provides.
func TestDockerfileProvidesWhatTheTaskDefinitionExpects(t *testing.T) {
	root, err := FindSourceDirectory()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, DockerfilePath))
	if err != nil {
		t.Fatal(err)
	}
	var stages []string // the lines of each stage, in order
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, "")
		}
		if len(stages) > 0 && line != "" && !strings.HasPrefix(line, "#") {
			stages[len(stages)-1] += line + "\n"
		}
	}
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[1]
	for _, want := range []string{"golang:1.25-bookworm@sha256:", "COPY Makefile", "COPY consumer/", "make build"} {
		if !strings.Contains(build, want) {
			t.Errorf("build stage lacks %q:\n%s", want, build)
		}
	}
	binary := HealthCheckCommand[1]
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot@sha256:",
		"/src/bin/keyspaces-cdc-s3 " + binary, // make build's output, where the health check runs it
		"USER nonroot",
		`ENTRYPOINT ["` + binary + `"]`,
	} {
		if !strings.Contains(final, want) {
			t.Errorf("final stage lacks %q:\n%s", want, final)
		}
	}

	// Every base image is pinned by a digest (64 hex digits) beside its tag.
	for _, stage := range stages {
		from := strings.Fields(strings.SplitN(stage, "\n", 2)[0])
		image := from[len(from)-1]
		if from[len(from)-2] == "AS" {
			image = from[len(from)-3]
		}
		if _, digest, ok := strings.Cut(image, "@sha256:"); !ok || len(digest) != 64 || strings.Trim(digest, "0123456789abcdef") != "" {
			t.Errorf("base image %s is not pinned by digest", image)
		}
	}
	// The image's user is the task definition's (distroless nonroot is 65532:65532).
	if ContainerUser != "65532:65532" || !strings.Contains(final, "USER nonroot:nonroot") {
		t.Errorf("task definition user %s, image user not nonroot:nonroot", ContainerUser)
	}

	// The build context is the repository root: only Makefile and consumer/ may enter it, or
	// cdk.out copies itself into the asset and every infra edit changes the image hash.
	ignore, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(ignore), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	if len(patterns) < 3 || patterns[0] != "**" || patterns[1] != "!Makefile" || patterns[2] != "!consumer/" {
		t.Errorf(".dockerignore %q does not start by excluding everything but Makefile and consumer/", patterns)
	}
}
