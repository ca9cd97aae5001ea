package devservers

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestServersAnswer(t *testing.T) {
	ctx := context.Background()
	ddb := Dynalite(t)
	if _, err := dynamodb.NewFromConfig(ddb.AWSConfig()).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("dynalite ListTables: %v", err)
	}
	gw := VersityGW(t)
	c := s3.NewFromConfig(gw.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("devservers-check")}); err != nil {
		t.Fatalf("versitygw CreateBucket: %v", err)
	}
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(out.Buckets) != 1 {
		t.Fatalf("versitygw ListBuckets: %v %v", out, err)
	}
}
