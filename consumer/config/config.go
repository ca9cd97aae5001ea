// Package config reads the consumer's settings from environment variables (the names the CDK
// construct sets) and the same settings as command-line flags (flags win), applies the
// documented defaults and validates every value, naming each bad one.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config is the consumer's whole configuration.
type Config struct {
	StreamARN       string
	Keyspace        string
	Table           string
	KeyspacesRegion string
	S3Region        string
	Bucket          string
	Prefix          string
	Format          string // json | avro | parquet
	Compression     string
	CellMetadata    bool
	LeaseTable      string
	ApplicationName string
	WorkerID        string // empty: derived at start (ECS task id, else host-pid)
	StartPosition   string // TRIM_HORIZON | LATEST

	FlushRecords  int
	FlushBytes    int64
	FlushInterval time.Duration

	CreateLeaseTable   bool
	LeaseFailoverTime  time.Duration
	LeaseRenewInterval time.Duration
	ShardSyncInterval  time.Duration
	MaxLeasesPerWorker int
	MaxStealsPerCycle  int

	PollInterval    time.Duration // wait between GetRecords calls at the tip of a shard
	GetRecordsLimit int
	TrimmedPolicy   string // resume | halt
	ShutdownTimeout time.Duration

	HTTPPort         int
	MetricsNamespace string
	MetricsInterval  time.Duration
	S3ForcePathStyle bool
	LogLevel         slog.Level
}

// setting is one configurable value: its env var, its flag, its default and how to parse it.
type setting struct {
	env, flag, def, help string
	set                  func(c *Config, v string) error
}

// DefaultCompression returns the default compression of a format.
func DefaultCompression(format string) string {
	switch format {
	case "avro":
		return "deflate"
	case "parquet":
		return "zstd"
	}
	return "gzip"
}

var compressions = map[string][]string{
	"json":    {"gzip", "zstd", "none"},
	"avro":    {"deflate", "snappy", "zstandard", "null"},
	"parquet": {"zstd", "snappy", "gzip", "none"},
}

