package encode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

var parquetCompressions = []string{CompressionZstd, CodecSnappy, CompressionGzip, CompressionNone}

func parquetSources() map[string]func() TableSource {
	return map[string]func() TableSource{
		"GetTable": func() TableSource { return KeyspacesSource{API: &recordtest.FakeKeyspaces{}} },
		"derived": func() TableSource {
			api := &recordtest.FakeKeyspaces{}
			api.Fail(errors.New("AccessDeniedException"))
			return KeyspacesSource{API: api}
		},
	}
}

func newTestParquet(t testing.TB, schemas *Schemas, compression string, keep bool) *parquetFile {
	t.Helper()
	f, err := newParquetFile(schemas, compression, keep, ParquetOptions{OmitUnknown: true}) // as NewBuilder
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// parquetEvents are AllTypes 1..4 in the shapes a stream sends: an insert, a delete (old
// image only), an update (both images), and an insert of empty collections and nulls.
func parquetEvents(t testing.TB) []*record.Event {
	evs := []*record.Event{allTypesEvent(t, 1), allTypesEvent(t, 2), allTypesEvent(t, 3), allTypesEvent(t, 4)}
	evs[1].OldImage, evs[1].NewImage, evs[1].Op = evs[1].NewImage, nil, record.OpDelete
	evs[2].OldImage, evs[2].Op = allTypesEvent(t, 5).NewImage, record.OpUpdate
	for i, c := range evs[3].NewImage.Columns {
		v := &evs[3].NewImage.Columns[i].Value
		switch c.Name {
		case "c_list", "c_set":
			v.Elems = []record.Value{}
		case "c_map":
			v.Entries = nil
		case "c_map_int":
			v.Entries[0].Value.Elems = nil
		case "c_tuple":
			v.Elems = []record.Value{{}, {}}
		case "c_udt":
			v.Fields = v.Fields[:1]
		case "c_text":
			*v = record.Value{}
		}
	}
	return evs
}

func encodeParquet(t testing.TB, f *parquetFile, evs []*record.Event) *File {
	t.Helper()
	for _, ev := range evs {
		if err := f.Add(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	out, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readParquet reads a file with arrow-go's own reader (pqarrow): its rows as JSON objects
// (numbers as json.Number), its Arrow schema and its footer.
func readParquet(t testing.TB, body []byte) ([]map[string]any, *arrow.Schema, *file.Reader) {
	t.Helper()
	rdr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 16}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	var rows []map[string]any
	tr := array.NewTableReader(tbl, 1<<16)
	defer tr.Release()
	for tr.Next() {
		b, err := tr.RecordBatch().MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var batch []map[string]any
		if err := dec.Decode(&batch); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, batch...)
	}
	return rows, tbl.Schema(), rdr
}

func jsonValue(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// wantParquetImage is the new image of AllTypes(i), as arrow-go's reader gives it in JSON
// (the key columns id and ck live in keys, so they are null in the image, as in Avro).
func wantParquetImage(i string) string {
	return `{"id":null,"ck":null,"c_ascii":"ascii-` + i + `","c_bigint":9223372036854775807,
	"c_blob":"AAEC/w` + map[string]string{"3": "M=", "5": "U="}[i] + `","c_boolean":false,"c_counter":-` + i + `,
	"c_date":"2024-02-29","c_decimal":"12345678901234567890.000000000000123","c_double":3.141592653589793,
	"c_duration":"1mo2d3h4m5s6ms7us8ns","c_float":1.5,"c_inet":"2001:db8::1","c_int":-2147483648,
	"c_smallint":32767,"c_text":"héllo \"quoted\" \n\t\u2028 ` + i + `","c_time":"13:14:15.123456789",
	"c_timestamp":"2024-03-01T00:00:00.123Z","c_timeuuid":"e8f2a4a0-d6b1-11ee-8c90-0242ac120002",
	"c_tinyint":-128,"c_uuid":"123e4567-e89b-12d3-a456-426614174000","c_varchar":"varchar",
	"c_varint":"-123456789012345678901234567890","c_list":["a","b"],"c_set":[1,2],
	"c_map":[{"key":"k1","value":1},{"key":"k2","value":2}],"c_map_int":[{"key":7,"value":["x"]}],
	"c_tuple":{"f0":` + i + `,"f1":null},"c_udt":{"street":"1 Main St","zip":12345,"tags":["home"]},
	"c_null":null,"c_static":"static"}`
}

// wantParquetEmpty is the new image of parquetEvents' fourth event: empty collections are
// empty (not null), missing UDT fields and null tuple components are null.
const wantParquetEmptyDiff = `{"c_list":[],"c_set":[],"c_map":[],"c_map_int":[{"key":7,"value":[]}],
	"c_tuple":{"f0":null,"f1":null},"c_udt":{"street":"1 Main St","zip":null,"tags":null},"c_text":null}`

// withoutUnknown is the expected image v of a file written with source srcName: with a
// derived schema, c_null (only nulls seen) and c_tuple's second component (always null) have
// no type yet and are not in the files (ParquetOptions.OmitUnknown).
func withoutUnknown(srcName string, v any) any {
	img, ok := v.(map[string]any)
	if srcName != "derived" || !ok {
		return v
	}
	delete(img, "c_null")
	if tup, ok := img["c_tuple"].(map[string]any); ok {
		delete(tup, "f1")
	}
	return img
}

func TestParquetRoundTrip(t *testing.T) {
	for srcName, src := range parquetSources() {
		for _, comp := range parquetCompressions {
			t.Run(srcName+"/"+comp, func(t *testing.T) {
				encodeOnce := func(keep bool) *File {
					return encodeParquet(t, newTestParquet(t, NewSchemas(src(), true, nil), comp, keep), parquetEvents(t))
				}
				f := encodeOnce(false)
				if again := encodeOnce(false); !bytes.Equal(f.Body, again.Body) {
					t.Fatal("two encodings of the same events differ")
				}
				if kept := encodeOnce(true); !bytes.Equal(f.Body, kept.Body) {
					t.Fatal("KeepEvents (replay) encoding differs from the streamed one")
				}
				if f.Ext != "parquet" || f.Records != 4 || f.SchemaFile == nil || !strings.HasSuffix(f.SchemaFile.Name, ".parquet.json") {
					t.Fatalf("file: ext %q, records %d, schema file %+v", f.Ext, f.Records, f.SchemaFile)
				}
				rows, sc, rdr := readParquet(t, f.Body)
				meta := rdr.MetaData()
				if got := meta.GetCreatedBy(); got != ParquetCreatedBy {
					t.Errorf("created_by = %q", got)
				}
				var doc struct{ Fingerprint string }
				if err := json.Unmarshal(f.SchemaFile.Body, &doc); err != nil || f.SchemaFile.Name != doc.Fingerprint+".parquet.json" {
					t.Errorf("schema file %s: fingerprint %q (%v)", f.SchemaFile.Name, doc.Fingerprint, err)
				}
				if v := meta.KeyValueMetadata().FindValue("keyspaces_cdc_s3.schema_fingerprint"); v == nil || *v != doc.Fingerprint {
					t.Errorf("footer fingerprint %v, schema file %s", v, doc.Fingerprint)
				}
				if len(rows) != 4 {
					t.Fatalf("%d rows", len(rows))
				}
				head := map[string]string{"keyspace": `"ks"`, "table": `"all_types"`, "shard_id": `"shard-1"`,
					"sequence_number": `"` + recordtest.Seq(3) + `"`, "created_at": `"2024-03-01T10:00:00Z"`,
					"origin": `"USER"`, "op": `"UPDATE"`,
					"keys":               `{"id":"00000000-0000-0000-0000-000000000003","ck":3}`,
					"new_image":          wantParquetImage("3"),
					"old_image":          wantParquetImage("5"),
					"new_image_metadata": `[{"column":"c_ascii","write_time":"1709251200123456","expiration_time":"1709337600"}]`,
					"old_image_metadata": `[{"column":"c_ascii","write_time":"1709251200123456","expiration_time":"1709337600"}]`,
				}
				for col, want := range head {
					if got := rows[2][col]; !reflect.DeepEqual(got, withoutUnknown(srcName, jsonValue(t, want))) {
						t.Errorf("%s = %v\nwant %s", col, got, want)
					}
				}
				if rows[1]["new_image"] != nil || rows[1]["new_image_metadata"] != nil || rows[1]["old_image"] == nil {
					t.Errorf("delete: new_image %v, metadata %v, old_image %v", rows[1]["new_image"], rows[1]["new_image_metadata"], rows[1]["old_image"])
				}
				empty := rows[3]["new_image"].(map[string]any)
				for col, want := range withoutUnknown(srcName, jsonValue(t, wantParquetEmptyDiff)).(map[string]any) {
					if !reflect.DeepEqual(empty[col], want) {
						t.Errorf("empty/null %s = %#v, want %#v", col, empty[col], want)
					}
				}
				// Exact types as arrow-go reads them back.
				imgFields, _ := sc.FieldsByName("new_image")
				img, _ := imgFields[0].Type.(*arrow.StructType)
				wantTypes := map[string]string{"c_tinyint": "int8", "c_smallint": "int16", "c_int": "int32",
					"c_bigint": "int64", "c_counter": "int64", "c_float": "float32", "c_double": "float64",
					"c_boolean": "bool", "c_blob": "binary", "c_date": "date32", "c_timestamp": "timestamp[ms, tz=UTC]",
					"c_time": "utf8", "c_uuid": "utf8", "c_varint": "utf8", "c_decimal": "utf8", "c_duration": "utf8",
					"c_inet": "utf8", "c_map": "map<utf8, int32, items_non_nullable>", "c_set": "list<element: int32>"}
				if srcName == "GetTable" {
					wantTypes["c_tuple"] = "struct<f0: int32 nullable, f1: utf8 nullable>"
					wantTypes["c_udt"] = "struct<street: utf8 nullable, zip: int32 nullable, tags: list<element: utf8> nullable>"
				}
				for col, want := range wantTypes {
					f, ok := img.FieldByName(col)
					if !ok || f.Type.String() != want {
						t.Errorf("arrow type of %s = %v, want %s", col, f.Type, want)
					}
				}
				if ca, _ := sc.FieldsByName("created_at"); ca[0].Type.String() != "timestamp[ms, tz=UTC]" {
					t.Errorf("created_at: %s", ca[0].Type)
				}
			})
		}
	}
}

// TestParquetSchemaText pins the Parquet types of every CQL type (the README's type table)
// and the _schemas/ document's Hive types.
func TestParquetSchemaText(t *testing.T) {
	f := encodeParquet(t, newTestParquet(t, NewSchemas(KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, false, nil), CompressionZstd, false), parquetEvents(t)[:1])
	var doc struct {
		Format, Message string
		Columns         []struct{ Name, Type string }
	}
	if err := json.Unmarshal(f.SchemaFile.Body, &doc); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"message all_types {", "  required binary keyspace (STRING);", "  required int64 created_at (TIMESTAMP(MILLIS,true));",
		"  required group keys {", "    optional binary id (STRING);", "  optional group new_image {",
		"    optional int32 c_tinyint (INTEGER(8,true));", "    optional int32 c_smallint (INTEGER(16,true));",
		"    optional int32 c_int;", "    optional int64 c_bigint;", "    optional int64 c_counter;",
		"    optional float c_float;", "    optional double c_double;", "    optional boolean c_boolean;",
		"    optional binary c_blob;", "    optional int64 c_timestamp (TIMESTAMP(MILLIS,true));",
		"    optional int32 c_date (DATE);", "    optional binary c_time (STRING);", "    optional binary c_uuid (STRING);",
		"    optional binary c_timeuuid (STRING);", "    optional binary c_varint (STRING);",
		"    optional binary c_decimal (STRING);", "    optional binary c_duration (STRING);", "    optional binary c_inet (STRING);",
		"    optional group c_list (LIST) {\n      repeated group list {\n        required binary element (STRING);\n      }\n    }",
		"    optional group c_map (MAP) {\n      repeated group key_value {\n        required binary key (STRING);\n        required int32 value;\n      }\n    }",
		"    optional group c_tuple {\n      optional int32 f0;\n      optional binary f1 (STRING);\n    }",
		"    optional group c_udt {\n      optional binary street (STRING);\n      optional int32 zip;\n      optional group tags (LIST) {",
	} {
		if !strings.Contains(doc.Message, line+"\n") {
			t.Errorf("schema lacks %q", line)
		}
	}
	if strings.Contains(doc.Message, "metadata") {
		t.Error("metadata columns without CellMetadata")
	}
	hive := map[string]string{}
	for _, c := range doc.Columns {
		hive[c.Name] = c.Type
	}
	if doc.Format != "parquet" || hive["created_at"] != "timestamp" || hive["keys"] != "struct<id:string,ck:int>" ||
		!strings.Contains(hive["new_image"], ",c_tinyint:tinyint,") || !strings.Contains(hive["new_image"], ",c_map_int:map<int,array<string>>,") ||
		!strings.Contains(hive["new_image"], ",c_udt:struct<street:string,zip:int,tags:array<string>>,") {
		t.Errorf("document: format %q, columns %v", doc.Format, hive)
	}
}

// TestParquetRejectsAlone: an event that cannot be written exactly (a value of the wrong
// type, text that is not UTF-8, a null inside a list) is rejected alone and the file holds
// the others; the sink stores such events under _errors/.
func TestParquetRejectsAlone(t *testing.T) {
	set := func(ev *record.Event, col string, v record.Value) *record.Event {
		for i, c := range ev.NewImage.Columns {
			if c.Name == col {
				ev.NewImage.Columns[i].Value = v
			}
		}
		return ev
	}
	bad := []struct {
		name string
		ev   *record.Event
		want string
	}{
		{"type conflict", set(allTypesEvent(t, 2), "c_int", record.Value{Type: streams.TypeText, Text: "x"}), "does not match"},
		{"invalid UTF-8", set(allTypesEvent(t, 2), "c_text", record.Value{Type: streams.TypeText, Text: "a\xffb"}), "not valid UTF-8"},
		{"invalid UTF-8 in a map key", set(allTypesEvent(t, 2), "c_map", record.Value{Type: streams.TypeMap,
			Entries: []record.Entry{{Key: record.Value{Type: streams.TypeText, Text: "\xc3"}, Value: record.Value{Type: streams.TypeInt, Int: 1}}}}), "not valid UTF-8"},
		{"null in a list", set(allTypesEvent(t, 2), "c_list", record.Value{Type: streams.TypeList,
			Elems: []record.Value{{Type: streams.TypeText, Text: "a"}, {}}}), "null in a list<text>"},
	}
	for _, tc := range bad {
		f := newTestParquet(t, NewSchemas(KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, false, nil), CompressionZstd, false)
		ctx := context.Background()
		if err := f.Add(ctx, allTypesEvent(t, 1)); err != nil {
			t.Fatal(err)
		}
		err := f.Add(ctx, tc.ev)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Add = %v, want an error with %q", tc.name, err, tc.want)
		}
		if tc.name == "type conflict" && !errors.Is(err, ErrTypeConflict) {
			t.Errorf("%s: %v is not ErrTypeConflict", tc.name, err)
		}
		if err := f.Add(ctx, allTypesEvent(t, 3)); err != nil {
			t.Fatal(err)
		}
		out, err := f.Finish()
		if err != nil {
			t.Fatal(err)
		}
		rows, _, _ := readParquet(t, out.Body)
		if f := out.Records; f != 2 || len(rows) != 2 || rows[1]["sequence_number"] != recordtest.Seq(3) {
			t.Errorf("%s: file holds %d records, %d rows", tc.name, f, len(rows))
		}
	}
}

// TestParquetEmptyMapOfADerivedSchema: without the table's definition (GetTable failed), a map
// that is empty in the first record has no key type yet; the record is written, not poison,
// without the map column (its type unknown, it holds nothing), and a later record with entries
// gets a wider schema version.
func TestParquetEmptyMapOfADerivedSchema(t *testing.T) {
	ev := func(i int, entries []record.Entry) *record.Event {
		e := allTypesEvent(t, i)
		for j, c := range e.NewImage.Columns {
			if c.Name == "c_map" {
				e.NewImage.Columns[j].Value = record.Value{Type: streams.TypeMap, Entries: entries}
			}
		}
		return e
	}
	ctx := context.Background()
	f := newTestParquet(t, NewSchemas(nil, false, nil), CompressionZstd, false)
	if err := f.Add(ctx, ev(1, nil)); err != nil {
		t.Fatalf("a record with an empty map, schema derived: %v", err)
	}
	err := f.Add(ctx, ev(2, []record.Entry{{Key: record.Value{Type: streams.TypeText, Text: "k"}, Value: record.Value{Type: streams.TypeInt, Int: 1}}}))
	if !errors.Is(err, ErrSchemaChanged) {
		t.Fatalf("a record with entries: %v, want ErrSchemaChanged (a wider schema version)", err)
	}
	out, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	rows, sc, _ := readParquet(t, out.Body)
	if len(rows) != 1 {
		t.Fatalf("file holds %d rows, want 1", len(rows))
	}
	fs, _ := sc.FieldsByName("new_image")
	img, _ := fs[0].Type.(*arrow.StructType)
	if _, ok := img.FieldByName("c_map"); ok || img.NumFields() == 0 {
		t.Fatalf("new_image: %s; want every column but c_map, whose type is unknown", img)
	}
}

// TestParquetSchemaChangeWithinAFile: a streamed file ends when an event needs a newer
// schema (each file has its own schema version); a kept-events (replay) file widens instead.
func TestParquetSchemaChangeWithinAFile(t *testing.T) {
	ctx := context.Background()
	withNew := allTypesEvent(t, 2)
	withNew.NewImage.Columns = append(withNew.NewImage.Columns, record.Field{Name: "c_new", Value: record.Value{Type: streams.TypeBigint, Int: 42}})
	for _, keep := range []bool{false, true} {
		api := &recordtest.FakeKeyspaces{}
		f := newTestParquet(t, NewSchemas(KeyspacesSource{API: api}, false, nil), CompressionZstd, keep)
		if err := f.Add(ctx, allTypesEvent(t, 1)); err != nil {
			t.Fatal(err)
		}
		api.AddColumn("c_new", "bigint")
		err := f.Add(ctx, withNew)
		if !keep {
			if !errors.Is(err, ErrSchemaChanged) || f.Len() != 1 {
				t.Fatalf("streamed: Add = %v, Len %d; want ErrSchemaChanged and 1", err, f.Len())
			}
			f1, err := f.Finish()
			if err != nil {
				t.Fatal(err)
			}
			f2 := encodeParquet(t, f, []*record.Event{withNew})
			if f1.SchemaFile.Name == f2.SchemaFile.Name || bytes.Contains(f1.SchemaFile.Body, []byte("c_new")) ||
				!bytes.Contains(f2.SchemaFile.Body, []byte("optional int64 c_new;")) {
				t.Error("streamed: the second file should carry the new schema version, the first the old")
			}
			rows, _, _ := readParquet(t, f2.Body)
			if got := rows[0]["new_image"].(map[string]any)["c_new"]; got != json.Number("42") {
				t.Errorf("c_new = %v", got)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := f.Finish()
		if err != nil {
			t.Fatal(err)
		}
		rows, _, _ := readParquet(t, out.Body)
		if len(rows) != 2 || rows[0]["new_image"].(map[string]any)["c_new"] != nil || rows[1]["new_image"].(map[string]any)["c_new"] != json.Number("42") {
			t.Errorf("kept events: %d rows", len(rows))
		}
	}
}

// TestParquetRowGroups: a file larger than a row group is written as several, as it fills,
// and reads back whole and in order.
func TestParquetRowGroups(t *testing.T) {
	f := newTestParquet(t, NewSchemas(nil, false, nil), CompressionZstd, false)
	n := 0
	for f.Size() < parquetRowGroupBytes*5/2 {
		ev, err := record.FromStream(recordtest.Row(n, recordtest.Seq(n), created, 4096), record.Source{Keyspace: "ks", Table: "t", ShardID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Add(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		n++
	}
	out, err := f.Finish()
	if err != nil {
		t.Fatal(err)
	}
	rows, _, rdr := readParquet(t, out.Body)
	if got := rdr.NumRowGroups(); got != 3 {
		t.Errorf("%d row groups, want 3", got)
	}
	if len(rows) != n {
		t.Fatalf("%d rows, want %d", len(rows), n)
	}
	for i, r := range rows {
		if r["sequence_number"] != recordtest.Seq(i) {
			t.Fatalf("row %d: %v", i, r["sequence_number"])
		}
	}
}

// TestParquetDictionaryChoice: a column whose values repeat in the file's first batch is
// written with a dictionary; unique values and long text are written plain. The choice
// comes from the first batch alone (so a replay chooses the same).
func TestParquetDictionaryChoice(t *testing.T) {
	dictionaries := func(n int, name func(i int) string) map[string]bool {
		t.Helper()
		var evs []*record.Event
		for i := 0; i < n; i++ {
			ev, err := record.FromStream(recordtest.Row(i, recordtest.Seq(i), created, 1024), record.Source{Keyspace: "ks", Table: "t", ShardID: "s"})
			if err != nil {
				t.Fatal(err)
			}
			if name != nil {
				if c := &ev.NewImage.Columns[0]; c.Name == "name" {
					c.Value.Text = name(i)
				} else {
					t.Fatalf("first column %s, want name", c.Name)
				}
			}
			evs = append(evs, ev)
		}
		f := encodeParquet(t, newTestParquet(t, NewSchemas(nil, false, nil), CompressionZstd, false), evs)
		_, _, rdr := readParquet(t, f.Body)
		rg := rdr.MetaData().RowGroup(0)
		dict := map[string]bool{}
		for c := 0; c < rg.NumColumns(); c++ {
			cc, err := rg.ColumnChunk(c)
			if err != nil {
				t.Fatal(err)
			}
			dict[cc.PathInSchema().String()] = cc.HasDictionaryPage()
		}
		return dict
	}
	dict := dictionaries(50, nil)
	for col, want := range map[string]bool{"new_image.note": false, "new_image.name": false, "op": true,
		"keyspace": true, "created_at": true, "new_image.at": true, "sequence_number": false,
		"new_image.tags.list.element": false, "new_image.n": false, "new_image.score": false, "keys.id": false} {
		if dict[col] != want {
			t.Errorf("%s: dictionary %v, want %v", col, dict[col], want)
		}
	}
	// The threshold: among the first 256 values, at most one in 4 distinct.
	for _, tc := range []struct {
		n, distinct int
		want        bool
	}{{1000, 64, true}, {1000, 65, false}, {3, 1, false}, {4, 1, true}, {8, 2, true}, {8, 3, false}} {
		got := dictionaries(tc.n, func(i int) string { return fmt.Sprintf("status-%d", i%tc.distinct) })["new_image.name"]
		if got != tc.want {
			t.Errorf("%d values, %d distinct: dictionary %v, want %v", tc.n, tc.distinct, got, tc.want)
		}
	}
}
