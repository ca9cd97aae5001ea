package config

import (
	"bytes"
	"errors"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func base() map[string]string {
	return map[string]string{
		"AWS_REGION":      "eu-west-1",
		"CDC_KEYSPACE":    "media",
		"CDC_TABLE":       "media_content",
		"CDC_BUCKET":      "my-cdc-bucket",
		"CDC_LEASE_TABLE": "media-cdc-leases",
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(base()), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Keyspace: "media", Table: "media_content", Bucket: "my-cdc-bucket", LeaseTable: "media-cdc-leases",
		KeyspacesRegion: "eu-west-1", S3Region: "eu-west-1", Format: "json", Compression: "gzip",
		IcebergCatalog: "glue", IcebergNamespace: "media", IcebergTables: "changes,mirror", IcebergSnapshotRetention: 48 * time.Hour,
		ApplicationName: "keyspaces-cdc-s3", StartPosition: "TRIM_HORIZON",
		FlushRecords: 10000, FlushBytes: 64 << 20, FlushInterval: time.Minute,
		LeaseFailoverTime: 10 * time.Second, LeaseRenewInterval: 3 * time.Second, ShardSyncInterval: time.Minute, MaxStealsPerCycle: 1,
		PollInterval: time.Second, GetRecordsLimit: 1000, TrimmedPolicy: "resume", ShutdownTimeout: 100 * time.Second,
		HTTPPort: 8080, MetricsNamespace: "KeyspacesCdcToS3", MetricsInterval: time.Minute,
	}
	if *c != want {
		t.Fatalf("defaults:\n got %+v\nwant %+v", *c, want)
	}
}

func TestFlagsOverrideEnvAndAvroDefaults(t *testing.T) {
	m := base()
	m["CDC_FORMAT"] = "json"
	m["CDC_S3_REGION"] = "us-west-2"
	c, err := Load([]string{"--format", "avro", "--flush-interval=5s", "--keyspaces-region", "ap-south-1"}, env(m), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != "avro" || c.Compression != "deflate" || c.FlushInterval != 5*time.Second {
		t.Fatalf("got format %s compression %s interval %s", c.Format, c.Compression, c.FlushInterval)
	}
	if c.KeyspacesRegion != "ap-south-1" || c.S3Region != "us-west-2" {
		t.Fatalf("regions: keyspaces %s s3 %s", c.KeyspacesRegion, c.S3Region)
	}
}

func TestBadValuesAreNamed(t *testing.T) {
	cases := []struct {
		name string
		set  map[string]string
		want []string
	}{
		{"missing keyspace", map[string]string{"CDC_KEYSPACE": ""}, []string{"CDC_KEYSPACE", "required"}},
		{"missing table", map[string]string{"CDC_TABLE": ""}, []string{"CDC_TABLE", "required"}},
		{"missing bucket", map[string]string{"CDC_BUCKET": ""}, []string{"CDC_BUCKET"}},
		{"bad bucket", map[string]string{"CDC_BUCKET": "B"}, []string{"CDC_BUCKET", `"B"`}},
		{"missing lease table", map[string]string{"CDC_LEASE_TABLE": ""}, []string{"CDC_LEASE_TABLE"}},
		{"format", map[string]string{"CDC_FORMAT": "orc"}, []string{"CDC_FORMAT", "orc", "json, avro, parquet"}},
		{"compression for json", map[string]string{"CDC_COMPRESSION": "deflate"}, []string{"CDC_COMPRESSION", "gzip, zstd, none"}},
		{"compression for avro", map[string]string{"CDC_FORMAT": "avro", "CDC_COMPRESSION": "gzip"}, []string{"CDC_COMPRESSION", "deflate, snappy, zstandard, null"}},
		{"compression for parquet", map[string]string{"CDC_FORMAT": "parquet", "CDC_COMPRESSION": "deflate"}, []string{"CDC_COMPRESSION", "CDC_FORMAT=parquet", "zstd, snappy, gzip, none"}},
		{"flush records", map[string]string{"CDC_FLUSH_RECORDS": "0"}, []string{"CDC_FLUSH_RECORDS", "--flush-records"}},
		{"flush bytes", map[string]string{"CDC_FLUSH_BYTES": "lots"}, []string{"CDC_FLUSH_BYTES"}},
		{"flush interval", map[string]string{"CDC_FLUSH_INTERVAL": "soon"}, []string{"CDC_FLUSH_INTERVAL", "soon"}},
		{"snapshot retention below the stream's", map[string]string{"CDC_ICEBERG_SNAPSHOT_RETENTION": "24h"}, []string{"CDC_ICEBERG_SNAPSHOT_RETENTION", "[25h, 8760h]"}},
		{"start position", map[string]string{"CDC_START_POSITION": "AT_SEQUENCE_NUMBER"}, []string{"CDC_START_POSITION", "TRIM_HORIZON, LATEST"}},
		{"renew vs failover", map[string]string{"CDC_LEASE_RENEW_INTERVAL": "20s"}, []string{"CDC_LEASE_RENEW_INTERVAL", "CDC_LEASE_FAILOVER_TIME"}},
		{"bool", map[string]string{"CDC_CREATE_LEASE_TABLE": "yes please"}, []string{"CDC_CREATE_LEASE_TABLE"}},
		{"port", map[string]string{"CDC_HTTP_PORT": "70000"}, []string{"CDC_HTTP_PORT"}},
		{"no region", map[string]string{"AWS_REGION": ""}, []string{"CDC_KEYSPACES_REGION", "CDC_S3_REGION"}},
		{"bad region", map[string]string{"CDC_S3_REGION": "mars"}, []string{"CDC_S3_REGION", "mars"}},
		{"stream arn", map[string]string{"CDC_STREAM_ARN": "arn:nope"}, []string{"CDC_STREAM_ARN"}},
		{"log level", map[string]string{"CDC_LOG_LEVEL": "loud"}, []string{"CDC_LOG_LEVEL"}},
		{"trimmed policy", map[string]string{"CDC_TRIMMED_POLICY": "skip"}, []string{"CDC_TRIMMED_POLICY", "resume, halt"}},
		{"iceberg without warehouse", map[string]string{"CDC_FORMAT": "iceberg"}, []string{"CDC_ICEBERG_WAREHOUSE", "required"}},
		{"iceberg catalog", map[string]string{"CDC_ICEBERG_CATALOG": "hive"}, []string{"CDC_ICEBERG_CATALOG", "glue, s3tables, sql"}},
		{"iceberg warehouse", map[string]string{"CDC_ICEBERG_WAREHOUSE": "/tmp/lake"}, []string{"CDC_ICEBERG_WAREHOUSE", "s3://bucket/prefix"}},
		{"iceberg sql without file", map[string]string{"CDC_FORMAT": "iceberg", "CDC_ICEBERG_CATALOG": "sql",
			"CDC_ICEBERG_WAREHOUSE": "s3://lake/wh"}, []string{"CDC_ICEBERG_CATALOG_URI", "SQLite"}},
		{"iceberg s3tables with a location", map[string]string{"CDC_FORMAT": "iceberg", "CDC_ICEBERG_CATALOG": "s3tables",
			"CDC_ICEBERG_WAREHOUSE": "s3://lake/wh"}, []string{"CDC_ICEBERG_WAREHOUSE", "table bucket's ARN"}},
		{"iceberg glue with an arn", map[string]string{"CDC_FORMAT": "iceberg",
			"CDC_ICEBERG_WAREHOUSE": "arn:aws:s3tables:us-east-1:123456789012:bucket/lake"}, []string{"CDC_ICEBERG_WAREHOUSE", "s3://bucket/prefix location"}},
		{"iceberg namespace from the keyspace", map[string]string{"CDC_FORMAT": "iceberg", "CDC_KEYSPACE": "_media",
			"CDC_ICEBERG_WAREHOUSE": "s3://lake/wh"}, []string{"CDC_ICEBERG_NAMESPACE", `"_media"`}},
		{"iceberg mirror alone", map[string]string{"CDC_ICEBERG_TABLES": "mirror"}, []string{"CDC_ICEBERG_TABLES", "changes,mirror"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			for k, v := range tc.set {
				m[k] = v
			}
			_, err := Load(nil, env(m), nil)
			if err == nil {
				t.Fatal("accepted a bad configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Format iceberg with each catalog: what a valid configuration looks like.
func TestIcebergSettings(t *testing.T) {
	for _, set := range []map[string]string{
		{"CDC_ICEBERG_CATALOG": "sql", "CDC_ICEBERG_CATALOG_URI": "/tmp/catalog.db", "CDC_ICEBERG_WAREHOUSE": "s3://lake/warehouse"},
		{"CDC_ICEBERG_WAREHOUSE": "s3://lake", "CDC_ICEBERG_NAMESPACE": "media_lake"},
		{"CDC_ICEBERG_CATALOG": "S3Tables", "CDC_ICEBERG_WAREHOUSE": "arn:aws:s3tables:eu-west-1:123456789012:bucket/media-lake"},
	} {
		m := base()
		m["CDC_FORMAT"] = "iceberg"
		for k, v := range set {
			m[k] = v
		}
		c, err := Load(nil, env(m), nil)
		if err != nil {
			t.Fatalf("%v: %v", set, err)
		}
		if c.Compression != "zstd" || c.IcebergTables != "changes,mirror" || c.IcebergNamespace == "" ||
			!slices.Contains(IcebergCatalogs, c.IcebergCatalog) {
			t.Errorf("%v: %+v", set, c)
		}
	}
}

func TestAllErrorsReportedAtOnce(t *testing.T) {
	_, err := Load(nil, env(map[string]string{"AWS_REGION": "us-east-1", "CDC_FORMAT": "xml"}), nil)
	for _, w := range []string{"CDC_KEYSPACE", "CDC_TABLE", "CDC_BUCKET", "CDC_LEASE_TABLE", "CDC_FORMAT"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %s", err, w)
		}
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	_, err := Load([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	for _, s := range Settings() {
		if !strings.Contains(out.String(), s.Env) || !strings.Contains(out.String(), "--"+s.Flag) {
			t.Errorf("--help misses %s / --%s", s.Env, s.Flag)
		}
	}
}

func TestUnknownFlag(t *testing.T) {
	_, err := Load([]string{"--bukket", "x"}, env(base()), nil)
	if err == nil || !strings.Contains(err.Error(), "bukket") || !strings.Contains(err.Error(), "did you mean --bucket?") {
		t.Fatalf("err = %v", err)
	}
}

// A mistyped variable would leave the default in force without a word: each is refused,
// naming the setting it is closest to. The tests' own CDC_TEST_ variables and empty ones pass.
func TestUnknownEnvironmentVariablesNameTheClosestSetting(t *testing.T) {
	err := CheckEnviron([]string{"PATH=/bin", "CDC_FORMAT=json", "CDC_FORAMT=avro", "CDC_FLUSH_INTERVALL=5s",
		"CDC_TEST_DYNALITE=/x/dynalite", "CDC_NOTHING=", "CDC_bucket=b", "XCDC_FOO=1"})
	if err == nil {
		t.Fatal("unknown variables accepted")
	}
	want := []string{
		"CDC_FORAMT: not a setting of the consumer; did you mean CDC_FORMAT?",
		"CDC_FLUSH_INTERVALL: not a setting of the consumer; did you mean CDC_FLUSH_INTERVAL?",
		"CDC_bucket: not a setting of the consumer; did you mean CDC_BUCKET?",
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("error %q, want %q", lines[i], w)
		}
	}
	if err := CheckEnviron([]string{"CDC_FORMAT=avro", "CDC_TEST_VERSITYGW=/x", "HOME=/root"}); err != nil {
		t.Fatalf("known variables refused: %v", err)
	}
}

func TestClosest(t *testing.T) {
	for _, c := range []struct {
		name  string
		known []string
		want  string
	}{
		{"tabel", []string{"keyspace", "table", "tableName"}, "table"},
		{"FORAMT", []string{"FORMAT", "FLUSH_BYTES"}, "FORMAT"},
		{"vpcid", []string{"vpcCidr", "vpcId"}, "vpcId"},
		{"disableAlarm", []string{"dashboard", "disableAlarms", "alarmTopic"}, "disableAlarms"},
	} {
		if got := Closest(c.name, c.known); got[0] != c.want || len(got) != len(c.known) {
			t.Errorf("Closest(%q) = %v, want %s first", c.name, got, c.want)
		}
	}
}

// A prefix S3 answers 400 to ("../x/"), or that readers resolve as a path, is refused at start.
func TestPrefixes(t *testing.T) {
	for prefix, ok := range map[string]bool{
		"": true, "cdc/": true, "cdc": true, "raw/cdc/": true, "tenant=a/cdc-1/": true, "a.b/": true, ".hidden/": true,
		"...x/": true, "v(1)/": true,
		"../escape/": false, "a/../../b/": false, "/cdc/": false, "./cdc/": false, "a//b/": false, "a/./b/": false,
		"..": false, "a/..": false, "with space/": false, "back\\slash/": false, "new\nline/": false, "caf\u00e9/": false,
		"q?/": false, "h#/": false, "%2e%2e/": false,
	} {
		m := base()
		m["CDC_PREFIX"] = prefix
		_, err := Load(nil, env(m), nil)
		if (err == nil) != ok {
			t.Errorf("prefix %q: error %v, want accepted=%v", prefix, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "CDC_PREFIX") {
			t.Errorf("prefix %q: error %v does not name CDC_PREFIX", prefix, err)
		}
	}
}

// The stream ARN names the keyspace, the table and the region: they come from it when not
// given, and given ones that contradict it are refused at start, naming both.
func TestStreamARNNamesKeyspaceTableAndRegion(t *testing.T) {
	const arn = "arn:aws:cassandra:eu-west-1:123456789012:/keyspace/shop/table/orders/stream/2026-01-01T00:00:00.000"
	m := base()
	delete(m, "CDC_KEYSPACE")
	delete(m, "CDC_TABLE")
	m["AWS_REGION"] = "us-east-1"
	m["CDC_STREAM_ARN"] = arn
	c, err := Load(nil, env(m), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Keyspace != "shop" || c.Table != "orders" || c.KeyspacesRegion != "eu-west-1" || c.S3Region != "us-east-1" {
		t.Fatalf("keyspace %s table %s keyspaces region %s s3 region %s", c.Keyspace, c.Table, c.KeyspacesRegion, c.S3Region)
	}
	for _, tc := range []struct {
		set  map[string]string
		want []string
	}{
		{map[string]string{"CDC_KEYSPACE": "media"}, []string{"CDC_KEYSPACE", `"media"`, "CDC_STREAM_ARN", `"shop"`}},
		{map[string]string{"CDC_TABLE": "media_content"}, []string{"CDC_TABLE", `"media_content"`, "CDC_STREAM_ARN", `"orders"`}},
		{map[string]string{"CDC_KEYSPACES_REGION": "us-east-1"}, []string{"CDC_KEYSPACES_REGION", `"us-east-1"`, "CDC_STREAM_ARN", `"eu-west-1"`}},
	} {
		m := base()
		m["CDC_STREAM_ARN"] = arn
		delete(m, "CDC_KEYSPACE")
		delete(m, "CDC_TABLE")
		for k, v := range tc.set {
			m[k] = v
		}
		_, err := Load(nil, env(m), nil)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v lacks %s", tc.set, err, w)
			}
		}
	}
	if a, ok := ParseStreamARN(arn); !ok || a != (StreamARN{"eu-west-1", "123456789012", "shop", "orders", "2026-01-01T00:00:00.000"}) {
		t.Errorf("ParseStreamARN = %+v, %v", a, ok)
	}
}

// The configuration table of docs/configuration.md is generated from the settings; this keeps
// them equal.
func TestConfigurationDocInSync(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), MarkdownTable()) {
		t.Fatalf("docs/configuration.md's consumer configuration table is out of date; paste this:\n%s", MarkdownTable())
	}
}

// The table is the one source of every setting: each row must be complete and consistent.
func TestTableIsConsistent(t *testing.T) {
	envs, flags, props, contexts := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range Settings() {
		for _, name := range []struct {
			seen  map[string]bool
			value string
		}{{envs, s.Env}, {flags, s.Flag}, {props, s.Prop}, {contexts, s.Context}} {
			if name.value != "" && name.seen[name.value] {
				t.Errorf("%s: %q is used twice", s.Env, name.value)
			}
			name.seen[name.value] = true
		}
		if s.Meaning == "" || s.Flag == "" || !strings.HasPrefix(s.Env, "CDC_") {
			t.Errorf("%s: incomplete row %+v", s.Env, s)
		}
		if (s.Prop == "") != (s.Context == "") {
			t.Errorf("%s: a construct prop (%q) and a context parameter (%q) come together", s.Env, s.Prop, s.Context)
		}
		if s.Default != "" && s.DefaultNote != "" {
			t.Errorf("%s: both a default and a derived default", s.Env)
		}
		if s.Kind == Choice && s.Default != "" && !slices.Contains(s.Allowed, s.Default) {
			t.Errorf("%s: default %q is not one of %v", s.Env, s.Default, s.Allowed)
		}
		if s.NonEmpty && s.Default == "" {
			t.Errorf("%s: a setting that may not be emptied needs a default", s.Env)
		}
		if (s.Pattern != nil) != (s.Shape != "") {
			t.Errorf("%s: a pattern needs its shape, and the reverse", s.Env)
		}
		var c Config
		if s.Default != "" {
			if err := s.parse(&c, s.Default); err != nil {
				t.Errorf("%s: default %q: %v", s.Env, s.Default, err)
			}
		}
	}
}

// Defaults gives what Load gives when nothing is set, except the derived and required values.
func TestDefaultsAreLoadsDefaults(t *testing.T) {
	c, err := Load(nil, env(base()), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Keyspace, c.Table, c.Bucket, c.LeaseTable, c.KeyspacesRegion, c.S3Region = "", "", "", "", "", ""
	c.IcebergNamespace = ""
	if d := Defaults(); *c != d {
		t.Fatalf("Defaults() = %+v\nLoad gives %+v", d, *c)
	}
	for _, format := range Formats {
		if DefaultCompression(format) != Compressions[format][0] {
			t.Errorf("DefaultCompression(%s) = %s", format, DefaultCompression(format))
		}
	}
}

func TestRegionPattern(t *testing.T) {
	for region, ok := range map[string]bool{
		"us-east-1": true, "us-gov-west-1": true, "ap-southeast-5": true, "eu-central-2": true,
		"mars": false, "us-east": false, "us-east-123": false, "US-EAST-1": false,
	} {
		if got := regionName.MatchString(region); got != ok {
			t.Errorf("%s: matched %v, want %v", region, got, ok)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 10 * time.Minute: "10m", 100 * time.Second: "1m40s", 100 * time.Millisecond: "100ms",
		90 * time.Minute: "1h30m", time.Second: "1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %s, want %s", d, got, want)
		}
	}
}

// The construct and the CDK app import this package: it must not bring the AWS SDK or
// anything else with it.
func TestStandardLibraryOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if path, _ := strconv.Unquote(imp.Path.Value); strings.Contains(strings.Split(path, "/")[0], ".") {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
