package constructs

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"
)

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDefaultsCreateASafeDeployment(t *testing.T) {
	s := synth(t, baseProps(), stackOptions{nag: true})

	t.Run("buckets", func(t *testing.T) {
		check(t, func() {
			// Data bucket: versioned, encrypted, public access blocked, logged to the log bucket.
			s.template.HasResourceProperties(jsii.String("AWS::S3::Bucket"), map[string]any{
				"VersioningConfiguration": map[string]any{"Status": "Enabled"},
				"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
					map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
				}},
				"PublicAccessBlockConfiguration": map[string]any{
					"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
				},
				"LoggingConfiguration": map[string]any{
					"DestinationBucketName": map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^CdcAccessLogsBucket"))},
					"LogFilePrefix":         "data-bucket/",
				},
				"LifecycleConfiguration": map[string]any{"Rules": []any{assertions.Match_ObjectLike(&map[string]any{
					"AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 7},
					"Status":                         "Enabled",
				})}},
			})
			s.template.ResourceCountIs(jsii.String("AWS::S3::Bucket"), jsii.Number(2))
			// Both send their object events to EventBridge, without a notifications function.
			s.template.ResourcePropertiesCountIs(jsii.String("AWS::S3::Bucket"), map[string]any{
				"NotificationConfiguration": map[string]any{"EventBridgeConfiguration": map[string]any{"EventBridgeEnabled": true}},
			}, jsii.Number(2))
			s.template.ResourceCountIs(jsii.String("Custom::S3BucketNotifications"), jsii.Number(0))
			// Both bucket policies deny every request without TLS.
			s.template.ResourcePropertiesCountIs(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
				"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Effect":    "Deny",
					"Action":    "s3:*",
					"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
				})})},
			}, jsii.Number(2))
		})
	})

	t.Run("lease table", func(t *testing.T) {
		table := s.only(t, "AWS::DynamoDB::Table")
		want := map[string]string{
			"BillingMode":                      `"PAY_PER_REQUEST"`,
			"KeySchema":                        `[{"AttributeName":"leaseKey","KeyType":"HASH"}]`,
			"AttributeDefinitions":             `[{"AttributeName":"leaseKey","AttributeType":"S"}]`,
			"PointInTimeRecoverySpecification": `{"PointInTimeRecoveryEnabled":true}`,
			"DeletionProtectionEnabled":        `true`,
		}
		for k, v := range want {
			if got := jsonText(table[k]); got != v {
				t.Errorf("lease table %s = %s, want %s", k, got, v)
			}
		}
		if _, named := table["TableName"]; named {
			t.Errorf("lease table has a fixed TableName %v: two deployments would share it", table["TableName"])
		}
	})

	t.Run("service", func(t *testing.T) {
		svc := s.only(t, "AWS::ECS::Service")
		net := svc["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any)
		if net["AssignPublicIp"] != "DISABLED" {
			t.Errorf("AssignPublicIp = %v, want DISABLED", net["AssignPublicIp"])
		}
		subnets := jsonText(net["Subnets"])
		if !strings.Contains(subnets, "CdcVpcprivateSubnet1") || !strings.Contains(subnets, "CdcVpcprivateSubnet2") {
			t.Errorf("service subnets %s are not the VPC's private subnets", subnets)
		}
		if got := svc["DesiredCount"]; got != float64(2) {
			t.Errorf("DesiredCount = %v, want 2", got)
		}
		dc := jsonText(svc["DeploymentConfiguration"])
		for _, want := range []string{`"DeploymentCircuitBreaker":{"Enable":true,"Rollback":true}`, `"MaximumPercent":200`, `"MinimumHealthyPercent":100`} {
			if !strings.Contains(dc, want) {
				t.Errorf("DeploymentConfiguration %s lacks %s", dc, want)
			}
		}
		check(t, func() {
			s.template.HasResourceProperties(jsii.String("AWS::ECS::Cluster"), map[string]any{
				"ClusterSettings": []any{map[string]any{"Name": "containerInsights", "Value": "enabled"}},
			})
		})
	})

	t.Run("task definition", func(t *testing.T) {
		check(t, func() {
			s.template.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), map[string]any{
				"Cpu":                     "1024",
				"Memory":                  "2048",
				"RequiresCompatibilities": []any{"FARGATE"},
				"RuntimePlatform":         map[string]any{"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
				"ContainerDefinitions": []any{assertions.Match_ObjectLike(&map[string]any{
					"HealthCheck": assertions.Match_ObjectLike(&map[string]any{
						"Command": []any{"CMD", "/keyspaces-cdc-s3", "healthcheck"},
					}),
					"StopTimeout":            120,
					"ReadonlyRootFilesystem": true,
					"User":                   "65532:65532",
					"Memory":                 2048,
					"MountPoints":            []any{map[string]any{"ContainerPath": "/tmp", "SourceVolume": "tmp", "ReadOnly": false}},
					"Essential":              true,
					"LogConfiguration": assertions.Match_ObjectLike(&map[string]any{
						"LogDriver": "awslogs",
					}),
				})},
			})
			// Every log group: a year, encrypted with the created key.
			s.template.ResourcePropertiesCountIs(jsii.String("AWS::Logs::LogGroup"), map[string]any{
				"RetentionInDays": 365,
				"KmsKeyId":        map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^CdcLogsKey")), "Arn"}},
			}, jsii.Number(2))
			s.template.ResourceCountIs(jsii.String("AWS::Logs::LogGroup"), jsii.Number(2))
			s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})
		})
		// The default image is the consumer's DockerImageAsset, built for ARM64.
		img := jsonText(s.only(t, "AWS::ECS::TaskDefinition")["ContainerDefinitions"].([]any)[0].(map[string]any)["Image"])
		if !strings.Contains(img, "cdk-hnb659fds-container-assets") {
			t.Errorf("image %s is not the CDK image asset", img)
		}
		images := s.dockerImages(t)
		if len(images) != 1 {
			t.Fatalf("docker image assets %v, want the consumer's", images)
		}
		for _, a := range images {
			if src := jsonText(a.(map[string]any)["source"]); !strings.Contains(src, `"dockerFile":"consumer/Dockerfile"`) || !strings.Contains(src, `"platform":"linux/arm64"`) {
				t.Errorf("image asset source %s", src)
			}
		}
	})

	t.Run("endpoints", func(t *testing.T) {
		got := s.endpointServices()
		for _, name := range []string{"api.aws.\",{\"Ref\":\"AWS::Region\"},\".cassandra-streams", ".ecr.api", ".ecr.dkr", ".logs", ".dynamodb", ".s3\""} {
			if !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, name) }) {
				t.Errorf("no VPC endpoint for %s in %v", name, got)
			}
		}
		// Nothing in the task calls STS or CloudWatch's PutMetricData (monitoring), and JSON
		// never calls the Keyspaces control plane (cassandra).
		for _, name := range []string{".sts", ".monitoring", ".cassandra\""} {
			if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, name) }) {
				t.Errorf("VPC endpoint %s created: %v", name, got)
			}
		}
		if len(got) != 6 {
			t.Errorf("%d endpoints, want 6: %v", len(got), got)
		}
	})

	t.Run("task egress", func(t *testing.T) {
		// HTTPS to the interface endpoints' group and the S3 and DynamoDB prefix lists only.
		var rules []string
		for id, r := range s.resources("AWS::EC2::SecurityGroup") {
			if strings.HasPrefix(id, "CdcServiceSecurityGroup") {
				egress, _ := r["Properties"].(map[string]any)["SecurityGroupEgress"].([]any)
				for _, e := range egress {
					rules = append(rules, jsonText(e))
				}
			}
		}
		for _, r := range s.resources("AWS::EC2::SecurityGroupEgress") {
			if p := r["Properties"].(map[string]any); strings.Contains(jsonText(p["GroupId"]), "CdcServiceSecurityGroup") {
				rules = append(rules, jsonText(p))
			}
		}
		var toEndpoints, toPrefixLists int
		for _, r := range rules {
			switch {
			case strings.Contains(r, "0.0.0.0/0") || !strings.Contains(r, `"FromPort":443`) || !strings.Contains(r, `"ToPort":443`):
				t.Errorf("task egress rule %s is not HTTPS to an endpoint", r)
			case strings.Contains(r, `"DestinationSecurityGroupId":{"Fn::GetAtt":["CdcEndpointSecurityGroup`):
				toEndpoints++
			case strings.Contains(r, `"DestinationPrefixListId":{"Fn::GetAtt":["CdcS3PrefixList`), strings.Contains(r, `"DestinationPrefixListId":{"Fn::GetAtt":["CdcDynamoDbPrefixList`):
				toPrefixLists++
			default:
				t.Errorf("task egress rule %s", r)
			}
		}
		if toEndpoints != 1 || toPrefixLists != 2 {
			t.Errorf("task egress: %d rules to the endpoints, %d to prefix lists; want 1 and 2: %v", toEndpoints, toPrefixLists, rules)
		}
	})

	t.Run("cdk-nag", func(t *testing.T) {
		if errs := s.nagErrors(t); len(errs) > 0 {
			t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
		}
	})
}

