package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// HealthCheckCommand is the container health check: distroless has no shell or curl, so the
// binary probes its own /healthz.
var HealthCheckCommand = []string{"CMD", "/keyspaces-cdc-s3", "healthcheck"}

// ContainerUser is the user:group the container runs as, named in the task definition so that
// any image (ImageUri, ContainerImage) runs as it and never as root: distroless's nonroot
// (uid and gid 65532), the USER of consumer/Dockerfile.
const ContainerUser = "65532:65532"

// compute is the ECS side of one table: its task definition and service (in the shared cluster).
type compute struct {
	taskDef   awsecs.FargateTaskDefinition
	container awsecs.ContainerDefinition
	service   awsecs.FargateService
	logGroup  awslogs.LogGroup
}

// newCluster is the cluster of every table's service, with Container Insights.
func newCluster(scope constructs.Construct, net *network) awsecs.Cluster {
	return awsecs.NewCluster(scope, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                 net.vpc,
		ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})
}

// logRetention is the retention of the log groups: LogRetention, else one year (Control
// Tower's CT.CLOUDWATCH.PR.2 asks for at least a year; EMF lines are about 1.6 KB a minute per
// task, so a year of a task's logs is under a gigabyte).
func (s *settings) logRetention() awslogs.RetentionDays {
	if s.LogRetention == "" {
		return awslogs.RetentionDays_ONE_YEAR
	}
	return s.LogRetention
}

// newLogsKey encrypts every log group of the deployment (Control Tower's CT.CLOUDWATCH.PR.3):
// LogEncryptionKey, else one created key (rotation on, about $1 a month) that only CloudWatch
// Logs of this account and region may use, for log groups.
func newLogsKey(scope constructs.Construct, s *settings) awskms.IKey {
	if s.LogEncryptionKey != nil {
		return s.LogEncryptionKey
	}
	stack := awscdk.Stack_Of(scope)
	key := awskms.NewKey(scope, jsii.String("LogsKey"), &awskms.KeyProps{
		Description:       jsii.Sprintf("keyspaces-cdc-s3: the log groups of stack %s", s.stackName),
		EnableKeyRotation: jsii.Bool(true),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsOfThisAccount"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.Sprintf("logs.%s.amazonaws.com", *stack.Region()), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{
			"kms:EncryptionContext:aws:logs:arn": jsii.Sprintf("arn:%s:logs:%s:%s:log-group:*", *stack.Partition(), *stack.Region(), *stack.Account()),
		}},
	}), nil)
	// Only AWS services may create grants on the key (Control Tower's CT.KMS.PR.3).
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("GrantsOnlyForAwsServices"),
		Effect:     awsiam.Effect_DENY,
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:CreateGrant"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"BoolIfExists": map[string]any{
			"kms:GrantIsForAWSResource": "false",
			"aws:PrincipalIsAWSService": "false",
		}},
	}), nil)
	return key
}

func newCompute(scope constructs.Construct, s *settings, sh *shared, leaseTable awsdynamodb.Table, role awsiam.Role) *compute {
	c := &compute{}
	net, img := sh.net, sh.image
	c.logGroup = awslogs.NewLogGroup(scope, jsii.String("Logs"), &awslogs.LogGroupProps{Retention: s.logRetention(), EncryptionKey: sh.logsKey})

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

	env := consumerEnvironment(scope, s, sh.storage.bucket, leaseTable.TableName())
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
		User:                   jsii.String(ContainerUser),
		// The task's memory is the container's hard limit: it is the only container.
		MemoryLimitMiB: jsii.Number(float64(s.MemoryMiB)),
		Essential:      jsii.Bool(true),
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
		Cluster:        sh.cluster,
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
