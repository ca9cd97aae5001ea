package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// CDK tests never run in parallel: one jsii kernel per process.

func TestMain(m *testing.M) {
	for k, v := range map[string]string{"CDK_VALIDATION": "false", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"} {
		if err := os.Setenv(k, v); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// cdkJSONContext is the context of the repository's cdk.json (its feature flags).
func cdkJSONContext(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cdk); err != nil {
		t.Fatal(err)
	}
	return cdk.Context
}

// app is one synthesized app: its template as JSON, or the error of buildStack.
type app struct {
	stack    awscdk.Stack
	template map[string]any
	outdir   string
	err      error
}

// run builds the app as `cdk synth` would with cdk.json, a table (-c keyspace=media -c
// table=media_content) and the given context (a nil value removes a key), and synthesizes it
// once.
func run(t *testing.T, extra map[string]any) app {
	t.Helper()
	ctx := cdkJSONContext(t)
	// The Control Tower rules have their own tests (guard_test.go): the others stay fast.
	ctx["controlTowerRules"] = "false"
	ctx["keyspace"], ctx["table"] = "media", "media_content"
	for k, v := range extra {
		if v == nil {
			delete(ctx, k)
		} else {
			ctx[k] = v
		}
	}
	var out app
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synth panicked: %v", r)
			}
		}()
		out.outdir = t.TempDir()
		a := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(out.outdir)})
		out.stack, _, out.err = buildStack(a)
		if out.err != nil {
			return
		}
		out.template = *assertions.Template_FromStack(out.stack, nil).ToJSON()
	}()
	return out
}

func (a app) resources(typ string) []map[string]any {
	var out []map[string]any
	for _, r := range a.template["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out = append(out, res["Properties"].(map[string]any))
		}
	}
	return out
}

func (a app) environment(t *testing.T) map[string]string {
	t.Helper()
	tds := a.resources("AWS::ECS::TaskDefinition")
	if len(tds) != 1 {
		t.Fatalf("%d task definitions", len(tds))
	}
	env := map[string]string{}
	for _, e := range tds[0]["ContainerDefinitions"].([]any)[0].(map[string]any)["Environment"].([]any) {
		kv := e.(map[string]any)
		env[kv["Name"].(string)] = jsonText(kv["Value"])
	}
	return env
}

func (a app) nagErrors(t *testing.T) []string {
	t.Helper()
	var out []string
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("annotations: %v", r)
			}
		}()
		for _, m := range *assertions.Annotations_FromStack(a.stack).FindError(jsii.String("*"), assertions.Match_AnyValue()) {
			out = append(out, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
		}
	}()
	return out
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// cdk.json names no table: without one, or the deliberate -c demo=true, synth fails and says
// how to name one (a typo must not deploy a connector for a table the user never named).
func TestCdkJSONAloneNeedsATableOrTheDemoOptIn(t *testing.T) {
	a := run(t, map[string]any{"keyspace": nil, "table": nil})
	if a.err == nil {
		t.Fatal("cdk.json alone synthesized a stack")
	}
	for _, w := range []string{"context parameter keyspace", "-c keyspace=shop -c table=orders", "-c demo=true", "media.media_content"} {
		if !strings.Contains(a.err.Error(), w) {
			t.Errorf("error %q lacks %q", a.err, w)
		}
	}
	for _, ctx := range []map[string]any{{"demo": "true"}, {"demo": "true", "keyspace": nil}, {"demo": "true", "keyspace": nil, "table": nil, "streamArn": "arn:aws:cassandra:us-east-1:123456789012:/keyspace/shop/table/orders/stream/x"}} {
		if a := run(t, ctx); a.err == nil || !strings.Contains(a.err.Error(), "context parameter demo") {
			t.Errorf("%v: error %v, want one naming demo", ctx, a.err)
		}
	}
}

