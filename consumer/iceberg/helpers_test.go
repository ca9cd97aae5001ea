package iceberg

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
)

const testBucket = "lake"

// lake is a real versitygw with a bucket, and a SQLite catalog file over it.
type lake struct {
	gw      *devservers.Server
	s3      *s3.Client
	catalog string // the SQLite file
}

func newLake(t testing.TB) *lake {
	t.Helper()
	gw := devservers.VersityGW(t)
	client := s3.NewFromConfig(gw.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(testBucket)}); err != nil {
		t.Fatal(err)
	}
	return &lake{gw: gw, s3: client, catalog: filepath.Join(t.TempDir(), "catalog.db")}
}

// open opens a catalog over the lake (each call is another client: another writer).
func (l *lake) open(t testing.TB) *Catalog {
	t.Helper()
	cat, err := OpenCatalog(context.Background(), CatalogConfig{
		Type: CatalogSQL, URI: l.catalog, Warehouse: "s3://" + testBucket + "/warehouse",
		AWS: l.gw.AWSConfig(), S3Endpoint: l.gw.Endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	return cat
}

// local is where versitygw (posix) keeps the object of an s3:// path.
func (l *lake) local(t testing.TB, path string) string {
	t.Helper()
	bucket, key, err := SplitS3(path)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(l.gw.DataDir, bucket, key)
}

var day1 = time.Date(2026, 11, 26, 23, 0, 0, 0, time.UTC)

// events are AllTypes records first..last of a shard, created a minute apart from start.
func events(t testing.TB, shard string, first, last int, start time.Time) []*record.Event {
	t.Helper()
	var out []*record.Event
	for i := first; i <= last; i++ {
		rec := recordtest.AllTypes(i, recordtest.Seq(i), start.Add(time.Duration(i-first)*time.Minute))
		ev, err := record.FromStream(rec, record.Source{Keyspace: "ks", Table: "all_types", ShardID: shard})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// schemaOf is the Parquet schema (microsecond timestamps) of the events' table.
func schemaOf(t testing.TB, ev *record.Event) *encode.ParquetSchema {
	t.Helper()
	a, err := encode.NewSchemas(encode.KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, false, nil).For(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := encode.NewParquetSchemaWith(a, encode.ParquetOptions{TimestampMicros: true})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func ensure(t testing.TB, cat *Catalog, evs []*record.Event) *ChangeTable {
	t.Helper()
	tbl, err := EnsureChangeTable(context.Background(), cat, ChangeTableConfig{Namespace: "ks", Table: "all_types",
		MaxBackoff: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}, schemaOf(t, evs[0]))
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

// writeFile encodes the events (all of one day) as a Parquet file with the table's field
// ids, uploads it under the table's data folder and describes it.
func (l *lake) writeFile(t testing.TB, ct *ChangeTable, evs []*record.Event) DataFile {
	t.Helper()
	ctx := context.Background()
	ids, err := ct.Prepare(ctx, schemaOf(t, evs[0]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := encode.NewBuilder(encode.Options{Format: encode.FormatParquet,
		Schemas: encode.NewSchemas(encode.KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, false, nil),
		Parquet: encode.ParquetOptions{TimestampMicros: true, FieldID: ids}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := b.Add(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	f, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	day := evs[0].CreatedAt
	path := ct.DataFilePath(day, fmt.Sprintf("%s-%s-%s", evs[0].ShardID, evs[0].SequenceNumber, evs[len(evs)-1].SequenceNumber))
	bucket, key, _ := SplitS3(path)
	if _, err := l.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(f.Body)}); err != nil {
		t.Fatal(err)
	}
	df, err := ct.NewDataFile(path, f.Body, day)
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// scanned reads the table with iceberg-go's scan: the sequence numbers of its rows, per
// shard, and the data files the scan planned.
func scanned(t *testing.T, ct *ChangeTable) (map[string][]string, []string) {
	t.Helper()
	ctx := ct.cat.withAWS(context.Background())
	tbl, err := ct.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	scan := tbl.Scan()
	tasks, err := scan.PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, task := range tasks {
		files = append(files, task.File.FilePath())
	}
	at, err := scan.ToArrowTable(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	out := map[string][]string{}
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		shard := rec.Column(int(rec.Schema().FieldIndices("shard_id")[0])).(*array.String)
		seq := rec.Column(int(rec.Schema().FieldIndices("sequence_number")[0])).(*array.String)
		for i := 0; i < int(rec.NumRows()); i++ {
			out[shard.Value(i)] = append(out[shard.Value(i)], seq.Value(i))
		}
	}
	return out, files
}

func seqs(evs []*record.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.SequenceNumber
	}
	return out
}
