// Command infra is the CDK app of keyspaces-cdc-s3: it reads the context parameters (one row
// each in params.go, documented in docs/deploy.md; the consumer's come from consumer/config's
// table of settings), imports what exists (VPC, bucket, image) without lookups, and wires the
// KeyspacesCdcToS3 construct into one stack checked by cdk-nag. The construct checks the
// props, once.
package main

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	cdc "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// DefaultStackName is the stack's name unless context parameter stackName says otherwise.
const DefaultStackName = "KeyspacesCdcToS3"

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	if _, _, err := buildStack(app); err != nil {
		fmt.Fprintln(os.Stderr, "keyspaces-cdc-s3:", err)
		os.Exit(1)
	}
	app.Synth(nil)
}

// buildStack reads the context of app and adds the stack, with cdk-nag's AWS Solutions
// checks as an aspect and AWS Control Tower's proactive rules as a policy-validation plugin
// (guard.go). Every bad parameter is an error naming it.
func buildStack(app awscdk.App) (awscdk.Stack, *cdc.KeyspacesCdcToS3, error) {
	in, err := readParams(appContext{app: app}, params())
	if err != nil {
		return nil, nil, err
	}
	stack := in.newStack(app)
	in.importExisting(stack)
	if err := in.props.ValidateIn(stack); err != nil {
		return nil, nil, asParamError(err)
	}
	construct := cdc.NewKeyspacesCdcToS3(stack, "Cdc", &in.props)
	addOutputs(stack, construct, len(in.props.Tables) > 0)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	if !in.skipControlTower {
		if err := addControlTowerRules(app); err != nil {
			return nil, nil, err
		}
	}
	return stack, construct, nil
}

// inputs are the context parameters read: the construct's props, and what the stack and the
// imports need.
type inputs struct {
	props          cdc.KeyspacesCdcToS3Props
	stackName      string
	env            awscdk.Environment
	vpcID          string
	subnets, azs   []string
	securityGroups []string
	bucketName     string
	// skipControlTower: controlTowerRules=false, no cfn-guard plugin at synth.
	skipControlTower bool
	demo             bool            // synthesize for the sample table (context parameter demo)
	given            map[string]bool // the parameters set (present, not empty), valid or not
	bad              map[string]bool // the parameters whose value is wrong (reported already)
}

// The sample table that context parameter demo names: the local emulator's (make demo).
const demoKeyspace, demoTable = "media", "media_content"

// readParams reads every parameter of ps and checks those that go together. The error joins
// every bad parameter's, and names every context key that is no parameter.
func readParams(c appContext, ps []param) (*inputs, error) {
	in, errs := readEach(c, ps)
	errs = append(errs, in.table()...)
	errs = append(errs, in.check()...)
	return in, errors.Join(errs...)
}

// readEach reads every parameter of ps on its own, and names the context keys that are no
// parameter.
func readEach(c appContext, ps []param) (*inputs, []error) {
	in := &inputs{stackName: DefaultStackName, given: map[string]bool{}, bad: map[string]bool{}}
	errs := unknownKeys(c, ps)
	for _, p := range ps {
		raw, present := c.raw(p.key)
		in.given[p.key] = present && raw != ""
		v, err := p.read.read(c, p.key)
		switch {
		case err != nil:
			in.bad[p.key] = true
			errs = append(errs, err)
		case v == nil:
		case p.store != nil:
			if err := p.store(in, v); err != nil {
				errs = append(errs, err)
			}
		default:
			setProp(&in.props, p.prop, v)
		}
	}
	return in, errs
}

// unknownKeys reports every key of the context that is neither a parameter of ps nor the
// CDK's own (feature flags "@aws-cdk/...", "aws:cdk:..." and lookups, which hold a ':'): a
// mistyped -c tabel=orders would otherwise be ignored. Each error lists the parameters, the
// closest first.
func unknownKeys(c appContext, ps []param) []error {
	known := make([]string, len(ps))
	for i, p := range ps {
		known[i] = p.key
	}
	var errs []error
	for _, key := range c.keys() {
		if slices.Contains(known, key) || strings.HasPrefix(key, "@") || strings.Contains(key, ":") || slices.Contains(cdkContextKeys, key) {
			continue
		}
		closest := config.Closest(key, known)
		errs = append(errs, &ParamError{key, fmt.Sprintf("unknown; did you mean %s? The parameters, closest first: %s (docs/deploy.md#context-parameters)",
			closest[0], strings.Join(closest, ", "))})
	}
	return errs
}

// cdkContextKeys are the CDK CLI's own context keys without a ':'.
var cdkContextKeys = []string{"cli-telemetry"}