func TestDemoOptInSynthesizesTheSampleTable(t *testing.T) {
	a := run(t, map[string]any{"keyspace": nil, "table": nil, "demo": "true"})
	if a.err != nil {
		t.Fatal(a.err)
	}
	for _, typ := range []string{"AWS::ECS::Service", "AWS::DynamoDB::Table", "AWS::S3::Bucket", "AWS::CloudWatch::Dashboard"} {
		if len(a.resources(typ)) == 0 {
			t.Errorf("no %s", typ)
		}
	}
	streams := false
	for _, ep := range a.resources("AWS::EC2::VPCEndpoint") {
		streams = streams || strings.Contains(jsonText(ep["ServiceName"]), "cassandra-streams")
	}
	if !streams {
		t.Error("no cassandra-streams VPC endpoint")
	}
	env := a.environment(t)
	if env["CDC_KEYSPACE"] != `"media"` || env["CDC_TABLE"] != `"media_content"` {
		t.Errorf("demo table %s.%s", env["CDC_KEYSPACE"], env["CDC_TABLE"])
	}
	if errs := a.nagErrors(t); len(errs) > 0 {
		t.Errorf("unsuppressed errors:\n%s", strings.Join(errs, "\n"))
	}
	// The stack is environment-agnostic unless account/region are given.
	if r := *a.stack.Region(); !strings.Contains(r, "Token") {
		t.Errorf("stack region %q is not the deploy-time region", r)
	}
}

