package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/customresources"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// network is the VPC side of the construct: the VPC, the tasks' subnets and security groups,
// and the VPC endpoints that let tasks in private subnets without NAT reach AWS.
type network struct {
	vpc            awsec2.IVpc
	subnets        *awsec2.SubnetSelection
	securityGroups []awsec2.ISecurityGroup
	endpoints      map[string]awsec2.IVpcEndpoint
	endpointSG     awsec2.SecurityGroup // of the interface endpoints; nil without any
}

// KeyspacesStreamsEndpointService is the interface endpoint service of Keyspaces Streams.
// CDK has no constant for it; its dual-stack name is api.aws.<region>.cassandra-streams.
func KeyspacesStreamsEndpointService() awsec2.InterfaceVpcEndpointAwsService {
	return awsec2.NewInterfaceVpcEndpointAwsService(jsii.String("cassandra-streams"), jsii.String("api.aws"), nil, nil)
}

func newNetwork(scope constructs.Construct, d *deployment, logsKey awskms.IKey) *network {
	s := d.shared()
	n := &network{endpoints: map[string]awsec2.IVpcEndpoint{}}
	if s.createVpc {
		n.vpc, n.subnets = newVpc(scope, s, logsKey)
	} else {
		n.vpc, n.subnets = s.ExistingVpc, existingSubnets(s)
	}
	n.securityGroups = s.SecurityGroups
	var taskSG awsec2.SecurityGroup
	if len(n.securityGroups) == 0 {
		taskSG = newTaskSecurityGroup(scope, n.vpc, !s.createVpc)
		n.securityGroups = []awsec2.ISecurityGroup{taskSG}
	}
	on := func(v *bool) bool {
		if v == nil {
			return s.createVpc
		}
		return *v
	}
	// No monitoring (CloudWatch) endpoint: the metrics are EMF lines in the logs, and Container
	// Insights on Fargate is collected by ECS, not from the task. STS only when asked: the task
	// gets its credentials from the ECS credential endpoint (169.254.170.2), never from STS.
	// The Keyspaces (cassandra) endpoint only for the formats whose schema comes from the
	// table's definition (Avro, Parquet, Iceberg): JSON never calls the control plane (GetTable). AWS documents this endpoint for CQL on port 9142 and not for the HTTPS API the
	// consumer calls; if it does not serve it, the schema falls back to the records' own types,
	// loudly (docs/operations.md, SchemaFallback).
	keyspaces := s.createVpc && d.anyTableSchema()
	if s.KeyspacesEndpoint != nil {
		keyspaces = *s.KeyspacesEndpoint
	}
	n.addInterfaceEndpoints(scope, []interfaceEndpoint{
		{"Keyspaces", keyspaces, awsec2.InterfaceVpcEndpointAwsService_KEYSPACES()},
		{"KeyspacesStreams", on(s.KeyspacesStreamsEndpoint), KeyspacesStreamsEndpointService()},
		{"EcrApi", on(s.EcrEndpoints), awsec2.InterfaceVpcEndpointAwsService_ECR()},
		{"EcrDocker", on(s.EcrEndpoints), awsec2.InterfaceVpcEndpointAwsService_ECR_DOCKER()},
		{"CloudWatchLogs", on(s.CloudWatchEndpoints), awsec2.InterfaceVpcEndpointAwsService_CLOUDWATCH_LOGS()},
		{"Sts", s.StsEndpoint != nil && *s.StsEndpoint, awsec2.InterfaceVpcEndpointAwsService_STS()},
		// Format iceberg's catalogs, in the created VPC only (a given VPC brings its own routes).
		{"Glue", s.createVpc && d.anyIceberg(catalogGlue), awsec2.InterfaceVpcEndpointAwsService_GLUE()},
		{"S3Tables", s.createVpc && d.anyIceberg(catalogS3Tables), awsec2.InterfaceVpcEndpointAwsService_S3_TABLES()},
	})
	gateways := []gatewayEndpoint{
		{"DynamoDb", "dynamodb", on(s.DynamoDbEndpoint), awsec2.GatewayVpcEndpointAwsService_DYNAMODB()},
		{"S3", "s3", on(s.S3Endpoint), awsec2.GatewayVpcEndpointAwsService_S3()},
	}
	n.addGatewayEndpoints(scope, s.RouteTableIds, gateways)
	if len(s.RouteTableIds) > 0 && !on(s.DynamoDbEndpoint) && !on(s.S3Endpoint) {
		awscdk.Annotations_Of(scope).AddWarningV2(jsii.String("keyspaces-cdc-s3:routeTableIdsUnused"),
			jsii.String("RouteTableIds are given but no gateway endpoint is on (S3Endpoint, DynamoDbEndpoint): they are not used"))
	}
	if s.createVpc && taskSG != nil {
		n.restrictTaskEgress(scope, taskSG, gateways)
	}
	return n
}

