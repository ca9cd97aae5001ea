// Command infra is the CDK app of keyspaces-cdc-s3: it reads the context parameters (one row
// each in params.go, documented in docs/deploy.md; the consumer's come from consumer/config's
// table of settings), imports what exists (VPC, bucket, image) without lookups, and wires the
// KeyspacesCdcToS3 construct into one stack checked by cdk-nag. The construct checks the
// props, once.
package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
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
}

// readParams reads every parameter of ps and checks those that go together. The error joins
// every bad parameter's.
func readParams(c appContext, ps []param) (*inputs, error) {
	in := &inputs{stackName: DefaultStackName}
	var errs []error
	for _, p := range ps {
		v, err := p.read.read(c, p.key)
		switch {
		case err != nil:
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
	errs = append(errs, in.check()...)
	return in, errors.Join(errs...)
}

// check reports the parameters that need or exclude others.
func (in *inputs) check() []error {
	var errs []error
	switch {
	case in.vpcID == "" && (len(in.subnets) > 0 || len(in.securityGroups) > 0 || len(in.props.RouteTableIds) > 0):
		errs = append(errs, &ParamError{"vpcId", "required with privateSubnetIds, securityGroupIds or routeTableIds"})
	case in.vpcID == "" && len(in.azs) > 0 && (in.env.Account == nil || in.env.Region == nil):
		errs = append(errs, &ParamError{"availabilityZones", "without vpcId they name the zones of the created VPC, which needs account and region (an environment-agnostic stack picks its zones at deploy time)"})
	case in.vpcID != "" && len(in.subnets) == 0:
		errs = append(errs, &ParamError{"privateSubnetIds", "required with vpcId: the subnets of the tasks and endpoints"})
	case in.vpcID != "" && len(in.azs) != len(in.subnets):
		errs = append(errs, &ParamError{"availabilityZones", fmt.Sprintf("needs one zone per subnet of privateSubnetIds, in the same order (%d zones for %d subnets)", len(in.azs), len(in.subnets))})
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
// that sets the prop (the first row that names it).
func asParamError(err error) error {
	var v *cdc.ValidationError
	if !errors.As(err, &v) {
		return err
	}
	aliases := map[string]string{"ContainerImage": "image"} // the app sets the image by ImageUri
	if key, ok := aliases[v.Prop]; ok {
		return &ParamError{key, v.Message}
	}
	prop, place := v.Prop, ""
	if m := tableProp.FindStringSubmatch(v.Prop); m != nil { // a prop of one table of tables
		place, prop = "tables["+m[1]+"]", m[2]
		if prop == "" {
			return &ParamError{place, v.Message}
		}
		place += "."
	}
	for _, p := range params() {
		if p.prop == prop {
			return &ParamError{place + p.key, v.Message}
		}
	}
	return err
}

// tableProp matches the construct's name of a prop of one table: Tables[1].Format.
var tableProp = regexp.MustCompile(`^Tables\[(\d+)\](?:\.(.+))?$`)
