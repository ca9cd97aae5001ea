// Package config reads the consumer's settings from environment variables (the names the CDK
// construct sets) and the same settings as command-line flags (flags win), applies the
// documented defaults and validates every value, naming each bad one.
//
// Its table of settings (Settings) is the one source of every setting's names, default and
// allowed values: the CDK construct and app (which may import this package and nothing else
// of the consumer), --help and the docs are derived from it. It depends on the standard
// library only.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
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
	Format          string // json | avro | parquet | iceberg
	Compression     string
	CellMetadata    bool

	IcebergCatalog    string // glue | s3tables | sql
	IcebergWarehouse  string // s3://bucket/prefix, or a table bucket ARN (s3tables)
	IcebergNamespace  string // empty: derived from the keyspace
	IcebergCatalogURI string // sql: the SQLite file; others: an endpoint override
	IcebergTables     string // changes | changes,mirror
	// IcebergOptimizerRoleARN (glue): the role of the Glue table optimizers; empty: none.
	IcebergOptimizerRoleARN string
	// IcebergSnapshotRetention: the age past which each worker expires the tables' snapshots.
	IcebergSnapshotRetention time.Duration

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

// ErrHelp is returned by Load when -h or --help was asked for (the usage was printed).
var ErrHelp = flag.ErrHelp

// Load reads the settings: defaults, then env (getenv), then flags (args, without the program
// name). Every bad value is reported in the returned error, each naming its env var and flag.
func Load(args []string, getenv func(string) string, usage io.Writer) (*Config, error) {
	values, err := given(args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		PrintUsage(usage)
		return nil, ErrHelp
	}
	if err != nil {
		return nil, err
	}
	c := &Config{}
	var errs []error
	for _, s := range table {
		v, isGiven := values[s.Env]
		if !isGiven && s.Default == "" {
			continue // no default, or one derived below
		}
		if !isGiven {
			v = s.Default
		}
		if err := s.parse(c, strings.TrimSpace(v)); err != nil {
			errs = append(errs, s.errorf("%w", err))
		}
	}
	errs = append(errs, c.fromStreamARN()...)
	c.derive(getenv)
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// Defaults returns the configuration the defaults alone give (no derived values: regions,
// worker id). Packages of the consumer that need a setting's default read it here.
func Defaults() Config {
	var c Config
	for _, s := range table {
		if s.Default == "" {
			continue
		}
		if err := s.parse(&c, s.Default); err != nil {
			panic(fmt.Sprintf("config: the default of %s: %v", s.Env, err)) // a test keeps the table right
		}
	}
	c.Compression = DefaultCompression(c.Format)
	return c
}

// given returns the values given by env (getenv) and flags (args), flags winning, by env name.
func given(args []string, getenv func(string) string) (map[string]string, error) {
	values := map[string]string{}
	for _, s := range table {
		if v := getenv(s.Env); v != "" {
			values[s.Env] = v
		}
	}
	fs := flag.NewFlagSet("keyspaces-cdc-s3", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flagVals := map[string]*string{}
	for _, s := range table {
		flagVals[s.Flag] = fs.String(s.Flag, "", s.Meaning)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("command line: %w (see --help)", unknownFlag(err))
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q (see --help)", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		for _, s := range table {
			if s.Flag == f.Name {
				values[s.Env] = *flagVals[s.Flag]
			}
		}
	})
	return values, nil
}

// errorf names the setting (env var and flag) in an error.
func (s Setting) errorf(format string, args ...any) error {
	return fmt.Errorf("%s (--%s): "+format, append([]any{s.Env, s.Flag}, args...)...)
}