func TestEnvironmentFollowsTheConsumerContract(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		s := synth(t, baseProps(), stackOptions{})
		env := s.environment(t)
		var names []string
		for k := range env {
			names = append(names, k)
		}
		slices.Sort(names)
		want := []string{"CDC_APPLICATION_NAME", "CDC_BUCKET", "CDC_COMPRESSION", "CDC_FORMAT", "CDC_HTTP_PORT",
			"CDC_KEYSPACE", "CDC_KEYSPACES_REGION", "CDC_LEASE_TABLE", "CDC_METRICS_NAMESPACE", "CDC_PREFIX",
			"CDC_S3_REGION", "CDC_TABLE", "GOMEMLIMIT"}
		if !slices.Equal(names, want) {
			t.Fatalf("env names %v, want %v", names, want)
		}
		for k, v := range map[string]string{
			"CDC_KEYSPACE": `"media"`, "CDC_TABLE": `"media_content"`, "CDC_FORMAT": `"json"`, "CDC_COMPRESSION": `"gzip"`,
			// The stack's name and the table's: unique in the account and region.
			"CDC_APPLICATION_NAME": `"Test-media-media_content"`, "CDC_METRICS_NAMESPACE": `"KeyspacesCdcToS3"`, "CDC_HTTP_PORT": `"8080"`,
			"CDC_LEASE_TABLE": `{"Ref":"CdcLeaseTable`, "CDC_BUCKET": `{"Ref":"CdcBucket`, "CDC_KEYSPACES_REGION": `{"Ref":"AWS::Region"}`,
			"GOMEMLIMIT": `"1638MiB"`, // 80% of the default 2048 MiB
		} {
			if got := jsonText(env[k]); !strings.HasPrefix(got, v) {
				t.Errorf("%s = %s, want %s...", k, got, v)
			}
		}
	})
	t.Run("every setting", func(t *testing.T) {
		props := baseProps()
		props.StreamArn = "arn:aws:cassandra:us-east-1:123456789012:/keyspace/media/table/media_content/stream/2025-01-01T00:00:00.000"
		props.Format, props.Compression, props.Prefix = "avro", "zstandard", "cdc/"
		props.ApplicationName, props.MetricsNamespace = "media-cdc", "Media/Cdc"
		props.StartPosition, props.LogLevel, props.CellMetadata = "LATEST", "debug", true
		props.FlushRecords, props.FlushBytes, props.FlushInterval = 500, 1<<20, 30*time.Second
		props.MaxLeasesPerWorker, props.MaxStealsPerCycle, props.StopTimeout = 8, 25, 90*time.Second
		props.PollInterval = 2 * time.Second
		props.Cpu, props.MemoryMiB = 1024, 3072
		env := synth(t, props, stackOptions{}).environment(t)
		for k, v := range map[string]string{
			"CDC_STREAM_ARN": jsonText(props.StreamArn), "CDC_FORMAT": `"avro"`, "CDC_COMPRESSION": `"zstandard"`, "CDC_PREFIX": `"cdc/"`,
			"CDC_APPLICATION_NAME": `"media-cdc"`, "CDC_METRICS_NAMESPACE": `"Media/Cdc"`, "CDC_START_POSITION": `"LATEST"`,
			"CDC_LOG_LEVEL": `"debug"`, "CDC_CELL_METADATA": `"true"`, "CDC_FLUSH_RECORDS": `"500"`, "CDC_FLUSH_BYTES": `"1048576"`,
			"CDC_FLUSH_INTERVAL": `"30s"`, "CDC_MAX_LEASES_PER_WORKER": `"8"`, "CDC_SHUTDOWN_TIMEOUT": `"1m15s"`,
			"CDC_MAX_STEALS_PER_CYCLE": `"25"`, "GOMEMLIMIT": `"2457MiB"`, "CDC_POLL_INTERVAL": `"2s"`,
			// The stream ARN's region is the Keyspaces region.
			"CDC_KEYSPACES_REGION": `"us-east-1"`,
		} {
			if got := jsonText(env[k]); got != v {
				t.Errorf("%s = %s, want %s", k, got, v)
			}
		}
	})
	t.Run("the stream ARN names the table and its region", func(t *testing.T) {
		props := baseProps()
		props.Keyspace, props.Table = "", ""
		props.StreamArn = "arn:aws:cassandra:eu-west-1:123456789012:/keyspace/shop/table/orders/stream/2025-01-01T00:00:00.000"
		env := synth(t, props, stackOptions{}).environment(t)
		for k, v := range map[string]string{"CDC_KEYSPACE": `"shop"`, "CDC_TABLE": `"orders"`, "CDC_KEYSPACES_REGION": `"eu-west-1"`} {
			if got := jsonText(env[k]); got != v {
				t.Errorf("%s = %s, want %s", k, got, v)
			}
		}
	})
	t.Run("GOMEMLIMIT of ExtraEnvironment wins", func(t *testing.T) {
		props := baseProps()
		props.ExtraEnvironment = map[string]string{"GOMEMLIMIT": "900MiB"}
		if got := jsonText(synth(t, props, stackOptions{}).environment(t)["GOMEMLIMIT"]); got != `"900MiB"` {
			t.Errorf("GOMEMLIMIT = %s, want \"900MiB\"", got)
		}
	})
}

