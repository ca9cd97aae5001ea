package main

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	cdc "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

func TestParamKeysAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range params() {
		if seen[p.key] {
			t.Errorf("context parameter %s has two rows", p.key)
		}
		seen[p.key] = true
		if p.meaning == "" || p.read.read == nil {
			t.Errorf("%s: incomplete row", p.key)
		}
	}
	for _, s := range config.Settings() {
		if s.Context != "" && !seen[s.Context] {
			t.Errorf("%s: context parameter %s is not read", s.Env, s.Context)
		}
	}
}

// sample is a value of the consumer setting's kind that is not zero.
func sample(s config.Setting) string {
	_, hi := s.Limits()
	switch s.Kind {
	case config.Choice:
		return strings.ToLower(s.Allowed[len(s.Allowed)-1]) // read regardless of case
	case config.Compression:
		return "zstd"
	case config.Bool:
		return "true"
	case config.Int, config.Bytes, config.Duration:
		return hi
	}
	return "sample"
}

// prop returns the prop at a dotted path.
func prop(p *cdc.KeyspacesCdcToS3Props, path string) reflect.Value {
	v := reflect.ValueOf(p).Elem()
	for _, name := range strings.Split(path, ".") {
		v = reflect.Indirect(v).FieldByName(name)
	}
	return v
}

// Every row that sets a prop reads a value of the prop's type into it: the consumer's
// settings from their kind, the app's own from a sample here (each read on its own: some of
// them exclude others).
func TestEveryParamSetsItsProp(t *testing.T) {
	ctx := map[string]any{
		"image": "public.ecr.aws/example/cdc:1", "desiredCount": "3", "cpu": "2048", "memory": "4096", "arch": "X86_64",
		"logRetentionDays": "7", "routeTableIds": "rtb-0123456789abcdef0", "vpcCidr": "10.1.0.0/16", "maxAzs": "3",
		"keyspacesEndpoint": "true", "keyspacesStreamsEndpoint": "true", "ecrEndpoints": "true", "cloudWatchEndpoints": "true",
		"stsEndpoint": "true", "dynamoDbEndpoint": "true", "s3Endpoint": "true", "destroyOnRemoval": "true",
		"dashboard": "true", "dashboardName": "cdc", "lagAlarmMillis": "1000", "glueTable": "true", "glueDatabase": "db",
		"glueTableName": "t", "glueColumns": "id:string", "glueKeyColumns": "id", "bucketName": "bucket-1",
		"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": "subnet-0123456789abcdef0", "availabilityZones": "us-east-1a",
		"nestedStacks": "true",
	}
	consumer := map[string]config.Setting{}
	for _, s := range config.Settings() {
		if s.Context != "" {
			ctx[s.Context] = sample(s)
			consumer[s.Context] = s
		}
	}
	var in *inputs
	var err error
	check := func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("reading the parameters panicked: %v", r)
			}
		}()
		var errs []error
		in, errs = readEach(appContext{app: awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})}, params())
		err = errors.Join(errs...)
	}
	check()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range params() {
		if p.store != nil {
			continue
		}
		v := prop(&in.props, p.prop)
		if !v.IsValid() || v.IsZero() {
			t.Errorf("%s = %v did not set %s", p.key, ctx[p.key], p.prop)
			continue
		}
		if s, ok := consumer[p.key]; ok && s.Kind == config.Int {
			if want, _ := strconv.ParseInt(ctx[p.key].(string), 10, 64); reflect.Indirect(v).Int() != want {
				t.Errorf("%s: %s = %v, want %d", p.key, p.prop, v, want)
			}
		}
	}
}
