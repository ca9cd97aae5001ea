package constructs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// CDK tests never run in parallel: one jsii kernel per process.

func TestMain(m *testing.M) {
	for k, v := range map[string]string{
		// The built-in template validator adds seconds per synth and checks nothing of ours.
		"CDK_VALIDATION": "false",
		// Node 20 is what this machine has; jsii prints a banner on every run without this.
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
	} {
		if err := os.Setenv(k, v); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// check runs CDK assertion calls, which panic on failure, and turns a panic into t.Fatal so
// one failure does not end the whole test binary.
func check(t *testing.T, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("assertion failed: %v", r)
		}
	}()
	f()
}

// synthesized is one synthesized stack and the construct in it.
type synthesized struct {
	stack     awscdk.Stack
	construct *KeyspacesCdcToS3
	template  assertions.Template
	json      map[string]any
}

// stackOptions shape the stack around the construct.
type stackOptions struct {
	region string // concrete stack region; empty: environment-agnostic
	nag    bool   // apply cdk-nag's AWS Solutions checks
	// beforeConstruct adds props that need the stack (imported VPC, bucket...).
	beforeConstruct func(stack awscdk.Stack, props *KeyspacesCdcToS3Props)
}

// synth builds an app with one stack holding the construct and synthesizes it once.
func synth(t *testing.T, props *KeyspacesCdcToS3Props, opts stackOptions) synthesized {
	t.Helper()
	var out synthesized
	check(t, func() {
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir()), Context: appContext(t)})
		stackProps := &awscdk.StackProps{}
		if opts.region != "" {
			stackProps.Env = &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String(opts.region)}
		}
		out.stack = awscdk.NewStack(app, jsii.String("Test"), stackProps)
		if opts.beforeConstruct != nil {
			opts.beforeConstruct(out.stack, props)
		}
		out.construct = NewKeyspacesCdcToS3(out.stack, "Cdc", props)
		if opts.nag {
			awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(nil), nil)
		}
		out.template = assertions.Template_FromStack(out.stack, nil)
		out.json = *out.template.ToJSON()
	})
	return out
}

// appContext is the context of the repository's cdk.json: the construct is tested under the
// feature flags the app runs with.
func appContext(t *testing.T) *map[string]any {
	t.Helper()
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cdk); err != nil {
		t.Fatal(err)
	}
	return &cdk.Context
}

// baseProps are the smallest valid props.
func baseProps() *KeyspacesCdcToS3Props {
	return &KeyspacesCdcToS3Props{Keyspace: "media", Table: "media_content"}
}

// importedVpc imports a VPC with two private subnets, as the app does, without lookups.
func importedVpc(stack awscdk.Stack) awsec2.IVpc {
	return awsec2.Vpc_FromVpcAttributes(stack, jsii.String("Imported"), &awsec2.VpcAttributes{
		VpcId:             jsii.String("vpc-0123456789abcdef0"),
		AvailabilityZones: jsii.Strings("us-east-1a", "us-east-1b"),
		PrivateSubnetIds:  jsii.Strings("subnet-0123456789abcdef0", "subnet-0123456789abcdef1"),
	})
}

// resources returns the template's resources of one type, by logical id.
func (s synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// only returns the one resource of a type, failing when there is not exactly one.
func (s synthesized) only(t *testing.T, typ string) map[string]any {
	t.Helper()
	rs := s.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for _, r := range rs {
		return r["Properties"].(map[string]any)
	}
	return nil
}

// environment returns the consumer container's environment variables.
func (s synthesized) environment(t *testing.T) map[string]any {
	t.Helper()
	td := s.only(t, "AWS::ECS::TaskDefinition")
	c := td["ContainerDefinitions"].([]any)[0].(map[string]any)
	env := map[string]any{}
	for _, e := range c["Environment"].([]any) {
		kv := e.(map[string]any)
		env[kv["Name"].(string)] = kv["Value"]
	}
	return env
}

// statements returns the statements of the policies attached to a role, by Sid.
func (s synthesized) statements(t *testing.T, roleLogicalPrefix string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, p := range s.resources("AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		roles, _ := json.Marshal(props["Roles"])
		if !strings.Contains(string(roles), roleLogicalPrefix) {
			continue
		}
		for i, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			stmt := st.(map[string]any)
			sid, _ := stmt["Sid"].(string)
			if sid == "" {
				sid = fmt.Sprintf("#%d", i)
			}
			out[sid] = stmt
		}
	}
	if len(out) == 0 {
		t.Fatalf("no policy statements for role %s", roleLogicalPrefix)
	}
	return out
}

// list normalizes a policy element (string or array) to a list of JSON texts.
func list(v any) []string {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	var out []string
	for _, it := range items {
		b, _ := json.Marshal(it)
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// endpointServices returns the service names of the VPC endpoints as JSON text.
func (s synthesized) endpointServices() []string {
	var out []string
	for _, r := range s.resources("AWS::EC2::VPCEndpoint") {
		b, _ := json.Marshal(r["Properties"].(map[string]any)["ServiceName"])
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// nagErrors returns cdk-nag's unsuppressed errors of the stack.
func (s synthesized) nagErrors(t *testing.T) []string {
	t.Helper()
	var out []string
	check(t, func() {
		msgs := assertions.Annotations_FromStack(s.stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
		for _, m := range *msgs {
			out = append(out, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
		}
	})
	return out
}

// panicMessage runs f and returns the message of its panic ("" when it does not panic).
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// dockerImages returns the docker image assets of the stack's asset manifest, by hash.
func (s synthesized) dockerImages(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(*awscdk.Stage_Of(s.stack).Outdir(), "Test.assets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DockerImages map[string]any `json:"dockerImages"`
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatal(err)
	}
	return manifest.DockerImages
}
