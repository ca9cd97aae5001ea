// Package sink writes a table's change events to S3 as JSON Lines, Avro or Parquet files, one
// stream of files per shard, exactly once; or appends them to an Apache Iceberg table
// (IcebergWriter: the table's snapshots, not intents, say what is stored).
//
// Each file is cut from a shard's records, built in memory, announced in the lease item
// (checkpoint.Intent: its key and sequence range) before it is uploaded, and the shard's
// checkpoint moves past its last record only after the object exists. A worker that crashes
// between the upload and the checkpoint leaves the intent behind; the next owner re-reads
// the same records from the checkpoint, cuts the file at exactly the intent's last sequence
// number and writes it to the intent's key: the object is overwritten with identical bytes
// (encoding is deterministic), never duplicated. Records that cannot be converted go, raw,
// to the _errors/ prefix before the checkpoint can pass them.
package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Defaults of Config. The format, compression and flush defaults are the consumer's
// settings' (consumer/config), written there once.
const (
	DefaultMultipartThreshold = 32 << 20
	DefaultInitialBackoff     = 200 * time.Millisecond
	DefaultMaxBackoff         = 30 * time.Second
)

// Config configures a Sink. Zero values take the documented defaults.
type Config struct {
	Bucket   string // required
	Prefix   string // key prefix, e.g. "cdc/" (a trailing "/" is added when missing)
	Keyspace string // required
	Table    string // required

	Format      string // config.Formats (default: CDC_FORMAT's)
	Compression string // config.Compressions of the format (default: the format's first)

	// A shard's file is cut when it holds FlushRecords records, or FlushBytes uncompressed
	// bytes, or when its first record was buffered FlushInterval ago (checked by FlushIfDue).
	// Defaults: those of CDC_FLUSH_RECORDS, CDC_FLUSH_BYTES and CDC_FLUSH_INTERVAL.
	FlushRecords  int
	FlushBytes    int
	FlushInterval time.Duration

	// CellMetadata adds each image's per-cell write_time / expiration_time.
	CellMetadata bool
	// ViewType is the stream's view type (NEW_AND_OLD_IMAGES, ...), for the op inference;
	// empty is treated as NEW_AND_OLD_IMAGES.
	ViewType string

	// Upload is the retry policy of uploads.
	Upload RetryPolicy
	// MultipartThreshold: files at least this large are uploaded in parts with the
	// s3/manager uploader (default 32 MiB); smaller ones with a single PutObject.
	MultipartThreshold int

	// Iceberg is where format iceberg stores the files: required for it (OpenIcebergShard).
	Iceberg IcebergTarget
}

// IcebergTarget is the change log table, the mirror (nil when not kept) and this worker's
// committer (whose Mirror is the same table).
type IcebergTarget struct {
	Table     *iceberg.ChangeTable
	Mirror    *iceberg.ChangeTable
	Committer *iceberg.Committer
}

// RetryPolicy is how failed uploads are retried: exponential backoff with full jitter from
// InitialBackoff (default 200 ms) up to MaxBackoff (default 30 s). MaxAttempts 0 (the
// default) retries until the context ends: a file is never dropped.
type RetryPolicy struct {
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	MaxAttempts    int
}

func (c *Config) setDefaults() {
	defaults := config.Defaults()
	if c.Format == "" {
		c.Format = defaults.Format
	}
	if c.Compression == "" {
		c.Compression = config.DefaultCompression(c.Format)
	}
	if c.FlushRecords == 0 {
		c.FlushRecords = defaults.FlushRecords
	}
	if c.FlushBytes == 0 {
		c.FlushBytes = int(defaults.FlushBytes)
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = defaults.FlushInterval
	}
	if c.MultipartThreshold == 0 {
		c.MultipartThreshold = DefaultMultipartThreshold
	}
	if c.Upload.InitialBackoff == 0 {
		c.Upload.InitialBackoff = DefaultInitialBackoff
	}
	if c.Upload.MaxBackoff == 0 {
		c.Upload.MaxBackoff = DefaultMaxBackoff
	}
	if c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
}