// settings lists every setting in the order --help prints them.
func settings() []setting {
	str := func(f func(*Config) *string) func(*Config, string) error {
		return func(c *Config, v string) error { *f(c) = v; return nil }
	}
	oneOf := func(f func(*Config) *string, allowed ...string) func(*Config, string) error {
		return func(c *Config, v string) error {
			for _, a := range allowed {
				if strings.EqualFold(v, a) {
					*f(c) = a
					return nil
				}
			}
			return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
		}
	}
	boolean := func(f func(*Config) *bool) func(*Config, string) error {
		return func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q is not a boolean (true or false)", v)
			}
			*f(c) = b
			return nil
		}
	}
	intIn := func(f func(*Config) *int, lo, hi int) func(*Config, string) error {
		return func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%q is not an integer in [%d, %d]", v, lo, hi)
			}
			*f(c) = n
			return nil
		}
	}
	dur := func(f func(*Config) *time.Duration, lo, hi time.Duration) func(*Config, string) error {
		return func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < lo || d > hi {
				return fmt.Errorf("%q is not a duration in [%s, %s] (e.g. 30s, 2m)", v, lo, hi)
			}
			*f(c) = d
			return nil
		}
	}
	return []setting{
		{"CDC_STREAM_ARN", "stream-arn", "", "stream to read; empty: the newest ENABLED stream of keyspace.table", str(func(c *Config) *string { return &c.StreamARN })},
		{"CDC_KEYSPACE", "keyspace", "", "keyspace of the table (required)", str(func(c *Config) *string { return &c.Keyspace })},
		{"CDC_TABLE", "table", "", "table whose changes are read (required)", str(func(c *Config) *string { return &c.Table })},
		{"CDC_KEYSPACES_REGION", "keyspaces-region", "$AWS_REGION", "region of the table and its stream", str(func(c *Config) *string { return &c.KeyspacesRegion })},
		{"CDC_S3_REGION", "s3-region", "$AWS_REGION", "region of the bucket", str(func(c *Config) *string { return &c.S3Region })},
		{"CDC_BUCKET", "bucket", "", "destination S3 bucket (required)", str(func(c *Config) *string { return &c.Bucket })},
		{"CDC_PREFIX", "prefix", "", "key prefix of every object, e.g. cdc/", str(func(c *Config) *string { return &c.Prefix })},
		{"CDC_FORMAT", "format", "json", "file format: json (JSON Lines), avro (Avro OCF) or parquet (Apache Parquet)", oneOf(func(c *Config) *string { return &c.Format }, "json", "avro", "parquet")},
		{"CDC_COMPRESSION", "compression", "gzip|deflate|zstd", "json: gzip, zstd, none; avro: deflate, snappy, zstandard, null; parquet: zstd, snappy, gzip, none", str(func(c *Config) *string { return &c.Compression })},
		{"CDC_CELL_METADATA", "cell-metadata", "false", "write each cell's write_time and ttl", boolean(func(c *Config) *bool { return &c.CellMetadata })},
		{"CDC_LEASE_TABLE", "lease-table", "", "DynamoDB table holding the shard leases (required)", str(func(c *Config) *string { return &c.LeaseTable })},
		{"CDC_APPLICATION_NAME", "application-name", "keyspaces-cdc-s3", "application name: metrics dimension and log field", str(func(c *Config) *string { return &c.ApplicationName })},
		{"CDC_WORKER_ID", "worker-id", "ECS task id|host-pid", "this worker's id in the lease table", str(func(c *Config) *string { return &c.WorkerID })},
		{"CDC_START_POSITION", "start-position", "TRIM_HORIZON", "where new leases start: TRIM_HORIZON (oldest kept record) or LATEST", oneOf(func(c *Config) *string { return &c.StartPosition }, "TRIM_HORIZON", "LATEST")},
		{"CDC_FLUSH_RECORDS", "flush-records", "10000", "write a shard's file when it holds this many records", intIn(func(c *Config) *int { return &c.FlushRecords }, 1, 1_000_000)},
		{"CDC_FLUSH_BYTES", "flush-bytes", "67108864", "... or this many uncompressed bytes (64 MiB)", func(c *Config, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1024 || n > 4<<30 {
				return fmt.Errorf("%q is not a byte count in [1024, 4294967296]", v)
			}
			c.FlushBytes = n
			return nil
		}},
		{"CDC_FLUSH_INTERVAL", "flush-interval", "60s", "... or when its oldest record has waited this long", dur(func(c *Config) *time.Duration { return &c.FlushInterval }, 100*time.Millisecond, time.Hour)},
		{"CDC_CREATE_LEASE_TABLE", "create-lease-table", "false", "create the lease table when missing (local runs)", boolean(func(c *Config) *bool { return &c.CreateLeaseTable })},
		{"CDC_LEASE_FAILOVER_TIME", "lease-failover-time", "10s", "a lease not renewed for this long may be taken by another worker", dur(func(c *Config) *time.Duration { return &c.LeaseFailoverTime }, 500*time.Millisecond, 10*time.Minute)},
		{"CDC_LEASE_RENEW_INTERVAL", "lease-renew-interval", "3s", "renew held leases this often (less than the failover time)", dur(func(c *Config) *time.Duration { return &c.LeaseRenewInterval }, 50*time.Millisecond, 5*time.Minute)},
		{"CDC_SHARD_SYNC_INTERVAL", "shard-sync-interval", "60s", "list the stream's shards and create leases this often", dur(func(c *Config) *time.Duration { return &c.ShardSyncInterval }, 100*time.Millisecond, time.Hour)},
		{"CDC_MAX_LEASES_PER_WORKER", "max-leases-per-worker", "0", "cap on the leases one worker holds (0: no cap)", intIn(func(c *Config) *int { return &c.MaxLeasesPerWorker }, 0, 100_000)},
		{"CDC_MAX_STEALS_PER_CYCLE", "max-steals-per-cycle", "1", "leases a worker below its share asks other workers for per take cycle (each a graceful handoff)", intIn(func(c *Config) *int { return &c.MaxStealsPerCycle }, 1, 1000)},
		{"CDC_POLL_INTERVAL", "poll-interval", "1s", "wait between GetRecords calls on a shard at its tip", dur(func(c *Config) *time.Duration { return &c.PollInterval }, 10*time.Millisecond, time.Minute)},
		{"CDC_GETRECORDS_LIMIT", "getrecords-limit", "1000", "maxResults of each GetRecords call", intIn(func(c *Config) *int { return &c.GetRecordsLimit }, 1, 1000)},
		{"CDC_TRIMMED_POLICY", "trimmed-policy", "resume", "on TrimmedDataAccess (data older than the 24 h retention is gone): resume from the oldest kept record, or halt the shard; both count, log and alarm", oneOf(func(c *Config) *string { return &c.TrimmedPolicy }, "resume", "halt")},
		{"CDC_SHUTDOWN_TIMEOUT", "shutdown-timeout", "100s", "on SIGTERM: time to flush, checkpoint and release leases (below the ECS stop timeout)", dur(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, time.Second, 10*time.Minute)},
		{"CDC_HTTP_PORT", "http-port", "8080", "port of /healthz and /metrics (0: a free port)", intIn(func(c *Config) *int { return &c.HTTPPort }, 0, 65535)},
		{"CDC_METRICS_NAMESPACE", "metrics-namespace", "KeyspacesCdcToS3", "CloudWatch namespace of the EMF metrics in the logs", str(func(c *Config) *string { return &c.MetricsNamespace })},
		{"CDC_METRICS_INTERVAL", "metrics-interval", "60s", "how often EMF metrics are written to the logs", dur(func(c *Config) *time.Duration { return &c.MetricsInterval }, time.Second, time.Hour)},
		{"CDC_S3_FORCE_PATH_STYLE", "s3-force-path-style", "false", "path-style S3 addressing (on by itself for IP or localhost endpoints)", boolean(func(c *Config) *bool { return &c.S3ForcePathStyle })},
		{"CDC_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", func(c *Config, v string) error {
			if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("%q is not one of debug, info, warn, error", v)
			}
			return nil
		}},
	}
}