// restrictTaskEgress lets the tasks of the created (isolated) VPC send HTTPS only where a route
// leads: the interface endpoints' security group and the prefix lists of the S3 and DynamoDB
// gateway endpoints. CloudFormation cannot name an AWS-managed prefix list, so a custom resource
// reads each id at deploy time (ec2:DescribePrefixLists).
func (n *network) restrictTaskEgress(scope constructs.Construct, taskSG awsec2.SecurityGroup, gateways []gatewayEndpoint) {
	https := awsec2.Port_Tcp(jsii.Number(443))
	if n.endpointSG != nil {
		taskSG.AddEgressRule(n.endpointSG, https, jsii.String("HTTPS to the interface endpoints"), nil)
	}
	for _, g := range gateways {
		if g.enabled {
			taskSG.AddEgressRule(awsec2.Peer_PrefixList(prefixListID(scope, g)), https, jsii.Sprintf("HTTPS to %s (gateway endpoint)", g.name), nil)
		}
	}
}

// prefixListID reads the id of the AWS-managed prefix list of a gateway endpoint's service
// (com.amazonaws.<region>.<service>) at deploy time.
func prefixListID(scope constructs.Construct, g gatewayEndpoint) *string {
	name := jsii.Sprintf("com.amazonaws.%s.%s", *awscdk.Stack_Of(scope).Region(), g.name)
	call := &customresources.AwsSdkCall{
		Service: jsii.String("EC2"),
		Action:  jsii.String("DescribePrefixLists"),
		Parameters: map[string]any{
			"Filters": []map[string]any{{"Name": "prefix-list-name", "Values": []*string{name}}},
		},
		PhysicalResourceId: customresources.PhysicalResourceId_Of(name),
		OutputPaths:        jsii.Strings("PrefixLists.0.PrefixListId"),
	}
	cr := customresources.NewAwsCustomResource(scope, jsii.String(g.id+"PrefixList"), &customresources.AwsCustomResourceProps{
		OnCreate: call,
		OnUpdate: call,
		// ec2:DescribePrefixLists has no resource-level permission.
		Policy:              customresources.AwsCustomResourcePolicy_FromSdkCalls(&customresources.SdkCallsPolicyOptions{Resources: customresources.AwsCustomResourcePolicy_ANY_RESOURCE()}),
		InstallLatestAwsSdk: jsii.Bool(false),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(cr, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("ec2:DescribePrefixLists supports no resource-level permission; it only reads the ids of AWS-managed prefix lists."),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))
	// CDK's one provider function for every AwsCustomResource of the stack, named by a fixed id.
	if provider := awscdk.Stack_Of(scope).Node().TryFindChild(jsii.String("AWS679f53fac002430cb0da5b7982bd2287")); provider != nil {
		cdknag.NagSuppressions_AddResourceSuppressions(provider, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("CDK's AwsCustomResource provider writes its own logs with AWSLambdaBasicExecutionRole (logs:CreateLogGroup, CreateLogStream, PutLogEvents); it runs only at deploy time to read prefix list ids."),
			AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		}}, jsii.Bool(true))
	}
	return cr.GetResponseField(jsii.String("PrefixLists.0.PrefixListId"))
}

// newVpc creates the VPC: private isolated subnets in MaxAzs zones, no NAT, flow logs of
// rejected traffic.
func newVpc(scope constructs.Construct, s *settings, logsKey awskms.IKey) (awsec2.IVpc, *awsec2.SubnetSelection) {
	flowLogs := awslogs.NewLogGroup(scope, jsii.String("FlowLogs"), &awslogs.LogGroupProps{Retention: s.logRetention(), EncryptionKey: logsKey})
	maxAzs := 2
	if s.MaxAzs != 0 {
		maxAzs = s.MaxAzs
	}
	var cidr awsec2.IIpAddresses
	if s.VpcCidr != "" {
		cidr = awsec2.IpAddresses_Cidr(jsii.String(s.VpcCidr))
	}
	vpc := awsec2.NewVpc(scope, jsii.String("Vpc"), &awsec2.VpcProps{
		IpAddresses: cidr,
		MaxAzs:      jsii.Number(float64(maxAzs)),
		NatGateways: jsii.Number(0),
		// Isolated subnets: every AWS API the consumer calls is reached through an endpoint.
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
			Name:       jsii.String("private"),
			SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED,
			CidrMask:   jsii.Number(24),
		}},
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"FlowLog": {Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil), TrafficType: awsec2.FlowLogTrafficType_REJECT},
		},
	})
	return vpc, &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PRIVATE_ISOLATED}
}

// existingSubnets are the tasks' subnets in a given VPC: VpcSubnets, else its private
// subnets, else its isolated ones.
func existingSubnets(s *settings) *awsec2.SubnetSelection {
	if s.VpcSubnets != nil {
		return s.VpcSubnets
	}
	subnets := s.ExistingVpc.PrivateSubnets()
	if subnets == nil || len(*subnets) == 0 {
		subnets = s.ExistingVpc.IsolatedSubnets()
	}
	return &awsec2.SubnetSelection{Subnets: subnets}
}