// Validate checks the configuration (after defaults), naming the bad field and what it
// allows.
func (c Config) Validate() error {
	var errs []error
	if bucket, _ := config.Lookup("CDC_BUCKET"); !bucket.Pattern.MatchString(c.Bucket) {
		errs = append(errs, fmt.Errorf("Bucket %q: %s is required", c.Bucket, bucket.Shape))
	}
	if c.Keyspace == "" {
		errs = append(errs, errors.New("Keyspace: required"))
	}
	if c.Table == "" {
		errs = append(errs, errors.New("Table: required"))
	}
	if strings.HasPrefix(c.Prefix, "/") {
		errs = append(errs, fmt.Errorf("Prefix %q: must not start with /", c.Prefix))
	}
	if err := encode.CheckFormat(c.Format, c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.FlushRecords < 1 {
		errs = append(errs, fmt.Errorf("FlushRecords %d: must be at least 1", c.FlushRecords))
	}
	if c.FlushBytes < 1 {
		errs = append(errs, fmt.Errorf("FlushBytes %d: must be at least 1", c.FlushBytes))
	}
	if c.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("FlushInterval %s: must be positive", c.FlushInterval))
	}
	switch c.ViewType {
	case "", record.ViewNewImage, record.ViewOldImage, record.ViewNewAndOldImages, record.ViewKeysOnly:
	default:
		errs = append(errs, fmt.Errorf("ViewType %q: allowed values are NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY or empty", c.ViewType))
	}
	if c.Format == encode.FormatIceberg && (c.Iceberg.Table == nil || c.Iceberg.Committer == nil) {
		errs = append(errs, errors.New("Iceberg: the table and the committer are required for format iceberg"))
	}
	if c.MultipartThreshold < 5<<20 {
		errs = append(errs, fmt.Errorf("MultipartThreshold %d: must be at least 5 MiB (the S3 minimum part size)", c.MultipartThreshold))
	}
	if c.Upload.InitialBackoff < 0 || c.Upload.MaxBackoff < c.Upload.InitialBackoff || c.Upload.MaxAttempts < 0 {
		errs = append(errs, fmt.Errorf("Upload %+v: backoffs must be positive with MaxBackoff >= InitialBackoff, MaxAttempts >= 0", c.Upload))
	}
	return errors.Join(errs...)
}

// S3API is the part of the S3 client the sink uses (PutObject, and the multipart calls of
// the s3/manager uploader). *s3.Client implements it.
type S3API interface {
	manager.UploadAPIClient
}

// Sink writes one table's change events. It is safe for concurrent use by the shard
// writers it opens (each ShardWriter belongs to one goroutine).
type Sink struct {
	cfg      Config
	s3       S3API
	uploader *manager.Uploader
	schemas  *encode.Schemas
	logger   *slog.Logger

	schemaMu       sync.Mutex
	schemasWritten map[string]bool // names already in _schemas/

	stats counters
}

