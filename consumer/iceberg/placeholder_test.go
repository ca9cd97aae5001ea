package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// sparse are AllTypes events whose c_int is null, c_map empty and c_udt.zip null: a schema
// derived from them alone (the table's definition unavailable) types those as placeholders.
func sparse(t *testing.T, shard string, first, last int) []*record.Event {
	t.Helper()
	var out []*record.Event
	for i := first; i <= last; i++ {
		rec := recordtest.AllTypes(i, recordtest.Seq(i), day1)
		for j, c := range rec.NewImage.ValueCells {
			switch c.Name {
			case "c_int":
				rec.NewImage.ValueCells[j].Value = streams.CellValue{}
			case "c_map":
				rec.NewImage.ValueCells[j].Value = streams.CellValue{Type: streams.TypeMap}
			case "c_udt":
				rec.NewImage.ValueCells[j].Value.Fields[1].Value = streams.CellValue{}
			}
		}
		ev, err := record.FromStream(rec, record.Source{Keyspace: "ks", Table: "all_types", ShardID: shard})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// writeWith writes the events as the iceberg format's shard writer does, with the given
// schema registry (a nil source derives the schema from the records).
func (l *lake) writeWith(t *testing.T, ct *ChangeTable, schemas *encode.Schemas, evs []*record.Event) (DataFile, error) {
	t.Helper()
	ctx := context.Background()
	b, err := encode.NewBuilder(encode.Options{Format: encode.FormatIceberg, Schemas: schemas,
		Parquet: encode.ParquetOptions{Prepare: ct.Prepare}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := b.Add(ctx, ev); err != nil {
			return DataFile{}, err
		}
	}
	f, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	path := ct.DataFilePath(day1, fmt.Sprintf("%s-%s-%s", evs[0].ShardID, evs[0].SequenceNumber, evs[len(evs)-1].SequenceNumber))
	bucket, key, _ := SplitS3(path)
	if _, err := l.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(f.Body)}); err != nil {
		t.Fatal(err)
	}
	df, err := ct.NewDataFile(path, f.Body, day1)
	if err != nil {
		t.Fatal(err)
	}
	return df, nil
}

// cInts reads new_image.c_int of every row of the table, by sequence number ("null" for a
// null), with iceberg-go's scan.
func cInts(t *testing.T, ct *ChangeTable) map[string]string {
	t.Helper()
	at, err := ct.Scan(context.Background())
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer at.Release()
	out := map[string]string{}
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		seq := rec.Column(rec.Schema().FieldIndices("sequence_number")[0]).(*array.String)
		img := rec.Column(rec.Schema().FieldIndices("new_image")[0]).(*array.Struct)
		idx, ok := img.DataType().(interface{ FieldIdx(string) (int, bool) }).FieldIdx("c_int")
		if !ok {
			t.Fatalf("new_image has no c_int: %s", img.DataType())
		}
		col := img.Field(idx).(*array.Int32)
		for i := 0; i < int(rec.NumRows()); i++ {
			v := "null"
			if col.IsValid(i) {
				v = fmt.Sprint(col.Value(i))
			}
			out[seq.Value(i)] = v
		}
	}
	return out
}