// parse sets the setting's field of c from v, checking it against the setting's kind and
// range. Patterns, required values and combinations are checked later, by validate.
func (s Setting) parse(c *Config, v string) error {
	switch p := s.field(c).(type) {
	case *string:
		if s.Kind == Choice {
			for _, a := range s.Allowed {
				if strings.EqualFold(v, a) {
					*p = a
					return nil
				}
			}
			return fmt.Errorf("%q is not one of %s", v, strings.Join(s.Allowed, ", "))
		}
		*p = v
	case *bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean (true or false)", v)
		}
		*p = b
	case *int:
		n, err := s.number(v)
		*p = int(n)
		return err
	case *int64:
		n, err := s.number(v)
		*p = n
		return err
	case *time.Duration:
		d, err := time.ParseDuration(v)
		if lo, hi := s.Limits(); err != nil || d < time.Duration(s.Min) || d > time.Duration(s.Max) {
			return fmt.Errorf("%q is not a duration in [%s, %s] (e.g. 30s, 2m)", v, lo, hi)
		}
		*p = d
	case *slog.Level:
		if err := p.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(s.Allowed, ", "))
		}
	default:
		panic(fmt.Sprintf("config: %s has a field of type %T", s.Env, p))
	}
	return nil
}

// number parses an Int or Bytes value within the setting's range.
func (s Setting) number(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < s.Min || n > s.Max {
		what := "an integer"
		if s.Kind == Bytes {
			what = "a byte count"
		}
		return 0, fmt.Errorf("%q is not %s in [%d, %d]", v, what, s.Min, s.Max)
	}
	return n, nil
}

// StreamARN is what a Keyspaces stream ARN names.
type StreamARN struct {
	Region, Account, Keyspace, Table, Label string
}

// ParseStreamARN reads a stream ARN (arn:aws:cassandra:<region>:<account>:/keyspace/<keyspace>/
// table/<table>/stream/<label>); ok is false when arn is not one.
func ParseStreamARN(arn string) (a StreamARN, ok bool) {
	m := streamARN.FindStringSubmatch(arn)
	if m == nil {
		return StreamARN{}, false
	}
	return StreamARN{Region: m[1], Account: m[2], Keyspace: m[3], Table: m[4], Label: m[5]}, true
}

// fromStreamARN takes the keyspace, table and Keyspaces region that a given stream ARN names
// when they are not given, and reports those given that contradict it (the stream would be
// refused only after GetStream, or not be found in the wrong region).
func (c *Config) fromStreamARN() []error {
	a, ok := ParseStreamARN(c.StreamARN)
	if !ok {
		return nil // an empty ARN, or one validate reports
	}
	var errs []error
	for _, f := range []struct {
		env       string
		value     *string
		fromARN   string
		describes string
	}{
		{"CDC_KEYSPACE", &c.Keyspace, a.Keyspace, "keyspace"},
		{"CDC_TABLE", &c.Table, a.Table, "table"},
		{"CDC_KEYSPACES_REGION", &c.KeyspacesRegion, a.Region, "region"},
	} {
		switch *f.value {
		case "":
			*f.value = f.fromARN
		case f.fromARN:
		default:
			s, _ := Lookup(f.env)
			errs = append(errs, s.errorf("%q contradicts CDC_STREAM_ARN, whose %s is %q (the stream of %s.%s in %s): leave %s unset or make them agree",
				*f.value, f.describes, f.fromARN, a.Keyspace, a.Table, a.Region, f.env))
		}
	}
	return errs
}

// derive fills the defaults that depend on other values: the regions (AWS_REGION, else
// AWS_DEFAULT_REGION) and the format's compression; a given compression takes the spelling
// of the format's list.
func (c *Config) derive(getenv func(string) string) {
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
	if c.Compression == "" {
		c.Compression = DefaultCompression(c.Format)
	}
	if c.IcebergNamespace == "" {
		c.IcebergNamespace = strings.ToLower(c.Keyspace)
	}
	for _, a := range Compressions[c.Format] {
		if strings.EqualFold(a, c.Compression) {
			c.Compression = a
		}
	}
}