// TestReferenceSampleParameters maps each parameter of the reference AWS sample to its context
// parameter here, given as -c would (strings), and checks its effect on the template.
func TestReferenceSampleParameters(t *testing.T) {
	vpc := map[string]any{
		"vpcId":             "vpc-0123456789abcdef0",
		"privateSubnetIds":  "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
		"availabilityZones": "us-east-1a,us-east-1b",
	}
	with := func(m map[string]any) map[string]any {
		out := maps.Clone(vpc)
		maps.Copy(out, m)
		return out
	}
	cases := []struct {
		sample string
		ctx    map[string]any
		check  func(t *testing.T, a app)
	}{
		{"VPCId, PrivateSubnetIds", vpc, func(t *testing.T, a app) {
			svc := jsonText(a.resources("AWS::ECS::Service")[0]["NetworkConfiguration"])
			if !strings.Contains(svc, `"Subnets":["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]`) || len(a.resources("AWS::EC2::VPC")) != 0 {
				t.Errorf("service network %s, %d VPCs created", svc, len(a.resources("AWS::EC2::VPC")))
			}
		}},
		{"SecurityGroupIds", with(map[string]any{"securityGroupIds": "sg-0123456789abcdef0"}), func(t *testing.T, a app) {
			if svc := jsonText(a.resources("AWS::ECS::Service")[0]["NetworkConfiguration"]); !strings.Contains(svc, `"SecurityGroups":["sg-0123456789abcdef0"]`) {
				t.Errorf("service network %s", svc)
			}
		}},
		{"RouteTableId, S3 and DynamoDB endpoints", with(map[string]any{"routeTableIds": "rtb-0123456789abcdef0", "s3Endpoint": "true", "dynamoDbEndpoint": "true"}), func(t *testing.T, a app) {
			n := 0
			for _, ep := range a.resources("AWS::EC2::VPCEndpoint") {
				if jsonText(ep["RouteTableIds"]) == `["rtb-0123456789abcdef0"]` && ep["VpcEndpointType"] == "Gateway" {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d gateway endpoints on the route table, want 2", n)
			}
		}},
		{"Keyspaces, Keyspaces Streams, ECR, STS, CloudWatch endpoints", with(map[string]any{
			"keyspacesEndpoint": "true", "keyspacesStreamsEndpoint": "true", "ecrEndpoints": "true", "stsEndpoint": "true", "cloudWatchEndpoints": "true",
		}), func(t *testing.T, a app) {
			// ECR is two (api, dkr); CloudWatch is logs only (metrics are EMF lines in the logs).
			if n := len(a.resources("AWS::EC2::VPCEndpoint")); n != 6 {
				t.Errorf("%d interface endpoints, want 6", n)
			}
		}},
		{"KeyspaceName, TableName, KeyspacesRegion", map[string]any{"keyspace": "shop", "table": "orders", "keyspacesRegion": "eu-west-1"}, func(t *testing.T, a app) {
			env := a.environment(t)
			if env["CDC_KEYSPACE"] != `"shop"` || env["CDC_TABLE"] != `"orders"` || env["CDC_KEYSPACES_REGION"] != `"eu-west-1"` {
				t.Errorf("env %v", env)
			}
			if p := jsonText(a.resources("AWS::IAM::Policy")); !strings.Contains(p, `cassandra:eu-west-1:`) || !strings.Contains(p, "/keyspace/shop/table/orders/stream/*") {
				t.Errorf("task role not on eu-west-1 shop.orders: %s", p)
			}
		}},
		{"ApplicationName", map[string]any{"applicationName": "orders-cdc"}, func(t *testing.T, a app) {
			if env := a.environment(t); env["CDC_APPLICATION_NAME"] != `"orders-cdc"` {
				t.Errorf("env %v", env)
			}
		}},
		{"ServiceReplicaCount, Cpu, Memory", map[string]any{"desiredCount": "3", "cpu": "2048", "memory": "4096"}, func(t *testing.T, a app) {
			if got := a.resources("AWS::ECS::Service")[0]["DesiredCount"]; got != float64(3) {
				t.Errorf("desired count %v", got)
			}
			td := a.resources("AWS::ECS::TaskDefinition")[0]
			if td["Cpu"] != "2048" || td["Memory"] != "4096" {
				t.Errorf("cpu %v memory %v", td["Cpu"], td["Memory"])
			}
		}},
		{"S3BucketId, S3Region", map[string]any{"bucketName": "orders-cdc-archive", "s3Region": "eu-central-1"}, func(t *testing.T, a app) {
			env := a.environment(t)
			if env["CDC_BUCKET"] != `"orders-cdc-archive"` || env["CDC_S3_REGION"] != `"eu-central-1"` || len(a.resources("AWS::S3::Bucket")) != 0 {
				t.Errorf("env %v, %d buckets created", env, len(a.resources("AWS::S3::Bucket")))
			}
		}},
		{"S3Format", map[string]any{"format": "avro"}, func(t *testing.T, a app) {
			if env := a.environment(t); env["CDC_FORMAT"] != `"avro"` || env["CDC_COMPRESSION"] != `"deflate"` {
				t.Errorf("env %v", env)
			}
		}},
		{"ECRImage", map[string]any{"image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdc:1"}, func(t *testing.T, a app) {
			img := a.resources("AWS::ECS::TaskDefinition")[0]["ContainerDefinitions"].([]any)[0].(map[string]any)["Image"]
			if img != "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdc:1" {
				t.Errorf("image %v", img)
			}
			b, err := os.ReadFile(filepath.Join(a.outdir, DefaultStackName+".assets.json"))
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `"dockerImages": {
    "`) || strings.Contains(string(b), "Dockerfile") {
				t.Errorf("asset manifest still builds an image: %s", b)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.sample, func(t *testing.T) {
			a := run(t, c.ctx)
			if a.err != nil {
				t.Fatal(a.err)
			}
			c.check(t, a)
			if errs := a.nagErrors(t); len(errs) > 0 {
				t.Errorf("unsuppressed errors:\n%s", strings.Join(errs, "\n"))
			}
		})
	}
}

func TestContextTypesFromCdkJSONAndFromTheCommandLine(t *testing.T) {
	// cdk.json gives JSON types: numbers, booleans, arrays.
	a := run(t, map[string]any{
		"desiredCount": float64(4), "cellMetadata": true, "stsEndpoint": false,
		"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": []any{"subnet-0123456789abcdef0"}, "availabilityZones": []any{"us-east-1a"},
		"keyspacesStreamsEndpoint": true,
	})
	if a.err != nil {
		t.Fatal(a.err)
	}
	if got := a.resources("AWS::ECS::Service")[0]["DesiredCount"]; got != float64(4) {
		t.Errorf("desired count %v", got)
	}
	if env := a.environment(t); env["CDC_CELL_METADATA"] != `"true"` {
		t.Errorf("cell metadata %v", env["CDC_CELL_METADATA"])
	}
	// -c gives strings, lists as JSON text or comma-separated.
	a = run(t, map[string]any{
		"desiredCount": "4", "cellMetadata": "true",
		"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": `["subnet-0123456789abcdef0"]`, "availabilityZones": "us-east-1a",
		"flushInterval": "30s", "flushRecords": "5000", "logRetentionDays": "7", "maxStealsPerCycle": "25",
	})
	if a.err != nil {
		t.Fatal(a.err)
	}
	env := a.environment(t)
	if env["CDC_FLUSH_INTERVAL"] != `"30s"` || env["CDC_FLUSH_RECORDS"] != `"5000"` || env["CDC_CELL_METADATA"] != `"true"` ||
		env["CDC_MAX_STEALS_PER_CYCLE"] != `"25"` {
		t.Errorf("env %v", env)
	}
	if lg := jsonText(a.resources("AWS::Logs::LogGroup")); !strings.Contains(lg, `"RetentionInDays":7`) {
		t.Errorf("log groups %s", lg)
	}
}

func TestPinnedEnvironmentStaysOffline(t *testing.T) {
	a := run(t, map[string]any{"account": "123456789012", "region": "eu-west-1", "availabilityZones": "eu-west-1a,eu-west-1b,eu-west-1c"})
	if a.err != nil {
		t.Fatal(a.err)
	}
	var missing []string
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("synth: %v", r)
			}
		}()
		if m := awscdk.Stage_Of(a.stack).Synth(nil).Manifest().Missing; m != nil {
			for _, mc := range *m {
				missing = append(missing, *mc.Key)
			}
		}
	}()
	if len(missing) > 0 {
		t.Errorf("synth needs lookups %v", missing)
	}
	if *a.stack.Region() != "eu-west-1" || *a.stack.Account() != "123456789012" {
		t.Errorf("stack environment %s/%s", *a.stack.Account(), *a.stack.Region())
	}
	azs := map[string]bool{}
	for _, sn := range a.resources("AWS::EC2::Subnet") {
		azs[sn["AvailabilityZone"].(string)] = true
	}
	if len(azs) != 2 || !azs["eu-west-1a"] || !azs["eu-west-1b"] {
		t.Errorf("subnets in %v, want the first two given zones", azs)
	}
}

