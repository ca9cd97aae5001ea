package main

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	cdc "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// param is one context parameter of the app: its key, the construct prop it sets, how its
// value is read, and what it means (the docs' table comes from these rows).
type param struct {
	key  string
	prop string // field of KeyspacesCdcToS3Props it sets, dotted when nested; "" for the stack's own
	read reader
	// store keeps a value that is not simply the prop's (the stack's own parameters, what is
	// imported once the stack exists, switches that build a nested config); nil: it sets prop.
	store   func(in *inputs, v any) error
	meaning string
}

// reader reads one kind of value from the context; a nil value means absent.
type reader struct {
	what string // the value, for the docs
	read func(c appContext, key string) (any, error)
}

var (
	accountID     = regexp.MustCompile(`^\d{12}$`)
	regionName    = regexp.MustCompile(`^` + config.RegionPattern + `$`)
	stackName     = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	vpcID         = regexp.MustCompile(`^vpc-[0-9a-f]{8,17}$`)
	subnetID      = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgID          = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	rtbID         = regexp.MustCompile(`^rtb-[0-9a-f]{8,17}$`)
	azName        = regexp.MustCompile(`^` + config.RegionPattern + `[a-z]$|^[a-z]{3}\d-az\d+$`)
	dashboardName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
)

// alarmNames are the values of context parameter disableAlarms.
var alarmNames = []string{"Lag", "Stalled", "PoisonRecords", "TrimmedData", "RunningTasks", "Throttling", "SchemaFallback"}

// params are the app's context parameters: the stack's own, then the consumer's settings
// that the construct exposes (from consumer/config's table), then the construct's own.
// Order matters where a row builds a nested config that later rows fill (maxTasks before
// minTasks, glueTable before glueDatabase...).
func params() []param {
	out := stackParams()
	out = append(out, consumerParams()...)
	return append(out, deployParams()...)
}

// stackParams name and place the stack.
func stackParams() []param {
	return []param{
		{key: "stackName", read: matching(stackName, "a stack name (a letter, then letters, digits, -)"),
			store:   func(in *inputs, v any) error { in.stackName = v.(string); return nil },
			meaning: "CloudFormation stack name (default " + DefaultStackName + ")"},
		{key: "account", read: matching(accountID, "an account id (12 digits)"),
			store:   func(in *inputs, v any) error { in.env.Account = jsii.String(v.(string)); return nil },
			meaning: "pin the stack's account (default: environment-agnostic)"},
		{key: "region", read: matching(regionName, "a region name (e.g. us-east-1)"),
			store:   func(in *inputs, v any) error { in.env.Region = jsii.String(v.(string)); return nil },
			meaning: "pin the stack's region; with a created VPC also give availabilityZones, or synth must look them up"},
		{key: "controlTowerRules", read: boolean(),
			store:   func(in *inputs, v any) error { in.skipControlTower = !v.(bool); return nil },
			meaning: "run AWS Control Tower's proactive rules (cfn-guard, @cdklabs/cdk-validator-cfnguard) at synth and fail on a violation (default true; false for an account without them)"},
		{key: "demo", read: boolean(),
			store:   func(in *inputs, v any) error { in.demo = v.(bool); return nil },
			meaning: "read the sample table " + demoKeyspace + "." + demoTable + ", to review the stack without a table of your own (make synth without CDK_ARGS sets it); not with keyspace, table or streamArn"},
	}
}

// consumerParams are the consumer's settings that have a context parameter: each sets its
// construct prop, which the construct checks against the consumer's table.
func consumerParams() []param {
	var out []param
	for _, s := range config.Settings() {
		if s.Context != "" {
			out = append(out, param{key: s.Context, prop: s.Prop, read: readerOf(s), meaning: s.Meaning})
		}
	}
	return out
}