// table settles which table the stack reads: the keyspace and table given (or named by
// streamArn), or with demo the sample table. Without either, synth fails: a stack for a table
// the user never named must not be one forgotten parameter away.
func (in *inputs) table() []error {
	named := in.props.Keyspace != "" || in.props.Table != "" || in.props.StreamArn != "" || len(in.props.Tables) > 0
	given := in.given["keyspace"] || in.given["table"] || in.given["tables"]
	switch {
	case in.demo && (named || given):
		return []error{&ParamError{"demo", fmt.Sprintf("names the sample table %s.%s: give either demo or keyspace and table (or streamArn, or tables), not both", demoKeyspace, demoTable)}}
	case in.demo:
		in.props.Keyspace, in.props.Table = demoKeyspace, demoTable
	case !named && !given:
		return []error{&ParamError{"keyspace", fmt.Sprintf("required, with table: the table whose changes are copied (-c keyspace=shop -c table=orders, -c streamArn=... or -c tables=...); "+
			"to synthesize the sample table %s.%s for a review, -c demo=true (make synth without CDK_ARGS does)", demoKeyspace, demoTable)}}
	}
	if a, ok := config.ParseStreamARN(in.props.StreamArn); ok {
		// As the construct and the consumer do; here too, for the stack's description.
		in.props.Keyspace = cmp.Or(in.props.Keyspace, a.Keyspace)
		in.props.Table = cmp.Or(in.props.Table, a.Table)
	}
	return nil
}

// check reports the parameters that need or exclude others, every one at once.
func (in *inputs) check() []error {
	var errs []error
	vpc := in.given["vpcId"]
	var needVpc []string
	for _, key := range []string{"privateSubnetIds", "securityGroupIds", "routeTableIds"} {
		if in.given[key] {
			needVpc = append(needVpc, key)
		}
	}
	if !vpc && len(needVpc) > 0 {
		errs = append(errs, &ParamError{"vpcId", "required with " + strings.Join(needVpc, ", ") + " (they name parts of an existing VPC)"})
	}
	if !vpc && in.given["availabilityZones"] && (in.env.Account == nil || in.env.Region == nil) {
		errs = append(errs, &ParamError{"availabilityZones", "without vpcId they name the zones of the created VPC, which needs account and region (an environment-agnostic stack picks its zones at deploy time)"})
	}
	if vpc && len(in.subnets) == 0 && !in.bad["privateSubnetIds"] {
		errs = append(errs, &ParamError{"privateSubnetIds", "required with vpcId: the subnets of the tasks and endpoints"})
	}
	if vpc && len(in.subnets) > 0 && !in.bad["availabilityZones"] && len(in.azs) != len(in.subnets) {
		errs = append(errs, &ParamError{"availabilityZones", fmt.Sprintf("needs one zone per subnet of privateSubnetIds, in the same order (%d zones for %d subnets)", len(in.azs), len(in.subnets))})
	}
	for _, key := range []string{"vpcCidr", "maxAzs"} {
		if vpc && in.given[key] {
			errs = append(errs, &ParamError{key, "describes the created VPC: not with vpcId"})
		}
	}
	if s3 := in.props.S3Region; s3 != "" && in.bucketName == "" && (in.env.Region == nil || s3 != *in.env.Region) {
		errs = append(errs, &ParamError{"s3Region", "needs bucketName: the created bucket lives in the stack's region (set region to the same value, or import a bucket of that region)"})
	}
	return errs
}

// newStack adds the stack to app. A created VPC in a pinned environment asks for the
// region's zones: they are answered from the context, as cdk.context.json would, so synth
// stays offline.
func (in *inputs) newStack(app awscdk.App) awscdk.Stack {
	if in.vpcID == "" && in.env.Account != nil && in.env.Region != nil && len(in.azs) > 0 {
		app.Node().SetContext(jsii.Sprintf("availability-zones:account=%s:region=%s", *in.env.Account, *in.env.Region), in.azs)
	}
	format := in.props.Format
	if format == "" {
		format = config.Defaults().Format
	}
	description := fmt.Sprintf("keyspaces-cdc-s3: CDC of Amazon Keyspaces table %s.%s to S3 (%s)", in.props.Keyspace, in.props.Table, format)
	if n := len(in.props.Tables); n > 0 {
		description = fmt.Sprintf("keyspaces-cdc-s3: CDC of %d Amazon Keyspaces tables to S3", n)
	}
	return awscdk.NewStack(app, jsii.String(in.stackName), &awscdk.StackProps{
		Env:         &in.env,
		Description: jsii.String(description),
	})
}

