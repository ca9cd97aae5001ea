package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	_jsii_ "github.com/aws/jsii-runtime-go/runtime"

	cdc "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs"
)

// AWS Control Tower's proactive controls are cfn-guard rules, shipped with the cfn-guard binary
// in the npm package @cdklabs/cdk-validator-cfnguard (pinned in infra/package.json, installed
// by make tools). The package is a jsii library without Go bindings, so the app loads the
// installed npm package into its jsii kernel, as generated bindings load theirs, and creates
// the package's own CfnGuardValidator there: a CDK policy-validation plugin that runs beside
// cdk-nag on every synth, offline, and fails it on a violation.
const (
	guardPackage = "@cdklabs/cdk-validator-cfnguard"
	guardVersion = "0.0.62"
	guardClass   = guardPackage + ".CfnGuardValidator"
)

// guardRulesOff are the Control Tower rules the deployment does not meet by design: the
// plugin skips them (by rule file), for the reason given. Every other rule must pass.
var guardRulesOff = []struct{ file, rule, why string }{
	{"ct-s3-pr-2", "CT.S3.PR.2 s3_bucket_logging_enabled_check",
		"the data bucket logs to the access log bucket (constructs tests assert it); the access log bucket cannot log into itself, and another log bucket would only move the finding"},
	{"ct-s3-pr-9", "CT.S3.PR.9 s3_bucket_object_lock_enabled_check",
		"Object Lock can never be turned off once on; S3 refuses it on a server access log destination; on the data bucket it protects only with a default retention, which would block the lifecycle rule that expires the noncurrent versions replays leave. Use your own bucket (bucketName) where WORM is required"},
	{"ct-s3-pr-10", "CT.S3.PR.10 s3_bucket_default_encryption_kms_check",
		"buckets are SSE-S3 by default so readers (Athena, other accounts) need no key grant; bucketEncryptionKey gives the data bucket SSE-KMS; server access logs are delivered only to SSE-S3 buckets"},
	{"ct-lambda-pr-3", "CT.LAMBDA.PR.3 lambda_inside_vpc_check",
		"the only functions are CDK's custom resource providers (default security group rules, prefix list ids, auto-deleting objects with destroyOnRemoval): they run at deploy time and call AWS APIs the isolated VPC has no route to; they read no data"},
}

var registerGuard sync.Once

// addControlTowerRules registers the plugin on the app. The npm package must be installed
// (make tools).
func addControlTowerRules(app awscdk.App) (err error) {
	dir, err := guardPackageDir()
	if err != nil {
		return err
	}
	registerGuard.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("load %s into the jsii kernel: %v", guardPackage, r)
			}
		}()
		var tgz []byte
		if tgz, err = packageTarball(dir); err != nil {
			return
		}
		_jsii_.Load(guardPackage, guardVersion, tgz)
		registerGuardTypes()
	})
	if err != nil {
		return err
	}
	var off []*string
	for _, r := range guardRulesOff {
		off = append(off, jsii.String(r.file))
	}
	plugin := &jsiiProxy_CfnGuardValidator{}
	_jsii_.Create(guardClass, []any{&cfnGuardValidatorProps{DisabledRules: &off}}, plugin)
	awscdk.Validations_Of(app).AddPlugins(plugin)
	return nil
}

// guardPackageDir is the installed package, of the pinned version.
func guardPackageDir() (string, error) {
	root, err := cdc.FindSourceDirectory()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "infra", "node_modules", filepath.FromSlash(guardPackage))
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", fmt.Errorf("%s is not installed (run make tools, or give -c controlTowerRules=false): %w", guardPackage, err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != guardVersion {
		return "", fmt.Errorf("%s is version %q, want %s (run make tools)", guardPackage, pkg.Version, guardVersion)
	}
	return dir, nil
}

// packageTarball packs the installed package as npm would (under package/), with the
// cfn-guard binary of this machine only (the package carries four).
func packageTarball(dir string) ([]byte, error) {
	platform := map[string]string{"linux": "ubuntu", "darwin": "macos"}[runtime.GOOS]
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	keep := "bin/" + platform + "/" + arch + "/"
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, dir+string(filepath.Separator)))
		if strings.HasPrefix(rel, "bin/") && !strings.HasPrefix(rel, keep) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: "package/" + rel, Mode: int64(info.Mode().Perm()), Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(b)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = gz.Close()
	}
	return buf.Bytes(), err
}

// registerGuardTypes tells the jsii runtime the Go types of the package's class and props,
// as generated bindings do.
func registerGuardTypes() {
	_jsii_.RegisterClass(guardClass, reflect.TypeOf((*cfnGuardValidator)(nil)).Elem(),
		[]_jsii_.Member{
			_jsii_.MemberProperty{JsiiProperty: "name", GoGetter: "Name"},
			_jsii_.MemberProperty{JsiiProperty: "ruleIds", GoGetter: "RuleIds"},
			_jsii_.MemberProperty{JsiiProperty: "version", GoGetter: "Version"},
			_jsii_.MemberMethod{JsiiMethod: "validate", GoMethod: "Validate"},
		},
		func() any { return &jsiiProxy_CfnGuardValidator{} })
	_jsii_.RegisterStruct(guardPackage+".CfnGuardValidatorProps", reflect.TypeOf((*cfnGuardValidatorProps)(nil)).Elem())
}

// cfnGuardValidator is the package's CfnGuardValidator: a policy-validation plugin.
type cfnGuardValidator interface {
	awscdk.IPolicyValidationPlugin
}

// cfnGuardValidatorProps are the props of CfnGuardValidator this app sets.
type cfnGuardValidatorProps struct {
	// DisabledRules are rule file names (ct-s3-pr-2) the plugin skips.
	DisabledRules *[]*string `field:"optional" json:"disabledRules" yaml:"disabledRules"`
}

// jsiiProxy_CfnGuardValidator is the Go side of the plugin object in the kernel. The jsii
// runtime tells proxied members from Go overrides by this name prefix, hence the underscore.
//
//nolint:revive // the jsii runtime needs the jsiiProxy_ prefix
type jsiiProxy_CfnGuardValidator struct {
	_ byte // padding
}

func (p *jsiiProxy_CfnGuardValidator) Validate(c awscdk.IPolicyValidationContext) *awscdk.PolicyValidationPluginReport {
	var r *awscdk.PolicyValidationPluginReport
	_jsii_.Invoke(p, "validate", []any{c}, &r)
	return r
}

func (p *jsiiProxy_CfnGuardValidator) Name() *string {
	var r *string
	_jsii_.Get(p, "name", &r)
	return r
}

func (p *jsiiProxy_CfnGuardValidator) RuleIds() *[]*string {
	var r *[]*string
	_jsii_.Get(p, "ruleIds", &r)
	return r
}

func (p *jsiiProxy_CfnGuardValidator) Version() *string {
	var r *string
	_jsii_.Get(p, "version", &r)
	return r
}