// readerOf reads a setting of the consumer as its prop's type. It checks only the type: the
// construct checks the value (patterns, allowed values, ranges), so they live in one table.
func readerOf(s config.Setting) reader {
	switch s.Kind {
	case config.Choice:
		return choice(s.Allowed)
	case config.Compression:
		var all []string
		for _, f := range config.Formats {
			all = append(all, config.Compressions[f]...)
		}
		return choice(all)
	case config.Bool:
		return boolean()
	case config.Int, config.Bytes:
		return whole(math.MinInt, math.MaxInt)
	case config.Duration:
		return duration()
	}
	return text()
}

// deployParams set the construct's own props: image, compute, network, storage, operations.
func deployParams() []param {
	bucket, _ := config.Lookup("CDC_BUCKET")
	return []param{
		{key: "tables", prop: "Tables", read: tables(), store: storeTables,
			meaning: "several tables in one deployment, sharing the network, cluster, bucket and dashboard; replaces keyspace and table (docs/deploy.md, Many tables)"},
		{key: "nestedStacks", prop: "NestedStacks", read: boolean(), meaning: "each table of tables in its own nested stack (one stack holds about 30 tables); choose it before the first deploy"},
		{key: "image", prop: "ImageUri", read: text(), meaning: "run an existing image URI instead of building consumer/Dockerfile as an asset"},
		{key: "desiredCount", prop: "DesiredCount", read: whole(math.MinInt, math.MaxInt), meaning: "tasks (a second one takes over leases within the lease failover time)"},
		{key: "cpu", prop: "Cpu", read: whole(math.MinInt, math.MaxInt), meaning: "Fargate CPU units of the task"},
		{key: "memory", prop: "MemoryMiB", read: whole(math.MinInt, math.MaxInt), meaning: "Fargate memory of the task (MiB), one the CPU allows"},
		{key: "arch", prop: "Architecture", read: text(), meaning: "CPU architecture of the task and the image"},
		{key: "logRetentionDays", prop: "LogRetention", read: retention(), meaning: "retention of the container and flow logs (default 365; Control Tower's CT.CLOUDWATCH.PR.2 fails synth below 365)"},

		{key: "vpcId", prop: "ExistingVpc", read: matching(vpcID, "a VPC id (vpc-0123456789abcdef0)"),
			store: func(in *inputs, v any) error { in.vpcID = v.(string); return nil }, meaning: "import an existing VPC (with privateSubnetIds and availabilityZones)"},
		{key: "privateSubnetIds", prop: "ExistingVpc", read: items(subnetID, "a subnet id (subnet-0123456789abcdef0)"),
			store: func(in *inputs, v any) error { in.subnets = v.([]string); return nil }, meaning: "subnets of the tasks and endpoints in the imported VPC"},
		{key: "availabilityZones", prop: "ExistingVpc", read: items(azName, "an availability zone (e.g. us-east-1a)"),
			store: func(in *inputs, v any) error { in.azs = v.([]string); return nil }, meaning: "zones of privateSubnetIds, in their order; without vpcId, the zones of the created VPC"},
		{key: "securityGroupIds", prop: "SecurityGroups", read: items(sgID, "a security group id (sg-0123456789abcdef0)"),
			store: func(in *inputs, v any) error { in.securityGroups = v.([]string); return nil }, meaning: "security groups of the tasks (with vpcId)"},
		{key: "routeTableIds", prop: "RouteTableIds", read: items(rtbID, "a route table id (rtb-0123456789abcdef0)"), meaning: "route tables of the S3 and DynamoDB gateway endpoints (with vpcId)"},
		{key: "vpcCidr", prop: "VpcCidr", read: text(), meaning: "CIDR block of the created VPC"},
		{key: "maxAzs", prop: "MaxAzs", read: whole(1, 6), meaning: "zones of the created VPC (one private subnet each)"},
		{key: "keyspacesEndpoint", prop: "KeyspacesEndpoint", read: boolean(), meaning: "create the Keyspaces interface endpoint"},
		{key: "keyspacesStreamsEndpoint", prop: "KeyspacesStreamsEndpoint", read: boolean(), meaning: "create the Keyspaces Streams interface endpoint"},
		{key: "ecrEndpoints", prop: "EcrEndpoints", read: boolean(), meaning: "create the ecr.api and ecr.dkr interface endpoints"},
		{key: "cloudWatchEndpoints", prop: "CloudWatchEndpoints", read: boolean(), meaning: "create the CloudWatch Logs interface endpoint (logs and their EMF metrics; no monitoring endpoint: nothing calls PutMetricData)"},
		{key: "stsEndpoint", prop: "StsEndpoint", read: boolean(), meaning: "create the STS interface endpoint (off by default: the task takes its credentials from the ECS credential endpoint, never from STS)"},
		{key: "dynamoDbEndpoint", prop: "DynamoDbEndpoint", read: boolean(), meaning: "create the DynamoDB gateway endpoint"},
		{key: "s3Endpoint", prop: "S3Endpoint", read: boolean(), meaning: "create the S3 gateway endpoint"},
		{key: "kinesisEndpoint", read: rejected("not needed: this consumer reads the Keyspaces Streams API (cassandra-streams endpoint) and checkpoints in DynamoDB; it never calls Kinesis"),
			store: func(*inputs, any) error { return nil }, meaning: "rejected when true: the consumer never calls Kinesis"},

		{key: "bucketName", prop: "ExistingBucket", read: matching(bucket.Pattern, bucket.Shape),
			store: func(in *inputs, v any) error { in.bucketName = v.(string); return nil }, meaning: "import an existing bucket (no lookup) instead of creating one"},
		{key: "destroyOnRemoval", prop: "BucketRemovalPolicyDestroy", read: boolean(), meaning: "delete the created buckets and their objects with the stack"},

		{key: "dashboard", prop: "Dashboard", read: boolean(), meaning: "create the CloudWatch dashboard"},
		{key: "dashboardName", prop: "DashboardName", read: matching(dashboardName, "a dashboard name (letters, digits, _ -)"), meaning: "name of the dashboard"},
		{key: "lagAlarmMillis", prop: "Alarms.Lag.Threshold", read: whole(1, 86_400_000), meaning: "threshold of the lag alarm (ms)"},
		{key: "disableAlarms", prop: "Alarms.*.Disabled", read: anyOf(alarmNames), store: disableAlarms, meaning: "alarms not to create"},
		{key: "alarmEmails", prop: "AlarmEmails", read: list(), store: alarmEmails, meaning: "email subscriptions of the alarms' SNS topic (without any, synth warns that the alarms notify nobody)"},
		{key: "alarmTopic", prop: "CreateAlarmTopic", read: boolean(), store: alarmTopic, meaning: "kept for compatibility: the alarms' SNS topic is created in any case (output AlarmTopicArn)"},
		{key: "maxTasks", prop: "Autoscaling.MaxTasks", read: whole(1, 1000), store: maxTasks, meaning: "autoscale on lag and CPU up to this many tasks (no more than the shards)"},
		{key: "minTasks", prop: "Autoscaling.MinTasks", read: whole(1, 1000), store: minTasks, meaning: "fewest tasks when autoscaling (needs maxTasks; default and minimum: desiredCount, the standby)"},
		{key: "glueTable", prop: "GlueTable", read: boolean(), store: glueTable, meaning: "create a Glue database and table over the files (Athena)"},
		{key: "glueDatabase", prop: "GlueTable.DatabaseName", read: text(), meaning: "name of the Glue database"},
		{key: "glueTableName", prop: "GlueTable.TableName", read: text(), meaning: "name of the Glue table"},
		{key: "glueColumns", prop: "GlueTable.RowColumns", read: columns(), meaning: "avro: the table's columns as name:hiveType (required there)"},
		{key: "glueKeyColumns", prop: "GlueTable.KeyColumns", read: list(), meaning: "avro: which of glueColumns are key columns"},
	}
}