// TestPlaceholderTypesNeverReachTheTable: a worker whose table definition was unavailable
// derives its schema from records, where a column seen only as null (c_int), an empty map
// (c_map) and a null UDT field (c_udt.zip) have no type yet. Written into a table that has
// their real types, those columns carry no field id (they hold nothing), so the table stays
// readable and reads them as null; a table created from such a schema leaves them out, and
// a later writer that knows their types adds them.
func TestPlaceholderTypesNeverReachTheTable(t *testing.T) {
	ctx := context.Background()
	derived := func() *encode.Schemas { return encode.NewSchemas(nil, false, nil) }
	full := func() *encode.Schemas {
		return encode.NewSchemas(encode.KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, false, nil)
	}
	commit := func(t *testing.T, ct *ChangeTable, prev string, evs []*record.Event, df DataFile) {
		t.Helper()
		last := evs[len(evs)-1].SequenceNumber
		res, err := ct.Commit(ctx, "w1", []ShardCommit{{ShardID: evs[0].ShardID, Prev: prev, Last: last, Files: []DataFile{df}}})
		if err != nil || len(res.Committed) != 1 {
			t.Fatalf("commit: %+v, %v", res, err)
		}
	}

	t.Run("into a table with the real types", func(t *testing.T) {
		l := newLake(t)
		known := events(t, "shard-a", 1, 2, day1)
		ct := ensure(t, l.open(t), known) // from GetTable: c_int is an int
		commit(t, ct, "", known, l.writeFile(t, ct, known))
		nulls := sparse(t, "shard-a", 3, 4)
		df, err := l.writeWith(t, ct, derived(), nulls)
		if err != nil {
			t.Fatal(err)
		}
		commit(t, ct, known[1].SequenceNumber, nulls, df)
		got := cInts(t, ct)
		want := map[string]string{recordtest.Seq(1): "-2147483648", recordtest.Seq(2): "-2147483648", recordtest.Seq(3): "null", recordtest.Seq(4): "null"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("c_int by sequence number: %v, want %v", got, want)
		}
	})

	t.Run("a table created from records, widened later", func(t *testing.T) {
		l := newLake(t)
		ct, err := NewChangeTable(l.open(t), ChangeTableConfig{Namespace: "ks", Table: "all_types"})
		if err != nil {
			t.Fatal(err)
		}
		nulls := sparse(t, "shard-a", 1, 2)
		df, err := l.writeWith(t, ct, derived(), nulls) // creates the table
		if err != nil {
			t.Fatal(err)
		}
		sc := ct.Table().Schema()
		for _, name := range []string{"new_image.c_int", "new_image.c_map", "new_image.c_udt.zip"} {
			if f, ok := sc.FindFieldByName(name); ok {
				t.Fatalf("the table has the placeholder %s: %s", name, f.Type)
			}
		}
		commit(t, ct, "", nulls, df)
		known := events(t, "shard-a", 3, 4, day1)
		if df, err = l.writeWith(t, ct, full(), known); err != nil {
			t.Fatal(err)
		}
		commit(t, ct, nulls[1].SequenceNumber, known, df)
		for name, want := range map[string]string{"new_image.c_int": "int", "new_image.c_map": "map<string, int>", "new_image.c_udt.zip": "int"} {
			if f, ok := ct.Table().Schema().FindFieldByName(name); !ok || f.Type.String() != want {
				t.Errorf("%s: %v (found %v), want %s", name, f.Type, ok, want)
			}
		}
		got := cInts(t, ct)
		want := map[string]string{recordtest.Seq(1): "null", recordtest.Seq(2): "null", recordtest.Seq(3): "-2147483648", recordtest.Seq(4): "-2147483648"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("c_int by sequence number: %v, want %v", got, want)
		}
	})

	t.Run("a real conflict is refused, not written", func(t *testing.T) {
		l := newLake(t)
		textual := &recordtest.FakeKeyspaces{}
		textual.AddColumn("c_extra", "text")
		evs := events(t, "shard-a", 1, 2, day1)
		ct, err := NewChangeTable(l.open(t), ChangeTableConfig{Namespace: "ks", Table: "all_types"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.writeWith(t, ct, encode.NewSchemas(encode.KeyspacesSource{API: textual}, false, nil), evs); err != nil {
			t.Fatal(err)
		}
		integral := &recordtest.FakeKeyspaces{}
		integral.AddColumn("c_extra", "int")
		_, err = l.writeWith(t, ct, encode.NewSchemas(encode.KeyspacesSource{API: integral}, false, nil), evs)
		if err == nil || !strings.Contains(err.Error(), "new_image.c_extra (int in the records, string in the table)") {
			t.Fatalf("a file whose column conflicts with the table's type: %v", err)
		}
	})
}

// TestMirrorWithADerivedSchema: a writer whose table definition is unavailable writes, with a
// schema derived from the records, into a mirror created from GetTable: the always-null
// columns of the derived schema (c_null, the tuple's second component) have no type and are
// left out of its files. The mirror reads back with iceberg-go and DuckDB. (A derived schema
// cannot create the mirror: TestMirrorKey.)
func TestMirrorWithADerivedSchema(t *testing.T) {
	l := newLake(t)
	w := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: &recordtest.FakeKeyspaces{}, shard: "shard-1", writer: "w1"}
	if res := w.commit(change{i: 1, text: "a", static: "s1"}, change{i: 2, text: "b", static: "s2"}); len(res.Committed) != 1 {
		t.Fatalf("first round: %+v", res)
	}
	w.ks = &recordtest.FakeKeyspaces{}
	w.ks.Fail(errors.New("ThrottlingException"))
	if res := w.commit(change{i: 1, text: "a2", static: "s1"}, change{i: 3, text: "c", static: "s3"}); len(res.Committed) != 1 {
		t.Fatalf("second round: %+v", res)
	}
	want := "1 a2 s1|2 b s2|3 c s3"
	if got := strings.Join(mirrorRows(t, w.mt), "|"); got != want {
		t.Fatalf("iceberg-go reads %s, want %s", got, want)
	}
	if got := strings.Join(duckRows(t, l, w.mt), "|"); got != want {
		t.Fatalf("DuckDB reads %s, want %s", got, want)
	}
	if f, ok := w.mt.Table().Schema().FindFieldByName("c_null"); !ok || f.Type.String() != "string" {
		t.Fatalf("c_null in the mirror: %v (%v), want string from GetTable", f.Type, ok)
	}
}
