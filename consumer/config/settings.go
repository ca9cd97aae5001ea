package config

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what values a setting takes.
type Kind int

// Kinds of settings.
const (
	Text        Kind = iota // any text, or what Pattern matches
	Choice                  // one of Allowed (case-insensitive; the listed spelling is kept)
	Compression             // one of Compressions[format]
	Bool                    // true or false
	Int                     // a whole number in [Min, Max]
	Bytes                   // a byte count in [Min, Max]
	Duration                // a Go duration (e.g. 30s, 2m) in [Min, Max] nanoseconds
)

// Setting is one setting of the consumer and every name it has: the environment variable and
// flag the consumer reads, and the construct prop and CDK context parameter that set it. It
// holds the setting's default and allowed values; everything else (parsing, --help, the
// construct's validation and environment, the app's context parsing, the docs) is derived
// from it.
type Setting struct {
	Env  string // environment variable, e.g. CDC_FLUSH_RECORDS
	Flag string // command-line flag without the dashes, e.g. flush-records
	// Prop is the field of the construct's KeyspacesCdcToS3Props that sets it; empty when the
	// construct does not expose it (it sets the value itself, or leaves the default).
	Prop string
	// Context is the CDK app's context parameter that sets Prop; empty when the app has none.
	Context string

	Kind Kind
	// Default is the value when none is given, as the consumer would read it; empty: none.
	Default string
	// DefaultNote describes a default derived at start when Default is empty ("$AWS_REGION").
	DefaultNote string
	// Required says what a required setting is for; empty when it is optional.
	Required string
	// NonEmpty: the setting has a default, and may not be set to empty.
	NonEmpty bool
	Min, Max int64             // Int, Bytes: the range; Duration: in nanoseconds
	Allowed  []string          // Choice: the values
	Pattern  *regexp.Regexp    // Text: what a value must match (nil: anything)
	Shape    string            // Text: what Pattern matches, e.g. "a region name (e.g. us-east-1)"
	Meaning  string            // one line: what it does
	field    func(*Config) any // the Config field it fills (a pointer)
}

// RegionPattern matches an AWS region name such as us-east-1 or us-gov-west-1 (unanchored,
// for patterns that embed it, such as availability zone names).
const RegionPattern = `[a-z]{2}(-[a-z]+)+-\d{1,2}`

// The DefaultNotes of the regions: the process's AWS_REGION; for the table's, the region of
// the stream ARN first.
const (
	fromAWSRegion      = "$AWS_REGION"
	fromARNOrAWSRegion = "the stream ARN's, else $AWS_REGION"
)

var (
	// CQLName matches a keyspace, table or column name of Amazon Keyspaces.
	CQLName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$`)

	regionName = regexp.MustCompile(`^` + RegionPattern + `$`)
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	tableName  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	// keyPrefix matches a key prefix S3 and the readers of the files (Athena, Spark, DuckDB,
	// Glue's partition projection) can all use: folders of S3's safe characters (letters,
	// digits, ! - _ . * ' ( ), and = for Hive-style folders) each ending in '/', the last one
	// may lack it; no leading '/', no empty, "." or ".." folder (S3 answers 400 to "../" keys,
	// and readers resolve them as paths).
	keyPrefix = regexp.MustCompile(`^(?:` + prefixFolder + `/)*(?:` + prefixFolder + `)?$`)
	// icebergWarehouse is an s3://bucket/prefix location or an S3 table bucket ARN.
	icebergWarehouse = regexp.MustCompile(`^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?|arn:aws[a-z-]*:s3tables:[a-z0-9-]+:\d{12}:bucket/[a-z0-9][a-z0-9-]{1,61}[a-z0-9])$`)
	// iamRoleARN is an IAM role's ARN (a path is allowed).
	iamRoleARN = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	// icebergNamespace is a name Glue (a database) and S3 Tables (a namespace) both accept.
	icebergNamespace = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,254}$`)
	// streamARN captures the region, account, keyspace, table and label.
	streamARN = regexp.MustCompile(`^arn:aws[a-z-]*:cassandra:([a-z0-9-]+):(\d{12}):/keyspace/([^/]+)/table/([^/]+)/stream/(.+)$`)
)

// prefixFolder is one folder of a key prefix: safe characters, not "." nor "..".
const prefixFolder = `(?:[A-Za-z0-9!_*'()=-][A-Za-z0-9!_.*'()=-]*|\.[A-Za-z0-9!_*'()=-][A-Za-z0-9!_.*'()=-]*|\.\.[A-Za-z0-9!_.*'()=-]+)`