// storeTables sets the tables; keyspace stays the default of the items that name none, and
// table (cdk.json's demo table, say) gives way.
func storeTables(in *inputs, v any) error {
	in.props.Tables, in.props.Table = v.([]cdc.TableProps), ""
	return nil
}

func disableAlarms(in *inputs, v any) error {
	for _, name := range v.([]string) {
		reflect.ValueOf(&in.props.Alarms).Elem().FieldByName(name).FieldByName("Disabled").SetBool(true)
	}
	return nil
}

func alarmEmails(in *inputs, v any) error {
	if emails := v.([]string); len(emails) > 0 {
		in.props.CreateAlarmTopic, in.props.AlarmEmails = true, emails //nolint:staticcheck // alarmEmails still sets the deprecated prop it always set: a no-op now, kept for code that reads it
	}
	return nil
}

func alarmTopic(in *inputs, v any) error {
	in.props.CreateAlarmTopic = in.props.CreateAlarmTopic || v.(bool) //nolint:staticcheck // the context parameter alarmTopic is kept for compatibility and sets the prop it names
	return nil
}

// maxTasks turns autoscaling on.
func maxTasks(in *inputs, v any) error {
	in.props.Autoscaling = &cdc.AutoscalingConfig{MaxTasks: v.(int)}
	return nil
}

