package constructs

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// icebergProps are baseProps writing format iceberg to a catalog.
func icebergProps(catalog string) *KeyspacesCdcToS3Props {
	p := baseProps()
	p.Format, p.IcebergCatalog, p.Prefix = "iceberg", catalog, "cdc/"
	return p
}

// wantStatement fails unless the statement has exactly these actions and resources (each a
// fragment of the resource's JSON, one per resource).
func wantStatement(t *testing.T, st map[string]map[string]any, sid string, actions, resources []string) {
	t.Helper()
	stmt, ok := st[sid]
	if !ok {
		t.Errorf("no statement %s", sid)
		return
	}
	var quoted []string
	for _, a := range actions {
		quoted = append(quoted, `"`+a+`"`)
	}
	slices.Sort(quoted)
	if got := list(stmt["Action"]); !slices.Equal(got, quoted) {
		t.Errorf("%s actions %v, want %v", sid, got, quoted)
	}
	got := list(stmt["Resource"])
	if len(got) != len(resources) {
		t.Errorf("%s resources %v, want %d: %v", sid, got, len(resources), resources)
		return
	}
	for _, want := range resources {
		if !slices.ContainsFunc(got, func(r string) bool { return strings.Contains(r, want) }) {
			t.Errorf("%s resources %v lack %s", sid, got, want)
		}
	}
}

func conditionJSON(stmt map[string]any) string {
	b, _ := json.Marshal(stmt["Condition"])
	return string(b)
}

// TestIcebergGlue: the Glue database of the namespace, the optimizers' role, the task role's
// catalog, optimizer and file statements exactly, and the consumer's environment.
func TestIcebergGlue(t *testing.T) {
	s := synth(t, icebergProps(""), stackOptions{nag: true})
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag: %v", errs)
	}
	db := s.only(t, "AWS::Glue::Database")["DatabaseInput"].(map[string]any)
	if db["Name"] != "media" || db["LocationUri"] != nil {
		t.Errorf("Glue database %v, want media without a location (tables go under the warehouse)", db)
	}
	if n := len(s.resources("AWS::S3Tables::TableBucket")); n != 0 {
		t.Errorf("%d table buckets with glue", n)
	}

	st := s.statements(t, "CdcTaskRole")
	glue := []string{`:catalog"`, `:database/media"`, `:table/media/media_content_changes"`, `:table/media/media_content"`}
	wantStatement(t, st, "IcebergCatalog", []string{"glue:CreateTable", "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"}, glue)
	wantStatement(t, st, "IcebergOptimizers", []string{"glue:CreateTableOptimizer", "glue:GetTableOptimizer", "glue:UpdateTableOptimizer"}, glue)
	wantStatement(t, st, "PassOptimizerRole", []string{"iam:PassRole"}, []string{`"CdcIcebergOptimizerRole`})
	if c := conditionJSON(st["PassOptimizerRole"]); c != `{"StringEquals":{"iam:PassedToService":"glue.amazonaws.com"}}` {
		t.Errorf("PassOptimizerRole condition %s", c)
	}
	wantStatement(t, st, "IcebergFiles", []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
		[]string{`/cdc/_iceberg/media.db/media_content_changes/*"`, `/cdc/_iceberg/media.db/media_content/*"`})
	wantStatement(t, st, "WriteFiles", []string{"s3:AbortMultipartUpload", "s3:PutObject"},
		[]string{`/cdc/_errors/media/media_content/*"`, `/cdc/_schemas/media/media_content/*"`})
	if sids := slices.Sorted(maps.Keys(st)); !slices.Equal(sids, []string{"FindStream", "IcebergCatalog", "IcebergFiles", "IcebergOptimizers",
		"Leases", "PassOptimizerRole", "ReadStream", "ReadTableSchema", "WriteFiles"}) {
		t.Errorf("task role statements %v", sids)
	}

	opt := s.statements(t, "CdcIcebergOptimizerRole")
	wantStatement(t, opt, "TableFiles", []string{"s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
		[]string{`/cdc/_iceberg/media.db/media_content_changes/*"`, `/cdc/_iceberg/media.db/media_content/*"`})
	wantStatement(t, opt, "ListTableFiles", []string{"s3:ListBucket"}, []string{`"CdcBucket`})
	if c := conditionJSON(opt["ListTableFiles"]); c != `{"StringLike":{"s3:prefix":["cdc/_iceberg/media.db/media_content_changes","cdc/_iceberg/media.db/media_content_changes/*",`+
		`"cdc/_iceberg/media.db/media_content","cdc/_iceberg/media.db/media_content/*"]}}` {
		t.Errorf("ListTableFiles condition %s", c)
	}
	wantStatement(t, opt, "Tables", []string{"glue:GetTable", "glue:UpdateTable"}, glue)
	wantStatement(t, opt, "Logs", []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, []string{
		`:log-group:/aws-glue/iceberg-compaction/logs:*"`, `:log-group:/aws-glue/iceberg-retention/logs:*"`, `:log-group:/aws-glue/iceberg-orphan-file-deletion/logs:*"`})
	if n := len(opt); n != 4 {
		t.Errorf("optimizer role has %d statements, want 4", n)
	}
	var trust string
	for id, r := range s.resources("AWS::IAM::Role") {
		if strings.HasPrefix(id, "CdcIcebergOptimizerRole") {
			b, _ := json.Marshal(r["Properties"].(map[string]any)["AssumeRolePolicyDocument"])
			trust = string(b)
		}
	}
	if !strings.Contains(trust, `"Service":"glue.amazonaws.com"`) {
		t.Errorf("optimizer role trust %s, want glue.amazonaws.com", trust)
	}

	env := s.environment(t)
	if env["CDC_FORMAT"] != "iceberg" || env["CDC_ICEBERG_CATALOG"] != "glue" || env["CDC_ICEBERG_NAMESPACE"] != "media" {
		t.Errorf("environment %v", env)
	}
	if w, _ := json.Marshal(env["CDC_ICEBERG_WAREHOUSE"]); !strings.Contains(string(w), `["s3://",{"Ref":"CdcBucket`) || !strings.Contains(string(w), `"/cdc/_iceberg"`) {
		t.Errorf("CDC_ICEBERG_WAREHOUSE %s, want s3://<bucket>/cdc/_iceberg", w)
	}
	if r, _ := json.Marshal(env["CDC_ICEBERG_OPTIMIZER_ROLE_ARN"]); !strings.Contains(string(r), `"Fn::GetAtt":["CdcIcebergOptimizerRole`) {
		t.Errorf("CDC_ICEBERG_OPTIMIZER_ROLE_ARN %s, want the optimizer role's ARN", r)
	}
	if eps := strings.Join(s.endpointServices(), " "); !strings.Contains(eps, ".glue") || strings.Contains(eps, "s3tables") {
		t.Errorf("endpoints %s, want Glue's and no S3 Tables'", eps)
	}
}

