// Package constructs provides KeyspacesCdcToS3, an AWS CDK construct that runs the
// keyspaces-cdc-s3 consumer on ECS Fargate: it reads the CDC stream of Amazon Keyspaces tables
// and lands every change in S3 as JSON Lines or Avro. One deployment reads one table or many:
// the tables share the network, the cluster, the bucket and the dashboard; each has its own
// service, lease table, least-privilege role, alarms and (optionally) autoscaling and Glue table.
package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3tables"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// KeyspacesCdcToS3 is the deployed consumer and everything it needs. Fields of parts that
// were not created (disabled or passed in) are nil, except the passed-in ones, which are the
// given values.
type KeyspacesCdcToS3 struct {
	// Construct is this construct, the scope of every resource below.
	constructs.Construct

	// ---- shared by the tables -------------------------------------------------------------

	Vpc            awsec2.IVpc
	SecurityGroups []awsec2.ISecurityGroup
	// Endpoints are the VPC endpoints created, by name: Keyspaces, KeyspacesStreams, EcrApi,
	// EcrDocker, CloudWatchLogs, Sts, DynamoDb, S3.
	Endpoints map[string]awsec2.IVpcEndpoint

	Bucket awss3.IBucket
	// AccessLogsBucket receives the server access logs of a created Bucket.
	AccessLogsBucket awss3.Bucket
	Cluster          awsecs.Cluster
	Dashboard        awscloudwatch.Dashboard
	AlarmTopic       awssns.ITopic
	// LogsKey encrypts the log groups (LogEncryptionKey, or the created key).
	LogsKey awskms.IKey
	// GlueDatabases are the Glue databases created, by name.
	GlueDatabases map[string]awsglue.CfnDatabase

	// Tables are the parts of each table, in the order of KeyspacesCdcToS3Props.Tables (one
	// entry, the one table's, without Tables).
	Tables []*TableResources

	// ---- the first table's (the one table's without Tables) --------------------------------

	LeaseTable     awsdynamodb.Table
	TaskDefinition awsecs.FargateTaskDefinition
	Container      awsecs.ContainerDefinition
	Service        awsecs.FargateService
	TaskRole       awsiam.Role
	LogGroup       awslogs.LogGroup
	Alarms         Alarms
	// Scaling is the service's scalable task count when Autoscaling is set.
	Scaling      awsecs.ScalableTaskCount
	GlueDatabase awsglue.CfnDatabase
	GlueTable    awsglue.CfnTable
}

// TableResources are the parts of one table.
type TableResources struct {
	Keyspace, Table string
	// ApplicationName is the table's metrics dimension (Application) and alarm name prefix.
	ApplicationName string
	// Scope holds the table's resources: the construct itself for the one table, else a
	// construct (or nested stack, with NestedStacks) named "<keyspace>.<table>".
	Scope          constructs.Construct
	LeaseTable     awsdynamodb.Table
	TaskDefinition awsecs.FargateTaskDefinition
	Container      awsecs.ContainerDefinition
	Service        awsecs.FargateService
	TaskRole       awsiam.Role
	LogGroup       awslogs.LogGroup
	Alarms         Alarms
	Scaling        awsecs.ScalableTaskCount // nil without Autoscaling
	GlueTable      awsglue.CfnTable         // nil without GlueTable
}

// shared are the parts every table uses.
type shared struct {
	net     *network
	storage *storage
	image   *image
	cluster awsecs.Cluster
	topic   awssns.ITopic
	logsKey awskms.IKey
	glueDBs map[string]awsglue.CfnDatabase
	iceberg icebergShared
}