func TestTaskRoleIsScopedToStreamTableBucketAndPrefix(t *testing.T) {
	props := baseProps()
	props.Prefix = "cdc/"
	s := synth(t, props, stackOptions{})
	st := s.statements(t, "CdcTaskRole")

	if got := list(st["ReadStream"]["Resource"]); len(got) != 1 || !strings.Contains(got[0], `:/keyspace/media/table/media_content/stream/*"`) {
		t.Errorf("ReadStream resources %v, want the table's streams", got)
	}
	if got := list(st["FindStream"]["Action"]); !slices.Equal(got, []string{`"cassandra:ListStreams"`}) {
		t.Errorf("FindStream actions %v", got)
	}
	schema := strings.Join(list(st["ReadTableSchema"]["Resource"]), " ")
	for _, want := range []string{`:/keyspace/media/table/media_content"`, `:/keyspace/system*"`} {
		if !strings.Contains(schema, want) {
			t.Errorf("ReadTableSchema resources %s lack %s", schema, want)
		}
	}
	if got := list(st["Leases"]["Resource"]); len(got) != 1 || !strings.Contains(got[0], `"Fn::GetAtt":["CdcLeaseTable`) {
		t.Errorf("Leases resources %v, want the lease table's ARN only", got)
	}
	if got := list(st["Leases"]["Action"]); !slices.Equal(got, []string{`"dynamodb:DeleteItem"`,
		`"dynamodb:GetItem"`, `"dynamodb:Scan"`, `"dynamodb:UpdateItem"`}) {
		t.Errorf("Leases actions %v", got)
	}
	if got := list(st["WriteFiles"]["Action"]); !slices.Equal(got, []string{`"s3:AbortMultipartUpload"`, `"s3:PutObject"`}) {
		t.Errorf("WriteFiles actions %v: the sink only puts objects (multipart above the threshold) and aborts failed uploads", got)
	}
	files := strings.Join(list(st["WriteFiles"]["Resource"]), " ")
	for _, want := range []string{`/cdc/media/media_content/*"`, `/cdc/_errors/media/media_content/*"`, `/cdc/_schemas/media/media_content/*"`} {
		if !strings.Contains(files, want) {
			t.Errorf("WriteFiles resources %s lack %s", files, want)
		}
	}
	if n := len(list(st["WriteFiles"]["Resource"])); n != 3 {
		t.Errorf("WriteFiles has %d resources, want 3", n)
	}
	for sid, stmt := range st {
		if actions := list(stmt["Action"]); slices.Contains(actions, `"s3:ListBucket"`) || slices.Contains(actions, `"s3:*"`) {
			t.Errorf("statement %s may list or do anything in the bucket: %v", sid, actions)
		}
	}
	// Metrics are EMF lines in the logs: no PutMetricData.
	for sid, stmt := range st {
		if slices.ContainsFunc(list(stmt["Action"]), func(a string) bool { return strings.HasPrefix(a, `"cloudwatch:`) }) {
			t.Errorf("statement %s grants CloudWatch actions: %v", sid, stmt["Action"])
		}
	}
	// "*" only where no resource can be named.
	for sid, stmt := range st {
		if slices.Contains(list(stmt["Resource"]), `"*"`) && sid != "FindStream" {
			t.Errorf("statement %s has resource *", sid)
		}
	}
	if sids := slices.Sorted(maps.Keys(st)); !slices.Equal(sids, []string{"FindStream", "Leases", "ReadStream", "ReadTableSchema", "WriteFiles"}) {
		t.Errorf("statements %v", sids)
	}

	t.Run("with a stream ARN", func(t *testing.T) {
		props := baseProps()
		props.StreamArn = "arn:aws:cassandra:us-east-1:123456789012:/keyspace/media/table/media_content/stream/2025-01-01T00:00:00.000"
		st := synth(t, props, stackOptions{}).statements(t, "CdcTaskRole")
		if got := list(st["ReadStream"]["Resource"]); !slices.Equal(got, []string{jsonText(props.StreamArn)}) {
			t.Errorf("ReadStream resources %v, want exactly the stream", got)
		}
		if _, ok := st["FindStream"]; ok {
			t.Error("ListStreams granted although the stream ARN is given")
		}
	})
}

