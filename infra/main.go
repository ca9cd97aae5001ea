// Command infra is the CDK app of keyspaces-cdc-s3: it reads the context parameters
// (docs/deploy.md, section "Context parameters"), imports what exists (VPC, bucket, image)
// without lookups, and wires the KeyspacesCdcToS3 construct into one stack checked by cdk-nag.
package main

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	cdc "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs"
)

// DefaultStackName is the stack's name unless context parameter stackName says otherwise.
const DefaultStackName = "KeyspacesCdcToS3"

// propParam maps the construct's props to the context parameters that set them, so a
// construct validation error names the parameter the user typed.
var propParam = map[string]string{
	"Keyspace": "keyspace", "Table": "table", "StreamArn": "streamArn", "KeyspacesRegion": "keyspacesRegion",
	"S3Region": "s3Region", "Prefix": "prefix", "Format": "format", "Compression": "compression",
	"ExistingBucket": "bucketName", "CellMetadata": "cellMetadata", "ApplicationName": "applicationName",
	"StartPosition": "startPosition", "FlushRecords": "flushRecords", "FlushBytes": "flushBytes",
	"FlushInterval": "flushInterval", "MaxLeasesPerWorker": "maxLeasesPerWorker", "MaxStealsPerCycle": "maxStealsPerCycle", "LogLevel": "logLevel",
	"MetricsNamespace": "metricsNamespace", "ContainerImage": "image", "ImageUri": "image",
	"DesiredCount": "desiredCount", "Cpu": "cpu", "MemoryMiB": "memory", "Architecture": "arch",
	"LogRetention": "logRetentionDays", "ExistingVpc": "vpcId", "VpcCidr": "vpcCidr", "MaxAzs": "maxAzs", "RouteTableIds": "routeTableIds",
	"AlarmEmails": "alarmEmails", "Alarms.Lag.Threshold": "lagAlarmMillis",
	"Autoscaling.MinTasks": "minTasks", "Autoscaling.MaxTasks": "maxTasks",
	"GlueTable.DatabaseName": "glueDatabase", "GlueTable.TableName": "glueTableName",
	"GlueTable.RowColumns": "glueTable", "DashboardName": "dashboardName",
}

