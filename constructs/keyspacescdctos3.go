// Package constructs provides KeyspacesCdcToS3, an AWS CDK construct that runs the
// keyspaces-cdc-s3 consumer on ECS Fargate: it reads the CDC stream of one Amazon Keyspaces
// table and lands every change in S3 as JSON Lines or Avro, with its lease table, network,
// least-privilege role, dashboard, alarms and (optionally) autoscaling and a Glue table.
package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
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

	Vpc            awsec2.IVpc
	SecurityGroups []awsec2.ISecurityGroup
	// Endpoints are the VPC endpoints created, by name: Keyspaces, KeyspacesStreams, EcrApi,
	// EcrDocker, CloudWatchLogs, Sts, DynamoDb, S3.
	Endpoints map[string]awsec2.IVpcEndpoint

	Bucket awss3.IBucket
	// AccessLogsBucket receives the server access logs of a created Bucket.
	AccessLogsBucket awss3.Bucket
	LeaseTable       awsdynamodb.Table

	Cluster        awsecs.Cluster
	TaskDefinition awsecs.FargateTaskDefinition
	Container      awsecs.ContainerDefinition
	Service        awsecs.FargateService
	TaskRole       awsiam.Role
	LogGroup       awslogs.LogGroup

	Dashboard  awscloudwatch.Dashboard
	Alarms     Alarms
	AlarmTopic awssns.ITopic
	// Scaling is the service's scalable task count when Autoscaling is set.
	Scaling awsecs.ScalableTaskCount

	GlueDatabase awsglue.CfnDatabase
	GlueTable    awsglue.CfnTable
}

// NewKeyspacesCdcToS3 builds the construct. It panics with a *ValidationError naming the
// prop and the allowed values when the props are wrong (call props.ValidateIn(scope) first to
// get the error instead), and with an error when the image source cannot be found.
func NewKeyspacesCdcToS3(scope constructs.Construct, id string, props *KeyspacesCdcToS3Props) *KeyspacesCdcToS3 {
	s, err := props.resolve()
	if err != nil {
		panic(err)
	}
	this := constructs.NewConstruct(scope, jsii.String(id))
	if err := s.checkRegions(this, true); err != nil {
		panic(err)
	}
	retention := s.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}

	net := newNetwork(this, s, retention)
	st := newStorage(this, s)
	img, err := newImage(this, s)
	if err != nil {
		panic(err)
	}
	role := newTaskRole(this, s, st)
	c := newCompute(this, s, net, st, img, role)
	mon := newMonitoring(this, s, c)

	k := &KeyspacesCdcToS3{
		Construct:        this,
		Vpc:              net.vpc,
		SecurityGroups:   net.securityGroups,
		Endpoints:        net.endpoints,
		Bucket:           st.bucket,
		AccessLogsBucket: st.accessLogs,
		LeaseTable:       st.leaseTable,
		Cluster:          c.cluster,
		TaskDefinition:   c.taskDef,
		Container:        c.container,
		Service:          c.service,
		TaskRole:         role,
		LogGroup:         c.logGroup,
		Dashboard:        mon.dashboard,
		Alarms:           mon.alarms,
		AlarmTopic:       mon.topic,
	}
	if s.Autoscaling != nil {
		k.Scaling = newAutoscaling(this, s, c, metrics{namespace: s.MetricsNamespace, app: s.ApplicationName})
	}
	if s.GlueTable != nil {
		g := newGlueTable(this, s, st.bucket)
		k.GlueDatabase, k.GlueTable = g.database, g.table
	}
	return k
}
