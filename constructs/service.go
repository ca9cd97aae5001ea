package constructs

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// HealthCheckCommand is the container health check: distroless has no shell or curl, so the
// binary probes its own /healthz.
var HealthCheckCommand = []string{"CMD", "/keyspaces-cdc-s3", "healthcheck"}

// compute is the ECS side: the cluster, the task definition and the service.
type compute struct {
	cluster   awsecs.Cluster
	taskDef   awsecs.FargateTaskDefinition
	container awsecs.ContainerDefinition
	service   awsecs.FargateService
	logGroup  awslogs.LogGroup
}

// consumerEnvironment is the consumer's configuration, by the names of its contract
// (consumer/config). Settings left at zero are not set: the consumer's defaults apply.
func consumerEnvironment(scope constructs.Construct, s *settings, bucket awss3.IBucket, leaseTable *string) map[string]*string {
	env := map[string]*string{}
	for k, v := range s.ExtraEnvironment {
		env[k] = jsii.String(v)
	}
	set := func(k string, v *string) { env[k] = v }
	setIf := func(k, v string) {
		if v != "" {
			env[k] = jsii.String(v)
		}
	}
	set("CDC_KEYSPACE", jsii.String(s.Keyspace))
	set("CDC_TABLE", jsii.String(s.Table))
	setIf("CDC_STREAM_ARN", s.StreamArn)
	set("CDC_KEYSPACES_REGION", keyspacesRegion(scope, s))
	s3Region := awscdk.Stack_Of(scope).Region()
	if s.S3Region != "" {
		s3Region = jsii.String(s.S3Region)
	}
	set("CDC_S3_REGION", s3Region)
	set("CDC_BUCKET", bucket.BucketName())
	set("CDC_PREFIX", jsii.String(s.Prefix))
	set("CDC_FORMAT", jsii.String(s.Format))
	set("CDC_COMPRESSION", jsii.String(s.Compression))
	set("CDC_LEASE_TABLE", leaseTable)
	set("CDC_APPLICATION_NAME", jsii.String(s.ApplicationName))
	set("CDC_METRICS_NAMESPACE", jsii.String(s.MetricsNamespace))
	set("CDC_HTTP_PORT", jsii.String(strconv.Itoa(DefaultHTTPPort)))
	if _, own := s.ExtraEnvironment["GOMEMLIMIT"]; !own {
		// Go's collector lets the heap grow to twice its live size (GOGC=100); with many shards
		// under a backlog that can pass the task's memory and ECS kills the task. A soft limit
		// below it makes the collector work harder instead (docs/benchmarks.md, section pipeline).
		set("GOMEMLIMIT", jsii.String(strconv.Itoa(s.MemoryMiB*GoMemLimitPercent/100)+"MiB"))
	}
	if s.stopTimeout != DefaultStopTimeout {
		// The consumer's own default (100s) fits the default 120s; a shorter stop timeout must
		// shorten its final flush too, or ECS kills it mid-upload.
		set("CDC_SHUTDOWN_TIMEOUT", jsii.String((s.stopTimeout * 5 / 6).String()))
	}
	if s.CellMetadata {
		set("CDC_CELL_METADATA", jsii.String("true"))
	}
	setIf("CDC_START_POSITION", s.StartPosition)
	setIf("CDC_LOG_LEVEL", s.LogLevel)
	if s.FlushRecords > 0 {
		set("CDC_FLUSH_RECORDS", jsii.String(strconv.Itoa(s.FlushRecords)))
	}
	if s.FlushBytes > 0 {
		set("CDC_FLUSH_BYTES", jsii.String(strconv.FormatInt(s.FlushBytes, 10)))
	}
	if s.FlushInterval > 0 {
		set("CDC_FLUSH_INTERVAL", jsii.String(s.FlushInterval.String()))
	}
	if s.MaxLeasesPerWorker > 0 {
		set("CDC_MAX_LEASES_PER_WORKER", jsii.String(strconv.Itoa(s.MaxLeasesPerWorker)))
	}
	if s.MaxStealsPerCycle > 0 {
		set("CDC_MAX_STEALS_PER_CYCLE", jsii.String(strconv.Itoa(s.MaxStealsPerCycle)))
	}
	return env
}