// NewKeyspacesCdcToS3 builds the construct. It panics with a *ValidationError naming the
// prop and the allowed values when the props are wrong (call props.ValidateIn(scope) first to
// get the error instead), and with an error when the image source cannot be found.
func NewKeyspacesCdcToS3(scope constructs.Construct, id string, props *KeyspacesCdcToS3Props) *KeyspacesCdcToS3 {
	d, err := props.resolve(stackNameOf(scope))
	if err != nil {
		panic(err)
	}
	this := constructs.NewConstruct(scope, jsii.String(id))
	if err := d.checkRegions(this, true); err != nil {
		panic(err)
	}
	s := d.shared()
	sh := &shared{glueDBs: map[string]awsglue.CfnDatabase{}, iceberg: icebergShared{namespaces: map[string]awss3tables.CfnNamespace{}}}
	sh.logsKey = newLogsKey(this, s)
	sh.net = newNetwork(this, d, sh.logsKey)
	sh.storage = newStorage(this, s)
	if sh.image, err = newImage(this, s); err != nil {
		panic(err)
	}
	sh.cluster = newCluster(this, sh.net)
	sh.topic = newAlarmTopic(this, s)

	k := &KeyspacesCdcToS3{
		Construct:        this,
		Vpc:              sh.net.vpc,
		SecurityGroups:   sh.net.securityGroups,
		Endpoints:        sh.net.endpoints,
		Bucket:           sh.storage.bucket,
		AccessLogsBucket: sh.storage.accessLogs,
		Cluster:          sh.cluster,
		AlarmTopic:       sh.topic,
		LogsKey:          sh.logsKey,
		GlueDatabases:    sh.glueDBs,
	}
	var sections []*dashboardSection
	for _, t := range d.tables {
		tr, section := newTable(this, d, t, sh)
		k.Tables = append(k.Tables, tr)
		sections = append(sections, section)
	}
	if s.Dashboard == nil || *s.Dashboard {
		k.Dashboard = newDashboard(this, s, d.multi, sections)
	}
	first := k.Tables[0]
	k.LeaseTable, k.TaskDefinition, k.Container, k.Service = first.LeaseTable, first.TaskDefinition, first.Container, first.Service
	k.TaskRole, k.LogGroup, k.Alarms, k.Scaling, k.GlueTable = first.TaskRole, first.LogGroup, first.Alarms, first.Scaling, first.GlueTable
	if t := d.tables[0]; t.GlueTable != nil {
		k.GlueDatabase = sh.glueDBs[t.glueDatabaseName()]
	}
	return k
}

// newTable builds the parts of one table in its scope: the construct itself for the one table,
// else a construct or nested stack of its own.
func newTable(this constructs.Construct, d *deployment, s *settings, sh *shared) (*TableResources, *dashboardSection) {
	scope := this
	switch {
	case d.multi && s.NestedStacks:
		scope = awscdk.NewNestedStack(this, jsii.String(s.id), &awscdk.NestedStackProps{
			Description: jsii.Sprintf("keyspaces-cdc-s3: CDC of %s.%s to S3", s.Keyspace, s.Table),
		})
	case d.multi:
		scope = constructs.NewConstruct(this, jsii.String(s.id))
	}
	lease := newLeaseTable(scope)
	role := newTaskRole(scope, s, sh.storage.bucket, lease)
	if s.iceberg() {
		s.icebergEnv = newIceberg(this, scope, s, sh, role)
	}
	c := newCompute(scope, s, sh, lease, role)
	m := metrics{namespace: s.MetricsNamespace, app: s.ApplicationName}
	insights := insightsMetrics(sh.cluster, c.service)
	alarms := newAlarms(alarmMaker{scope: scope, app: s.ApplicationName, topic: sh.topic}, s, m, insights)
	t := &TableResources{
		Keyspace: s.Keyspace, Table: s.Table, ApplicationName: s.ApplicationName, Scope: scope,
		LeaseTable: lease, TaskDefinition: c.taskDef, Container: c.container, Service: c.service,
		TaskRole: role, LogGroup: c.logGroup, Alarms: alarms,
	}
	if s.Autoscaling != nil {
		t.Scaling = newAutoscaling(scope, s, c, m)
	}
	if s.GlueTable != nil {
		t.GlueTable = newGlueTable(this, scope, s, sh)
	}
	return t, &dashboardSection{s: s, m: m, service: c.service, insights: insights, alarms: &t.Alarms}
}
