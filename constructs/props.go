package constructs

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
)

// Defaults of the construct's own props, exported so apps and docs quote the same values.
// The consumer's settings (Format, FlushRecords, ...) take the defaults of the consumer's
// table of settings, config.Settings.
const (
	DefaultDesiredCount = 2
	DefaultCPU          = 1024
	DefaultMemoryMiB    = 2048
	DefaultArchitecture = "ARM64"
	DefaultStopTimeout  = 120 * time.Second
)

// GoMemLimitPercent of the task's memory is the consumer's GOMEMLIMIT (the Go collector's soft
// memory limit) unless ExtraEnvironment sets one.
const GoMemLimitPercent = 80

// Architectures lists the CPU architectures of the Fargate task (and of the built image).
var Architectures = []string{"ARM64", "X86_64"}

// KeyspacesCdcToS3Props configures KeyspacesCdcToS3. Only Keyspace and Table are required
// (or Tables, for several tables in one deployment).
//
// The props that are settings of the consumer (Keyspace to LogLevel below, each naming its
// environment variable) take their defaults and allowed values from the consumer's table of
// settings, config.Settings (docs/configuration-reference.md); a zero value leaves the
// consumer's default. The construct checks them against that table and passes them on.
//
// Each part is either passed in (Existing*) or created from the other props; giving both for
// the same part is an error at synth.
type KeyspacesCdcToS3Props struct {
	// ---- source ------------------------------------------------------------------------

	// Keyspace of the table whose changes are read (CDC_KEYSPACE). Required; with Tables, the
	// keyspace of the tables that name none.
	Keyspace string
	// Table whose changes are read (CDC_TABLE). Required, unless Tables is given.
	Table string
	// Tables are several tables read by one deployment: they share the network (VPC,
	// endpoints, security groups), the cluster, the bucket (each table under its own keys), the
	// image, the alarm topic and the dashboard; each gets its own service, lease table, task
	// role (its stream, table and keys only), log group, alarms, metrics dimension, autoscaling
	// and Glue table. A field left zero in a TableProps takes the field of the same name here.
	// Default: none — one table, Keyspace.Table, whose resources keep the construct's own ids.
	Tables []TableProps
	// NestedStacks puts each table of Tables in its own nested stack. A stack holds at most 500
	// resources and a table needs 12 to 20: without it about 30 tables fit. Choose it before the
	// first deployment: moving a table into or out of a nested stack replaces its lease table
	// (its checkpoints start over). Default: false.
	NestedStacks bool
	// StreamArn of the table's CDC stream (CDC_STREAM_ARN). Default: empty — the consumer reads the newest
	// ENABLED stream of Keyspace.Table, and the task role may read any stream of that table
	// (plus cassandra:ListStreams). Its keyspace and table must be Keyspace and Table.
	StreamArn string
	// KeyspacesRegion of the table and its stream (CDC_KEYSPACES_REGION). Default: the region of StreamArn if given,
	// else the stack's region.
	KeyspacesRegion string

	// ---- destination -------------------------------------------------------------------

	// ExistingBucket receives the files. Default: a bucket is created (versioned, SSL only,
	// public access blocked, encrypted, server access logs in a second bucket).
	ExistingBucket awss3.IBucket
	// S3Region of the bucket (CDC_S3_REGION). Default: the stack's region. A created bucket lives in the stack's
	// region, so a different S3Region needs ExistingBucket.
	S3Region string
	// BucketEncryptionKey encrypts the created bucket (SSE-KMS with a bucket key) or, with
	// ExistingBucket, is the key the task role may use. Default: none — SSE-S3.
	BucketEncryptionKey awskms.IKey
	// LifecycleRules of the created bucket. Default: abort incomplete multipart uploads after
	// 7 days and expire noncurrent versions after 30 days (replays overwrite keys).
	LifecycleRules []*awss3.LifecycleRule
	// BucketRemovalPolicyDestroy deletes the created buckets (and their objects) with the stack.
	// Default: false — buckets are retained.
	BucketRemovalPolicyDestroy bool
	// Prefix of every object key, e.g. "cdc/" (CDC_PREFIX). Default: empty in the created
	// bucket (which is the stack's own); "<stack name>/" in ExistingBucket, so two stacks
	// reading the same table into one bucket never write the same keys.
	Prefix string
	// Format of the files: json (JSON Lines), avro (Avro OCF), parquet, or iceberg (an Apache
	// Iceberg table in a catalog, docs/iceberg.md) (CDC_FORMAT). Default: the consumer's.
	Format string
	// IcebergCatalog of Format iceberg: glue (the construct creates the Glue database, and the
	// role of the Glue table optimizers the consumer turns on) or s3tables (the construct
	// creates a table bucket and its namespace) (CDC_ICEBERG_CATALOG). sql (a local SQLite
	// file) is refused. Default: the consumer's (glue).
	IcebergCatalog string
	// IcebergNamespace of Format iceberg: the Glue database or S3 Tables namespace the
	// construct creates (CDC_ICEBERG_NAMESPACE). Default: the keyspace, lowercase.
	IcebergNamespace string
	// Compression of the files, one the Format allows (CDC_COMPRESSION). Default: the
	// consumer's for the Format.
	Compression string
	// CellMetadata writes each cell's write_time and ttl (CDC_CELL_METADATA). Default: false.
	CellMetadata bool

	// ---- consumer ----------------------------------------------------------------------

	// ApplicationName names the table's consumer in metrics (dimension Application), logs, the
	// dashboard and alarm names (CDC_APPLICATION_NAME): 1-64 of letters, digits, '.', '_', '-'.
	// It must be unique in the account and region, or two deployments read each other's
	// metrics. Default: "<stack name>-<keyspace>-<table>" (cut to 64 with a hash when longer).
	// With Tables it is the prefix of each table's: "<ApplicationName>-<keyspace>-<table>".
	ApplicationName string
	// StartPosition of new leases (CDC_START_POSITION). Default: the consumer's.
	StartPosition string
	// FlushRecords flushes a shard's file at this many records (CDC_FLUSH_RECORDS). Default:
	// the consumer's.
	FlushRecords int
	// FlushBytes flushes a shard's file at this many uncompressed bytes (CDC_FLUSH_BYTES).
	// Default: the consumer's.
	FlushBytes int64
	// FlushInterval flushes a shard's file when its oldest record is this old
	// (CDC_FLUSH_INTERVAL). Default: the consumer's.
	FlushInterval time.Duration
	// MaxLeasesPerWorker caps the leases one task holds (CDC_MAX_LEASES_PER_WORKER). Default:
	// the consumer's (no cap).
	MaxLeasesPerWorker int
	// MaxStealsPerCycle: leases a task below its share asks other tasks for per take cycle
	// (CDC_MAX_STEALS_PER_CYCLE). Default: the consumer's.
	MaxStealsPerCycle int
	// PollInterval is the wait between GetRecords calls on a shard at its tip
	// (CDC_POLL_INTERVAL). Default: the consumer's.
	PollInterval time.Duration
	// LogLevel of the consumer (CDC_LOG_LEVEL). Default: the consumer's.
	LogLevel string
	// MetricsNamespace of the consumer's EMF metrics and of the dashboard and alarms
	// (CDC_METRICS_NAMESPACE): a CloudWatch namespace, not AWS/... Default: the consumer's.
	MetricsNamespace string
	// ExtraEnvironment adds environment variables to the container (never secrets).
	// Default: none. Keys set by the construct cannot be overridden here, except GOMEMLIMIT
	// (default: GoMemLimitPercent of MemoryMiB).
	ExtraEnvironment map[string]string

	// ---- image -------------------------------------------------------------------------

	// ContainerImage runs this image. Default: a DockerImageAsset built from
	// SourceDirectory/consumer/Dockerfile for Architecture.
	ContainerImage awsecs.ContainerImage
	// ImageUri runs an existing image (e.g. an ECR URI); synth then needs no Docker and no
	// build. For an ECR URI the execution role may pull from that repository. Default: empty.
	ImageUri string
	// SourceDirectory is the repository root holding consumer/Dockerfile (the build context).
	// Default: found by walking up from this package's source file, then from the working
	// directory. Set it when the construct is used from the Go module cache.
	SourceDirectory string

	// ---- compute -----------------------------------------------------------------------

	// DesiredCount of tasks. Default: 2 (a second task takes over leases within the lease
	// failover time).
	DesiredCount *int
	// Cpu units of the task: 256, 512, 1024, 2048, 4096, 8192 or 16384. Default: 1024.
	Cpu int
	// MemoryMiB of the task, a valid Fargate value for Cpu. Default: 2048.
	MemoryMiB int
	// Architecture of the task and image: ARM64 or X86_64. Default: ARM64.
	Architecture string
	// LogRetention of the container logs and the VPC flow logs. Default: one year (AWS Control
	// Tower's CT.CLOUDWATCH.PR.2 asks for at least a year).
	LogRetention awslogs.RetentionDays
	// LogEncryptionKey encrypts the log groups (the key policy must let CloudWatch Logs use
	// it). Default: a key is created (rotation on) for the deployment's log groups.
	LogEncryptionKey awskms.IKey
	// StopTimeout of the container: time between SIGTERM and SIGKILL for the final flush.
	// Default (and Fargate's maximum): 120s.
	StopTimeout time.Duration

	// ---- network -----------------------------------------------------------------------

	// ExistingVpc runs the service in this VPC. Default: a VPC is created with private
	// isolated subnets in 2 AZs, no NAT gateway, flow logs, and every endpoint below.
	ExistingVpc awsec2.IVpc
	// VpcCidr of the created VPC. Default: 10.0.0.0/16.
	VpcCidr string
	// MaxAzs of the created VPC (one private subnet per AZ). Default: 2.
	MaxAzs int
	// VpcSubnets of the tasks and interface endpoints. Default: the VPC's private subnets
	// (isolated subnets when it has none).
	VpcSubnets *awsec2.SubnetSelection
	// SecurityGroups of the tasks. Default: one is created allowing outbound HTTPS only.
	SecurityGroups []awsec2.ISecurityGroup
	// RouteTableIds receive the gateway endpoints (S3, DynamoDB). Default: the route tables
	// of VpcSubnets (which an imported VPC knows only if given its route table ids).
	RouteTableIds []string

	// Endpoint switches. Default for each: on when the construct creates the VPC, off with
	// ExistingVpc (StsEndpoint: off). Interface endpoints enable private DNS; gateway
	// endpoints are free.
	KeyspacesEndpoint        *bool // com.amazonaws.<region>.cassandra (interface); default on only when a table writes Avro
	KeyspacesStreamsEndpoint *bool // api.aws.<region>.cassandra-streams (interface)
	EcrEndpoints             *bool // ecr.api and ecr.dkr (interface): image pulls
	CloudWatchEndpoints      *bool // logs (interface): the logs and their EMF metrics
	StsEndpoint              *bool // sts (interface): nothing in the task calls STS; default off
	DynamoDbEndpoint         *bool // dynamodb (gateway): the lease table
	S3Endpoint               *bool // s3 (gateway): the files and image layers

	// ---- operations --------------------------------------------------------------------

	// Dashboard creates a CloudWatch dashboard. Default: true (set false to skip).
	Dashboard *bool
	// DashboardName of the dashboard. Default: generated by CloudFormation.
	DashboardName string
	// Alarms tunes or disables each alarm. Default: every alarm on with the defaults of
	// AlarmsConfig.
	Alarms AlarmsConfig
	// AlarmTopic receives every alarm and OK transition. Default: a topic is created (SSL
	// only), so every alarm has an action and whoever is on call can subscribe (email, chat,
	// pager) without a redeploy; until AlarmEmails or another subscription exists, synth warns
	// that the alarms notify nobody.
	AlarmTopic awssns.ITopic
	// CreateAlarmTopic is kept so code that set it still compiles: the topic is created
	// unless AlarmTopic is given.
	//
	// Deprecated: the topic is created by default.
	CreateAlarmTopic bool
	// AlarmEmails subscribe to the created topic. Default: none.
	AlarmEmails []string
	// Autoscaling scales the service on lag and CPU. Default: nil — a fixed DesiredCount.
	Autoscaling *AutoscalingConfig
	// GlueTable creates a Glue database and table over the files (Athena). Default: nil — none.
	GlueTable *GlueTableConfig
}