func newCompute(scope constructs.Construct, s *settings, net *network, st *storage, img *image, role awsiam.Role) *compute {
	c := &compute{}
	c.cluster = awsecs.NewCluster(scope, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                 net.vpc,
		ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})

	retention := s.LogRetention
	if retention == "" {
		retention = awslogs.RetentionDays_ONE_MONTH
	}
	c.logGroup = awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{Retention: retention})

	arch, family := awsecs.CpuArchitecture_ARM64(), awsecs.OperatingSystemFamily_LINUX()
	if s.architecture == "X86_64" {
		arch = awsecs.CpuArchitecture_X86_64()
	}
	c.taskDef = awsecs.NewFargateTaskDefinition(scope, jsii.String("TaskDefinition"), &awsecs.FargateTaskDefinitionProps{
		Cpu:             jsii.Number(float64(s.Cpu)),
		MemoryLimitMiB:  jsii.Number(float64(s.MemoryMiB)),
		RuntimePlatform: &awsecs.RuntimePlatform{CpuArchitecture: arch, OperatingSystemFamily: family},
		TaskRole:        role,
	})
	if img.ecr != nil {
		img.ecr.GrantPull(c.taskDef.ObtainExecutionRole())
	}

	env := consumerEnvironment(scope, s, st.bucket, st.leaseTable.TableName())
	c.container = c.taskDef.AddContainer(jsii.String("consumer"), &awsecs.ContainerDefinitionOptions{
		Image:       img.image,
		Environment: &env,
		Logging: awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{
			StreamPrefix: jsii.String("consumer"),
			LogGroup:     c.logGroup,
			// A slow CloudWatch Logs must not stall the consumer; the buffer absorbs bursts.
			Mode:          awsecs.AwsLogDriverMode_NON_BLOCKING,
			MaxBufferSize: awscdk.Size_Mebibytes(jsii.Number(25)),
		}),
		HealthCheck: &awsecs.HealthCheck{
			Command:     jsii.Strings(HealthCheckCommand...),
			Interval:    awscdk.Duration_Seconds(jsii.Number(30)),
			Timeout:     awscdk.Duration_Seconds(jsii.Number(5)),
			Retries:     jsii.Number(3),
			StartPeriod: awscdk.Duration_Seconds(jsii.Number(60)),
		},
		StopTimeout:            awscdk.Duration_Seconds(jsii.Number(s.stopTimeout.Seconds())),
		ReadonlyRootFilesystem: jsii.Bool(true),
		Essential:              jsii.Bool(true),
	})
	// The root filesystem is read-only; /tmp is a task-local scratch volume for whatever the
	// Go runtime or SDK spills (os.TempDir).
	c.taskDef.AddVolume(&awsecs.Volume{Name: jsii.String("tmp")})
	c.container.AddMountPoints(&awsecs.MountPoint{ContainerPath: jsii.String("/tmp"), SourceVolume: jsii.String("tmp"), ReadOnly: jsii.Bool(false)})
	cdknag.NagSuppressions_AddResourceSuppressions(c.taskDef, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-ECS2"),
		Reason: jsii.String("The environment holds only resource names and tuning settings of the consumer (CDC_*); it has no secrets, and the task role supplies credentials."),
	}}, jsii.Bool(false))
	cdknag.NagSuppressions_AddResourceSuppressions(c.taskDef.ObtainExecutionRole(), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("ecr:GetAuthorizationToken supports no resource-level permission; the image pull actions are on the one repository."),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))

	subnets := net.subnets
	c.service = awsecs.NewFargateService(scope, jsii.String("Service"), &awsecs.FargateServiceProps{
		Cluster:        c.cluster,
		TaskDefinition: c.taskDef,
		DesiredCount:   jsii.Number(float64(s.desiredCount)),
		AssignPublicIp: jsii.Bool(false),
		VpcSubnets:     subnets,
		SecurityGroups: &net.securityGroups,
		CircuitBreaker: &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		// 100/200: a new task starts before an old one stops, so leases move without a gap.
		MinHealthyPercent: jsii.Number(100),
		MaxHealthyPercent: jsii.Number(200),
		PlatformVersion:   awsecs.FargatePlatformVersion_LATEST,
	})
	return c
}
