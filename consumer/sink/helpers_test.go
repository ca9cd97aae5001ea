package sink

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hamba/avro/v2/ocf"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

var created = time.Date(2024, 3, 1, 22, 59, 59, 0, time.UTC)

// bucketS3 is a real versitygw with one bucket.
type bucketS3 struct {
	client *s3.Client
	bucket string
}

func newBucket(t *testing.T) *bucketS3 {
	t.Helper()
	srv := devservers.VersityGW(t)
	client := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	b := &bucketS3{client: client, bucket: "cdc-sink-test"}
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b.bucket)}); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *bucketS3) keys(t *testing.T, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: aws.String(b.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	sort.Strings(keys)
	return keys
}

func (b *bucketS3) get(t *testing.T, key string) []byte {
	t.Helper()
	out, err := b.client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (b *bucketS3) exists(key string) bool {
	_, err := b.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(key)})
	return err == nil
}

// dataKeys are the data objects (not _errors/ or _schemas/).
func (b *bucketS3) dataKeys(t *testing.T) []string {
	var out []string
	for _, k := range b.keys(t, "cdc/") {
		if !strings.HasPrefix(k, "cdc/_") {
			out = append(out, k)
		}
	}
	return out
}

// fakeCP is a Checkpointer that records its calls; hooks can fail or inspect them.
type fakeCP struct {
	mu          sync.Mutex
	calls       []string // "intent <key> <first> <last> <n>" and "checkpoint <seq>"
	intents     []checkpoint.Intent
	checkpoints []string
	// Hooks run before the call is recorded; an error fails the call unrecorded.
	beforeIntent     func(in checkpoint.Intent) error
	beforeCheckpoint func(seq string) error
}

func (f *fakeCP) SaveIntent(_ context.Context, in checkpoint.Intent) error {
	if f.beforeIntent != nil {
		if err := f.beforeIntent(in); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intents = append(f.intents, in)
	f.calls = append(f.calls, "intent "+in.Key)
	return nil
}

func (f *fakeCP) Checkpoint(_ context.Context, seq string) error {
	if f.beforeCheckpoint != nil {
		if err := f.beforeCheckpoint(seq); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkpoints = append(f.checkpoints, seq)
	f.calls = append(f.calls, "checkpoint "+seq)
	return nil
}

func (f *fakeCP) ShardEnd(context.Context) error { return nil }

func (f *fakeCP) lastCheckpoint() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.checkpoints) == 0 {
		return ""
	}
	return f.checkpoints[len(f.checkpoints)-1]
}

func newSink(t *testing.T, b *bucketS3, mod func(*Config)) *Sink {
	t.Helper()
	cfg := Config{Bucket: b.bucket, Prefix: "cdc", Keyspace: "ks", Table: "all_types",
		Upload: RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond}}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, b.client, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seqsInObject decodes a data object (JSON Lines gzip/none or Avro) and returns the
// sequence numbers of its events in order.
func seqsInObject(t *testing.T, key string, body []byte) []string {
	t.Helper()
	var seqs []string
	switch {
	case strings.HasSuffix(key, ".parquet"):
		rdr, err := file.NewParquetReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		tbl, err := fr.ReadTable(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer tbl.Release()
		col := tbl.Column(int(tbl.Schema().FieldIndices("sequence_number")[0]))
		for _, chunk := range col.Data().Chunks() {
			a := chunk.(*array.String)
			for i := 0; i < a.Len(); i++ {
				seqs = append(seqs, a.Value(i))
			}
		}
	case strings.HasSuffix(key, ".avro"):
		d, err := ocf.NewDecoder(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for d.HasNext() {
			var v map[string]any
			if err := d.Decode(&v); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, v["sequence_number"].(string))
		}
		if err := d.Error(); err != nil {
			t.Fatal(err)
		}
	default:
		r := io.Reader(bytes.NewReader(body))
		if strings.HasSuffix(key, ".gz") {
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var ev struct {
				Seq string `json:"sequence_number"`
			}
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ev.Seq)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return seqs
}

// allSeqs counts every event in every data object, by sequence number.
func allSeqs(t *testing.T, b *bucketS3) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, k := range b.dataKeys(t) {
		for _, s := range seqsInObject(t, k, b.get(t, k)) {
			out[s]++
		}
	}
	return out
}

func rows(from, to int) []*streams.Record {
	var out []*streams.Record
	for i := from; i <= to; i++ {
		out = append(out, recordtest.Row(i, recordtest.Seq(i), created.Add(time.Duration(i)*time.Second), 1024))
	}
	return out
}

func addAll(t *testing.T, w *ShardWriter, recs []*streams.Record) {
	t.Helper()
	for _, r := range recs {
		if err := w.Add(context.Background(), r); err != nil {
			t.Fatalf("Add %s: %v", r.SequenceNumber, err)
		}
	}
}