func TestEndpointSwitches(t *testing.T) {
	cases := []struct {
		name    string
		set     func(*KeyspacesCdcToS3Props, *bool)
		missing []string
	}{
		{"KeyspacesStreams", func(p *KeyspacesCdcToS3Props, b *bool) { p.KeyspacesStreamsEndpoint = b }, []string{"cassandra-streams"}},
		{"Ecr", func(p *KeyspacesCdcToS3Props, b *bool) { p.EcrEndpoints = b }, []string{".ecr.api", ".ecr.dkr"}},
		{"CloudWatch", func(p *KeyspacesCdcToS3Props, b *bool) { p.CloudWatchEndpoints = b }, []string{".logs"}},
		{"DynamoDb", func(p *KeyspacesCdcToS3Props, b *bool) { p.DynamoDbEndpoint = b }, []string{".dynamodb"}},
		{"S3", func(p *KeyspacesCdcToS3Props, b *bool) { p.S3Endpoint = b }, []string{".s3\""}},
	}
	for _, c := range cases {
		t.Run(c.name+" off", func(t *testing.T) {
			props := baseProps()
			c.set(props, jsii.Bool(false))
			got := synth(t, props, stackOptions{}).endpointServices()
			if len(got) != 6-len(c.missing) {
				t.Errorf("%d endpoints, want %d: %v", len(got), 6-len(c.missing), got)
			}
			for _, m := range c.missing {
				if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, m) }) {
					t.Errorf("endpoint %s still created: %v", m, got)
				}
			}
		})
	}
	on := func(name string, edit func(*KeyspacesCdcToS3Props)) {
		t.Run(name, func(t *testing.T) {
			props := baseProps()
			edit(props)
			if got := synth(t, props, stackOptions{}).endpointServices(); len(got) != 7 || !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, name) }) {
				t.Errorf("endpoints %v, want the 6 and %s", got, name)
			}
		})
	}
	on(".sts", func(p *KeyspacesCdcToS3Props) { p.StsEndpoint = jsii.Bool(true) })
	// Avro asks the control plane for the table's definition: the cassandra endpoint comes with it.
	on(".cassandra\"", func(p *KeyspacesCdcToS3Props) { p.Format = "avro" })
	on(".cassandra\"", func(p *KeyspacesCdcToS3Props) { p.KeyspacesEndpoint = jsii.Bool(true) })
	t.Run("existing VPC: off by default, each on by its switch", func(t *testing.T) {
		s := synth(t, baseProps(), stackOptions{beforeConstruct: func(stack awscdk.Stack, p *KeyspacesCdcToS3Props) {
			p.ExistingVpc = importedVpc(stack)
		}})
		if got := s.endpointServices(); len(got) != 0 {
			t.Errorf("endpoints %v created in an existing VPC without a switch", got)
		}
		s = synth(t, baseProps(), stackOptions{beforeConstruct: func(stack awscdk.Stack, p *KeyspacesCdcToS3Props) {
			p.ExistingVpc = importedVpc(stack)
			p.KeyspacesStreamsEndpoint = jsii.Bool(true)
		}})
		got := s.endpointServices()
		if len(got) != 1 || !strings.Contains(got[0], "cassandra-streams") {
			t.Errorf("endpoints %v, want only cassandra-streams", got)
		}
		ep := s.only(t, "AWS::EC2::VPCEndpoint")
		if jsonText(ep["SubnetIds"]) != `["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]` || ep["PrivateDnsEnabled"] != true {
			t.Errorf("endpoint subnets %v, private DNS %v", ep["SubnetIds"], ep["PrivateDnsEnabled"])
		}
	})
}

