package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// synthWithRules builds the app with the Control Tower rules on and synthesizes it; it returns
// the synth's failure ("" when it passes).
func synthWithRules(t *testing.T, extra map[string]any) string {
	t.Helper()
	ctx := cdkJSONContext(t)
	for k, v := range extra {
		ctx[k] = v
	}
	if extra["tables"] == nil && extra["keyspace"] == nil {
		ctx["demo"] = true // cdk.json names no table
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	if _, _, err := buildStack(app); err != nil {
		t.Fatal(err)
	}
	msg := panicText(func() { app.Synth(nil) })
	if msg != "" {
		// The report holds the violations; the panic only names its file.
		if b, err := os.ReadFile(filepath.Join(*app.Outdir(), "validation-report.json")); err == nil {
			msg += "\n" + string(b)
		}
	}
	return msg
}

func panicText(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	f()
	return ""
}

// Every Control Tower rule passes, or is off with its reason (guardRulesOff), on the
// deployments the docs show.
func TestControlTowerRulesPass(t *testing.T) {
	for name, ctx := range map[string]map[string]any{
		"cdk.json":          nil,
		"two tables":        {"tables": "shop.orders,shop.customers"},
		"operations":        {"tables": `[{"keyspace":"shop","table":"orders","maxTasks":4},"shop.customers"]`, "alarmEmails": "oncall@example.com", "glueTable": "true"},
		"iceberg, glue":     {"format": "iceberg"},
		"iceberg, s3tables": {"format": "iceberg", "icebergCatalog": "s3tables"},
		"your VPC": {"vpcId": "vpc-0123456789abcdef0", "privateSubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1",
			"availabilityZones": "us-east-1a,us-east-1b", "keyspacesStreamsEndpoint": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			if msg := synthWithRules(t, ctx); msg != "" {
				t.Errorf("synth failed:\n%s", msg)
			}
		})
	}
	for _, r := range guardRulesOff {
		if r.why == "" || !strings.HasPrefix(r.file, "ct-") {
			t.Errorf("rule %s is off without a reason", r.rule)
		}
	}
}

// The plugin really runs: a log retention under a year fails synth with the rule's id.
func TestControlTowerRulesFailSynth(t *testing.T) {
	msg := synthWithRules(t, map[string]any{"logRetentionDays": "30"})
	if !strings.Contains(msg, "CT.CLOUDWATCH.PR.2") {
		t.Errorf("synth with 30 days of logs: %q, want CT.CLOUDWATCH.PR.2", msg)
	}
}
