package iceberg

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// change is a change of the all-types table's key i (id i, ck i): an insert or update
// carrying text (in c_text) and static (in c_static), or a delete (text "") — by TTL if ttl.
type change struct {
	i          int
	text       string
	static     string
	ttl        bool
	staticOnly bool // a write of the static column only (no clustering key)
}

// mirrorEvent is the change as an event with sequence number seq.
func mirrorEvent(t testing.TB, shard string, seq int, c change) *record.Event {
	t.Helper()
	rec := recordtest.AllTypes(c.i, recordtest.Seq(seq), day1.Add(time.Duration(seq)*time.Second))
	for j, cell := range rec.NewImage.ValueCells {
		if cell.Name == "c_text" {
			rec.NewImage.ValueCells[j].Value = recordtest.S(streams.TypeText, c.text)
		}
	}
	rec.NewImage.StaticCells[0].Value = recordtest.S(streams.TypeText, c.static)
	switch {
	case c.staticOnly:
		rec.ClusteringKeys = nil
		rec.NewImage.ValueCells = nil
	case c.text == "":
		rec.OldImage, rec.NewImage = rec.NewImage, nil
		if c.ttl {
			rec.Origin = "TTL"
		}
	}
	ev, err := record.FromStream(rec, record.Source{Keyspace: "ks", Table: "all_types", ShardID: shard})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// mirrorWriter commits changes to the mirror as a shard writer would.
type mirrorWriter struct {
	t      testing.TB
	mt     *ChangeTable
	ks     *recordtest.FakeKeyspaces
	shard  string
	seq    int
	prev   string
	writer string
}

func newMirror(t testing.TB, cat *Catalog) *ChangeTable {
	t.Helper()
	mt, err := NewMirrorTable(cat, ChangeTableConfig{Namespace: "ks", Table: "all_types",
		MaxBackoff: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	return mt
}

// rows encodes changes (in stream order) as the shard's MirrorRows, with their last
// sequence number.
func (w *mirrorWriter) rows(changes ...change) (*MirrorRows, string) {
	w.t.Helper()
	var mc MirrorChanges
	for _, c := range changes {
		w.seq++
		mc.Add(mirrorEvent(w.t, w.shard, w.seq, c))
	}
	b, err := encode.NewBuilder(encode.Options{Format: encode.FormatIceberg, KeepEvents: true,
		Schemas: encode.NewSchemas(encode.KeyspacesSource{API: w.ks}, false, nil),
		Parquet: encode.ParquetOptions{Prepare: w.mt.Prepare}})
	if err != nil {
		w.t.Fatal(err)
	}
	rows, rejected, err := mc.Rows(context.Background(), b)
	if err != nil || len(rejected) > 0 {
		w.t.Fatalf("rows: %v, %d rejected", err, len(rejected))
	}
	return rows, recordtest.Seq(w.seq)
}

// commit commits the changes as one round of the shard.
func (w *mirrorWriter) commit(changes ...change) CommitResult {
	w.t.Helper()
	rows, last := w.rows(changes...)
	res, err := w.mt.Commit(context.Background(), w.writer, []ShardCommit{{ShardID: w.shard, Prev: w.prev, Last: last, Rows: rows}})
	if err != nil {
		w.t.Fatal(err)
	}
	if len(res.Committed) == 1 {
		w.prev = last
	}
	return res
}

// mirrorRows reads the mirror with iceberg-go's scan: "id/ck text static" per row, sorted.
func mirrorRows(t *testing.T, mt *ChangeTable) []string {
	t.Helper()
	at, err := mt.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Release()
	var out []string
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		col := func(name string) []string {
			c := rec.Column(rec.Schema().FieldIndices(name)[0])
			vals := make([]string, rec.NumRows())
			for i := range vals {
				vals[i] = c.ValueStr(i)
			}
			return vals
		}
		ck, text, static, ext := col("ck"), col("c_text"), col("c_static"), []string(nil)
		if len(rec.Schema().FieldIndices("c_extra")) == 1 {
			ext = col("c_extra")
		}
		for i := range ck {
			row := fmt.Sprintf("%s %s %s", ck[i], text[i], static[i])
			if ext != nil {
				row += " " + ext[i]
			}
			out = append(out, row)
		}
	}
	sort.Strings(out)
	return out
}

// duckRows reads the mirror's files with DuckDB: the rows of the data files the scan plans,
// less the positions of the delete files it plans with them ("ck text static", sorted).
func duckRows(t *testing.T, l *lake, mt *ChangeTable) []string {
	t.Helper()
	ctx := mt.cat.withAWS(context.Background())
	tbl, err := mt.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, task := range tasks {
		q := `SELECT ck::VARCHAR AS ck, c_text, c_static FROM read_parquet('` + l.local(t, task.File.FilePath()) + `', file_row_number = true)`
		if len(task.DeleteFiles) > 0 {
			var dels []string
			for _, d := range task.DeleteFiles {
				dels = append(dels, "'"+l.local(t, d.FilePath())+"'")
			}
			q += ` WHERE file_row_number NOT IN (SELECT pos FROM read_parquet([` + strings.Join(dels, ",") +
				`]) WHERE file_path = '` + task.File.FilePath() + `')`
		}
		for _, r := range devservers.DuckDB(t, q) {
			out = append(out, fmt.Sprintf("%v %v %v", r["ck"], r["c_text"], r["c_static"]))
		}
	}
	sort.Strings(out)
	return out
}
