package constructs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
)

// twoTables are shop.orders and shop.customers, the second with settings of its own.
func twoTables() *KeyspacesCdcToS3Props {
	return &KeyspacesCdcToS3Props{
		Keyspace: "shop",
		Tables: []TableProps{
			{Table: "orders"},
			{Table: "customers", Format: "avro", Prefix: "crm/", DesiredCount: ptr(3), FlushRecords: 500},
		},
	}
}

// byTable returns the template's resources of a type, by the table whose scope holds them
// ("orders", "customers"; "" for the shared ones).
func (s synthesized) byTable(typ string) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for id, r := range s.resources(typ) {
		table := ""
		for _, t := range []string{"orders", "customers"} {
			if strings.HasPrefix(id, "Cdcshop"+t) {
				table = t
			}
		}
		out[table] = append(out[table], r["Properties"].(map[string]any))
	}
	return out
}

func TestManyTablesShareTheNetworkClusterBucketAndDashboard(t *testing.T) {
	s := synth(t, twoTables(), stackOptions{nag: true})

	for typ, n := range map[string]int{
		// 7 endpoints: customers writes Avro, which asks the Keyspaces control plane (cassandra).
		"AWS::EC2::VPC": 1, "AWS::EC2::VPCEndpoint": 7, "AWS::ECS::Cluster": 1, "AWS::S3::Bucket": 2,
		"AWS::CloudWatch::Dashboard": 1, "AWS::ECS::Service": 2, "AWS::DynamoDB::Table": 2, "AWS::ECS::TaskDefinition": 2,
		"AWS::CloudWatch::Alarm": 13, "AWS::Logs::LogGroup": 3, // 6 + 7 (SchemaFallback of Avro); two tables' logs, the flow logs
	} {
		if got := len(s.resources(typ)); got != n {
			t.Errorf("%d %s, want %d", got, typ, n)
		}
	}
	services := s.byTable("AWS::ECS::Service")
	if len(services["orders"]) != 1 || len(services["customers"]) != 1 {
		t.Fatalf("services by table %v", services)
	}
	if services["orders"][0]["DesiredCount"] != float64(2) || services["customers"][0]["DesiredCount"] != float64(3) {
		t.Errorf("desired counts %v and %v, want 2 (shared default) and 3 (the table's)", services["orders"][0]["DesiredCount"], services["customers"][0]["DesiredCount"])
	}
	// One security group for every task, one cluster.
	for _, svc := range services {
		net := jsonText(svc[0]["NetworkConfiguration"])
		if !strings.Contains(net, "CdcServiceSecurityGroup") || !strings.Contains(jsonText(svc[0]["Cluster"]), `"Ref":"CdcCluster`) {
			t.Errorf("service network %s, cluster %s", net, jsonText(svc[0]["Cluster"]))
		}
	}

	t.Run("each consumer reads its own table", func(t *testing.T) {
		for table, want := range map[string]map[string]string{
			"orders": {"CDC_TABLE": `"orders"`, "CDC_FORMAT": `"json"`, "CDC_PREFIX": `""`,
				"CDC_APPLICATION_NAME": `"Test-shop-orders"`, "CDC_LEASE_TABLE": `{"Ref":"Cdcshoporders`},
			"customers": {"CDC_TABLE": `"customers"`, "CDC_FORMAT": `"avro"`, "CDC_PREFIX": `"crm/"`, "CDC_FLUSH_RECORDS": `"500"`,
				"CDC_APPLICATION_NAME": `"Test-shop-customers"`, "CDC_LEASE_TABLE": `{"Ref":"Cdcshopcustomers`},
		} {
			tds := s.byTable("AWS::ECS::TaskDefinition")[table]
			if len(tds) != 1 {
				t.Fatalf("%d task definitions of %s", len(tds), table)
			}
			env := map[string]string{}
			for _, e := range tds[0]["ContainerDefinitions"].([]any)[0].(map[string]any)["Environment"].([]any) {
				kv := e.(map[string]any)
				env[kv["Name"].(string)] = jsonText(kv["Value"])
			}
			for k, v := range want {
				if !strings.HasPrefix(env[k], v) {
					t.Errorf("%s: %s = %s, want %s", table, k, env[k], v)
				}
			}
		}
	})

	t.Run("each task role is scoped to its own stream, table, lease table and keys", func(t *testing.T) {
		for table, other := range map[string]string{"orders": "customers", "customers": "orders"} {
			st := s.statements(t, "Cdcshop"+table+"TaskRole")
			all := jsonText(st)
			for _, want := range []string{"/keyspace/shop/table/" + table + "/stream/*", "/keyspace/shop/table/" + table + `"`, `"Fn::GetAtt":["Cdcshop` + table + "LeaseTable"} {
				if !strings.Contains(all, want) {
					t.Errorf("%s task role lacks %s", table, want)
				}
			}
			if strings.Contains(all, "/table/"+other) || strings.Contains(all, "Cdcshop"+other) {
				t.Errorf("%s task role reaches %s: %s", table, other, all)
			}
			prefix := map[string]string{"orders": "", "customers": "crm/"}[table]
			files := list(st["WriteFiles"]["Resource"])
			for _, want := range []string{prefix + "shop/" + table + "/*", prefix + "_errors/shop/" + table + "/*", prefix + "_schemas/shop/" + table + "/*"} {
				if !slices.ContainsFunc(files, func(f string) bool { return strings.Contains(f, "/"+want+`"`) }) {
					t.Errorf("%s WriteFiles %v lack %s", table, files, want)
				}
			}
		}
	})

	t.Run("alarms and dashboard per table", func(t *testing.T) {
		names := map[string]int{}
		for table, alarms := range s.byTable("AWS::CloudWatch::Alarm") {
			for _, a := range alarms {
				name, _ := a["AlarmName"].(string)
				names[name]++
				if !strings.HasPrefix(name, "Test-shop-"+table+"-") {
					t.Errorf("alarm %s of %q", name, table)
				}
				if dims := jsonText(a); strings.Contains(dims, `"Name":"Application"`) && !strings.Contains(dims, `"Value":"Test-shop-`+table+`"`) {
					t.Errorf("alarm %s reads another dimension: %s", name, dims)
				}
			}
		}
		if len(names) != 13 || names["Test-shop-customers-SchemaFallback"] != 1 {
			t.Errorf("alarm names %v, want 13 distinct, SchemaFallback for the Avro table", names)
		}
		dash := jsonText(s.only(t, "AWS::CloudWatch::Dashboard")["DashboardBody"])
		for _, want := range []string{"shop.orders", "shop.customers", `Application\",\"Test-shop-orders`, `Application\",\"Test-shop-customers`} {
			if !strings.Contains(dash, want) {
				t.Errorf("dashboard lacks %s", want)
			}
		}
	})

	t.Run("cdk-nag", func(t *testing.T) {
		if errs := s.nagErrors(t); len(errs) > 0 {
			t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
		}
	})
}