func TestExistingVpcWithRouteTablesAndSecurityGroups(t *testing.T) {
	s := synth(t, baseProps(), stackOptions{nag: true, beforeConstruct: func(stack awscdk.Stack, p *KeyspacesCdcToS3Props) {
		p.ExistingVpc = importedVpc(stack)
		p.SecurityGroups = []awsec2.ISecurityGroup{awsec2.SecurityGroup_FromSecurityGroupId(stack, jsii.String("Sg"), jsii.String("sg-0123456789abcdef0"), nil)}
		p.RouteTableIds = []string{"rtb-0123456789abcdef0", "rtb-0123456789abcdef1"}
		p.DynamoDbEndpoint, p.S3Endpoint, p.EcrEndpoints = jsii.Bool(true), jsii.Bool(true), jsii.Bool(true)
	}})
	gateways := 0
	for _, r := range s.resources("AWS::EC2::VPCEndpoint") {
		props := r["Properties"].(map[string]any)
		if props["VpcEndpointType"] != "Gateway" {
			continue
		}
		gateways++
		if got := jsonText(props["RouteTableIds"]); got != `["rtb-0123456789abcdef0","rtb-0123456789abcdef1"]` {
			t.Errorf("gateway endpoint route tables %s", got)
		}
		if props["VpcId"] != "vpc-0123456789abcdef0" {
			t.Errorf("gateway endpoint VPC %v", props["VpcId"])
		}
	}
	if gateways != 2 {
		t.Errorf("%d gateway endpoints, want 2", gateways)
	}
	net := s.only(t, "AWS::ECS::Service")["NetworkConfiguration"].(map[string]any)["AwsvpcConfiguration"].(map[string]any)
	if got := jsonText(net["SecurityGroups"]); got != `["sg-0123456789abcdef0"]` {
		t.Errorf("service security groups %s, want the given one", got)
	}
	if got := jsonText(net["Subnets"]); got != `["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]` {
		t.Errorf("service subnets %s", got)
	}
	// Only the given group may reach the interface endpoints.
	check(t, func() {
		s.template.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroupIngress"), map[string]any{
			"FromPort": 443, "ToPort": 443, "IpProtocol": "tcp", "SourceSecurityGroupId": "sg-0123456789abcdef0",
		})
	})
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestGatewayEndpointsOfAnImportedVpcNeedItsRouteTables(t *testing.T) {
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	stack := awscdk.NewStack(app, jsii.String("Test"), nil)
	p := baseProps()
	p.ExistingVpc, p.S3Endpoint = importedVpc(stack), jsii.Bool(true)
	err := p.Validate()
	if err == nil || !strings.Contains(err.Error(), "RouteTableIds: required with ExistingVpc and S3Endpoint") {
		t.Fatalf("error %v, want one naming RouteTableIds", err)
	}
	if msg := panicMessage(func() { NewKeyspacesCdcToS3(stack, "Cdc", p) }); msg != err.Error() {
		t.Errorf("construct panicked with %q, want %q", msg, err)
	}

	t.Run("route tables without a gateway endpoint warn", func(t *testing.T) {
		s := synth(t, baseProps(), stackOptions{beforeConstruct: func(stack awscdk.Stack, p *KeyspacesCdcToS3Props) {
			p.ExistingVpc, p.RouteTableIds = importedVpc(stack), []string{"rtb-0123456789abcdef0"}
		}})
		var warnings []string
		check(t, func() {
			for _, m := range *assertions.Annotations_FromStack(s.stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("RouteTableIds"))) {
				warnings = append(warnings, fmt.Sprint(m.Entry.Data))
			}
		})
		if len(warnings) != 1 || !strings.Contains(warnings[0], "no gateway endpoint") {
			t.Errorf("warnings %v, want one saying the route tables are unused", warnings)
		}
	})
}

