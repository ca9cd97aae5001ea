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
// checks as an aspect. Every bad parameter is an error naming it.
func buildStack(app awscdk.App) (awscdk.Stack, *cdc.KeyspacesCdcToS3, error) {
	in, err := readParams(appContext{app}, params())
	if err != nil {
		return nil, nil, err
	}
	stack := in.newStack(app)
	in.importExisting(stack)
	if err := in.props.ValidateIn(stack); err != nil {
		return nil, nil, asParamError(err)
	}
	construct := cdc.NewKeyspacesCdcToS3(stack, "Cdc", &in.props)
	addOutputs(stack, construct)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
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
	return awscdk.NewStack(app, jsii.String(in.stackName), &awscdk.StackProps{
		Env:         &in.env,
		Description: jsii.Sprintf("keyspaces-cdc-s3: CDC of Amazon Keyspaces table %s.%s to S3 (%s)", in.props.Keyspace, in.props.Table, format),
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

// addOutputs names what an operator looks for after a deploy.
func addOutputs(stack awscdk.Stack, c *cdc.KeyspacesCdcToS3) {
	output := func(name string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(name), &awscdk.CfnOutputProps{Value: value})
	}
	output("BucketName", c.Bucket.BucketName())
	output("LeaseTableName", c.LeaseTable.TableName())
	output("ClusterName", c.Cluster.ClusterName())
	output("ServiceName", c.Service.ServiceName())
	output("LogGroupName", c.LogGroup.LogGroupName())
	if c.Dashboard != nil {
		output("DashboardName", c.Dashboard.DashboardName())
	}
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
	for _, p := range params() {
		if p.prop == v.Prop {
			return &ParamError{p.key, v.Message}
		}
	}
	return err
}