func minTasks(in *inputs, v any) error {
	if in.props.Autoscaling == nil {
		return &ParamError{"minTasks", "needs maxTasks (autoscaling is on when maxTasks is set)"}
	}
	in.props.Autoscaling.MinTasks = v.(int)
	return nil
}

// glueTable turns the Glue table on; the glue* parameters after it fill it (they are ignored
// without it).
func glueTable(in *inputs, v any) error {
	if v.(bool) {
		in.props.GlueTable = &cdc.GlueTableConfig{}
	}
	return nil
}

// setProp sets the prop at path (a field of KeyspacesCdcToS3Props, dotted when nested) to v,
// converted to the field's type (a pointer field gets a pointer to it). A nested config that
// is nil is not created: the value is ignored.
func setProp(p *cdc.KeyspacesCdcToS3Props, path string, v any) {
	f := reflect.ValueOf(p).Elem()
	for _, name := range strings.Split(path, ".") {
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				return
			}
			f = f.Elem()
		}
		if f = f.FieldByName(name); !f.IsValid() {
			panic("KeyspacesCdcToS3Props has no " + path)
		}
	}
	val := reflect.ValueOf(v)
	if f.Kind() == reflect.Pointer {
		ptr := reflect.New(f.Type().Elem())
		ptr.Elem().Set(val.Convert(f.Type().Elem()))
		f.Set(ptr)
		return
	}
	f.Set(val.Convert(f.Type()))
}

// ---- readers -----------------------------------------------------------------------------

// text reads a string; empty is absent.
func text() reader {
	return reader{"text", func(c appContext, key string) (any, error) {
		v, err := c.str(key)
		if err != nil || v == "" {
			return nil, err
		}
		return v, nil
	}}
}

// matching reads a string that must match re.
func matching(re *regexp.Regexp, what string) reader {
	return reader{what, func(c appContext, key string) (any, error) {
		v, err := text().read(c, key)
		if err == nil && v != nil && !re.MatchString(v.(string)) {
			err = &ParamError{key, fmt.Sprintf("%q is not %s", v, what)}
		}
		return v, err
	}}
}

// choice reads a string, spelled as the allowed value it matches regardless of case; the
// construct rejects any other.
func choice(allowed []string) reader {
	return reader{"one of " + strings.Join(allowed, ", "), func(c appContext, key string) (any, error) {
		v, err := text().read(c, key)
		if v == nil {
			return nil, err
		}
		for _, a := range allowed {
			if strings.EqualFold(a, v.(string)) {
				return a, nil
			}
		}
		return v, err
	}}
}

func boolean() reader {
	return reader{"true or false", func(c appContext, key string) (any, error) {
		b, err := c.boolean(key)
		if b == nil {
			return nil, err
		}
		return *b, err
	}}
}

