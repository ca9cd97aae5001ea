package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Lease table actions of the consumer: the calls consumer/lease makes (conditional
// UpdateItem and DeleteItem, GetItem, Scan). Not granted: CreateTable and DescribeTable (only
// CDC_CREATE_LEASE_TABLE calls them, for local runs; the construct creates the table and never
// sets it), PutItem and Query (never called).
var leaseTableActions = []string{
	"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan",
}

// Object actions of the sink (consumer/sink through the s3 manager uploader): PutObject, and
// above the multipart threshold CreateMultipartUpload, UploadPart and CompleteMultipartUpload,
// which s3:PutObject also authorizes, and AbortMultipartUpload when an upload fails. Not
// granted: GetObject, HeadObject and ListMultipartUploadParts (ListParts): no code path of the
// consumer reads an object or lists parts.
var objectActions = []string{
	"s3:PutObject", "s3:AbortMultipartUpload",
}

// keyPrefixes are the key prefixes the consumer of one table writes under: its data, its
// poison records and its Avro schemas (consumer/sink's DataKey, ErrorKey and SchemaKey).
// Format iceberg writes no data there (its files are the Iceberg tables', iceberg.go).
func keyPrefixes(s *settings) []string {
	table := s.Keyspace + "/" + s.Table + "/"
	if s.iceberg() {
		return []string{s.Prefix + "_errors/" + table, s.Prefix + "_schemas/" + table}
	}
	return []string{
		s.Prefix + table,
		s.Prefix + "_errors/" + table,
		s.Prefix + "_schemas/" + table,
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
func newTaskRole(scope constructs.Construct, s *settings, bucket awss3.IBucket, leaseTable awsdynamodb.Table) awsiam.Role {
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
	add("Leases", leaseTableActions, []*string{leaseTable.TableArn()}, nil)

	// No s3:ListBucket: the sink never lists. Without it S3 answers 403, not 404, for a missing
	// key, so existence checks use conditional writes (If-None-Match), which PutObject covers.
	var objects []*string
	for _, p := range keyPrefixes(s) {
		objects = append(objects, bucket.ArnForObjects(jsii.String(p+"*")))
	}
	add("WriteFiles", objectActions, objects, nil)
	if s.BucketEncryptionKey != nil {
		s.BucketEncryptionKey.Grant(role, jsii.String("kms:GenerateDataKey"), jsii.String("kms:Decrypt"))
	}
	// No cloudwatch:PutMetricData: the metrics are EMF lines in the logs, which the
	// execution role's log driver writes.

	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Each wildcard is the narrowest the services allow: cassandra:ListStreams supports no resource ARN " +
			"(granted only without a stream ARN); stream/* is the table's own streams when no stream ARN is given; system* is the system " +
			"keyspaces that GetTable reads; the S3 object ARNs are the consumer's three key prefixes of its one table (data, _errors/, _schemas/)."),
		AppliesTo: &[]any{
			"Resource::*",
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:cassandra:.*:\/keyspace\/(system\*|[A-Za-z0-9_]+\/table\/[A-Za-z0-9_]+\/stream\/\*)$/`)},
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::(<[A-Za-z0-9.]+>|arn:<AWS::Partition>:s3:::[a-z0-9.-]+)\/.*\*$/`)},
		},
	}}, jsii.Bool(true))
	return role
}