// TestIcebergS3Tables: the table bucket (unreferenced file removal on) and its namespace, the
// task role's S3 Tables statements exactly (the table statements narrowed to the namespace and
// the two tables), no optimizer role, and the table bucket's ARN as the warehouse.
func TestIcebergS3Tables(t *testing.T) {
	p := icebergProps("s3tables")
	p.IcebergNamespace = "shop"
	s := synth(t, p, stackOptions{nag: true})
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag: %v", errs)
	}
	bucket := s.only(t, "AWS::S3Tables::TableBucket")
	if b, _ := json.Marshal(bucket["UnreferencedFileRemoval"]); string(b) != `{"Status":"Enabled"}` || bucket["TableBucketName"] != "test-cdc" {
		t.Errorf("table bucket %v", bucket)
	}
	ns := s.only(t, "AWS::S3Tables::Namespace")
	if b, _ := json.Marshal(ns); !strings.Contains(string(b), `"Namespace":"shop"`) || !strings.Contains(string(b), `"TableBucketARN":{"Fn::GetAtt":["CdcTableBucket`) {
		t.Errorf("namespace %s", b)
	}
	if n := len(s.resources("AWS::Glue::Database")); n != 0 {
		t.Errorf("%d Glue databases with s3tables", n)
	}
	st := s.statements(t, "CdcTaskRole")
	wantStatement(t, st, "IcebergCatalog", []string{"s3tables:GetNamespace", "s3tables:GetTableBucket"}, []string{`"CdcTableBucket`})
	wantStatement(t, st, "IcebergCreateTables", []string{"s3tables:CreateTable"}, []string{`"CdcTableBucket`})
	if c := conditionJSON(st["IcebergCreateTables"]); c != `{"StringEquals":{"s3tables:namespace":"shop"}}` {
		t.Errorf("IcebergCreateTables condition %s", c)
	}
	wantStatement(t, st, "IcebergTables", []string{"s3tables:GetTable", "s3tables:GetTableData", "s3tables:GetTableMetadataLocation",
		"s3tables:PutTableData", "s3tables:UpdateTableMetadataLocation"}, []string{`"/table/*"`})
	if c := conditionJSON(st["IcebergTables"]); c != `{"StringEquals":{"s3tables:namespace":"shop","s3tables:tableName":["media_content_changes","media_content"]}}` {
		t.Errorf("IcebergTables condition %s", c)
	}
	for sid := range st {
		if strings.HasPrefix(sid, "IcebergO") || sid == "PassOptimizerRole" || sid == "IcebergFiles" {
			t.Errorf("statement %s with s3tables", sid)
		}
	}
	for id := range s.resources("AWS::IAM::Role") {
		if strings.Contains(id, "Optimizer") {
			t.Errorf("role %s with s3tables: S3 Tables maintains its tables itself", id)
		}
	}
	env := s.environment(t)
	if w, _ := json.Marshal(env["CDC_ICEBERG_WAREHOUSE"]); !strings.Contains(string(w), `"Fn::GetAtt":["CdcTableBucket`) {
		t.Errorf("CDC_ICEBERG_WAREHOUSE %s, want the table bucket's ARN", w)
	}
	if env["CDC_ICEBERG_CATALOG"] != "s3tables" || env["CDC_ICEBERG_NAMESPACE"] != "shop" || env["CDC_ICEBERG_OPTIMIZER_ROLE_ARN"] != nil {
		t.Errorf("environment %v", env)
	}
	if eps := strings.Join(s.endpointServices(), " "); !strings.Contains(eps, ".s3tables") || strings.Contains(eps, ".glue") {
		t.Errorf("endpoints %s, want S3 Tables' and no Glue's", eps)
	}
}