func TestImageOverrides(t *testing.T) {
	t.Run("ECR image URI: no asset, pull granted on that repository", func(t *testing.T) {
		props := baseProps()
		props.ImageUri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/keyspaces-cdc-s3:1.2.3"
		s := synth(t, props, stackOptions{nag: true})
		td := s.only(t, "AWS::ECS::TaskDefinition")
		if got := td["ContainerDefinitions"].([]any)[0].(map[string]any)["Image"]; got != props.ImageUri {
			t.Errorf("image %v, want %s", got, props.ImageUri)
		}
		var assets []string
		for _, a := range *awscdk.Stage_Of(s.stack).Synth(nil).Stacks() {
			if a.Assets() != nil {
				for _, asset := range *a.Assets() {
					assets = append(assets, jsonText(asset))
				}
			}
		}
		if slices.ContainsFunc(assets, func(a string) bool {
			return strings.Contains(a, "Dockerfile") || strings.Contains(a, "container-image")
		}) {
			t.Errorf("image assets %v with an image URI", assets)
		}
		pulls := jsonText(s.resources("AWS::IAM::Policy"))
		if !strings.Contains(pulls, "arn:aws:ecr:eu-west-1:123456789012:repository/keyspaces-cdc-s3") {
			t.Errorf("execution role cannot pull from the image's repository: %s", pulls)
		}
		if errs := s.nagErrors(t); len(errs) > 0 {
			t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
		}
	})
	t.Run("X86_64 and a non-default size", func(t *testing.T) {
		props := baseProps()
		props.Architecture, props.Cpu, props.MemoryMiB, props.ImageUri = "x86_64", 512, 1024, "public.ecr.aws/example/cdc:latest"
		check(t, func() {
			synth(t, props, stackOptions{}).template.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), map[string]any{
				"Cpu": "512", "Memory": "1024", "RuntimePlatform": map[string]any{"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"},
			})
		})
	})
}

