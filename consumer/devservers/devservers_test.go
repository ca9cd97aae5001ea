package devservers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// TestOutages: a persistent dynalite keeps its tables through Kill and Restart on the same
// endpoint; a paused versitygw leaves requests hanging until it is resumed.
func TestOutages(t *testing.T) {
	ctx := context.Background()
	ddb, err := StartDynaliteAt(ctx, t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ddb.Stop)
	db := dynamodb.NewFromConfig(ddb.AWSConfig())
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String("kept"),
		BillingMode:          dtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dtypes.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: dtypes.ScalarAttributeTypeS}},
		KeySchema:            []dtypes.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: dtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	ddb.Kill()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, err = db.ListTables(short, &dynamodb.ListTablesInput{})
	cancel()
	if err == nil {
		t.Fatal("a killed dynalite answered")
	}
	if err := ddb.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
	if err != nil || len(out.TableNames) != 1 || out.TableNames[0] != "kept" {
		t.Fatalf("after a restart: tables %v, err %v", out, err)
	}

	gw := VersityGW(t)
	c := s3.NewFromConfig(gw.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if err := gw.Pause(); err != nil {
		t.Fatal(err)
	}
	short, cancel = context.WithTimeout(ctx, time.Second)
	_, err = c.ListBuckets(short, &s3.ListBucketsInput{})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a paused versitygw: %v, want the deadline to pass", err)
	}
	if err := gw.Resume(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("after resume: %v", err)
	}
}

// TestDynaliteSurvivesAClientThatGoesAway: a client that dies in the middle of sending a
// request (a worker killed with SIGKILL) costs that request only. dynalite 4.0.0 throws on
// the request's "aborted" error, which ended the whole server and every test on it (TestChaos
// of the -count=20 sweep, once in about 25 runs).
func TestDynaliteSurvivesAClientThatGoesAway(t *testing.T) {
	ctx := context.Background()
	ddb := Dynalite(t)
	for range 3 {
		conn, err := net.Dial("tcp", strings.TrimPrefix(ddb.Endpoint, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// Half a request: the body is promised, then the connection is reset.
		if _, err := fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"+
			"X-Amz-Target: DynamoDB_20120810.ListTables\r\nContent-Length: 1000\r\n\r\n{\"Li"); err != nil {
			t.Fatal(err)
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		_ = conn.Close()
	}
	if _, err := dynamodb.NewFromConfig(ddb.AWSConfig()).ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("dynalite after clients that went away: %v", err)
	}
}