// TestIcebergGlueCapitals: a table name with capitals is granted as the consumer names it and
// as Glue stores it (lowercase); its files keep the name as given.
func TestIcebergGlueCapitals(t *testing.T) {
	p := icebergProps("")
	p.Table = "Orders"
	st := synth(t, p, stackOptions{}).statements(t, "CdcTaskRole")
	wantStatement(t, st, "IcebergCatalog", []string{"glue:CreateTable", "glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"},
		[]string{`:catalog"`, `:database/media"`, `:table/media/orders_changes"`, `:table/media/Orders_changes"`, `:table/media/orders"`, `:table/media/Orders"`})
	wantStatement(t, st, "IcebergFiles", []string{"s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"},
		[]string{`/cdc/_iceberg/media.db/Orders_changes/*"`, `/cdc/_iceberg/media.db/Orders/*"`})
}

// TestIcebergRefusedProps: wrong values are refused at synth, naming the prop.
func TestIcebergRefusedProps(t *testing.T) {
	cases := []struct {
		name  string
		props func(p *KeyspacesCdcToS3Props)
		prop  string
	}{
		{"sql catalog", func(p *KeyspacesCdcToS3Props) { p.IcebergCatalog = "sql" }, "IcebergCatalog"},
		{"unknown catalog", func(p *KeyspacesCdcToS3Props) { p.IcebergCatalog = "hive" }, "IcebergCatalog"},
		{"bad namespace", func(p *KeyspacesCdcToS3Props) { p.IcebergNamespace = "Shop-1" }, "IcebergNamespace"},
		{"catalog without iceberg", func(p *KeyspacesCdcToS3Props) { p.Format, p.IcebergCatalog = "parquet", "glue" }, "IcebergCatalog"},
		{"namespace without iceberg", func(p *KeyspacesCdcToS3Props) { p.Format, p.IcebergNamespace = "", "shop" }, "IcebergNamespace"},
		{"glue table", func(p *KeyspacesCdcToS3Props) { p.GlueTable = &GlueTableConfig{} }, "GlueTable"},
		{"s3tables uppercase table", func(p *KeyspacesCdcToS3Props) { p.IcebergCatalog, p.Table = "s3tables", "Orders" }, "Table"},
	}
	for _, c := range cases {
		p := icebergProps("")
		c.props(p)
		err := p.Validate()
		v, ok := err.(*ValidationError)
		if !ok || v.Prop != c.prop {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.prop)
		}
	}
	if err := icebergProps("s3tables").Validate(); err != nil {
		t.Errorf("s3tables: %v", err)
	}
}

// TestIcebergTablesShareTheCatalog: two tables of one keyspace share the Glue database (or the
// table bucket and namespace); each has its own optimizer role scoped to its own tables.
func TestIcebergTablesShareTheCatalog(t *testing.T) {
	p := &KeyspacesCdcToS3Props{Keyspace: "media", Format: "iceberg", Tables: []TableProps{{Table: "a"}, {Table: "b"}}}
	s := synth(t, p, stackOptions{})
	if n := len(s.resources("AWS::Glue::Database")); n != 1 {
		t.Errorf("%d Glue databases, want 1 shared", n)
	}
	roles := 0
	for _, pol := range s.resources("AWS::IAM::Policy") {
		b, _ := json.Marshal(pol)
		if strings.Contains(string(b), "IcebergOptimizerRole") && strings.Contains(string(b), `"Sid":"Tables"`) {
			roles++
			if strings.Contains(string(b), "table/media/a") == strings.Contains(string(b), "table/media/b") {
				t.Errorf("an optimizer role's policy names both tables or neither: %s", b)
			}
		}
	}
	if roles != 2 {
		t.Errorf("%d optimizer role policies, want 2", roles)
	}
	p.IcebergCatalog = "s3tables"
	s = synth(t, p, stackOptions{})
	if b, n := len(s.resources("AWS::S3Tables::TableBucket")), len(s.resources("AWS::S3Tables::Namespace")); b != 1 || n != 1 {
		t.Errorf("%d table buckets and %d namespaces, want 1 of each, shared", b, n)
	}
}