// validate checks what single values cannot: required settings, patterns and combinations.
// It changes nothing.
func (c *Config) validate() []error {
	var errs []error
	bad := func(env, msg string) {
		s, _ := Lookup(env)
		errs = append(errs, s.errorf("%s", msg))
	}
	for _, s := range table {
		p, isText := s.field(c).(*string)
		switch {
		case !isText:
		case *p == "" && s.Required != "":
			bad(s.Env, "required: "+s.Required)
		case *p == "" && s.NonEmpty:
			bad(s.Env, "must not be empty")
		case *p == "" && s.Pattern == regionName:
			bad(s.Env, "no region: set AWS_REGION or "+s.Env)
		case *p != "" && s.Pattern != nil && !s.Pattern.MatchString(*p):
			bad(s.Env, fmt.Sprintf("%q is not %s", *p, s.Shape))
		}
	}
	if allowed, known := Compressions[c.Format]; known && !slices.Contains(allowed, c.Compression) {
		bad("CDC_COMPRESSION", fmt.Sprintf("%q is not allowed with CDC_FORMAT=%s: one of %s", c.Compression, c.Format, strings.Join(allowed, ", ")))
	}
	if c.Format == "iceberg" {
		errs = append(errs, c.validateIceberg()...)
	}
	if c.LeaseRenewInterval >= c.LeaseFailoverTime {
		bad("CDC_LEASE_RENEW_INTERVAL", fmt.Sprintf("%s must be less than CDC_LEASE_FAILOVER_TIME (%s)", c.LeaseRenewInterval, c.LeaseFailoverTime))
	}
	return errs
}

// IcebergMirror reports whether format iceberg keeps the mirror table.
func (c *Config) IcebergMirror() bool {
	return c.Format == "iceberg" && slices.Contains(strings.Split(c.IcebergTables, ","), "mirror")
}

// validateIceberg checks the settings format iceberg needs: a warehouse of the catalog's kind,
// and the SQL catalog's file.
func (c *Config) validateIceberg() []error {
	var errs []error
	bad := func(env, msg string) {
		s, _ := Lookup(env)
		errs = append(errs, s.errorf("%s", msg))
	}
	arn := strings.HasPrefix(c.IcebergWarehouse, "arn:")
	switch {
	case c.IcebergWarehouse == "":
		bad("CDC_ICEBERG_WAREHOUSE", "required with CDC_FORMAT=iceberg: where the tables go")
	case c.IcebergCatalog == "s3tables" && !arn:
		bad("CDC_ICEBERG_WAREHOUSE", fmt.Sprintf("%q: CDC_ICEBERG_CATALOG=s3tables takes the table bucket's ARN", c.IcebergWarehouse))
	case c.IcebergCatalog != "s3tables" && arn:
		bad("CDC_ICEBERG_WAREHOUSE", fmt.Sprintf("%q: CDC_ICEBERG_CATALOG=%s takes an s3://bucket/prefix location", c.IcebergWarehouse, c.IcebergCatalog))
	}
	if c.IcebergOptimizerRoleARN != "" && c.IcebergCatalog != "glue" {
		bad("CDC_ICEBERG_OPTIMIZER_ROLE_ARN", fmt.Sprintf("only with CDC_ICEBERG_CATALOG=glue (Glue table optimizers), not %s", c.IcebergCatalog))
	}
	if c.IcebergCatalog == "sql" && c.IcebergCatalogURI == "" {
		bad("CDC_ICEBERG_CATALOG_URI", "required with CDC_ICEBERG_CATALOG=sql: the SQLite file")
	}
	if c.IcebergNamespace != "" && !icebergNamespace.MatchString(c.IcebergNamespace) {
		// Derived from a keyspace whose name Glue and S3 Tables do not take.
		s, _ := Lookup("CDC_ICEBERG_NAMESPACE")
		bad(s.Env, fmt.Sprintf("%q is not %s", c.IcebergNamespace, s.Shape))
	}
	return errs
}
