package main

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// byTable returns the resources of a type whose logical id names the table (shoporders...).
func (a app) byTable(typ, table string) []map[string]any {
	var out []map[string]any
	for id, r := range a.template["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ && strings.Contains(id, table) {
			out = append(out, res["Properties"].(map[string]any))
		}
	}
	return out
}

// The "done when": one stack, one VPC, one set of endpoints, one cluster, two
// services, each task role scoped to its own table, no cdk-nag error.
func TestManyTablesInOneStack(t *testing.T) {
	for name, tables := range map[string]any{
		"-c tables=shop.orders,shop.customers": "shop.orders,shop.customers",
		"cdk.json array with per-table settings": []any{"shop.orders",
			map[string]any{"keyspace": "shop", "table": "customers", "format": "avro", "desiredCount": float64(3), "maxTasks": float64(6)}},
	} {
		t.Run(name, func(t *testing.T) {
			a := run(t, map[string]any{"tables": tables})
			if a.err != nil {
				t.Fatal(a.err)
			}
			endpoints := 6 // json: no Keyspaces control plane endpoint
			if name != "-c tables=shop.orders,shop.customers" {
				endpoints = 7 // customers writes Avro
			}
			for typ, n := range map[string]int{"AWS::EC2::VPC": 1, "AWS::EC2::VPCEndpoint": endpoints, "AWS::ECS::Cluster": 1, "AWS::ECS::Service": 2,
				"AWS::DynamoDB::Table": 2, "AWS::S3::Bucket": 2, "AWS::CloudWatch::Dashboard": 1} {
				if got := len(a.resources(typ)); got != n {
					t.Errorf("%d %s, want %d", got, typ, n)
				}
			}
			for table, other := range map[string]string{"shoporders": "customers", "shopcustomers": "orders"} {
				policies := a.byTable("AWS::IAM::Policy", table+"TaskRole")
				text := jsonText(policies)
				if len(policies) != 1 || !strings.Contains(text, "/keyspace/shop/table/"+strings.TrimPrefix(table, "shop")) || strings.Contains(text, other) {
					t.Errorf("task role policy of %s: %s", table, text)
				}
				if len(a.byTable("AWS::ECS::Service", table)) != 1 {
					t.Errorf("no service of %s", table)
				}
			}
			if name != "-c tables=shop.orders,shop.customers" {
				svc := a.byTable("AWS::ECS::Service", "shopcustomers")[0]
				if svc["DesiredCount"] != float64(3) || len(a.resources("AWS::ApplicationAutoScaling::ScalableTarget")) != 1 {
					t.Errorf("customers: desired %v, %d scalable targets", svc["DesiredCount"], len(a.resources("AWS::ApplicationAutoScaling::ScalableTarget")))
				}
			}
			outputs := jsonText(a.template["Outputs"])
			for _, o := range []string{"ShopOrdersServiceName", "ShopCustomersLeaseTableName", "BucketName", "ClusterName"} {
				if !strings.Contains(outputs, `"`+o) {
					t.Errorf("no output %s", o)
				}
			}
			if errs := a.nagErrors(t); len(errs) > 0 {
				t.Errorf("unsuppressed errors:\n%s", strings.Join(errs, "\n"))
			}
		})
	}
}

func TestBadTablesNameTheTable(t *testing.T) {
	cases := []struct {
		tables any
		wants  []string
	}{
		{"shop", []string{"context parameter tables[0]", `"shop" is not keyspace.table`}},
		{`[{"table":"orders","format":"xml"}]`, []string{"context parameter tables[0].format", `"xml"`, "json, avro"}},
		{`[{"table":"orders","fmt":"avro"}]`, []string{"context parameter tables[0]", `"fmt" is not a parameter a table sets`}},
		{"shop.orders,shop.orders", []string{"context parameter tables[1]", "shop.orders is tables[0] too"}},
		{`[{"table":"orders","desiredCount":"many"}]`, []string{"context parameter tables[0].desiredCount", "whole number"}},
		{`[{"table":"orders","maxTasks":4,"minTasks":1}]`, []string{"context parameter tables[0].minTasks", "standby"}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.tables), func(t *testing.T) {
			a := run(t, map[string]any{"keyspace": "shop", "tables": c.tables})
			if a.err == nil {
				t.Fatal("synth accepted the tables")
			}
			for _, w := range c.wants {
				if !strings.Contains(a.err.Error(), w) {
					t.Errorf("error %q lacks %q", a.err, w)
				}
			}
		})
	}
}