// Formats lists the output formats, the default first.
var Formats = []string{"json", "avro", "parquet", "iceberg"}

// Compressions lists, per format, the compressions it accepts; the first is the default.
var Compressions = map[string][]string{
	"json":    {"gzip", "zstd", "none"},
	"avro":    {"deflate", "snappy", "zstandard", "null"},
	"parquet": {"zstd", "snappy", "gzip", "none"},
	"iceberg": {"zstd", "snappy", "gzip", "none"},
}

// IcebergCatalogs lists the catalogs of format iceberg, the default first.
var IcebergCatalogs = []string{"glue", "s3tables", "sql"}

// DefaultCompression returns the default compression of a format ("" for an unknown format).
func DefaultCompression(format string) string {
	if list := Compressions[format]; len(list) > 0 {
		return list[0]
	}
	return ""
}

// compressionDefaults describes the compression's default per format: "gzip|deflate".
func compressionDefaults() string {
	var defs []string
	for _, f := range Formats {
		if d := DefaultCompression(f); !slices.Contains(defs, d) {
			defs = append(defs, d)
		}
	}
	return strings.Join(defs, "|")
}

// compressionsText lists each format's compressions: "json: gzip, zstd, none; avro: ...".
func compressionsText() string {
	parts := make([]string, len(Formats))
	for i, f := range Formats {
		parts[i] = f + ": " + strings.Join(Compressions[f], ", ")
	}
	return strings.Join(parts, "; ")
}