var (
	accountID = regexp.MustCompile(`^\d{12}$`)
	region    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	stackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	vpcID     = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetID  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgID      = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	rtbID     = regexp.MustCompile(`^rtb-[0-9a-f]{8,17}$`)
	azName    = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}[a-z]$|^[a-z]{3}\d-az\d+$`)
	s3Bucket  = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// alarmNames are the values of context parameter disableAlarms.
var alarmNames = []string{"Lag", "Stalled", "PoisonRecords", "TrimmedData", "RunningTasks", "Throttling"}

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
	ctx := context{app}
	var errs []error
	str := func(key string, re *regexp.Regexp, what string) string {
		v, err := ctx.str(key)
		if err == nil && v != "" && re != nil && !re.MatchString(v) {
			err = &ParamError{key, fmt.Sprintf("%q is not %s", v, what)}
		}
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	boolean := func(key string) *bool {
		v, err := ctx.boolean(key)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	integer := func(key string, lo, hi int) *int {
		v, err := ctx.integer(key, lo, hi)
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	ids := func(key string, re *regexp.Regexp, what string) []string {
		v, err := ctx.list(key)
		for _, id := range v {
			if err == nil && !re.MatchString(id) {
				err = &ParamError{key, fmt.Sprintf("%q is not %s", id, what)}
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
		return v
	}
	deref := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}

	name := str("stackName", stackName, "a stack name (a letter, then letters, digits, -)")
	if name == "" {
		name = DefaultStackName
	}
	env := &awscdk.Environment{}
	if a := str("account", accountID, "an account id (12 digits)"); a != "" {
		env.Account = jsii.String(a)
	}
	if r := str("region", region, "a region name (e.g. us-east-1)"); r != "" {
		env.Region = jsii.String(r)
	}

	props := &cdc.KeyspacesCdcToS3Props{
		Keyspace:           str("keyspace", nil, ""),
		Table:              str("table", nil, ""),
		StreamArn:          str("streamArn", nil, ""),
		KeyspacesRegion:    str("keyspacesRegion", nil, ""),
		S3Region:           str("s3Region", nil, ""),
		Prefix:             str("prefix", nil, ""),
		Format:             strings.ToLower(str("format", nil, "")),
		Compression:        strings.ToLower(str("compression", nil, "")),
		ApplicationName:    str("applicationName", nil, ""),
		StartPosition:      strings.ToUpper(str("startPosition", nil, "")),
		FlushRecords:       deref(integer("flushRecords", 0, 1_000_000)),
		MaxLeasesPerWorker: deref(integer("maxLeasesPerWorker", 0, 100_000)),
		MaxStealsPerCycle:  deref(integer("maxStealsPerCycle", 0, 1000)),
		LogLevel:           strings.ToLower(str("logLevel", nil, "")),
		MetricsNamespace:   str("metricsNamespace", nil, ""),
		ImageUri:           str("image", nil, ""),
		DesiredCount:       integer("desiredCount", 0, 1000),
		Cpu:                deref(integer("cpu", 0, 16384)),
		MemoryMiB:          deref(integer("memory", 0, 122880)),
		Architecture:       str("arch", nil, ""),
		VpcCidr:            str("vpcCidr", nil, ""),
		MaxAzs:             deref(integer("maxAzs", 1, 6)),
		DashboardName:      str("dashboardName", regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`), "a dashboard name (letters, digits, _ -)"),

		KeyspacesEndpoint:        boolean("keyspacesEndpoint"),
		KeyspacesStreamsEndpoint: boolean("keyspacesStreamsEndpoint"),
		EcrEndpoints:             boolean("ecrEndpoints"),
		CloudWatchEndpoints:      boolean("cloudWatchEndpoints"),
		StsEndpoint:              boolean("stsEndpoint"),
		DynamoDbEndpoint:         boolean("dynamoDbEndpoint"),
		S3Endpoint:               boolean("s3Endpoint"),
		Dashboard:                boolean("dashboard"),
	}
	if b := boolean("kinesisEndpoint"); b != nil && *b {
		errs = append(errs, &ParamError{"kinesisEndpoint", "not needed: this consumer reads the Keyspaces Streams API (cassandra-streams endpoint) and checkpoints in DynamoDB; it never calls Kinesis"})
	}
	if b := boolean("cellMetadata"); b != nil {
		props.CellMetadata = *b
	}
	if b := boolean("destroyOnRemoval"); b != nil {
		props.BucketRemovalPolicyDestroy = *b
	}
	if v := integer("flushBytes", 0, 1<<34); v != nil {
		props.FlushBytes = int64(*v)
	}
	if v := str("flushInterval", nil, ""); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, &ParamError{"flushInterval", fmt.Sprintf("%q is not a duration (e.g. 60s, 5m)", v)})
		}
		props.FlushInterval = d
	}
	if v := integer("logRetentionDays", 1, 3653); v != nil {
		r, ok := retentionDays[*v]
		if !ok {
			errs = append(errs, &ParamError{"logRetentionDays", fmt.Sprintf("%d is not a CloudWatch Logs retention: one of %s", *v, retentionList())})
		}
		props.LogRetention = r
	}

	// Operations: alarms, notifications, autoscaling, Glue.
	if v := integer("lagAlarmMillis", 1, 86_400_000); v != nil {
		props.Alarms.Lag.Threshold = float64(*v)
	}
	disabled, err := ctx.list("disableAlarms")
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range disabled {
		switch a {
		case "Lag":
			props.Alarms.Lag.Disabled = true
		case "Stalled":
			props.Alarms.Stalled.Disabled = true
		case "PoisonRecords":
			props.Alarms.PoisonRecords.Disabled = true
		case "TrimmedData":
			props.Alarms.TrimmedData.Disabled = true
		case "RunningTasks":
			props.Alarms.RunningTasks.Disabled = true
		case "Throttling":
			props.Alarms.Throttling.Disabled = true
		default:
			errs = append(errs, &ParamError{"disableAlarms", fmt.Sprintf("%q is not an alarm: any of %s", a, strings.Join(alarmNames, ", "))})
		}
	}
	emails, err := ctx.list("alarmEmails")
	if err != nil {
		errs = append(errs, err)
	}
	if len(emails) > 0 {
		props.CreateAlarmTopic, props.AlarmEmails = true, emails
	}
	if b := boolean("alarmTopic"); b != nil {
		props.CreateAlarmTopic = props.CreateAlarmTopic || *b
	}
	if maxTasks := integer("maxTasks", 1, 1000); maxTasks != nil {
		props.Autoscaling = &cdc.AutoscalingConfig{MaxTasks: *maxTasks, MinTasks: deref(integer("minTasks", 1, 1000))}
	} else if integer("minTasks", 1, 1000) != nil {
		errs = append(errs, &ParamError{"minTasks", "needs maxTasks (autoscaling is on when maxTasks is set)"})
	}
	if b := boolean("glueTable"); b != nil && *b {
		props.GlueTable = &cdc.GlueTableConfig{
			DatabaseName: str("glueDatabase", nil, ""),
			TableName:    str("glueTableName", nil, ""),
		}
		cols, err := ctx.list("glueColumns")
		if err != nil {
			errs = append(errs, err)
		}
		for _, c := range cols {
			name, typ, ok := strings.Cut(c, ":")
			if !ok {
				errs = append(errs, &ParamError{"glueColumns", fmt.Sprintf("%q is not name:hiveType", c)})
				continue
			}
			props.GlueTable.RowColumns = append(props.GlueTable.RowColumns, cdc.GlueColumn{Name: name, Type: typ})
		}
		keys, err := ctx.list("glueKeyColumns")
		if err != nil {
			errs = append(errs, err)
		}
		props.GlueTable.KeyColumns = keys
	}

	// What exists: VPC, security groups, route tables, bucket.
	vpcId := str("vpcId", vpcID, "a VPC id (vpc-0123456789abcdef0)")
	subnets := ids("privateSubnetIds", subnetID, "a subnet id (subnet-0123456789abcdef0)")
	azs := ids("availabilityZones", azName, "an availability zone (e.g. us-east-1a)")
	sgs := ids("securityGroupIds", sgID, "a security group id (sg-0123456789abcdef0)")
	rtbs := ids("routeTableIds", rtbID, "a route table id (rtb-0123456789abcdef0)")
	bucketName := str("bucketName", s3Bucket, "a bucket name (3-63 of a-z, 0-9, '.', '-')")
	switch {
	case vpcId == "" && (len(subnets) > 0 || len(sgs) > 0 || len(rtbs) > 0):
		errs = append(errs, &ParamError{"vpcId", "required with privateSubnetIds, securityGroupIds or routeTableIds"})
	case vpcId == "" && len(azs) > 0 && (env.Account == nil || env.Region == nil):
		errs = append(errs, &ParamError{"availabilityZones", "without vpcId they name the zones of the created VPC, which needs account and region (an environment-agnostic stack picks its zones at deploy time)"})
	case vpcId != "" && len(subnets) == 0:
		errs = append(errs, &ParamError{"privateSubnetIds", "required with vpcId: the subnets of the tasks and endpoints"})
	case vpcId != "" && len(azs) != len(subnets):
		errs = append(errs, &ParamError{"availabilityZones", fmt.Sprintf("needs one zone per subnet of privateSubnetIds, in the same order (%d zones for %d subnets)", len(azs), len(subnets))})
	}

	if props.S3Region != "" && bucketName == "" && props.S3Region != orDefault(*orNil(env.Region), "") {
		errs = append(errs, &ParamError{"s3Region", "needs bucketName: the created bucket lives in the stack's region (set region to the same value, or import a bucket of that region)"})
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if err := props.Validate(); err != nil {
		return nil, nil, asParamError(err)
	}

	if vpcId == "" && env.Account != nil && env.Region != nil && len(azs) > 0 {
		// A created VPC in a pinned environment asks for the region's zones: answer from the
		// context, as cdk.context.json would, so synth stays offline.
		app.Node().SetContext(jsii.Sprintf("availability-zones:account=%s:region=%s", *env.Account, *env.Region), azs)
	}
	stack := awscdk.NewStack(app, jsii.String(name), &awscdk.StackProps{
		Env:         env,
		Description: jsii.Sprintf("keyspaces-cdc-s3: CDC of Amazon Keyspaces table %s.%s to S3 (%s)", props.Keyspace, props.Table, orDefault(props.Format, cdc.DefaultFormat)),
	})
	if vpcId != "" {
		props.ExistingVpc = awsec2.Vpc_FromVpcAttributes(stack, jsii.String("ImportedVpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(vpcId),
			AvailabilityZones: jsii.Strings(azs...),
			PrivateSubnetIds:  jsii.Strings(subnets...),
		})
		for i, id := range sgs {
			props.SecurityGroups = append(props.SecurityGroups, awsec2.SecurityGroup_FromSecurityGroupId(stack, jsii.Sprintf("ImportedSecurityGroup%d", i), jsii.String(id), nil))
		}
		props.RouteTableIds = rtbs
	}
	if bucketName != "" {
		attrs := &awss3.BucketAttributes{BucketName: jsii.String(bucketName)}
		if props.S3Region != "" {
			attrs.Region = jsii.String(props.S3Region)
		}
		props.ExistingBucket = awss3.Bucket_FromBucketAttributes(stack, jsii.String("ImportedBucket"), attrs)
	}
	if err := props.Validate(); err != nil {
		return nil, nil, asParamError(err)
	}

	construct := cdc.NewKeyspacesCdcToS3(stack, "Cdc", props)
	awscdk.NewCfnOutput(stack, jsii.String("BucketName"), &awscdk.CfnOutputProps{Value: construct.Bucket.BucketName()})
	awscdk.NewCfnOutput(stack, jsii.String("LeaseTableName"), &awscdk.CfnOutputProps{Value: construct.LeaseTable.TableName()})
	awscdk.NewCfnOutput(stack, jsii.String("ClusterName"), &awscdk.CfnOutputProps{Value: construct.Cluster.ClusterName()})
	awscdk.NewCfnOutput(stack, jsii.String("ServiceName"), &awscdk.CfnOutputProps{Value: construct.Service.ServiceName()})
	awscdk.NewCfnOutput(stack, jsii.String("LogGroupName"), &awscdk.CfnOutputProps{Value: construct.LogGroup.LogGroupName()})
	if construct.Dashboard != nil {
		awscdk.NewCfnOutput(stack, jsii.String("DashboardName"), &awscdk.CfnOutputProps{Value: construct.Dashboard.DashboardName()})
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return stack, construct, nil
}

// asParamError turns the construct's validation error into one naming the context parameter.
func asParamError(err error) error {
	var v *cdc.ValidationError
	if errors.As(err, &v) {
		if p, ok := propParam[v.Prop]; ok {
			return &ParamError{p, v.Message}
		}
	}
	return err
}

func orNil(p *string) *string {
	if p == nil {
		return jsii.String("")
	}
	return p
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// retentionDays are the retentions CloudWatch Logs accepts, in days.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS,
	731: awslogs.RetentionDays_TWO_YEARS, 1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS,
	2192: awslogs.RetentionDays_SIX_YEARS, 2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS,
	3288: awslogs.RetentionDays_NINE_YEARS, 3653: awslogs.RetentionDays_TEN_YEARS,
}

func retentionList() string {
	days := []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, ", ")
}
