package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Lease table actions of the consumer: the calls consumer/lease makes (conditional
// UpdateItem and DeleteItem, GetItem, Scan; DescribeTable when it waits for the table). Not
// granted: CreateTable (the construct creates the table), PutItem and Query (never called).
var leaseTableActions = []string{
	"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:DescribeTable",
}

// Object actions of the sink: whole-object and multipart uploads, reads of its own objects
// (schema versions already written, replays).
var objectActions = []string{
	"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
}

// keyPrefixes are the key prefixes the consumer writes under: the data of its one table,
// the poison records and the Avro schemas.
func keyPrefixes(s *settings) []string {
	return []string{
		s.Prefix + s.Keyspace + "/" + s.Table + "/",
		s.Prefix + "_errors/",
		s.Prefix + "_schemas/",
	}
}

// keyspacesRegion is the region of the table and its stream: the prop, or the stack's.
func keyspacesRegion(scope constructs.Construct, s *settings) *string {
	if s.KeyspacesRegion != "" {
		return jsii.String(s.KeyspacesRegion)
	}
	return awscdk.Stack_Of(scope).Region()
}

// tableArn is the Keyspaces table's ARN (the resource of cassandra:Select).
func tableArn(scope constructs.Construct, s *settings) *string {
	stack := awscdk.Stack_Of(scope)
	return jsii.Sprintf("arn:%s:cassandra:%s:%s:/keyspace/%s/table/%s",
		*stack.Partition(), *keyspacesRegion(scope, s), *stack.Account(), s.Keyspace, s.Table)
}

// newTaskRole writes the task role's policy by hand, one statement per need, each on the
// narrowest resource the service authorization reference allows.
func newTaskRole(scope constructs.Construct, s *settings, st *storage) awsiam.Role {
	stack := awscdk.Stack_Of(scope)
	role := awsiam.NewRole(scope, jsii.String("TaskRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
		Description: jsii.Sprintf("keyspaces-cdc-s3 consumer of %s.%s", s.Keyspace, s.Table),
	})
	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		props := &awsiam.PolicyStatementProps{
			Sid:       jsii.String(sid),
			Actions:   jsii.Strings(actions...),
			Resources: &resources,
		}
		if conditions != nil {
			props.Conditions = &conditions
		}
		role.AddToPolicy(awsiam.NewPolicyStatement(props))
	}

	table := tableArn(scope, s)
	stream := jsii.String(*table + "/stream/*")
	if s.StreamArn != "" {
		stream = jsii.String(s.StreamArn)
	}
	add("ReadStream", []string{"cassandra:GetStream", "cassandra:GetShardIterator", "cassandra:GetRecords"}, []*string{stream}, nil)
	if s.StreamArn == "" {
		// Only needed to find the newest stream of the table when no ARN is given.
		add("FindStream", []string{"cassandra:ListStreams"}, []*string{jsii.String("*")}, nil)
	}
	// GetTable (the Avro schema) needs Select on the table and on the system keyspaces.
	add("ReadTableSchema", []string{"cassandra:Select"}, []*string{
		table,
		jsii.Sprintf("arn:%s:cassandra:%s:%s:/keyspace/system*", *stack.Partition(), *keyspacesRegion(scope, s), *stack.Account()),
	}, nil)
	add("Leases", leaseTableActions, []*string{st.leaseTable.TableArn()}, nil)

	// No s3:ListBucket: the sink never lists. Without it S3 answers 403, not 404, for a missing
	// key, so existence checks use conditional writes (If-None-Match), which PutObject covers.
	var objects []*string
	for _, p := range keyPrefixes(s) {
		objects = append(objects, st.bucket.ArnForObjects(jsii.String(p+"*")))
	}
	add("WriteFiles", objectActions, objects, nil)
	if s.BucketEncryptionKey != nil {
		s.BucketEncryptionKey.Grant(role, jsii.String("kms:GenerateDataKey"), jsii.String("kms:Decrypt"))
	}
	add("PutMetrics", []string{"cloudwatch:PutMetricData"}, []*string{jsii.String("*")},
		map[string]any{"StringEquals": map[string]any{"cloudwatch:namespace": s.MetricsNamespace}})

	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Each wildcard is the narrowest the services allow: cloudwatch:PutMetricData and cassandra:ListStreams " +
			"support no resource ARN (PutMetricData is pinned to one namespace by condition; ListStreams is granted only without a stream ARN); " +
			"stream/* is the table's own streams when no stream ARN is given; system* is the system keyspaces that GetTable reads; " +
			"the S3 object ARNs are the consumer's three key prefixes (its table's data, _errors/, _schemas/)."),
		AppliesTo: &[]any{
			"Resource::*",
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:cassandra:.*:\/keyspace\/(system\*|[A-Za-z0-9_]+\/table\/[A-Za-z0-9_]+\/stream\/\*)$/`)},
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::(<[A-Za-z0-9.]+>|arn:<AWS::Partition>:s3:::[a-z0-9.-]+)\/.*\*$/`)},
		},
	}}, jsii.Bool(true))
	return role
}