// accountNames are the names of a template that must be unique in an account and region, by
// kind; kinds CloudFormation names itself (when the template gives no name) are not here.
func accountNames(t *testing.T, a app) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(kind string, v any) {
		out[kind] = append(out[kind], jsonText(v))
	}
	named := map[string]string{"AWS::Logs::LogGroup": "LogGroupName", "AWS::SNS::Topic": "TopicName", "AWS::DynamoDB::Table": "TableName",
		"AWS::CloudWatch::Dashboard": "DashboardName", "AWS::S3::Bucket": "BucketName", "AWS::ECS::Cluster": "ClusterName"}
	for typ, prop := range named {
		for _, r := range a.resources(typ) {
			if v, ok := r[prop]; ok {
				add(typ, v)
			}
		}
	}
	for _, r := range a.resources("AWS::Glue::Database") {
		add("Glue database", r["DatabaseInput"].(map[string]any)["Name"])
	}
	for _, r := range a.resources("AWS::Glue::Table") {
		add("Glue table", fmt.Sprint(r["DatabaseName"], ".", r["TableInput"].(map[string]any)["Name"]))
	}
	for _, r := range a.resources("AWS::CloudWatch::Alarm") {
		if r["AlarmName"] != nil { // the autoscaling alarms' names are CloudFormation's
			add("alarm name", r["AlarmName"])
		}
	}
	dimension := regexp.MustCompile(`"Name":"Application","Value":"([^"]+)"|Application\\",\\"([^\\]+)\\"`)
	for _, m := range dimension.FindAllStringSubmatch(jsonText(a.template["Resources"]), -1) {
		add("metric dimension Application", m[1]+m[2])
	}
	for _, td := range a.resources("AWS::ECS::TaskDefinition") {
		env := map[string]string{}
		for _, e := range td["ContainerDefinitions"].([]any)[0].(map[string]any)["Environment"].([]any) {
			kv := e.(map[string]any)
			env[kv["Name"].(string)] = jsonText(kv["Value"])
		}
		// A created bucket (a Ref) is the stack's own; a given one (a name) may be shared.
		if strings.HasPrefix(env["CDC_BUCKET"], `"`) {
			add("S3 keys (bucket, prefix, table)", env["CDC_BUCKET"]+env["CDC_PREFIX"]+env["CDC_KEYSPACE"]+env["CDC_TABLE"])
		}
	}
	return out
}

// Two stacks in one account and region coexist: no name that must be unique there is equal.
func TestTwoStacksShareNoName(t *testing.T) {
	cases := map[string][2]map[string]any{
		"the issue's pair: one table, Glue, alarm emails": {
			{"glueTable": "true", "alarmEmails": "oncall@example.com"},
			{"stackName": "Second", "keyspace": "shop", "table": "orders", "glueTable": "true", "alarmEmails": "oncall@example.com"},
		},
		"the same table twice into one given bucket": {
			{"keyspace": "shop", "table": "orders", "bucketName": "shared-cdc", "glueTable": "true"},
			{"stackName": "Second", "keyspace": "shop", "table": "orders", "bucketName": "shared-cdc", "glueTable": "true"},
		},
		"two stacks of two tables": {
			{"tables": "shop.orders,shop.customers", "glueTable": "true", "maxTasks": "4"},
			{"stackName": "Second", "tables": "shop.orders,shop.customers", "glueTable": "true", "maxTasks": "4"},
		},
	}
	for name, pair := range cases {
		t.Run(name, func(t *testing.T) {
			first, second := run(t, pair[0]), run(t, pair[1])
			if first.err != nil || second.err != nil {
				t.Fatal(first.err, second.err)
			}
			a, b := accountNames(t, first), accountNames(t, second)
			kinds := []string{"Glue database", "Glue table", "alarm name", "metric dimension Application"}
			if pair[0]["bucketName"] != nil {
				kinds = append(kinds, "S3 keys (bucket, prefix, table)")
			}
			for _, kind := range kinds {
				if len(a[kind]) == 0 || len(b[kind]) == 0 {
					t.Errorf("no %s in one of the stacks: %v, %v", kind, a[kind], b[kind])
				}
			}
			// Log groups, the topic, lease tables, the dashboard, buckets and the cluster carry no
			// name: CloudFormation names them after the stack, uniquely.
			for _, kind := range []string{"AWS::Logs::LogGroup", "AWS::SNS::Topic", "AWS::DynamoDB::Table", "AWS::CloudWatch::Dashboard", "AWS::S3::Bucket", "AWS::ECS::Cluster"} {
				if len(a[kind])+len(b[kind]) > 0 {
					t.Errorf("%s named in the template: %v %v", kind, a[kind], b[kind])
				}
			}
			for kind, names := range a {
				for _, n := range names {
					if slices.Contains(b[kind], n) {
						t.Errorf("%s %s is in both stacks", kind, n)
					}
				}
			}
		})
	}
}