// newTaskSecurityGroup allows the tasks no inbound traffic and outbound HTTPS only: to any
// address in a given VPC (whose routes, NAT or other endpoints, the construct does not know),
// else only where restrictTaskEgress says.
func newTaskSecurityGroup(scope constructs.Construct, vpc awsec2.IVpc, httpsAnywhere bool) awsec2.SecurityGroup {
	sg := awsec2.NewSecurityGroup(scope, jsii.String("ServiceSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("keyspaces-cdc-s3 tasks: no inbound, outbound HTTPS only (every AWS API the consumer calls)"),
		AllowAllOutbound: jsii.Bool(false),
	})
	if httpsAnywhere {
		sg.AddEgressRule(awsec2.Peer_AnyIpv4(), awsec2.Port_Tcp(jsii.Number(443)), jsii.String("HTTPS to AWS APIs and VPC endpoints"), nil)
	}
	return sg
}

// interfaceEndpoint is one interface endpoint the construct may create.
type interfaceEndpoint struct {
	id      string
	enabled bool
	service awsec2.IInterfaceVpcEndpointService
}

// addInterfaceEndpoints creates the enabled interface endpoints in the tasks' subnets, with
// private DNS, reachable from the tasks' security groups only.
func (n *network) addInterfaceEndpoints(scope constructs.Construct, endpoints []interfaceEndpoint) {
	for _, e := range endpoints {
		if !e.enabled {
			continue
		}
		if n.endpointSG == nil {
			n.endpointSG = n.newEndpointSecurityGroup(scope)
		}
		subnets := *n.subnets
		subnets.OnePerAz = jsii.Bool(true)
		n.endpoints[e.id] = awsec2.NewInterfaceVpcEndpoint(scope, jsii.String(e.id+"Endpoint"), &awsec2.InterfaceVpcEndpointProps{
			Vpc:               n.vpc,
			Service:           e.service,
			Subnets:           &subnets,
			Open:              jsii.Bool(false),
			SecurityGroups:    &[]awsec2.ISecurityGroup{n.endpointSG},
			PrivateDnsEnabled: jsii.Bool(true),
		})
	}
}

// newEndpointSecurityGroup: with Open false and this group, only the tasks reach the
// endpoints, and an imported VPC needs no CIDR block.
func (n *network) newEndpointSecurityGroup(scope constructs.Construct) awsec2.SecurityGroup {
	sg := awsec2.NewSecurityGroup(scope, jsii.String("EndpointSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              n.vpc,
		Description:      jsii.String("keyspaces-cdc-s3 interface endpoints: HTTPS from the tasks only"),
		AllowAllOutbound: jsii.Bool(false),
	})
	for i, task := range n.securityGroups {
		sg.AddIngressRule(task, awsec2.Port_Tcp(jsii.Number(443)), jsii.Sprintf("HTTPS from task security group %d", i+1), nil)
	}
	return sg
}

// gatewayEndpoint is one gateway endpoint the construct may create.
type gatewayEndpoint struct {
	id, name string
	enabled  bool
	service  awsec2.GatewayVpcEndpointAwsService
}

// addGatewayEndpoints creates the enabled gateway endpoints on the given route tables, else
// on those of the tasks' subnets.
func (n *network) addGatewayEndpoints(scope constructs.Construct, routeTableIDs []string, endpoints []gatewayEndpoint) {
	for _, g := range endpoints {
		if !g.enabled {
			continue
		}
		id := jsii.String(g.id + "Endpoint")
		if len(routeTableIDs) > 0 {
			routeTables := make([]any, len(routeTableIDs))
			for i, rt := range routeTableIDs {
				routeTables[i] = rt
			}
			// The L2 endpoint takes route tables only from subnets; given ids go in as they are.
			ep := awsec2.NewCfnVPCEndpoint(scope, id, &awsec2.CfnVPCEndpointProps{
				VpcId:           n.vpc.VpcId(),
				ServiceName:     jsii.Sprintf("com.amazonaws.%s.%s", *awscdk.Stack_Of(scope).Region(), g.name),
				VpcEndpointType: jsii.String("Gateway"),
				RouteTableIds:   &routeTables,
			})
			n.endpoints[g.id] = awsec2.GatewayVpcEndpoint_FromGatewayVpcEndpointId(scope, jsii.String(g.id+"EndpointRef"), ep.Ref())
			continue
		}
		n.endpoints[g.id] = awsec2.NewGatewayVpcEndpoint(scope, id, &awsec2.GatewayVpcEndpointProps{
			Vpc:     n.vpc,
			Service: g.service,
			Subnets: &[]*awsec2.SubnetSelection{n.subnets},
		})
	}
}