// TableProps is one table of a deployment that reads several (KeyspacesCdcToS3Props.Tables).
// Every field left zero takes the value of the field of the same name of
// KeyspacesCdcToS3Props, which documents it; a nested config given here (Autoscaling,
// GlueTable) replaces that one whole. A bool can only turn a setting on.
type TableProps struct {
	Keyspace string // default: KeyspacesCdcToS3Props.Keyspace
	Table    string // required
	// ApplicationName, the table's metrics dimension and the prefix of its alarm names.
	// Default: KeyspacesCdcToS3Props.ApplicationName (or the stack's name) + "-<keyspace>-<table>".
	ApplicationName    string
	StreamArn          string
	KeyspacesRegion    string
	Prefix             string
	Format             string
	IcebergCatalog     string
	IcebergNamespace   string
	Compression        string
	CellMetadata       bool
	StartPosition      string
	FlushRecords       int
	FlushBytes         int64
	FlushInterval      time.Duration
	MaxLeasesPerWorker int
	MaxStealsPerCycle  int
	PollInterval       time.Duration
	LogLevel           string
	DesiredCount       *int
	Cpu                int
	MemoryMiB          int
	Autoscaling        *AutoscalingConfig
	GlueTable          *GlueTableConfig
}

// AlarmConfig tunes one alarm. The zero value keeps the alarm's defaults.
type AlarmConfig struct {
	// Disabled skips this alarm. Default: false.
	Disabled bool
	// Threshold of the alarm, in the metric's unit. Default: per alarm (see AlarmsConfig).
	Threshold float64
	// EvaluationPeriods before the alarm fires. Default: per alarm.
	EvaluationPeriods int
	// Period of each datapoint. Default: per alarm.
	Period time.Duration
}

