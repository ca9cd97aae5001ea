package sink

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// lakeSink is a sink of format iceberg over versitygw and a SQLite catalog: one bucket for
// _errors/, one for the warehouse.
type lakeSink struct {
	*Sink
	bucket    *bucketS3
	committer *iceberg.Committer
	table     *iceberg.ChangeTable
}

func newLakeSink(t *testing.T, catalogFile string, mod func(*Config)) *lakeSink {
	t.Helper()
	gw := lakeServer(t)
	client := s3.NewFromConfig(gw.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	cat, err := iceberg.OpenCatalog(context.Background(), iceberg.CatalogConfig{Type: iceberg.CatalogSQL, URI: catalogFile,
		Warehouse: "s3://lake/warehouse", AWS: gw.AWSConfig(), S3Endpoint: gw.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	table, err := iceberg.NewChangeTable(cat, iceberg.ChangeTableConfig{Namespace: "ks", Table: "all_types", MaxBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// A round waits for every open writer's answer: a linger of a minute, not of 200 ms,
	// which a loaded machine exceeded between two writers' answers (the round then committed
	// one shard, and TestIcebergWriter found two snapshots for one round).
	committer, err := iceberg.NewCommitter(ctx, iceberg.CommitterConfig{Table: table, Writer: "w1", Linger: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	b := &bucketS3{client: client, bucket: "cdc-sink-test"}
	s := newSink(t, b, func(c *Config) {
		c.Format, c.FlushRecords = "iceberg", 3
		c.Iceberg = IcebergTarget{Table: table, Committer: committer}
		if mod != nil {
			mod(c)
		}
	})
	return &lakeSink{Sink: s, bucket: b, committer: committer, table: table}
}

// lakeServer starts versitygw with the buckets cdc-sink-test and lake.
func lakeServer(t *testing.T) *devservers.Server {
	t.Helper()
	gw := devservers.VersityGW(t)
	client := s3.NewFromConfig(gw.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	for _, b := range []string{"cdc-sink-test", "lake"} {
		if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	return gw
}

// held reads the table back: the sequence numbers of each shard's rows, sorted.
func (l *lakeSink) held(t *testing.T) map[string][]string {
	t.Helper()
	at, err := l.table.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	rows, err := iceberg.ShardRows(at)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r[0]] = append(out[r[0]], r[1])
	}
	for _, s := range out {
		sort.Strings(s)
	}
	return out
}

func seqRange(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, recordtest.Seq(i))
	}
	return out
}

func allTypes(from, to int, start time.Time) []*streams.Record {
	var out []*streams.Record
	for i := from; i <= to; i++ {
		out = append(out, recordtest.AllTypes(i, recordtest.Seq(i), start.Add(time.Duration(i-from)*time.Minute)))
	}
	return out
}

type shardAdder interface {
	Add(ctx context.Context, rec *streams.Record) error
}

func addEach(t *testing.T, w shardAdder, recs []*streams.Record) {
	t.Helper()
	for _, r := range recs {
		if err := w.Add(context.Background(), r); err != nil {
			t.Fatalf("Add %s: %v", r.SequenceNumber, err)
		}
	}
}

// TestIcebergWriter: two shards' records (crossing midnight, one poison) go into files of at
// most three records, one day each; a round commits both shards in one snapshot and then
// checkpoints each lease to its last record; the poison record is under _errors/ only.
func TestIcebergWriter(t *testing.T) {
	l := newLakeSink(t, filepath.Join(t.TempDir(), "catalog.db"), nil)
	ctx := context.Background()
	cpA, cpB := &fakeCP{}, &fakeCP{}
	a, b := l.OpenIcebergShard("shard-a", cpA, nil), l.OpenIcebergShard("shard-b", cpB, nil)
	defer a.Close()
	defer b.Close()
	recsA := allTypes(1, 5, time.Date(2024, 3, 1, 23, 58, 0, 0, time.UTC)) // 23:58 .. 00:02
	recsA[3].DecodeErr = errors.New("unexpected token")
	addEach(t, a, recsA)
	addEach(t, b, allTypes(11, 12, created))
	l.committer.NextRound()
	done := make(chan error, 1)
	go func() { done <- b.FlushIfDue(ctx, time.Now()) }()
	if err := a.FlushIfDue(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := l.committer.Stats(); st.Snapshots != 1 {
		t.Fatalf("committer %+v: want one snapshot for the round", st)
	}
	if cpA.lastCheckpoint() != recordtest.Seq(5) || cpB.lastCheckpoint() != recordtest.Seq(12) {
		t.Fatalf("checkpoints %v %v", cpA.checkpoints, cpB.checkpoints)
	}
	got := l.held(t)
	if want := []string{recordtest.Seq(1), recordtest.Seq(2), recordtest.Seq(3), recordtest.Seq(5)}; !slices.Equal(got["shard-a"], want) ||
		!slices.Equal(got["shard-b"], seqRange(11, 12)) {
		t.Fatalf("table holds %v", got)
	}
	files, err := l.table.DataFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var days []string
	for _, f := range files {
		days = append(days, strings.Split(strings.Split(f, iceberg.PartitionField+"=")[1], "/")[0])
	}
	sort.Strings(days)
	// shard-a: 23:58, 23:59 (day 1), 00:00, 00:02 (day 2); shard-b: one file.
	if want := []string{"2024-03-01", "2024-03-01", "2024-03-02"}; !slices.Equal(days, want) {
		t.Fatalf("files by day %v (%v)", days, files)
	}
	if errs := l.bucket.keys(t, "cdc/_errors/"); len(errs) != 1 || !strings.HasSuffix(errs[0], recordtest.Seq(4)+".json") {
		t.Fatalf("_errors/: %v", errs)
	}
	// Shard end: committed at once, without a round.
	addEach(t, a, allTypes(6, 6, created))
	if err := a.Flush(ctx); err != nil || cpA.lastCheckpoint() != recordtest.Seq(6) {
		t.Fatalf("flush: %v, checkpoint %s", err, cpA.lastCheckpoint())
	}
}

// TestIcebergWriterNewOwner: a writer that committed and died before its checkpoint leaves
// the lease behind the table; the next owner re-reads from the lease, skips what the table
// holds (and checkpoints it), and commits only what follows. A writer that read the table
// before another committed the shard commits nothing and stops.
func TestIcebergWriterNewOwner(t *testing.T) {
	catalogFile := filepath.Join(t.TempDir(), "catalog.db")
	l := newLakeSink(t, catalogFile, nil)
	ctx := context.Background()
	dies := &fakeCP{beforeCheckpoint: func(string) error { return errors.New("killed") }}
	w1 := l.OpenIcebergShard("shard-a", dies, nil)
	stale := l.OpenIcebergShard("shard-a", &fakeCP{}, nil)
	addEach(t, stale, allTypes(1, 1, created)) // reads the table now: nothing of the shard
	addEach(t, w1, allTypes(1, 4, created))
	if err := w1.Flush(ctx); err == nil {
		t.Fatal("the first owner's checkpoint did not fail")
	}
	w1.Close()

	cp := &fakeCP{}
	w2 := l.OpenIcebergShard("shard-a", cp, nil)
	defer w2.Close()
	addEach(t, w2, allTypes(1, 6, created)) // from the lease's checkpoint: the start
	if cp.lastCheckpoint() != recordtest.Seq(4) {
		t.Fatalf("skipped records not checkpointed: %v", cp.checkpoints)
	}
	if err := w2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.held(t); !slices.Equal(got["shard-a"], seqRange(1, 6)) {
		t.Fatalf("table holds %v", got)
	}
	if err := stale.Flush(ctx); !errors.Is(err, ErrShardCommittedElsewhere) {
		t.Fatalf("stale writer's flush: %v", err)
	}
	stale.Close()
	if got := l.held(t); !slices.Equal(got["shard-a"], seqRange(1, 6)) {
		t.Fatalf("after the stale writer, the table holds %v", got)
	}
}
