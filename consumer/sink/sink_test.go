package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hamba/avro/v2/ocf"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// TestWritesEveryTypeAndCheckpointsAfterTheObject writes all-types records in both formats
// to versitygw and checks: the key layout, that the object holds exactly what the encoder
// produces for those records (the encode tests check every type's decoded value), that the
// intent is saved before the upload and the checkpoint comes after the object exists.
func TestWritesEveryTypeAndCheckpointsAfterTheObject(t *testing.T) {
	b := newBucket(t)
	for _, format := range []string{encode.FormatJSON, encode.FormatAvro, encode.FormatParquet} {
		t.Run(format, func(t *testing.T) {
			s := newSink(t, b, func(c *Config) { c.Format = format; c.Prefix = "cdc/" + format; c.CellMetadata = true })
			cp := &fakeCP{}
			cp.beforeIntent = func(in checkpoint.Intent) error {
				if b.exists(in.Key) {
					t.Errorf("object %s exists before its intent was saved", in.Key)
				}
				return nil
			}
			var checkpointedWithObject atomic.Bool
			cp.beforeCheckpoint = func(string) error {
				checkpointedWithObject.Store(len(cp.intents) == 1 && b.exists(cp.intents[0].Key))
				return nil
			}
			w := s.OpenShard("shard-1", cp, nil)
			var recs []*streams.Record
			for i := 1; i <= 3; i++ {
				// The first record's hour names the partition, though the others fall in the next.
				recs = append(recs, recordtest.AllTypes(i, recordtest.Seq(i), created.Add(time.Duration(i-1)*time.Second)))
			}
			addAll(t, w, recs)
			if n, _ := w.Buffered(); n != 3 {
				t.Fatalf("Buffered = %d records", n)
			}
			if err := w.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			ext := encode.Ext(format, encode.DefaultCompression(format))
			wantKey := fmt.Sprintf("cdc/%s/ks/all_types/dt=2024-03-01/hr=22/shard-1-%s-%s.%s", format, recordtest.Seq(1), recordtest.Seq(3), ext)
			keys := b.keys(t, "cdc/"+format+"/ks/")
			if len(keys) != 1 || keys[0] != wantKey {
				t.Fatalf("keys %v, want [%s]", keys, wantKey)
			}
			if !checkpointedWithObject.Load() || cp.lastCheckpoint() != recordtest.Seq(3) {
				t.Errorf("checkpoint %q, object existed at checkpoint: %v", cp.lastCheckpoint(), checkpointedWithObject.Load())
			}
			if want := (checkpoint.Intent{Key: wantKey, FirstSeq: recordtest.Seq(1), LastSeq: recordtest.Seq(3), Records: 3}); cp.intents[0] != want {
				t.Errorf("intent %+v, want %+v", cp.intents[0], want)
			}
			body := b.get(t, wantKey)
			// The same records through the encoder alone give the same bytes.
			builder, err := encode.NewBuilder(encode.Options{Format: format, CellMetadata: true, Schemas: encode.NewSchemas(nil, true, nil)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				ev, err := record.FromStream(r, record.Source{Keyspace: "ks", Table: "all_types", ShardID: "shard-1"})
				if err != nil {
					t.Fatal(err)
				}
				if err := builder.Add(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			f, err := builder.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, f.Body) {
				t.Error("stored object differs from the encoding of its records")
			}
			if got := seqsInObject(t, wantKey, body); strings.Join(got, ",") != strings.Join([]string{recordtest.Seq(1), recordtest.Seq(2), recordtest.Seq(3)}, ",") {
				t.Errorf("object holds %v", got)
			}
			if format != encode.FormatJSON {
				schemaKeys := b.keys(t, "cdc/"+format+"/_schemas/ks/all_types/")
				if len(schemaKeys) != 1 || !strings.HasSuffix(schemaKeys[0], "/"+f.SchemaFile.Name) || !bytes.Equal(b.get(t, schemaKeys[0]), f.SchemaFile.Body) {
					t.Errorf("schema objects %v", schemaKeys)
				}
			}
			if format == encode.FormatAvro && f.SchemaFile.Name != f.Schema.Fingerprint+".avsc" {
				t.Errorf("avro schema object %s", f.SchemaFile.Name)
			}
			st := s.Stats()
			if st.FilesWritten != 1 || st.RecordsWritten != 3 || st.BytesWritten != int64(len(body)) || st.Flushes != 1 || st.FlushLatencyMax <= 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestFlushTriggers(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		// feed adds records and returns how many files must exist after each step.
		feed func(t *testing.T, b *bucketS3, w *ShardWriter) []int
	}{
		{"records", func(c *Config) { c.FlushRecords = 5 }, func(t *testing.T, b *bucketS3, w *ShardWriter) []int {
			addAll(t, w, rows(1, 4))
			steps := []int{len(b.dataKeys(t))}
			addAll(t, w, rows(5, 5))
			return append(steps, len(b.dataKeys(t)))
		}},
		{"bytes", func(c *Config) { c.FlushBytes = 2500 }, func(t *testing.T, b *bucketS3, w *ShardWriter) []int {
			addAll(t, w, rows(1, 2)) // ~1 KB each
			steps := []int{len(b.dataKeys(t))}
			addAll(t, w, rows(3, 3))
			return append(steps, len(b.dataKeys(t)))
		}},
		{"age", func(c *Config) { c.FlushInterval = time.Hour }, func(t *testing.T, b *bucketS3, w *ShardWriter) []int {
			addAll(t, w, rows(1, 3))
			if err := w.FlushIfDue(context.Background(), time.Now()); err != nil {
				t.Fatal(err)
			}
			steps := []int{len(b.dataKeys(t))}
			if err := w.FlushIfDue(context.Background(), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			return append(steps, len(b.dataKeys(t)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBucket(t)
			s := newSink(t, b, tt.cfg)
			cp := &fakeCP{}
			w := s.OpenShard("shard-1", cp, nil)
			steps := tt.feed(t, b, w)
			if steps[0] != 0 || steps[1] != 1 {
				t.Errorf("files before/after the trigger: %v, want [0 1]", steps)
			}
			keys := b.keys(t, "cdc/")
			if len(keys) != 1 || len(cp.checkpoints) != 1 {
				t.Fatalf("keys %v checkpoints %v", keys, cp.checkpoints)
			}
			if n, _ := w.Buffered(); n != 0 {
				t.Errorf("%d records still buffered", n)
			}
		})
	}
}

// TestReplayAfterCrashBetweenPutAndCheckpoint: the first owner uploads a file and dies
// before its checkpoint. The next owner gets the intent, re-reads from the checkpoint and
// must write the same key with the same bytes, cut exactly at the intent's last record even
// though its own triggers would cut elsewhere. The bucket then holds each record once.
func TestReplayAfterCrashBetweenPutAndCheckpoint(t *testing.T) {
	b := newBucket(t)
	for _, format := range []string{encode.FormatJSON, encode.FormatAvro, encode.FormatParquet} {
		t.Run(format, func(t *testing.T) {
			prefix := "cdc/" + format
			crash := errors.New("process killed before the checkpoint")
			s1 := newSink(t, b, func(c *Config) { c.Format = format; c.Prefix = prefix; c.FlushRecords = 5 })
			cp1 := &fakeCP{beforeCheckpoint: func(string) error { return crash }}
			w1 := s1.OpenShard("shard-1", cp1, nil)
			addAll(t, w1, rows(1, 4))
			if err := w1.Add(context.Background(), rows(5, 5)[0]); !errors.Is(err, crash) {
				t.Fatalf("Add = %v, want the crash", err)
			}
			if len(cp1.intents) != 1 {
				t.Fatalf("intents %v", cp1.intents)
			}
			intent := cp1.intents[0]
			first := b.get(t, intent.Key)

			// The next owner: a new sink and writer, different triggers, the same records
			// re-read from the checkpoint (nothing was checkpointed: from the start).
			s2 := newSink(t, b, func(c *Config) { c.Format = format; c.Prefix = prefix; c.FlushRecords = 3 })
			cp2 := &fakeCP{}
			w2 := s2.OpenShard("shard-1", cp2, &intent)
			addAll(t, w2, rows(1, 4))
			if len(cp2.intents) != 0 {
				t.Fatalf("replay cut before the intent's last record: %v", cp2.intents)
			}
			addAll(t, w2, rows(5, 8))
			if err := w2.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(cp2.intents) < 2 || cp2.intents[0] != intent {
				t.Fatalf("replayed intent %v, want first %+v", cp2.intents, intent)
			}
			if again := b.get(t, intent.Key); !bytes.Equal(first, again) {
				t.Error("replayed object differs from the first upload")
			}
			if cp2.checkpoints[0] != recordtest.Seq(5) || cp2.lastCheckpoint() != recordtest.Seq(8) {
				t.Errorf("checkpoints %v", cp2.checkpoints)
			}
			counts := map[string]int{}
			for _, k := range b.keys(t, prefix+"/ks/") {
				for _, seq := range seqsInObject(t, k, b.get(t, k)) {
					counts[seq]++
				}
			}
			for i := 1; i <= 8; i++ {
				if counts[recordtest.Seq(i)] != 1 {
					t.Errorf("record %d stored %d times", i, counts[recordtest.Seq(i)])
				}
			}
			if len(counts) != 8 {
				t.Errorf("%d distinct records stored, want 8", len(counts))
			}
		})
	}
}

func TestAvroSchemaChangeMidStream(t *testing.T) {
	b := newBucket(t)
	api := &recordtest.FakeKeyspaces{}
	s, err := New(Config{Bucket: b.bucket, Prefix: "cdc", Keyspace: "ks", Table: "all_types", Format: encode.FormatAvro, FlushRecords: 3},
		b.client, encode.KeyspacesSource{API: api}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := &fakeCP{}
	w := s.OpenShard("shard-1", cp, nil)
	rec := func(i int, withNew bool) *streams.Record {
		r := recordtest.AllTypes(i, recordtest.Seq(i), created)
		if withNew {
			r.NewImage.ValueCells = append(r.NewImage.ValueCells, recordtest.N("c_new", recordtest.S(streams.TypeBigint, fmt.Sprint(i*100))))
		}
		return r
	}
	addAll(t, w, []*streams.Record{rec(1, false), rec(2, false), rec(3, false), rec(4, false)})
	api.AddColumn("c_new", "bigint") // ALTER TABLE ... ADD c_new bigint
	addAll(t, w, []*streams.Record{rec(5, true), rec(6, true)})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Files: 1-3 (the records trigger) and 4 with the old schema; record 5 needs the new
	// schema, so 4 ends its file and 5-6 carry the new one.
	keys := b.dataKeys(t)
	if len(keys) != 3 || !strings.HasSuffix(keys[1], recordtest.Seq(4)+"-"+recordtest.Seq(4)+".avro") {
		t.Fatalf("data keys %v", keys)
	}
	var fingerprints []string
	var newValues []any
	for _, k := range keys {
		d, err := ocf.NewDecoder(bytes.NewReader(b.get(t, k)))
		if err != nil {
			t.Fatal(err)
		}
		sum := d.Metadata()["avro.schema"]
		fingerprints = append(fingerprints, string(sum))
		for d.HasNext() {
			var v map[string]any
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			img := v["new_image"].(map[string]any)["ks.all_types_image"].(map[string]any)
			newValues = append(newValues, img["c_new"])
		}
	}
	if strings.Contains(fingerprints[0], "c_new") || strings.Contains(fingerprints[1], "c_new") || !strings.Contains(fingerprints[2], "c_new") {
		t.Error("the first two files should have the old schema, the last the new one")
	}
	if fmt.Sprint(newValues) != "[<nil> <nil> <nil> <nil> 500 600]" {
		t.Errorf("c_new values %v", newValues)
	}
	if schemas := b.keys(t, "cdc/_schemas/ks/all_types/"); len(schemas) != 2 {
		t.Errorf("schema objects %v, want two versions", schemas)
	}
	if cp.lastCheckpoint() != recordtest.Seq(6) {
		t.Errorf("checkpoint %s", cp.lastCheckpoint())
	}
}

func TestPoisonRecordGoesToErrorsAndTheShardGoesOn(t *testing.T) {
	b := newBucket(t)
	s := newSink(t, b, nil)
	cp := &fakeCP{}
	w := s.OpenShard("shard-1", cp, nil)
	recs := rows(1, 3)
	recs[1].NewImage.ValueCells[2].Value = recordtest.S(streams.TypeBigint, "12x")
	recs[1].Raw = json.RawMessage(`{"sequenceNumber":"` + recs[1].SequenceNumber + `","newImage":{"n":{"bigintT":"12x"}}}`)
	addAll(t, w, recs)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	errKey := fmt.Sprintf("cdc/_errors/ks/all_types/dt=2024-03-01/hr=23/shard-1-%s.json", recordtest.Seq(2))
	var obj struct {
		ShardID        string          `json:"shard_id"`
		SequenceNumber string          `json:"sequence_number"`
		Error          string          `json:"error"`
		Record         json.RawMessage `json:"record"`
	}
	raw := b.get(t, errKey)
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.SequenceNumber != recordtest.Seq(2) || obj.ShardID != "shard-1" || !strings.Contains(obj.Error, `bigint "12x"`) ||
		!bytes.Equal(obj.Record, recs[1].Raw) {
		t.Errorf("error object %s", raw)
	}
	got := allSeqs(t, b)
	if len(got) != 2 || got[recordtest.Seq(1)] != 1 || got[recordtest.Seq(3)] != 1 {
		t.Errorf("data objects hold %v", got)
	}
	if cp.lastCheckpoint() != recordtest.Seq(3) || s.Stats().PoisonRecords != 1 {
		t.Errorf("checkpoint %s, stats %+v", cp.lastCheckpoint(), s.Stats())
	}

	// A range of only poison records: no data object, but the checkpoint passes them
	// once their error objects exist.
	bad := rows(4, 4)[0]
	bad.NewImage.ValueCells[0].Value = streams.CellValue{Unknown: "vectorT", Raw: json.RawMessage(`{"vectorT":[1]}`)}
	cp.beforeCheckpoint = func(seq string) error {
		if seq == recordtest.Seq(4) && !b.exists(s.ErrorKey("shard-1", seq, bad.CreatedAt)) {
			t.Error("checkpoint passed a poison record before its error object existed")
		}
		return nil
	}
	if err := w.Add(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cp.lastCheckpoint() != recordtest.Seq(4) || len(b.dataKeys(t)) != 1 || s.Stats().PoisonRecords != 2 {
		t.Errorf("checkpoint %s, data keys %v, stats %+v", cp.lastCheckpoint(), b.dataKeys(t), s.Stats())
	}
}

func TestLeaseLostStopsWithoutCheckpoint(t *testing.T) {
	b := newBucket(t)
	tests := []struct {
		name string
		cp   func() *fakeCP
	}{
		{"at intent", func() *fakeCP {
			return &fakeCP{beforeIntent: func(checkpoint.Intent) error { return fmt.Errorf("save intent: %w", checkpoint.ErrLeaseLost) }}
		}},
		{"at checkpoint", func() *fakeCP {
			return &fakeCP{beforeCheckpoint: func(string) error { return fmt.Errorf("checkpoint: %w", checkpoint.ErrLeaseLost) }}
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSink(t, b, func(c *Config) { c.Prefix = fmt.Sprintf("cdc/l%d", i); c.FlushRecords = 2 })
			cp := tt.cp()
			w := s.OpenShard("shard-1", cp, nil)
			addAll(t, w, rows(1, 1))
			if err := w.Add(context.Background(), rows(2, 2)[0]); !errors.Is(err, checkpoint.ErrLeaseLost) {
				t.Fatalf("Add = %v, want ErrLeaseLost", err)
			}
			for _, call := range []func() error{
				func() error { return w.Add(context.Background(), rows(3, 3)[0]) },
				func() error { return w.Flush(context.Background()) },
				func() error { return w.FlushIfDue(context.Background(), time.Now().Add(time.Hour)) },
			} {
				if err := call(); !errors.Is(err, checkpoint.ErrLeaseLost) {
					t.Errorf("call after lease lost = %v", err)
				}
			}
			if len(cp.checkpoints) != 0 {
				t.Errorf("checkpoints after lease lost: %v", cp.checkpoints)
			}
			if n, _ := w.Buffered(); n != 0 {
				t.Errorf("stopped writer still reports %d records", n)
			}
		})
	}
}

// flakyS3 fails the first n PutObject calls.
type flakyS3 struct {
	S3API
	failures atomic.Int32
}

func (f *flakyS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if f.failures.Add(-1) >= 0 {
		return nil, errors.New("503 SlowDown")
	}
	return f.S3API.PutObject(ctx, in, opts...)
}

func TestUploadRetriesThenRespectsContext(t *testing.T) {
	b := newBucket(t)
	flaky := &flakyS3{S3API: b.client}
	flaky.failures.Store(2)
	s, err := New(Config{Bucket: b.bucket, Prefix: "cdc", Keyspace: "ks", Table: "t",
		Upload: RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}}, flaky, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp := &fakeCP{}
	w := s.OpenShard("shard-1", cp, nil)
	addAll(t, w, rows(1, 2))
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.Stats().UploadRetries != 2 || len(b.dataKeys(t)) != 1 || cp.lastCheckpoint() != recordtest.Seq(2) {
		t.Errorf("retries %d, keys %v, checkpoint %s", s.Stats().UploadRetries, b.dataKeys(t), cp.lastCheckpoint())
	}

	// S3 down for good and the context ends: the flush fails without a checkpoint, and
	// the file is kept for the next call.
	flaky.failures.Store(1 << 30)
	addAll(t, w, rows(3, 3))
	ctx, cancel := context.WithCancel(context.Background())
	cp.beforeIntent = func(checkpoint.Intent) error { cancel(); return nil }
	if err := w.Flush(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Flush = %v, want context.Canceled", err)
	}
	if cp.lastCheckpoint() != recordtest.Seq(2) {
		t.Errorf("checkpoint moved to %s", cp.lastCheckpoint())
	}
	if n, _ := w.Buffered(); n != 1 {
		t.Errorf("Buffered = %d, want the unsent record kept", n)
	}
	flaky.failures.Store(0)
	cp.beforeIntent = nil
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cp.lastCheckpoint() != recordtest.Seq(3) || len(b.dataKeys(t)) != 2 {
		t.Errorf("after recovery: checkpoint %s, keys %v", cp.lastCheckpoint(), b.dataKeys(t))
	}
}

func TestMultipartUploadOfLargeFile(t *testing.T) {
	b := newBucket(t)
	s := newSink(t, b, func(c *Config) {
		c.Compression = encode.CompressionNone
		c.MultipartThreshold = 5 << 20
		c.FlushBytes = 6 << 20
	})
	cp := &fakeCP{}
	w := s.OpenShard("shard-1", cp, nil)
	var recs []*streams.Record
	for i := 1; len(recs) == 0 || w.count > 0; i++ {
		r := recordtest.Row(i, recordtest.Seq(i), created, 8<<10)
		recs = append(recs, r)
		addAll(t, w, []*streams.Record{r})
	}
	keys := b.dataKeys(t)
	if len(keys) != 1 {
		t.Fatalf("keys %v", keys)
	}
	body := b.get(t, keys[0])
	if len(body) < 6<<20 || len(seqsInObject(t, keys[0], body)) != len(recs) {
		t.Errorf("object of %d bytes with %d records, want %d", len(body), len(seqsInObject(t, keys[0], body)), len(recs))
	}
}

func TestConfigValidation(t *testing.T) {
	good := Config{Bucket: "bucket", Keyspace: "ks", Table: "t"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"bucket", func(c *Config) { c.Bucket = "b1" }, "Bucket"},
		{"keyspace", func(c *Config) { c.Keyspace = "" }, "Keyspace: required"},
		{"table", func(c *Config) { c.Table = "" }, "Table: required"},
		{"format", func(c *Config) { c.Format = "orc" }, "json, avro, parquet"},
		{"compression", func(c *Config) { c.Format = "avro"; c.Compression = "gzip" }, "deflate, snappy, zstandard, null"},
		{"records", func(c *Config) { c.FlushRecords = -1 }, "FlushRecords"},
		{"bytes", func(c *Config) { c.FlushBytes = -1 }, "FlushBytes"},
		{"interval", func(c *Config) { c.FlushInterval = -time.Second }, "FlushInterval"},
		{"view", func(c *Config) { c.ViewType = "ALL" }, "ViewType"},
		{"multipart", func(c *Config) { c.MultipartThreshold = 1 }, "MultipartThreshold"},
		{"retry", func(c *Config) { c.Upload.InitialBackoff = time.Minute; c.Upload.MaxBackoff = time.Second }, "Upload"},
	}
	for _, tt := range tests {
		cfg := good
		tt.mod(&cfg)
		_, err := New(cfg, &s3.Client{}, nil, nil)
		if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	s, err := New(good, &s3.Client{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Config(); c.FlushRecords != 10000 || c.FlushBytes != 64<<20 || c.FlushInterval != time.Minute ||
		c.Format != "json" || c.Compression != "gzip" {
		t.Errorf("defaults %+v", c)
	}
}

// TestReplayOfADifferentRangeKeepsTheStoredFile: when the replay cannot re-read the
// intent's exact range (its first record was trimmed away), overwriting the stored file
// would lose that record; the replay goes to its own key instead.
func TestReplayOfADifferentRangeKeepsTheStoredFile(t *testing.T) {
	b := newBucket(t)
	intent := checkpoint.Intent{Key: "cdc/ks/all_types/dt=2024-03-01/hr=23/shard-1-" + recordtest.Seq(1) + "-" + recordtest.Seq(3) + ".jsonl.gz",
		FirstSeq: recordtest.Seq(1), LastSeq: recordtest.Seq(3), Records: 3}
	s1 := newSink(t, b, nil)
	w1 := s1.OpenShard("shard-1", &fakeCP{beforeCheckpoint: func(string) error { return errors.New("crash") }}, nil)
	addAll(t, w1, rows(1, 3))
	if err := w1.Flush(context.Background()); err == nil {
		t.Fatal("no crash")
	}
	if !b.exists(intent.Key) {
		t.Fatalf("first upload missing: %v", b.keys(t, "cdc/"))
	}
	stored := b.get(t, intent.Key)

	cp := &fakeCP{}
	w2 := newSink(t, b, nil).OpenShard("shard-1", cp, &intent)
	addAll(t, w2, rows(2, 3)) // record 1 is gone from the stream
	if !bytes.Equal(b.get(t, intent.Key), stored) {
		t.Error("the stored file was overwritten by a shorter replay")
	}
	if len(cp.intents) != 1 || cp.intents[0].Key == intent.Key || cp.lastCheckpoint() != recordtest.Seq(3) {
		t.Errorf("replay intents %v, checkpoint %s", cp.intents, cp.lastCheckpoint())
	}
}

// TestReplayAfterAFormatChangeKeepsTheStoredFile: the first owner uploaded a JSON file and
// crashed before its checkpoint; the fleet then restarted with format avro. The replay must
// not put Avro bytes under the .jsonl.gz key: it writes its own .avro key and keeps the file.
func TestReplayAfterAFormatChangeKeepsTheStoredFile(t *testing.T) {
	b := newBucket(t)
	w1 := newSink(t, b, nil).OpenShard("shard-1", &fakeCP{beforeCheckpoint: func(string) error { return errors.New("crash") }}, nil)
	addAll(t, w1, rows(1, 3))
	if err := w1.Flush(context.Background()); err == nil {
		t.Fatal("no crash")
	}
	keys := b.dataKeys(t)
	if len(keys) != 1 || !strings.HasSuffix(keys[0], ".jsonl.gz") {
		t.Fatalf("first upload: %v", keys)
	}
	stored := b.get(t, keys[0])
	intent := checkpoint.Intent{Key: keys[0], FirstSeq: recordtest.Seq(1), LastSeq: recordtest.Seq(3), Records: 3}

	cp := &fakeCP{}
	w2 := newSink(t, b, func(c *Config) { c.Format = encode.FormatAvro }).OpenShard("shard-1", cp, &intent)
	addAll(t, w2, rows(1, 3))
	if !bytes.Equal(b.get(t, intent.Key), stored) {
		t.Error("the JSON file was overwritten by the Avro replay")
	}
	if len(cp.intents) != 1 || !strings.HasSuffix(cp.intents[0].Key, ".avro") || cp.lastCheckpoint() != recordtest.Seq(3) {
		t.Errorf("replay intents %v, checkpoint %s", cp.intents, cp.lastCheckpoint())
	}
}

// TestAvroReplayAcrossASchemaChange: the first owner wrote records 1-4 under the schema
// GetTable gave (with c_new) and crashed before its checkpoint. The next owner cannot call
// GetTable (denied) and derives the schema from the records: record 3 is the first to show
// c_new, inside the intent's range. The replay must still cut at the intent's last record
// into the intent's key (its events are kept so the schema can widen within the file).
func TestAvroReplayAcrossASchemaChange(t *testing.T) {
	b := newBucket(t)
	api := &recordtest.FakeKeyspaces{}
	api.AddColumn("c_new", "bigint")
	recs := make([]*streams.Record, 0, 4)
	for i := 1; i <= 4; i++ {
		r := recordtest.AllTypes(i, recordtest.Seq(i), created)
		if i >= 3 {
			r.NewImage.ValueCells = append(r.NewImage.ValueCells, recordtest.N("c_new", recordtest.S(streams.TypeBigint, fmt.Sprint(i))))
		}
		recs = append(recs, r)
	}
	cfg := Config{Bucket: b.bucket, Prefix: "cdc", Keyspace: "ks", Table: "all_types", Format: encode.FormatAvro, FlushRecords: 4}
	s1, err := New(cfg, b.client, encode.KeyspacesSource{API: api}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp1 := &fakeCP{beforeCheckpoint: func(string) error { return errors.New("crash") }}
	w1 := s1.OpenShard("shard-1", cp1, nil)
	addAll(t, w1, recs[:3])
	if err := w1.Add(context.Background(), recs[3]); err == nil {
		t.Fatal("no crash")
	}
	intent := cp1.intents[0]

	denied := &recordtest.FakeKeyspaces{}
	denied.Fail(errors.New("AccessDeniedException"))
	s2, err := New(cfg, b.client, encode.KeyspacesSource{API: denied}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp2 := &fakeCP{}
	w2 := s2.OpenShard("shard-1", cp2, &intent)
	addAll(t, w2, recs)
	if len(cp2.intents) != 1 || cp2.intents[0] != intent || cp2.lastCheckpoint() != recordtest.Seq(4) {
		t.Fatalf("replay intents %v (want %+v), checkpoint %s", cp2.intents, intent, cp2.lastCheckpoint())
	}
	if keys := b.dataKeys(t); len(keys) != 1 || keys[0] != intent.Key {
		t.Fatalf("data keys %v", keys)
	}
	if got := seqsInObject(t, intent.Key, b.get(t, intent.Key)); len(got) != 4 {
		t.Errorf("replayed file holds %v", got)
	}
}

// TestShardsWriteConcurrently: one Sink, several shard writers in their own goroutines
// sharing the Avro schema registry and the counters (run with -race).
func TestShardsWriteConcurrently(t *testing.T) {
	b := newBucket(t)
	s := newSink(t, b, func(c *Config) { c.Format = encode.FormatAvro; c.FlushRecords = 7 })
	const shards, perShard = 4, 20
	errs := make(chan error, shards)
	for sh := 0; sh < shards; sh++ {
		go func() {
			w := s.OpenShard(fmt.Sprintf("shard-%d", sh), &fakeCP{}, nil)
			for i := 1; i <= perShard; i++ {
				if err := w.Add(context.Background(), recordtest.AllTypes(i, recordtest.Seq(i), created)); err != nil {
					errs <- err
					return
				}
			}
			errs <- w.Flush(context.Background())
		}()
	}
	for range shards {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.RecordsWritten != shards*perShard || st.FilesWritten != shards*3 || st.SchemasWritten != 1 {
		t.Errorf("stats %+v", st)
	}
	total := 0
	for _, k := range b.dataKeys(t) {
		total += len(seqsInObject(t, k, b.get(t, k)))
	}
	if total != shards*perShard {
		t.Errorf("%d records stored, want %d", total, shards*perShard)
	}
}

// TestParquetUnwritableValueGoesToErrors: a record whose value Parquet cannot hold exactly
// (text that is not UTF-8, which JSON Lines and Avro carry as bytes) is stored under
// _errors/, and the records around it land in the data object.
func TestParquetUnwritableValueGoesToErrors(t *testing.T) {
	b := newBucket(t)
	s := newSink(t, b, func(c *Config) { c.Format = encode.FormatParquet })
	cp := &fakeCP{}
	w := s.OpenShard("shard-1", cp, nil)
	recs := rows(1, 3)
	recs[1].NewImage.ValueCells[0].Value = recordtest.S(streams.TypeText, "caf\xe9")
	addAll(t, w, recs)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var obj struct {
		SequenceNumber string `json:"sequence_number"`
		Error          string `json:"error"`
	}
	raw := b.get(t, s.ErrorKey("shard-1", recordtest.Seq(2), recs[1].CreatedAt))
	if err := json.Unmarshal(raw, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.SequenceNumber != recordtest.Seq(2) || !strings.Contains(obj.Error, "not valid UTF-8") {
		t.Errorf("error object %s", raw)
	}
	got := allSeqs(t, b)
	if len(got) != 2 || got[recordtest.Seq(1)] != 1 || got[recordtest.Seq(3)] != 1 {
		t.Errorf("data objects hold %v", got)
	}
	keys := b.dataKeys(t)
	if len(keys) != 1 || !strings.HasSuffix(keys[0], ".parquet") || cp.lastCheckpoint() != recordtest.Seq(3) || s.Stats().PoisonRecords != 1 {
		t.Errorf("data keys %v, checkpoint %s, stats %+v", keys, cp.lastCheckpoint(), s.Stats())
	}
}