// whole reads a whole number within [lo, hi].
func whole(lo, hi int) reader {
	what := "whole number"
	if lo != math.MinInt {
		what = fmt.Sprintf("whole number, %d to %d", lo, hi)
	}
	return reader{what, func(c appContext, key string) (any, error) {
		n, err := c.integer(key, lo, hi)
		if n == nil {
			return nil, err
		}
		return *n, err
	}}
}

func duration() reader {
	return reader{"duration (e.g. 60s, 5m)", func(c appContext, key string) (any, error) {
		v, err := text().read(c, key)
		if v == nil {
			return nil, err
		}
		d, err := time.ParseDuration(v.(string))
		if err != nil {
			return nil, &ParamError{key, fmt.Sprintf("%q is not a duration (e.g. 60s, 5m)", v)}
		}
		return d, nil
	}}
}

// list reads a JSON array or comma-separated values.
func list() reader {
	return reader{"list (JSON array or comma-separated)", func(c appContext, key string) (any, error) {
		v, err := c.list(key)
		if len(v) == 0 {
			return nil, err
		}
		return v, err
	}}
}

// items reads a list whose every item matches re.
func items(re *regexp.Regexp, what string) reader {
	return reader{"list of " + what, func(c appContext, key string) (any, error) {
		v, err := list().read(c, key)
		if v == nil || err != nil {
			return nil, err
		}
		for _, id := range v.([]string) {
			if !re.MatchString(id) {
				return nil, &ParamError{key, fmt.Sprintf("%q is not %s", id, what)}
			}
		}
		return v, nil
	}}
}

// anyOf reads a list of allowed values.
func anyOf(allowed []string) reader {
	return reader{"list, any of " + strings.Join(allowed, ", "), func(c appContext, key string) (any, error) {
		v, err := list().read(c, key)
		if v == nil || err != nil {
			return nil, err
		}
		for _, a := range v.([]string) {
			if !slices.Contains(allowed, a) {
				return nil, &ParamError{key, fmt.Sprintf("%q is not an alarm: any of %s", a, strings.Join(allowed, ", "))}
			}
		}
		return v, nil
	}}
}

// columns reads name:hiveType items as Glue columns.
func columns() reader {
	return reader{"list of name:hiveType", func(c appContext, key string) (any, error) {
		v, err := list().read(c, key)
		if v == nil || err != nil {
			return nil, err
		}
		var cols []cdc.GlueColumn
		for _, item := range v.([]string) {
			name, typ, ok := strings.Cut(item, ":")
			if !ok {
				return nil, &ParamError{key, fmt.Sprintf("%q is not name:hiveType", item)}
			}
			cols = append(cols, cdc.GlueColumn{Name: name, Type: typ})
		}
		return cols, nil
	}}
}

// rejected reads a switch that must not be on.
func rejected(why string) reader {
	return reader{"false", func(c appContext, key string) (any, error) {
		v, err := boolean().read(c, key)
		if err == nil && v != nil && v.(bool) {
			return nil, &ParamError{key, why}
		}
		return v, err
	}}
}

// retention reads days of log retention, one CloudWatch Logs accepts.
func retention() reader {
	return reader{"days: one of " + retentionList(), func(c appContext, key string) (any, error) {
		v, err := whole(1, 3653).read(c, key)
		if v == nil || err != nil {
			return nil, err
		}
		r, ok := retentionDays[v.(int)]
		if !ok {
			return nil, &ParamError{key, fmt.Sprintf("%d is not a CloudWatch Logs retention: one of %s", v, retentionList())}
		}
		return r, nil
	}}
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
	days := make([]int, 0, len(retentionDays))
	for d := range retentionDays {
		days = append(days, d)
	}
	slices.Sort(days)
	parts := make([]string, len(days))
	for i, d := range days {
		parts[i] = fmt.Sprint(d)
	}
	return strings.Join(parts, ", ")
}