// table is every setting, in the order --help and the docs list them.
var table = []Setting{
	{
		Env: "CDC_STREAM_ARN", Flag: "stream-arn", Prop: "StreamArn", Context: "streamArn",
		Pattern: streamARN, Shape: "a Keyspaces stream ARN (arn:aws:cassandra:<region>:<account>:/keyspace/<keyspace>/table/<table>/stream/<label>)",
		Meaning: "stream to read (it names the keyspace, table and region); empty: the newest ENABLED stream of keyspace.table",
		field:   func(c *Config) any { return &c.StreamARN },
	},
	{
		Env: "CDC_KEYSPACE", Flag: "keyspace", Prop: "Keyspace", Context: "keyspace",
		Required: "the keyspace of the table to read (a stream ARN names it too)",
		Pattern:  CQLName, Shape: "a keyspace name (a letter or digit, then letters, digits, _; at most 48)",
		Meaning: "keyspace of the table (required unless the stream ARN names it)",
		field:   func(c *Config) any { return &c.Keyspace },
	},
	{
		Env: "CDC_TABLE", Flag: "table", Prop: "Table", Context: "table",
		Required: "the table whose changes are read (a stream ARN names it too)",
		Pattern:  CQLName, Shape: "a table name (a letter or digit, then letters, digits, _; at most 48)",
		Meaning: "table whose changes are read (required unless the stream ARN names it)",
		field:   func(c *Config) any { return &c.Table },
	},
	{
		Env: "CDC_KEYSPACES_REGION", Flag: "keyspaces-region", Prop: "KeyspacesRegion", Context: "keyspacesRegion",
		DefaultNote: fromARNOrAWSRegion, Pattern: regionName, Shape: "a region name (e.g. us-east-1)",
		Meaning: "region of the table and its stream",
		field:   func(c *Config) any { return &c.KeyspacesRegion },
	},
	{
		Env: "CDC_S3_REGION", Flag: "s3-region", Prop: "S3Region", Context: "s3Region",
		DefaultNote: fromAWSRegion, Pattern: regionName, Shape: "a region name (e.g. us-east-1)",
		Meaning: "region of the bucket",
		field:   func(c *Config) any { return &c.S3Region },
	},
	{
		Env: "CDC_BUCKET", Flag: "bucket",
		Required: "the destination bucket",
		Pattern:  bucketName, Shape: "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')",
		Meaning: "destination S3 bucket (required)",
		field:   func(c *Config) any { return &c.Bucket },
	},
	{
		Env: "CDC_PREFIX", Flag: "prefix", Prop: "Prefix", Context: "prefix",
		Pattern: keyPrefix, Shape: "a key prefix S3 and readers can use: folders of letters, digits and ! - _ . * ' ( ) =, each ending in '/' (e.g. cdc/ or raw/cdc/); no leading '/', no empty, '.' or '..' folder",
		Meaning: "key prefix of every object, e.g. cdc/",
		field:   func(c *Config) any { return &c.Prefix },
	},
	{
		Env: "CDC_FORMAT", Flag: "format", Prop: "Format", Context: "format",
		Kind: Choice, Default: Formats[0], Allowed: Formats,
		Meaning: "file format: json (JSON Lines), avro (Avro OCF), parquet (Apache Parquet) or iceberg (an Apache Iceberg table: Parquet files and a catalog)",
		field:   func(c *Config) any { return &c.Format },
	},
	{
		Env: "CDC_COMPRESSION", Flag: "compression", Prop: "Compression", Context: "compression",
		Kind: Compression, DefaultNote: compressionDefaults(),
		Meaning: compressionsText(),
		field:   func(c *Config) any { return &c.Compression },
	},
	{
		Env: "CDC_CELL_METADATA", Flag: "cell-metadata", Prop: "CellMetadata", Context: "cellMetadata",
		Kind: Bool, Default: "false",
		Meaning: "write each cell's write_time and ttl",
		field:   func(c *Config) any { return &c.CellMetadata },
	},
	{
		Env: "CDC_ICEBERG_CATALOG", Flag: "iceberg-catalog", Prop: "IcebergCatalog", Context: "icebergCatalog",
		Kind: Choice, Default: "glue", Allowed: IcebergCatalogs,
		Meaning: "format iceberg: the catalog: glue (AWS Glue Data Catalog), s3tables (Amazon S3 Tables' Iceberg REST endpoint) or sql (a SQLite file, for local runs)",
		field:   func(c *Config) any { return &c.IcebergCatalog },
	},
	{
		Env: "CDC_ICEBERG_WAREHOUSE", Flag: "iceberg-warehouse",
		Pattern: icebergWarehouse, Shape: "an s3://bucket/prefix location or an S3 table bucket ARN (arn:aws:s3tables:<region>:<account>:bucket/<name>)",
		Meaning: "format iceberg (required): where the tables go: s3://bucket/prefix (glue, sql) or the table bucket ARN (s3tables)",
		field:   func(c *Config) any { return &c.IcebergWarehouse },
	},
	{
		Env: "CDC_ICEBERG_NAMESPACE", Flag: "iceberg-namespace", Prop: "IcebergNamespace", Context: "icebergNamespace",
		DefaultNote: "$CDC_KEYSPACE, lowercase", Pattern: icebergNamespace,
		Shape:   "a namespace name (a lowercase letter or digit, then lowercase letters, digits, _; at most 255)",
		Meaning: "format iceberg: the namespace (Glue database) of the tables",
		field:   func(c *Config) any { return &c.IcebergNamespace },
	},
	{
		Env: "CDC_ICEBERG_CATALOG_URI", Flag: "iceberg-catalog-uri",
		Meaning: "format iceberg: sql: the SQLite file (required); glue, s3tables: an endpoint URL (default: the region's)",
		field:   func(c *Config) any { return &c.IcebergCatalogURI },
	},
	{
		Env: "CDC_ICEBERG_TABLES", Flag: "iceberg-tables",
		Default: "changes,mirror", NonEmpty: true, Pattern: regexp.MustCompile(`^(changes|changes,mirror|mirror,changes)$`),
		Shape:   "changes or changes,mirror (the mirror is kept with the change log)",
		Meaning: "format iceberg: the tables kept: changes (the change log, {table}_changes) and mirror (the table's current state, {table}; needs a stream view type with new images)",
		field:   func(c *Config) any { return &c.IcebergTables },
	},
	{
		Env: "CDC_ICEBERG_OPTIMIZER_ROLE_ARN", Flag: "iceberg-optimizer-role-arn",
		Pattern: iamRoleARN, Shape: "an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
		Meaning: "format iceberg, glue: turn on the Glue table optimizers (compaction, snapshot retention, orphan file deletion) of the tables, run as this role (the construct creates it); empty: none",
		field:   func(c *Config) any { return &c.IcebergOptimizerRoleARN },
	},
	{
		// At least the stream's 24-hour retention and an hour for a late trim: a shard's
		// summary entry may go with an expired snapshot, and the records it covered must be
		// gone from the stream by then (docs/iceberg.md, "Snapshot expiry").
		Env: "CDC_ICEBERG_SNAPSHOT_RETENTION", Flag: "iceberg-snapshot-retention",
		Kind: Duration, Default: "48h", Min: int64(25 * time.Hour), Max: int64(365 * 24 * time.Hour),
		Meaning: "format iceberg: each worker expires the tables' snapshots older than this, once an hour (time travel reaches this far back; the metadata file grows with it)",
		field:   func(c *Config) any { return &c.IcebergSnapshotRetention },
	},
	{
		Env: "CDC_LEASE_TABLE", Flag: "lease-table",
		Required: "the DynamoDB lease table",
		Pattern:  tableName, Shape: "a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _ . -)",
		Meaning: "DynamoDB table holding the shard leases (required)",
		field:   func(c *Config) any { return &c.LeaseTable },
	},
	{
		Env: "CDC_APPLICATION_NAME", Flag: "application-name", Prop: "ApplicationName", Context: "applicationName",
		Default: "keyspaces-cdc-s3", NonEmpty: true,
		Meaning: "application name: metrics dimension and log field",
		field:   func(c *Config) any { return &c.ApplicationName },
	},
	{
		Env: "CDC_WORKER_ID", Flag: "worker-id",
		DefaultNote: "ECS task id|host-pid",
		Meaning:     "this worker's id in the lease table",
		field:       func(c *Config) any { return &c.WorkerID },
	},
	{
		Env: "CDC_START_POSITION", Flag: "start-position", Prop: "StartPosition", Context: "startPosition",
		Kind: Choice, Default: "TRIM_HORIZON", Allowed: []string{"TRIM_HORIZON", "LATEST"},
		Meaning: "where new leases start: TRIM_HORIZON (oldest kept record) or LATEST",
		field:   func(c *Config) any { return &c.StartPosition },
	},
	{
		Env: "CDC_FLUSH_RECORDS", Flag: "flush-records", Prop: "FlushRecords", Context: "flushRecords",
		Kind: Int, Default: "10000", Min: 1, Max: 1_000_000,
		Meaning: "write a shard's file when it holds this many records",
		field:   func(c *Config) any { return &c.FlushRecords },
	},
	{
		Env: "CDC_FLUSH_BYTES", Flag: "flush-bytes", Prop: "FlushBytes", Context: "flushBytes",
		Kind: Bytes, Default: "67108864", Min: 1024, Max: 4 << 30,
		Meaning: "... or this many uncompressed bytes (64 MiB)",
		field:   func(c *Config) any { return &c.FlushBytes },
	},
	{
		Env: "CDC_FLUSH_INTERVAL", Flag: "flush-interval", Prop: "FlushInterval", Context: "flushInterval",
		Kind: Duration, Default: "60s", Min: int64(100 * time.Millisecond), Max: int64(time.Hour),
		Meaning: "... or when its oldest record has waited this long",
		field:   func(c *Config) any { return &c.FlushInterval },
	},
	{
		Env: "CDC_CREATE_LEASE_TABLE", Flag: "create-lease-table",
		Kind: Bool, Default: "false",
		Meaning: "create the lease table when missing (local runs)",
		field:   func(c *Config) any { return &c.CreateLeaseTable },
	},
	{
		Env: "CDC_LEASE_FAILOVER_TIME", Flag: "lease-failover-time",
		Kind: Duration, Default: "10s", Min: int64(500 * time.Millisecond), Max: int64(10 * time.Minute),
		Meaning: "a worker whose heartbeat has not moved for this long is gone: its leases may be taken",
		field:   func(c *Config) any { return &c.LeaseFailoverTime },
	},
	{
		Env: "CDC_LEASE_RENEW_INTERVAL", Flag: "lease-renew-interval",
		Kind: Duration, Default: "3s", Min: int64(50 * time.Millisecond), Max: int64(5 * time.Minute),
		Meaning: "write this worker's heartbeat this often (less than the failover time)",
		field:   func(c *Config) any { return &c.LeaseRenewInterval },
	},
	{
		Env: "CDC_SHARD_SYNC_INTERVAL", Flag: "shard-sync-interval",
		Kind: Duration, Default: "60s", Min: int64(100 * time.Millisecond), Max: int64(time.Hour),
		Meaning: "list the stream's shards and create leases this often",
		field:   func(c *Config) any { return &c.ShardSyncInterval },
	},
	{
		Env: "CDC_MAX_LEASES_PER_WORKER", Flag: "max-leases-per-worker", Prop: "MaxLeasesPerWorker", Context: "maxLeasesPerWorker",
		Kind: Int, Default: "0", Min: 0, Max: 100_000,
		Meaning: "cap on the leases one worker holds (0: no cap)",
		field:   func(c *Config) any { return &c.MaxLeasesPerWorker },
	},
	{
		Env: "CDC_MAX_STEALS_PER_CYCLE", Flag: "max-steals-per-cycle", Prop: "MaxStealsPerCycle", Context: "maxStealsPerCycle",
		Kind: Int, Default: "1", Min: 1, Max: 1000,
		Meaning: "leases a worker below its share asks other workers for per take cycle (each a graceful handoff)",
		field:   func(c *Config) any { return &c.MaxStealsPerCycle },
	},
	{
		Env: "CDC_POLL_INTERVAL", Flag: "poll-interval", Prop: "PollInterval", Context: "pollInterval",
		Kind: Duration, Default: "1s", Min: int64(10 * time.Millisecond), Max: int64(time.Minute),
		Meaning: "wait between GetRecords calls on a shard at its tip",
		field:   func(c *Config) any { return &c.PollInterval },
	},
	{
		Env: "CDC_GETRECORDS_LIMIT", Flag: "getrecords-limit",
		Kind: Int, Default: "1000", Min: 1, Max: 1000,
		Meaning: "maxResults of each GetRecords call",
		field:   func(c *Config) any { return &c.GetRecordsLimit },
	},
	{
		Env: "CDC_TRIMMED_POLICY", Flag: "trimmed-policy",
		Kind: Choice, Default: "resume", Allowed: []string{"resume", "halt"},
		Meaning: "on TrimmedDataAccess (data older than the 24 h retention is gone): resume from the oldest kept record, or halt the shard; both count, log and alarm",
		field:   func(c *Config) any { return &c.TrimmedPolicy },
	},
	{
		Env: "CDC_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout",
		Kind: Duration, Default: "100s", Min: int64(time.Second), Max: int64(10 * time.Minute),
		Meaning: "on SIGTERM: time to flush, checkpoint and release leases (below the ECS stop timeout)",
		field:   func(c *Config) any { return &c.ShutdownTimeout },
	},
	{
		Env: "CDC_HTTP_PORT", Flag: "http-port",
		Kind: Int, Default: "8080", Min: 0, Max: 65535,
		Meaning: "port of /healthz and /metrics (0: a free port)",
		field:   func(c *Config) any { return &c.HTTPPort },
	},
	{
		Env: "CDC_METRICS_NAMESPACE", Flag: "metrics-namespace", Prop: "MetricsNamespace", Context: "metricsNamespace",
		Default: "KeyspacesCdcToS3", NonEmpty: true,
		Meaning: "CloudWatch namespace of the EMF metrics in the logs",
		field:   func(c *Config) any { return &c.MetricsNamespace },
	},
	{
		Env: "CDC_METRICS_INTERVAL", Flag: "metrics-interval",
		Kind: Duration, Default: "60s", Min: int64(time.Second), Max: int64(time.Hour),
		Meaning: "how often EMF metrics are written to the logs",
		field:   func(c *Config) any { return &c.MetricsInterval },
	},
	{
		Env: "CDC_S3_FORCE_PATH_STYLE", Flag: "s3-force-path-style",
		Kind: Bool, Default: "false",
		Meaning: "path-style S3 addressing (on by itself for IP or localhost endpoints)",
		field:   func(c *Config) any { return &c.S3ForcePathStyle },
	},
	{
		Env: "CDC_LOG_LEVEL", Flag: "log-level", Prop: "LogLevel", Context: "logLevel",
		Kind: Choice, Default: "info", Allowed: []string{"debug", "info", "warn", "error"},
		Meaning: "debug, info, warn or error",
		field:   func(c *Config) any { return &c.LogLevel },
	},
}

// Settings returns every setting, in the order --help and the docs list them.
func Settings() []Setting {
	return slices.Clone(table)
}

// Lookup returns the setting of an environment variable.
func Lookup(env string) (Setting, bool) {
	i := slices.IndexFunc(table, func(s Setting) bool { return s.Env == env })
	if i < 0 {
		return Setting{}, false
	}
	return table[i], true
}

// Limits returns the inclusive range of an Int, Bytes or Duration setting as text, as the
// consumer reads it ("1" and "1000000"; "100ms" and "1h").
func (s Setting) Limits() (lo, hi string) {
	if s.Kind == Duration {
		return FormatDuration(time.Duration(s.Min)), FormatDuration(time.Duration(s.Max))
	}
	return strconv.FormatInt(s.Min, 10), strconv.FormatInt(s.Max, 10)
}

// FormatDuration writes a duration without zero trailing units: 1h, 10m, 90s, 100ms.
func FormatDuration(d time.Duration) string {
	t := d.String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s") // 10m0s: 10m; 1h0m0s: 1h0m
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m") // 1h0m: 1h
	}
	return t
}
