package main

import (
	"strings"
	"testing"
)

// -c format=iceberg deploys the glue catalog by default, -c icebergCatalog=s3tables a table
// bucket; -c icebergNamespace names the namespace; both reach the consumer, cdk-nag clean.
func TestIcebergContext(t *testing.T) {
	for _, c := range []struct {
		ctx       map[string]any
		catalog   string
		namespace string
		resource  string
	}{
		{map[string]any{"format": "iceberg"}, "glue", "media", "AWS::Glue::Database"},
		{map[string]any{"format": "iceberg", "icebergCatalog": "S3Tables", "icebergNamespace": "cdc_media"}, "s3tables", "cdc_media", "AWS::S3Tables::Namespace"},
	} {
		t.Run(jsonText(c.ctx), func(t *testing.T) {
			a := run(t, c.ctx)
			if a.err != nil {
				t.Fatal(a.err)
			}
			if errs := a.nagErrors(t); len(errs) > 0 {
				t.Errorf("errors: %v", errs)
			}
			env := a.environment(t)
			if env["CDC_FORMAT"] != `"iceberg"` || env["CDC_ICEBERG_CATALOG"] != `"`+c.catalog+`"` || env["CDC_ICEBERG_NAMESPACE"] != `"`+c.namespace+`"` {
				t.Errorf("environment %v", env)
			}
			if env["CDC_ICEBERG_WAREHOUSE"] == "" {
				t.Error("no CDC_ICEBERG_WAREHOUSE")
			}
			rs := a.resources(c.resource)
			if len(rs) != 1 || !strings.Contains(jsonText(rs[0]), `"`+c.namespace+`"`) {
				t.Errorf("%s: %v, want one named %s", c.resource, rs, c.namespace)
			}
		})
	}
}

// Wrong iceberg context values fail synth naming the parameter.
func TestIcebergContextRefused(t *testing.T) {
	for _, c := range []struct {
		ctx   map[string]any
		wants []string
	}{
		{map[string]any{"format": "iceberg", "icebergCatalog": "hive"}, []string{"context parameter icebergCatalog", `"hive"`, "glue, s3tables, sql"}},
		{map[string]any{"format": "iceberg", "icebergCatalog": "sql"}, []string{"context parameter icebergCatalog", "not deployable", "glue or s3tables"}},
		{map[string]any{"format": "iceberg", "icebergNamespace": "Shop-1"}, []string{"context parameter icebergNamespace", `"Shop-1"`}},
		{map[string]any{"icebergCatalog": "s3tables"}, []string{"context parameter icebergCatalog", "format iceberg only"}},
		{map[string]any{"format": "iceberg", "glueTable": "true"}, []string{"context parameter glueTable", "not with format iceberg"}},
	} {
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