// New returns a Sink. tables answers the table's definition for Avro schemas (typically
// encode.KeyspacesSource over a keyspaces.Client); nil derives the schemas from the records
// alone. It is not used for JSON.
func New(cfg Config, s3api S3API, tables encode.TableSource, logger *slog.Logger) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("sink config: %w", err)
	}
	if s3api == nil {
		return nil, errors.New("sink: S3 client required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("keyspace", cfg.Keyspace, "table", cfg.Table)
	return &Sink{
		cfg: cfg, s3: s3api, logger: logger,
		uploader: manager.NewUploader(s3api, func(u *manager.Uploader) {
			u.PartSize = 16 << 20
			u.Concurrency = 2
		}),
		schemas:        encode.NewSchemas(tables, cfg.CellMetadata, logger),
		schemasWritten: map[string]bool{},
	}, nil
}

// Config is the sink's configuration with defaults applied.
func (s *Sink) Config() Config { return s.cfg }

// Stats are the sink's cumulative counters, for metrics.
type Stats struct {
	RecordsWritten    int64 // records stored in data objects
	BytesWritten      int64 // bytes of data objects (compressed)
	UncompressedBytes int64 // their uncompressed size (exact for JSON, estimated for Avro)
	FilesWritten      int64 // data objects written
	PoisonRecords     int64 // records stored under _errors/
	SchemasWritten    int64 // schema versions written under _schemas/ (.avsc, .parquet.json)
	UploadRetries     int64 // failed upload attempts that were retried
	SchemaFallbacks   int64 // Avro schema versions derived from the records alone (the table's definition was unavailable)
	Checkpoints       int64 // checkpoints written
	// Flush latency (build + intent + upload + checkpoint of one file).
	Flushes            int64
	FlushLatencyTotal  time.Duration
	FlushLatencyMax    time.Duration
	FlushLatencyLatest time.Duration
}

type counters struct {
	records, bytes, uncompressed, files, poison, schemas, retries, checkpoints atomic.Int64
	flushes, latencyTotal, latencyMax, latencyLatest                           atomic.Int64
}

// Stats returns the counters so far.
func (s *Sink) Stats() Stats {
	c := &s.stats
	return Stats{
		RecordsWritten: c.records.Load(), BytesWritten: c.bytes.Load(), UncompressedBytes: c.uncompressed.Load(),
		FilesWritten: c.files.Load(), PoisonRecords: c.poison.Load(), SchemasWritten: c.schemas.Load(),
		UploadRetries: c.retries.Load(), SchemaFallbacks: s.schemas.Fallbacks(), Checkpoints: c.checkpoints.Load(), Flushes: c.flushes.Load(),
		FlushLatencyTotal:  time.Duration(c.latencyTotal.Load()),
		FlushLatencyMax:    time.Duration(c.latencyMax.Load()),
		FlushLatencyLatest: time.Duration(c.latencyLatest.Load()),
	}
}

func (c *counters) flushed(d time.Duration) {
	c.flushes.Add(1)
	c.latencyTotal.Add(int64(d))
	c.latencyLatest.Store(int64(d))
	for {
		m := c.latencyMax.Load()
		if int64(d) <= m || c.latencyMax.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// DataKey is the object key of a file: <prefix><keyspace>/<table>/dt=YYYY-MM-DD/hr=HH/
// <shard_id>-<first_seq>-<last_seq>.<ext>, dt and hr from the created_at (UTC) of the
// file's first record.
func (s *Sink) DataKey(shardID, firstSeq, lastSeq string, firstCreated time.Time) string {
	return fmt.Sprintf("%s%s/%s/%s/%s-%s-%s.%s", s.cfg.Prefix, s.cfg.Keyspace, s.cfg.Table,
		partition(firstCreated), keyPart(shardID), firstSeq, lastSeq, encode.Ext(s.cfg.Format, s.cfg.Compression))
}

// ErrorKey is the object key of a poison record: <prefix>_errors/<keyspace>/<table>/
// dt=YYYY-MM-DD/hr=HH/<shard_id>-<seq>.json.
func (s *Sink) ErrorKey(shardID, seq string, created time.Time) string {
	return fmt.Sprintf("%s_errors/%s/%s/%s/%s-%s.json", s.cfg.Prefix, s.cfg.Keyspace, s.cfg.Table,
		partition(created), keyPart(shardID), keyPart(seq))
}

// SchemaKey is the object key of a schema version (encode.SchemaFile.Name): <prefix>_schemas/
// <keyspace>/<table>/<fingerprint>.avsc for Avro, <fingerprint>.parquet.json for Parquet.
func (s *Sink) SchemaKey(name string) string {
	return fmt.Sprintf("%s_schemas/%s/%s/%s", s.cfg.Prefix, s.cfg.Keyspace, s.cfg.Table, name)
}

func partition(t time.Time) string {
	return t.UTC().Format("dt=2006-01-02/hr=15")
}

// keyPart keeps an identifier from adding folders to a key.
func keyPart(s string) string { return strings.ReplaceAll(s, "/", "_") }

// put uploads one object to the bucket, retrying with backoff until it succeeds, the
// policy's attempts run out, or ctx ends.
func (s *Sink) put(ctx context.Context, key string, body []byte, contentType string) error {
	return s.putTo(ctx, s.cfg.Bucket, key, body, contentType)
}

// putTo is put into another bucket (an Iceberg warehouse's).
func (s *Sink) putTo(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	backoff := s.cfg.Upload.InitialBackoff
	for attempt := 1; ; attempt++ {
		err := s.putOnce(ctx, bucket, key, body, contentType)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("upload s3://%s/%s: %w", bucket, key, errors.Join(ctx.Err(), err))
		}
		if s.cfg.Upload.MaxAttempts > 0 && attempt >= s.cfg.Upload.MaxAttempts {
			return fmt.Errorf("upload s3://%s/%s: %d attempts: %w", bucket, key, attempt, err)
		}
		s.stats.retries.Add(1)
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		s.logger.Warn("upload failed; retrying", "key", key, "attempt", attempt, "wait", wait.String(), "error", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("upload s3://%s/%s: %w", bucket, key, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.Upload.MaxBackoff)
	}
}

func (s *Sink) putOnce(ctx context.Context, bucket, key string, body []byte, contentType string) error {
	in := &s3.PutObjectInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String(key),
		Body:              bytes.NewReader(body),
		ContentType:       aws.String(contentType),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}
	if len(body) >= s.cfg.MultipartThreshold {
		_, err := s.uploader.Upload(ctx, in)
		return err
	}
	in.ContentLength = aws.Int64(int64(len(body)))
	_, err := s.s3.PutObject(ctx, in)
	return err
}

// writeSchema stores a schema version once per Sink. The lock is held through the upload so
// that shards needing the same new version wait for one write, not race to several (schema
// versions are rare).
func (s *Sink) writeSchema(ctx context.Context, sc *encode.SchemaFile) error {
	s.schemaMu.Lock()
	defer s.schemaMu.Unlock()
	if s.schemasWritten[sc.Name] {
		return nil
	}
	if err := s.put(ctx, s.SchemaKey(sc.Name), sc.Body, sc.ContentType); err != nil {
		return err
	}
	s.schemasWritten[sc.Name] = true
	s.stats.schemas.Add(1)
	return nil
}

// poisonObject is what _errors/ holds for a record that could not be converted.
type poisonObject struct {
	Keyspace       string          `json:"keyspace"`
	Table          string          `json:"table"`
	ShardID        string          `json:"shard_id"`
	SequenceNumber string          `json:"sequence_number"`
	CreatedAt      string          `json:"created_at"`
	Error          string          `json:"error"`
	Record         json.RawMessage `json:"record"`                // the record as received
	RecordText     string          `json:"record_text,omitempty"` // when Raw is not JSON
}

func (s *Sink) writePoison(ctx context.Context, shardID string, rec *streams.Record, cause error) error {
	obj := poisonObject{
		Keyspace: s.cfg.Keyspace, Table: s.cfg.Table, ShardID: shardID,
		SequenceNumber: rec.SequenceNumber, CreatedAt: rec.CreatedAt.UTC().Format(time.RFC3339Nano),
		Error: cause.Error(), Record: json.RawMessage("null"),
	}
	switch {
	case json.Valid(rec.Raw):
		obj.Record = rec.Raw
	case len(rec.Raw) > 0:
		obj.RecordText = string(rec.Raw)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode poison record %s: %w", rec.SequenceNumber, err)
	}
	key := s.ErrorKey(shardID, rec.SequenceNumber, rec.CreatedAt)
	if err := s.put(ctx, key, append(body, '\n'), "application/json"); err != nil {
		return err
	}
	s.stats.poison.Add(1)
	s.logger.Warn("poison record stored under _errors/", "shard_id", shardID,
		"sequence_number", rec.SequenceNumber, "key", key, "error", cause.Error())
	return nil
}