func TestOperationsContext(t *testing.T) {
	a := run(t, map[string]any{
		"alarmEmails": "oncall@example.com", "lagAlarmMillis": "60000", "disableAlarms": "Throttling",
		"maxTasks": "6", "minTasks": "2", "glueTable": "true",
	})
	if a.err != nil {
		t.Fatal(a.err)
	}
	if n := len(a.resources("AWS::CloudWatch::Alarm")); n != 5+2 {
		t.Errorf("%d alarms, want 5 (one disabled) and 2 of the lag scaling steps", n)
	}
	for typ, n := range map[string]int{"AWS::SNS::Topic": 1, "AWS::SNS::Subscription": 1, "AWS::Glue::Table": 1, "AWS::ApplicationAutoScaling::ScalableTarget": 1} {
		if got := len(a.resources(typ)); got != n {
			t.Errorf("%d %s, want %d", got, typ, n)
		}
	}
	if st := a.resources("AWS::ApplicationAutoScaling::ScalableTarget")[0]; st["MaxCapacity"] != float64(6) || st["MinCapacity"] != float64(2) {
		t.Errorf("scalable target %v", st)
	}
	if errs := a.nagErrors(t); len(errs) > 0 {
		t.Errorf("unsuppressed errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestBadContextFailsNamingTheParameter(t *testing.T) {
	cases := []struct {
		ctx   map[string]any
		wants []string
	}{
		{map[string]any{"keyspace": nil}, []string{"context parameter keyspace", "required"}},
		{map[string]any{"table": ""}, []string{"context parameter table", "required"}},
		{map[string]any{"format": "xml"}, []string{"context parameter format", `"xml"`, "json, avro"}},
		{map[string]any{"compression": "brotli"}, []string{"context parameter compression", "gzip, zstd, none"}},
		{map[string]any{"arch": "sparc"}, []string{"context parameter arch", "ARM64, X86_64"}},
		{map[string]any{"cpu": "300"}, []string{"context parameter cpu", "256, 512"}},
		{map[string]any{"memory": "100"}, []string{"context parameter memory", "2048, 3072", "with cpu 1024"}},
		{map[string]any{"cpu": "256", "memory": "4096"}, []string{"context parameter memory", "with cpu 256", "512, 1024, 2048"}},
		{map[string]any{"prefix": "../x/"}, []string{"context parameter prefix", `"../x/"`, "'..'"}},
		{map[string]any{"prefix": "a/../../b/"}, []string{"context parameter prefix"}},
		{map[string]any{"prefix": "/cdc/"}, []string{"context parameter prefix", "leading '/'"}},
		{map[string]any{"streamArn": "arn:aws:cassandra:eu-west-1:123456789012:/keyspace/media/table/media_content/stream/x", "keyspacesRegion": "us-east-1"},
			[]string{"context parameter keyspacesRegion", "eu-west-1", "streamArn"}},
		{map[string]any{"tabel": "orders"}, []string{"context parameter tabel: unknown; did you mean table?", "closest first: table, "}},
		{map[string]any{"Keyspace": "shop"}, []string{"context parameter Keyspace: unknown; did you mean keyspace?"}},
		{map[string]any{"desiredCount": "two"}, []string{"context parameter desiredCount", "whole number"}},
		{map[string]any{"desiredCount": float64(1.5)}, []string{"context parameter desiredCount", "whole number"}},
		{map[string]any{"stsEndpoint": "maybe"}, []string{"context parameter stsEndpoint", "true or false"}},
		{map[string]any{"kinesisEndpoint": "true"}, []string{"context parameter kinesisEndpoint", "not needed"}},
		{map[string]any{"vpcId": "vpc-0123456789abcdef0"}, []string{"context parameter privateSubnetIds", "required"}},
		{map[string]any{"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": "subnet-0123456789abcdef0"}, []string{"context parameter availabilityZones"}},
		{map[string]any{"privateSubnetIds": "subnet-0123456789abcdef0"}, []string{"context parameter vpcId"}},
		{map[string]any{"availabilityZones": "us-east-1a"}, []string{"context parameter availabilityZones", "account and region"}},
		{map[string]any{"vpcId": "vpc-1"}, []string{"context parameter vpcId", "vpc-0123456789abcdef0"}},
		{map[string]any{"s3Region": "eu-central-1"}, []string{"context parameter s3Region", "bucketName"}},
		{map[string]any{"logRetentionDays": "2"}, []string{"context parameter logRetentionDays", "1, 3, 5"}},
		{map[string]any{"disableAlarms": "Lag,Nope"}, []string{"context parameter disableAlarms", `"Nope"`}},
		{map[string]any{"maxTasks": "1", "minTasks": "3"}, []string{"context parameter maxTasks", "shard count"}},
		{map[string]any{"streamArn": "arn:aws:cassandra:us-east-1:123456789012:/keyspace/other/table/t/stream/x"}, []string{"context parameter streamArn"}},
		{map[string]any{"startPosition": "middle"}, []string{"context parameter startPosition", "TRIM_HORIZON, LATEST"}},
		{map[string]any{"maxStealsPerCycle": "5000"}, []string{"context parameter maxStealsPerCycle", "1000"}},
		{map[string]any{"flushInterval": "soon"}, []string{"context parameter flushInterval", "duration"}},
		{map[string]any{"vpcCidr": "10.0.0.0/8"}, []string{"context parameter vpcCidr", "/16 to /24"}},
		// A gateway endpoint in an imported VPC needs its route tables: an error, not CDK's panic.
		{map[string]any{"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": "subnet-0123456789abcdef0", "availabilityZones": "us-east-1a", "s3Endpoint": "true"},
			[]string{"context parameter routeTableIds", "required with vpcId and s3Endpoint"}},
		// The created VPC is isolated: a table in another region is out of reach.
		{map[string]any{"account": "123456789012", "region": "us-east-1", "availabilityZones": "us-east-1a,us-east-1b", "keyspacesRegion": "eu-west-1"},
			[]string{"context parameter keyspacesRegion", "no route", "Deploy the stack in eu-west-1"}},
		{map[string]any{"vpcCidr": "10.0.0.0/16", "vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": "subnet-0123456789abcdef0", "availabilityZones": "us-east-1a"}, []string{"context parameter vpcCidr", "not with vpcId"}},
	}
	for _, c := range cases {
		t.Run(jsonText(c.ctx), func(t *testing.T) {
			a := run(t, c.ctx)
			if a.err == nil {
				t.Fatal("synth accepted the context")
			}
			for _, w := range c.wants {
				if !strings.Contains(a.err.Error(), w) {
					t.Errorf("error %q lacks %q", a.err, w)
				}
			}
		})
	}
}

// Every problem of the network parameters is reported at once, not one per synth.
func TestVpcProblemsAreReportedAtOnce(t *testing.T) {
	a := run(t, map[string]any{"vpcId": "vpc-1", "privateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
		"availabilityZones": "us-east-1a", "securityGroupIds": "sg-1", "maxAzs": "3"})
	if a.err == nil {
		t.Fatal("synth accepted the context")
	}
	for _, w := range []string{
		`context parameter vpcId: "vpc-1" is not a VPC id`,
		`context parameter securityGroupIds: "sg-1" is not a security group id`,
		"context parameter availabilityZones: needs one zone per subnet of privateSubnetIds, in the same order (1 zones for 2 subnets)",
		"context parameter maxAzs: describes the created VPC: not with vpcId",
	} {
		if !strings.Contains(a.err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, a.err)
		}
	}
	// A bad subnet is reported once, not again as missing subnets or as a zone count.
	a = run(t, map[string]any{"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": "subnet-1", "availabilityZones": "us-east-1a"})
	if a.err == nil || strings.Count(a.err.Error(), "context parameter") != 1 || !strings.Contains(a.err.Error(), `context parameter privateSubnetIds: "subnet-1"`) {
		t.Errorf("one bad subnet: %v", a.err)
	}
	a = run(t, map[string]any{"privateSubnetIds": "subnet-0123456789abcdef0", "routeTableIds": "rtb-0123456789abcdef0", "availabilityZones": "us-east-1a"})
	for _, w := range []string{
		"context parameter vpcId: required with privateSubnetIds, routeTableIds",
		"context parameter availabilityZones: without vpcId",
	} {
		if a.err == nil || !strings.Contains(a.err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, a.err)
		}
	}
}

// A stream ARN alone names the table (and its region), as it does for the consumer.
func TestStreamArnAloneNamesTheTable(t *testing.T) {
	a := run(t, map[string]any{"keyspace": nil, "table": nil,
		"streamArn": "arn:aws:cassandra:eu-west-1:123456789012:/keyspace/shop/table/orders/stream/2026-01-01T00:00:00.000"})
	if a.err != nil {
		t.Fatal(a.err)
	}
	env := a.environment(t)
	if env["CDC_KEYSPACE"] != `"shop"` || env["CDC_TABLE"] != `"orders"` || env["CDC_KEYSPACES_REGION"] != `"eu-west-1"` {
		t.Errorf("env %v", env)
	}
	if d := a.template["Description"]; !strings.Contains(fmt.Sprint(d), "shop.orders") {
		t.Errorf("description %v", d)
	}
}