// importExisting imports, without lookups, the VPC, security groups and bucket the
// parameters name into the props.
func (in *inputs) importExisting(stack awscdk.Stack) {
	if in.vpcID != "" {
		in.props.ExistingVpc = awsec2.Vpc_FromVpcAttributes(stack, jsii.String("ImportedVpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(in.vpcID),
			AvailabilityZones: jsii.Strings(in.azs...),
			PrivateSubnetIds:  jsii.Strings(in.subnets...),
		})
		for i, id := range in.securityGroups {
			in.props.SecurityGroups = append(in.props.SecurityGroups, awsec2.SecurityGroup_FromSecurityGroupId(stack, jsii.Sprintf("ImportedSecurityGroup%d", i), jsii.String(id), nil))
		}
	}
	if in.bucketName != "" {
		attrs := &awss3.BucketAttributes{BucketName: jsii.String(in.bucketName)}
		if in.props.S3Region != "" {
			attrs.Region = jsii.String(in.props.S3Region)
		}
		in.props.ExistingBucket = awss3.Bucket_FromBucketAttributes(stack, jsii.String("ImportedBucket"), attrs)
	}
}

// addOutputs names what an operator looks for after a deploy: per table (with tables, each
// output's name starts with the table's keyspace and table, e.g. ShopOrdersServiceName).
func addOutputs(stack awscdk.Stack, c *cdc.KeyspacesCdcToS3, multi bool) {
	output := func(name, description string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(description)})
	}
	output("BucketName", "the bucket of the files", c.Bucket.BucketName())
	output("ClusterName", "the ECS cluster of the services", c.Cluster.ClusterName())
	if c.Dashboard != nil {
		output("DashboardName", "the CloudWatch dashboard", c.Dashboard.DashboardName())
	}
	if c.AlarmTopic != nil {
		output("AlarmTopicArn", "the SNS topic of the alarms: subscribe whoever is on call", c.AlarmTopic.TopicArn())
	}
	for _, t := range c.Tables {
		prefix, of := "", ""
		if multi {
			prefix, of = outputName(t.Keyspace)+outputName(t.Table), " of "+t.Keyspace+"."+t.Table
		}
		output(prefix+"LeaseTableName", "the lease table"+of, t.LeaseTable.TableName())
		output(prefix+"ServiceName", "the ECS service"+of, t.Service.ServiceName())
		output(prefix+"LogGroupName", "the log group"+of, t.LogGroup.LogGroupName())
	}
}

// outputName is a CQL name as part of an output name: each _-separated word capitalized.
func outputName(name string) string {
	var b strings.Builder
	for _, w := range strings.Split(name, "_") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// asParamError turns the construct's validation error into one naming the context parameter
// that sets the prop (the first row that names it), and the parameters, not the props, in
// its message: the user typed -c cpu=..., not Cpu.
func asParamError(err error) error {
	var v *cdc.ValidationError
	if !errors.As(err, &v) {
		return err
	}
	keys := propKeys()
	prop, place := v.Prop, ""
	if m := tableProp.FindStringSubmatch(v.Prop); m != nil { // a prop of one table of tables
		place, prop = "tables["+m[1]+"]", m[2]
		if prop == "" {
			return &ParamError{place, inParamNames(v.Message, keys)}
		}
		place += "."
	}
	if key, ok := keys[prop]; ok {
		return &ParamError{place + key, inParamNames(v.Message, keys)}
	}
	return err
}

// tableProp matches the construct's name of a prop of one table: Tables[1].Format.
var tableProp = regexp.MustCompile(`^Tables\[(\d+)\](?:\.(.+))?$`)

// propKeys maps each prop the app sets to the first context parameter that sets it.
func propKeys() map[string]string {
	keys := map[string]string{"ContainerImage": "image", "SourceDirectory": "image"} // the app sets the image by ImageUri
	for _, p := range params() {
		if _, seen := keys[p.prop]; !seen && p.prop != "" && !strings.Contains(p.prop, "*") {
			keys[p.prop] = p.key
		}
	}
	return keys
}

// inParamNames rewrites the props a message names as their context parameters (whole words
// only, the longest prop first, so Keyspace.Table becomes keyspace.table and GlueTable.TableName
// glueTableName).
func inParamNames(msg string, keys map[string]string) string {
	props := slices.Collect(maps.Keys(keys))
	slices.SortFunc(props, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, prop := range props {
		re := regexp.MustCompile(`\b` + regexp.QuoteMeta(prop) + `\b`)
		msg = re.ReplaceAllLiteralString(msg, keys[prop])
	}
	return msg
}