func TestTablesInNestedStacks(t *testing.T) {
	props := twoTables()
	props.NestedStacks = true
	s := synth(t, props, stackOptions{nag: true})
	if n := len(s.resources("AWS::CloudFormation::Stack")); n != 2 {
		t.Fatalf("%d nested stacks, want one per table", n)
	}
	if n := len(s.resources("AWS::ECS::Service")) + len(s.resources("AWS::DynamoDB::Table")); n != 0 {
		t.Errorf("%d services or lease tables in the parent stack", n)
	}
	for _, tr := range s.construct.Tables {
		nested := awscdk.Stack_Of(tr.Scope)
		// A nested stack is no artifact of the assembly: its template is a file beside them.
		b, err := os.ReadFile(filepath.Join(*awscdk.Stage_Of(s.stack).Outdir(), *nested.TemplateFile()))
		if err != nil {
			t.Fatal(err)
		}
		var tmpl map[string]any
		if err := json.Unmarshal(b, &tmpl); err != nil {
			t.Fatal(err)
		}
		types := map[string]int{}
		for _, r := range tmpl["Resources"].(map[string]any) {
			types[r.(map[string]any)["Type"].(string)]++
		}
		if alarms := map[string]int{"orders": 6, "customers": 7}[tr.Table]; types["AWS::ECS::Service"] != 1 || types["AWS::DynamoDB::Table"] != 1 || types["AWS::CloudWatch::Alarm"] != alarms {
			t.Errorf("nested stack of %s.%s holds %v", tr.Keyspace, tr.Table, types)
		}
		// Annotations_FromStack needs an artifact: read the errors from the construct tree.
		var errs []string
		for _, c := range *nested.Node().FindAll(constructs.ConstructOrder_PREORDER) {
			for _, m := range *c.Node().Metadata() {
				if data := fmt.Sprint(m.Data); *m.Type == "aws:cdk:error" && strings.HasPrefix(data, "AwsSolutions-") {
					errs = append(errs, *c.Node().Path()+": "+data)
				}
			}
		}
		if len(errs) > 0 {
			t.Errorf("cdk-nag errors in the nested stack of %s:\n%s", tr.Table, strings.Join(errs, "\n"))
		}
	}
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestTablesValidation(t *testing.T) {
	many := func(n int) []TableProps {
		var out []TableProps
		for i := range n {
			out = append(out, TableProps{Table: fmt.Sprintf("t%d", i)})
		}
		return out
	}
	cases := []struct {
		name  string
		edit  func(*KeyspacesCdcToS3Props)
		wants []string
	}{
		{"Table and Tables", func(p *KeyspacesCdcToS3Props) { p.Table = "orders" }, []string{"Tables", "not both"}},
		{"twice", func(p *KeyspacesCdcToS3Props) { p.Tables = append(p.Tables, TableProps{Table: "orders"}) }, []string{"Tables[2]", "shop.orders", "Tables[0]"}},
		{"no table name", func(p *KeyspacesCdcToS3Props) { p.Tables[1].Table = "" }, []string{"Tables[1].Table", "required"}},
		{"a table's setting", func(p *KeyspacesCdcToS3Props) { p.Tables[1].Format = "orc" }, []string{"Tables[1].Format", "json, avro, parquet"}},
		{"a table's iceberg catalog", func(p *KeyspacesCdcToS3Props) { p.Tables[1].Format, p.Tables[1].IcebergCatalog = "iceberg", "sql" },
			[]string{"Tables[1].IcebergCatalog", "not deployable"}},
		{"a shared setting", func(p *KeyspacesCdcToS3Props) { p.Format = "orc" }, []string{"KeyspacesCdcToS3: Format:", "json, avro, parquet"}},
		{"same ApplicationName", func(p *KeyspacesCdcToS3Props) { p.Tables[0].ApplicationName, p.Tables[1].ApplicationName = "x", "x" },
			[]string{"Tables[1].ApplicationName", "Tables[0]"}},
		{"too many for one stack", func(p *KeyspacesCdcToS3Props) { p.Tables = many(40) }, []string{"NestedStacks", "500"}},
		{"standby of a table", func(p *KeyspacesCdcToS3Props) { p.Tables[1].Autoscaling = &AutoscalingConfig{MinTasks: 2, MaxTasks: 4} },
			[]string{"Tables[1].Autoscaling.MinTasks", "standby"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			props := twoTables()
			c.edit(props)
			err := props.Validate()
			if err == nil {
				t.Fatal("Validate accepted the props")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	t.Run("40 tables in nested stacks", func(t *testing.T) {
		props := twoTables()
		props.Tables, props.NestedStacks = many(40), true
		if err := props.Validate(); err != nil {
			t.Error(err)
		}
	})
}