// AlarmsConfig tunes or disables each alarm of the construct.
type AlarmsConfig struct {
	// Lag: MillisBehindLatest (maximum) above Threshold ms. Default: 300000 ms (5 minutes),
	// 3 periods of 1 minute.
	Lag AlarmConfig
	// Stalled: records read but no file written. Default: 3 periods of 5 minutes
	// (Threshold is unused).
	Stalled AlarmConfig
	// PoisonRecords: records sent to <prefix>_errors/. Default: at least 1 in one 5-minute period.
	PoisonRecords AlarmConfig
	// TrimmedData: reads that hit the 24-hour trim horizon (data lost). Default: at least 1 in
	// one 5-minute period.
	TrimmedData AlarmConfig
	// RunningTasks: fewer running tasks than desired (Container Insights). Default: 5 periods
	// of 1 minute (Threshold is unused).
	RunningTasks AlarmConfig
	// Throttling: GetRecords throttles, sustained. Default: at least 60 per 5-minute period for
	// 3 periods.
	Throttling AlarmConfig
	// SchemaFallback (Avro only): an Avro schema derived from the records alone because the
	// table's definition (Keyspaces GetTable) was unavailable. Default: at least 1 in one
	// 5-minute period.
	SchemaFallback AlarmConfig
}

// AutoscalingConfig scales the service between MinTasks and MaxTasks: lag and CPU each add
// tasks; one task at a time is removed only while both are low (constructs/autoscaling.go).
type AutoscalingConfig struct {
	// MinTasks of the service: the floor of every scale-in. Default: DesiredCount (the
	// standby); less than DesiredCount is an error.
	MinTasks int
	// MaxTasks of the service. Required. Set it to no more than the stream's shard count:
	// one task reads a shard at a time, so tasks beyond the shard count hold no lease.
	MaxTasks int
	// TargetCpuPercent of the CPU target-tracking policy (scale-out only). Default: 70.
	TargetCpuPercent float64
	// LagThresholdMillis adds a task while MillisBehindLatest stays above it (two above 5×).
	// A task is removed only while lag stays under a tenth of it and CPU under half of
	// TargetCpuPercent, for 15 minutes. Default: 60000.
	LagThresholdMillis float64
}

// GlueTableConfig describes the Glue database and table over the files.
type GlueTableConfig struct {
	// DatabaseName of the created Glue database (one per name, shared by the tables that
	// name it). Default: the stack's name, lowercased, every character outside [a-z0-9_]
	// replaced by '_' (a database name is unique in the account and region).
	DatabaseName string
	// TableName of the Glue table. Default: <keyspace>_<table>, lowercased.
	TableName string
	// ProjectionStartDate is the first dt of the partition projection (yyyy-MM-dd).
	// Default: 2025-01-01.
	ProjectionStartDate string
	// RowColumns are the Cassandra table's columns as Hive types (e.g. "id": "string",
	// "n": "bigint"), in order. With avro they type keys/new_image/old_image as structs and
	// are required; with json they are ignored (those columns are JSON strings).
	RowColumns []GlueColumn
	// KeyColumns names the partition and clustering key columns among RowColumns (avro only).
	KeyColumns []string
	// AvroSchema is the writer's schema (a file from <prefix>_schemas/), set as the table's
	// avro.schema.literal (avro only). Default: none — the reader schema follows the columns.
	AvroSchema string
}

// GlueColumn is one column of the Cassandra table, as a Hive type.
type GlueColumn struct {
	Name string
	Type string
}