// ErrHelp is returned by Load when -h or --help was asked for (the usage was printed).
var ErrHelp = flag.ErrHelp

// Load reads the settings: defaults, then env (getenv), then flags (args, without the program
// name). Every bad value is reported in the returned error, each naming its env var and flag.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	c := &Config{}
	all := settings()
	var errs []error
	values := map[string]string{}
	for _, s := range all {
		if v := getenv(s.env); v != "" {
			values[s.env] = v
		}
	}
	fs := flag.NewFlagSet("keyspaces-cdc-s3", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := map[string]*string{}
	for _, s := range all {
		flagVals[s.env] = fs.String(s.flag, "", s.help)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			PrintUsage(usage)
			return nil, ErrHelp
		}
		return nil, fmt.Errorf("command line: %w (see --help)", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q (see --help)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range all {
			if s.flag == f.Name {
				values[s.env] = *flagVals[s.env]
			}
		}
	})
	for _, s := range all {
		v, given := values[s.env]
		if !given {
			if strings.ContainsAny(s.def, "$|") || s.def == "" {
				continue // derived below, or empty
			}
			v = s.def
		}
		if err := s.set(c, strings.TrimSpace(v)); err != nil {
			errs = append(errs, fmt.Errorf("%s (--%s): %w", s.env, s.flag, err))
		}
	}
	region := getenv("AWS_REGION")
	if region == "" {
		region = getenv("AWS_DEFAULT_REGION")
	}
	if c.KeyspacesRegion == "" {
		c.KeyspacesRegion = region
	}
	if c.S3Region == "" {
		c.S3Region = region
	}
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