func TestCrossRegionSourceAndDestination(t *testing.T) {
	props := baseProps()
	props.KeyspacesRegion, props.S3Region = "eu-west-1", "eu-central-1"
	s := synth(t, props, stackOptions{region: "us-east-1", beforeConstruct: func(stack awscdk.Stack, p *KeyspacesCdcToS3Props) {
		// A VPC with a route out: the created one is isolated.
		p.ExistingVpc = importedVpc(stack)
		p.ExistingBucket = awss3.Bucket_FromBucketAttributes(stack, jsii.String("Dest"), &awss3.BucketAttributes{
			BucketName: jsii.String("media-cdc-eu"), Region: jsii.String("eu-central-1"),
		})
	}})
	env := s.environment(t)
	// A given bucket may be another stack's too: the keys go under the stack's name.
	for k, v := range map[string]string{"CDC_KEYSPACES_REGION": "eu-west-1", "CDC_S3_REGION": "eu-central-1", "CDC_BUCKET": "media-cdc-eu", "CDC_PREFIX": "Test/"} {
		if env[k] != v {
			t.Errorf("%s = %v, want %s", k, env[k], v)
		}
	}
	st := s.statements(t, "CdcTaskRole")
	for _, sid := range []string{"ReadStream", "ReadTableSchema"} {
		for _, r := range list(st[sid]["Resource"]) {
			if !strings.Contains(r, ":cassandra:eu-west-1:") {
				t.Errorf("%s resource %s is not in eu-west-1", sid, r)
			}
		}
	}
	if got := jsonText(st["WriteFiles"]["Resource"]); !strings.Contains(got, ":s3:::media-cdc-eu/Test/media/media_content/*") {
		t.Errorf("WriteFiles resources %s, want the imported bucket", got)
	}
	if n := len(s.resources("AWS::S3::Bucket")); n != 0 {
		t.Errorf("%d buckets created although one is given", n)
	}

	t.Run("the created VPC cannot reach another region", func(t *testing.T) {
		for _, c := range []struct{ prop, region string }{{"KeyspacesRegion", "eu-west-1"}, {"S3Region", "eu-central-1"}} {
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
			stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}})
			p := baseProps()
			if c.prop == "KeyspacesRegion" {
				p.KeyspacesRegion = c.region
			} else {
				p.S3Region = c.region
				p.ExistingBucket = awss3.Bucket_FromBucketName(stack, jsii.String("Dest"), jsii.String("media-cdc-eu"))
			}
			err := p.ValidateIn(stack)
			for _, want := range []string{c.prop, "no route", "Deploy the stack in " + c.region, "ExistingVpc"} {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s %s with a created VPC: error %v lacks %q", c.prop, c.region, err, want)
				}
			}
			if msg := panicMessage(func() { NewKeyspacesCdcToS3(stack, "Cdc", p) }); err == nil || msg != err.Error() {
				t.Errorf("construct panicked with %q, want %v", msg, err)
			}
		}
	})
	t.Run("an environment-agnostic stack refuses another region at deploy time", func(t *testing.T) {
		props := baseProps()
		props.KeyspacesRegion = "eu-west-1"
		rules := jsonText(synth(t, props, stackOptions{}).json["Rules"])
		if !strings.Contains(rules, `"Fn::Equals":[{"Ref":"AWS::Region"},"eu-west-1"]`) || !strings.Contains(rules, "no route") {
			t.Errorf("template rules %s, want the deploy region to be eu-west-1", rules)
		}
	})
	t.Run("a created bucket cannot be in another region", func(t *testing.T) {
		msg := panicMessage(func() {
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
			stack := awscdk.NewStack(app, jsii.String("Test"), &awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}})
			p := baseProps()
			p.S3Region, p.ImageUri = "eu-central-1", "public.ecr.aws/example/cdc:latest"
			NewKeyspacesCdcToS3(stack, "Cdc", p)
		})
		if !strings.Contains(msg, "S3Region") || !strings.Contains(msg, "ExistingBucket") {
			t.Errorf("panic %q does not name S3Region and ExistingBucket", msg)
		}
	})
}

