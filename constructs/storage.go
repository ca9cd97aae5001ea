package constructs

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// storage is where the consumers keep their output: the bucket, shared by the tables (each
// writes under its own keys).
type storage struct {
	bucket     awss3.IBucket
	accessLogs awss3.Bucket // nil with ExistingBucket
}

// defaultLifecycleRules keeps a versioned bucket tidy: replays overwrite keys with identical
// content, which leaves noncurrent versions behind.
func defaultLifecycleRules() []*awss3.LifecycleRule {
	return []*awss3.LifecycleRule{{
		Id:                                  jsii.String("tidy"),
		AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(30)),
	}}
}

func newStorage(scope constructs.Construct, s *settings) *storage {
	st := &storage{}
	removal := awscdk.RemovalPolicy_RETAIN
	if s.BucketRemovalPolicyDestroy {
		removal = awscdk.RemovalPolicy_DESTROY
	}
	if s.ExistingBucket != nil {
		st.bucket = s.ExistingBucket
	} else {
		st.accessLogs = awss3.NewBucket(scope, jsii.String("AccessLogsBucket"), &awss3.BucketProps{
			BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
			EnforceSSL:        jsii.Bool(true),
			// Server access log delivery writes only to SSE-S3 buckets. Object ownership is
			// left to CDK: it depends on whether the app's feature flags deliver the logs by
			// bucket policy (owner enforced) or by ACL (object writer).
			Encryption: awss3.BucketEncryption_S3_MANAGED,
			Versioned:  jsii.Bool(true),
			LifecycleRules: &[]*awss3.LifecycleRule{{
				Id:                          jsii.String("expire-access-logs"),
				Expiration:                  awscdk.Duration_Days(jsii.Number(365)),
				NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
			}},
			RemovalPolicy:     removal,
			AutoDeleteObjects: jsii.Bool(s.BucketRemovalPolicyDestroy),
		})
		cdknag.NagSuppressions_AddResourceSuppressions(st.accessLogs, &[]*cdknag.NagPackSuppression{{
			Id:     jsii.String("AwsSolutions-S1"),
			Reason: jsii.String("This is the server access log bucket of the data bucket; logging it into itself would loop and another log bucket would only move the finding."),
		}}, jsii.Bool(false))

		rules := s.LifecycleRules
		if rules == nil {
			rules = defaultLifecycleRules()
		}
		props := &awss3.BucketProps{
			BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
			EnforceSSL:             jsii.Bool(true),
			Encryption:             awss3.BucketEncryption_S3_MANAGED,
			ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
			Versioned:              jsii.Bool(true),
			LifecycleRules:         &rules,
			ServerAccessLogsBucket: st.accessLogs,
			ServerAccessLogsPrefix: jsii.String("data-bucket/"),
			RemovalPolicy:          removal,
			AutoDeleteObjects:      jsii.Bool(s.BucketRemovalPolicyDestroy),
		}
		if s.BucketEncryptionKey != nil {
			props.Encryption = awss3.BucketEncryption_KMS
			props.EncryptionKey = s.BucketEncryptionKey
			props.BucketKeyEnabled = jsii.Bool(true)
		}
		st.bucket = awss3.NewBucket(scope, jsii.String("Bucket"), props)
		for _, b := range []awss3.Bucket{st.accessLogs, st.bucket.(awss3.Bucket)} {
			eventBridge(b)
		}
	}

	return st
}

// newLeaseTable is a table's progress: its leases and checkpoints. No TableName:
// CloudFormation names the table after the stack and construct path, so two deployments (or
// two tables) never share one; the consumer gets the name through CDC_LEASE_TABLE.
func newLeaseTable(scope constructs.Construct) awsdynamodb.Table {
	return awsdynamodb.NewTable(scope, jsii.String("LeaseTable"), &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String("leaseKey"), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption: awsdynamodb.TableEncryption_AWS_MANAGED,
		// The checkpoints are the only record of what is safely in S3: a deleted table means
		// re-reading the stream's 24 hours. Deletion protection stops a delete by hand too.
		DeletionProtection: jsii.Bool(true),
		RemovalPolicy:      awscdk.RemovalPolicy_RETAIN,
	})
}

// eventBridge sends the bucket's object events to Amazon EventBridge (Control Tower's
// CT.S3.PR.4), so whatever reads the files can start on a new one. Set on the bucket itself:
// CDK's EventBridgeEnabled adds a notifications custom resource (a Lambda function) for it.
// Events of AWS services on the default bus cost nothing; rules that match them do.
func eventBridge(b awss3.Bucket) {
	cfn := b.Node().DefaultChild().(awss3.CfnBucket)
	cfn.AddPropertyOverride(jsii.String("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled"), true)
}