var (
	awsName    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$`)
	bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	tableName  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	streamARN  = regexp.MustCompile(`^arn:aws[a-z-]*:cassandra:[a-z0-9-]+:\d{12}:/keyspace/[^/]+/table/[^/]+/stream/.+$`)
)

// validate checks what single values cannot: required settings and combinations.
func (c *Config) validate() []error {
	var errs []error
	bad := func(env, flagName, msg string) {
		errs = append(errs, fmt.Errorf("%s (--%s): %s", env, flagName, msg))
	}
	// need checks a required value: missing says what it is for, kind what it must look like.
	need := func(env, flagName, v, missing string, pattern *regexp.Regexp, kind string) {
		if v == "" {
			bad(env, flagName, missing)
		} else if !pattern.MatchString(v) {
			bad(env, flagName, fmt.Sprintf("%q is not %s", v, kind))
		}
	}
	need("CDC_KEYSPACE", "keyspace", c.Keyspace, "required: the keyspace of the table to read", awsName, "a keyspace name (letters, digits, _; at most 48)")
	need("CDC_TABLE", "table", c.Table, "required: the table whose changes are read", awsName, "a table name (letters, digits, _; at most 48)")
	if c.StreamARN != "" && !streamARN.MatchString(c.StreamARN) {
		bad("CDC_STREAM_ARN", "stream-arn", fmt.Sprintf("%q is not a Keyspaces stream ARN (arn:aws:cassandra:<region>:<account>:/keyspace/<ks>/table/<table>/stream/<label>)", c.StreamARN))
	}
	need("CDC_BUCKET", "bucket", c.Bucket, "required: the destination bucket", bucketName, "an S3 bucket name (3-63 of a-z, 0-9, '.', '-')")
	if strings.HasPrefix(c.Prefix, "/") {
		bad("CDC_PREFIX", "prefix", fmt.Sprintf("%q must not start with '/'", c.Prefix))
	}
	need("CDC_LEASE_TABLE", "lease-table", c.LeaseTable, "required: the DynamoDB lease table", tableName, "a DynamoDB table name (3-255 of a-z, A-Z, 0-9, _ . -)")
	if c.Format == "" {
		c.Format = "json"
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression(c.Format)
	} else {
		ok := false
		for _, a := range compressions[c.Format] {
			if strings.EqualFold(a, c.Compression) {
				c.Compression, ok = a, true
			}
		}
		if !ok {
			bad("CDC_COMPRESSION", "compression", fmt.Sprintf("%q is not allowed with CDC_FORMAT=%s: one of %s", c.Compression, c.Format, strings.Join(compressions[c.Format], ", ")))
		}
	}
	need("CDC_KEYSPACES_REGION", "keyspaces-region", c.KeyspacesRegion, "no region: set AWS_REGION or CDC_KEYSPACES_REGION", regionName, "a region name (e.g. us-east-1)")
	need("CDC_S3_REGION", "s3-region", c.S3Region, "no region: set AWS_REGION or CDC_S3_REGION", regionName, "a region name (e.g. us-east-1)")
	if c.LeaseRenewInterval >= c.LeaseFailoverTime {
		bad("CDC_LEASE_RENEW_INTERVAL", "lease-renew-interval", fmt.Sprintf("%s must be less than CDC_LEASE_FAILOVER_TIME (%s)", c.LeaseRenewInterval, c.LeaseFailoverTime))
	}
	if c.ApplicationName == "" {
		bad("CDC_APPLICATION_NAME", "application-name", "must not be empty")
	}
	if c.MetricsNamespace == "" {
		bad("CDC_METRICS_NAMESPACE", "metrics-namespace", "must not be empty")
	}
	return errs
}

// PrintUsage writes every setting with its env var, flag and default.
func PrintUsage(w io.Writer) {
	fmt.Fprintln(w, "keyspaces-cdc-s3: copies every change of an Amazon Keyspaces table's CDC stream to S3.")
	fmt.Fprintln(w, "\nUsage: keyspaces-cdc-s3 [flags]        run the consumer")
	fmt.Fprintln(w, "       keyspaces-cdc-s3 healthcheck    exit 0 when this host's /healthz answers 200")
	fmt.Fprintln(w, "\nEvery setting is an environment variable or the flag beside it (a flag wins).")
	fmt.Fprintln(w, "AWS settings come from the standard AWS environment: AWS_REGION, the credential chain,")
	fmt.Fprintln(w, "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL_KEYSPACESSTREAMS, AWS_ENDPOINT_URL_KEYSPACES.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tFLAG\tDEFAULT\tMEANING")
	for _, s := range settings() {
		def := s.def
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t--%s\t%s\t%s\n", s.env, s.flag, def, s.help)
	}
	tw.Flush()
}

// MarkdownTable renders the settings as the README's table (kept in sync by a test).
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| Env var | Flag | Default | Meaning |\n|---|---|---|---|\n")
	for _, s := range settings() {
		def := "`" + s.def + "`"
		if s.def == "" {
			def = "—"
		}
		fmt.Fprintf(&b, "| `%s` | `--%s` | %s | %s |\n", s.env, s.flag, def, s.help)
	}
	return b.String()
}