func TestValidationNamesThePropAndTheAllowedValues(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*KeyspacesCdcToS3Props)
		wants []string
	}{
		{"no keyspace", func(p *KeyspacesCdcToS3Props) { p.Keyspace = "" }, []string{"Keyspace", "required"}},
		{"no table", func(p *KeyspacesCdcToS3Props) { p.Table = "" }, []string{"Table", "required"}},
		{"bad table", func(p *KeyspacesCdcToS3Props) { p.Table = "media-content" }, []string{"Table", "letters, digits, _"}},
		{"format", func(p *KeyspacesCdcToS3Props) { p.Format = "orc" }, []string{"Format", `"orc"`, "json, avro, parquet"}},
		{"iceberg sql catalog", func(p *KeyspacesCdcToS3Props) { p.Format, p.IcebergCatalog = "iceberg", "sql" }, []string{"IcebergCatalog",
			`"sql" is not deployable: glue or s3tables`}},
		{"compression", func(p *KeyspacesCdcToS3Props) { p.Format, p.Compression = "avro", "gzip" }, []string{"Compression", "deflate, snappy, zstandard, null"}},
		{"architecture", func(p *KeyspacesCdcToS3Props) { p.Architecture = "riscv" }, []string{"Architecture", "ARM64, X86_64"}},
		{"cpu", func(p *KeyspacesCdcToS3Props) { p.Cpu = 300 }, []string{"Cpu", "256, 512, 1024"}},
		{"memory", func(p *KeyspacesCdcToS3Props) { p.Cpu, p.MemoryMiB = 256, 4096 }, []string{"MemoryMiB", "512, 1024, 2048"}},
		{"desired count", func(p *KeyspacesCdcToS3Props) { p.DesiredCount = ptr(-1) }, []string{"DesiredCount", "0 to 1000"}},
		{"steals", func(p *KeyspacesCdcToS3Props) { p.MaxStealsPerCycle = 1001 }, []string{"MaxStealsPerCycle", "1 to 1000"}},
		{"stream of another table", func(p *KeyspacesCdcToS3Props) {
			p.StreamArn = "arn:aws:cassandra:us-east-1:123456789012:/keyspace/media/table/other/stream/x"
		}, []string{"StreamArn", "media.other"}},
		{"stream in another region", func(p *KeyspacesCdcToS3Props) {
			p.StreamArn, p.KeyspacesRegion = "arn:aws:cassandra:eu-west-1:123456789012:/keyspace/media/table/media_content/stream/x", "us-east-1"
		}, []string{"KeyspacesRegion", "eu-west-1"}},
		{"prefix out of its folder", func(p *KeyspacesCdcToS3Props) { p.Prefix = "../escape/" }, []string{"Prefix", `"../escape/"`, "'..'"}},
		{"prefix with a leading slash", func(p *KeyspacesCdcToS3Props) { p.Prefix = "/cdc/" }, []string{"Prefix", "leading '/'"}},
		{"stop timeout", func(p *KeyspacesCdcToS3Props) { p.StopTimeout = 5 * time.Minute }, []string{"StopTimeout", "120s"}},
		{"two images", func(p *KeyspacesCdcToS3Props) { p.ImageUri, p.SourceDirectory = "x:1", "/src" }, []string{"ContainerImage", "not several"}},
		{"autoscaling max", func(p *KeyspacesCdcToS3Props) { p.Autoscaling = &AutoscalingConfig{MinTasks: 3, MaxTasks: 2} }, []string{"Autoscaling.MaxTasks", "shard count"}},
		{"glue avro columns", func(p *KeyspacesCdcToS3Props) { p.Format, p.GlueTable = "avro", &GlueTableConfig{} }, []string{"GlueTable.RowColumns", "avro"}},
		{"alarm period", func(p *KeyspacesCdcToS3Props) { p.Alarms.Lag.Period = 90 * time.Second }, []string{"Alarms.Lag.Period", "whole minutes"}},
		{"vpc cidr", func(p *KeyspacesCdcToS3Props) { p.VpcCidr = "10.0.0.0" }, []string{"VpcCidr", "/16 to /24"}},
		{"subnets without vpc", func(p *KeyspacesCdcToS3Props) { p.RouteTableIds = []string{"rtb-0123456789abcdef0"} }, []string{"ExistingVpc"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			props := baseProps()
			c.edit(props)
			err := props.Validate()
			if err == nil {
				t.Fatal("Validate accepted the props")
			}
			msg := panicMessage(func() { NewKeyspacesCdcToS3(awscdk.NewStack(nil, nil, nil), "Cdc", props) })
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if msg != err.Error() {
				t.Errorf("construct panicked with %q, want the Validate error %q", msg, err)
			}
		})
	}
	t.Run("defaults fill a copy, not the caller's config", func(t *testing.T) {
		props := baseProps()
		props.Autoscaling = &AutoscalingConfig{MaxTasks: 4}
		if err := props.Validate(); err != nil {
			t.Fatal(err)
		}
		if props.Autoscaling.MinTasks != 0 || props.Format != "" {
			t.Errorf("Validate changed the props: %+v, format %q", *props.Autoscaling, props.Format)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestFindSourceDirectoryFindsTheRepositoryRoot(t *testing.T) {
	// From any working directory: cdk synth runs at the root, go test in the package folder.
	t.Chdir(t.TempDir())
	dir, err := FindSourceDirectory()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{DockerfilePath, "go.work", "Makefile"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("source directory %q: %v", dir, err)
		}
	}
}

func TestCreatedVpcSize(t *testing.T) {
	props := baseProps()
	props.VpcCidr, props.MaxAzs = "10.20.0.0/16", 3
	s := synth(t, props, stackOptions{region: "us-east-1"})
	if got := s.only(t, "AWS::EC2::VPC")["CidrBlock"]; got != "10.20.0.0/16" {
		t.Errorf("VPC CIDR %v", got)
	}
	subnets := s.resources("AWS::EC2::Subnet")
	if len(subnets) != 3 {
		t.Errorf("%d subnets, want one per AZ (3)", len(subnets))
	}
	for id, sn := range subnets {
		if sn["Properties"].(map[string]any)["MapPublicIpOnLaunch"] != false {
			t.Errorf("subnet %s maps public IPs", id)
		}
	}
	if n := len(s.resources("AWS::EC2::InternetGateway")) + len(s.resources("AWS::EC2::NatGateway")); n != 0 {
		t.Errorf("%d internet or NAT gateways in the created VPC, want none", n)
	}
}

// TestEveryVariableIsOneTheConsumerReads checks the env names against the consumer's own
// table (docs/configuration.md, which the consumer's tests keep in sync with its code): the
// construct must not set a name the consumer ignores.
func TestEveryVariableIsOneTheConsumerReads(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	known := map[string]bool{"GOMEMLIMIT": strings.Contains(doc, "`GOMEMLIMIT`")} // the Go runtime's
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(line, "| `CDC_") {
			known[strings.Trim(strings.Split(line, "|")[1], " `")] = true
		}
	}
	if len(known) < 10 {
		t.Fatalf("docs/configuration.md lists %d variables: not the consumer's table", len(known))
	}
	props := baseProps()
	props.StreamArn = "arn:aws:cassandra:us-east-1:123456789012:/keyspace/media/table/media_content/stream/x"
	props.StartPosition, props.LogLevel, props.CellMetadata = "LATEST", "debug", true
	props.FlushRecords, props.FlushBytes, props.FlushInterval = 500, 1<<20, 30*time.Second
	props.MaxLeasesPerWorker, props.MaxStealsPerCycle, props.StopTimeout = 8, 25, 90*time.Second
	for name := range synth(t, props, stackOptions{}).environment(t) {
		if !known[name] {
			t.Errorf("%s is not a variable of the consumer (docs/configuration.md: %d known)", name, len(known))
		}
	}
}
