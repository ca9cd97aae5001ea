package encode

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

var created = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

func allTypesEvent(t testing.TB, i int) *record.Event {
	t.Helper()
	ev, err := record.FromStream(recordtest.AllTypes(i, recordtest.Seq(i), created), record.Source{Keyspace: "ks", Table: "all_types", ShardID: "shard-1"})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// wantJSON is the exact JSON text of each column of recordtest.AllTypes(3).
var wantJSON = map[string]string{
	"c_ascii": `"ascii-3"`, "c_bigint": `9223372036854775807`, "c_blob": `"AAEC/wM="`,
	"c_boolean": `false`, "c_counter": `-3`, "c_date": `"2024-02-29"`,
	"c_decimal": `"12345678901234567890.000000000000123"`, "c_double": `3.141592653589793`,
	"c_duration": `"1mo2d3h4m5s6ms7us8ns"`, "c_float": `1.5`, "c_inet": `"2001:db8::1"`,
	"c_int": `-2147483648`, "c_smallint": `32767`, "c_text": `"héllo \"quoted\" \n\t\u2028 3"`,
	"c_time": `"13:14:15.123456789"`, "c_timestamp": `"2024-03-01T00:00:00.123Z"`,
	"c_timeuuid": `"e8f2a4a0-d6b1-11ee-8c90-0242ac120002"`, "c_tinyint": `-128`,
	"c_uuid": `"123e4567-e89b-12d3-a456-426614174000"`, "c_varchar": `"varchar"`,
	"c_varint": `"-123456789012345678901234567890"`, "c_list": `["a","b"]`, "c_set": `[1,2]`,
	"c_map": `{"k1":1,"k2":2}`, "c_map_int": `[{"key":7,"value":["x"]}]`, "c_tuple": `[3,null]`,
	"c_udt": `{"street":"1 Main St","zip":12345,"tags":["home"]}`, "c_null": `null`,
	"c_static": `"static"`,
}

func decompress(t *testing.T, compression string, body []byte) []byte {
	t.Helper()
	switch compression {
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if !zr.ModTime.IsZero() || zr.Name != "" {
			t.Errorf("gzip header carries mtime %v / name %q", zr.ModTime, zr.Name)
		}
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case CompressionZstd:
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		out, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return body
}

func TestJSONLinesRoundTrip(t *testing.T) {
	for _, comp := range []string{CompressionGzip, CompressionZstd, CompressionNone} {
		t.Run(comp, func(t *testing.T) {
			encodeOnce := func() *File {
				b, err := NewBuilder(Options{Format: FormatJSON, Compression: comp, CellMetadata: true})
				if err != nil {
					t.Fatal(err)
				}
				for i := 1; i <= 3; i++ {
					if err := b.Add(context.Background(), allTypesEvent(t, i)); err != nil {
						t.Fatal(err)
					}
				}
				f, err := b.Finish()
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			f := encodeOnce()
			if again := encodeOnce(); !bytes.Equal(f.Body, again.Body) {
				t.Fatal("two encodings of the same events differ")
			}
			if f.Records != 3 {
				t.Errorf("Records = %d", f.Records)
			}
			text := decompress(t, comp, f.Body)
			if f.UncompressedBytes != len(text) {
				t.Errorf("UncompressedBytes = %d, text is %d", f.UncompressedBytes, len(text))
			}
			sc := bufio.NewScanner(bytes.NewReader(text))
			sc.Buffer(nil, 1<<20)
			var lines []map[string]json.RawMessage
			for sc.Scan() {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
					t.Fatalf("line %d: %v", len(lines), err)
				}
				lines = append(lines, m)
			}
			if len(lines) != 3 {
				t.Fatalf("%d lines", len(lines))
			}
			ev := lines[2]
			header := map[string]string{
				"keyspace": `"ks"`, "table": `"all_types"`, "shard_id": `"shard-1"`,
				"sequence_number": `"` + recordtest.Seq(3) + `"`, "created_at": `"2024-03-01T10:00:00.000Z"`,
				"origin": `"USER"`, "op": `"INSERT"`, "old_image": `null`, "old_image_metadata": `null`,
				"keys":               `{"id":"00000000-0000-0000-0000-000000000003","ck":3}`,
				"new_image_metadata": `{"c_ascii":{"write_time":"1709251200123456","expiration_time":"1709337600"}}`,
			}
			for k, want := range header {
				if got := string(ev[k]); got != want {
					t.Errorf("%s = %s, want %s", k, got, want)
				}
			}
			var img map[string]json.RawMessage
			if err := json.Unmarshal(ev["new_image"], &img); err != nil {
				t.Fatal(err)
			}
			if len(img) != len(wantJSON) {
				t.Errorf("new_image has %d columns, want %d", len(img), len(wantJSON))
			}
			for col, want := range wantJSON {
				if got := string(img[col]); got != want {
					t.Errorf("%s = %s, want %s", col, got, want)
				}
			}
			var text3 struct {
				NewImage struct {
					CText string `json:"c_text"`
				} `json:"new_image"`
			}
			if err := json.Unmarshal(bytes.Split(text, []byte("\n"))[2], &text3); err != nil || text3.NewImage.CText != "héllo \"quoted\" \n\t\u2028 3" {
				t.Errorf("c_text decodes to %q (%v)", text3.NewImage.CText, err)
			}
		})
	}
}

func TestAppendValueSpecials(t *testing.T) {
	s := recordtest.S
	tests := []struct {
		name string
		in   streams.CellValue
		want string
	}{
		{"NaN", s(streams.TypeDouble, "NaN"), `"NaN"`},
		{"+Inf", s(streams.TypeDouble, "Infinity"), `"Infinity"`},
		{"-Inf", s(streams.TypeFloat, "-Infinity"), `"-Infinity"`},
		{"float shortest", s(streams.TypeFloat, "0.1"), `0.1`},
		{"double exp", s(streams.TypeDouble, "1e300"), `1e+300`},
		{"empty map", streams.CellValue{Type: streams.TypeMap}, `null`},
		{"empty list", streams.CellValue{Type: streams.TypeList}, `[]`},
		{"uuid-keyed map", streams.CellValue{Type: streams.TypeMap, Entries: []streams.MapEntry{
			{Key: s(streams.TypeUUID, "123e4567-e89b-12d3-a456-426614174000"), Value: s(streams.TypeText, "v")}}},
			`[{"key":"123e4567-e89b-12d3-a456-426614174000","value":"v"}]`},
		{"date", s(streams.TypeDate, "19000"), `"2022-01-08"`},
		{"time", s(streams.TypeTime, "00:00:01"), `"00:00:01.000000000"`},
	}
	for _, tt := range tests {
		v, err := record.ConvertValue(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := string(appendValue(nil, v)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

// normalize unwraps union values ({"array": x}, {"ks.name": x}) and widens integers, so
// decoded Avro compares to plain expectations.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, inner := range x {
				if k == "array" || strings.HasPrefix(k, "ks.") {
					return normalize(inner)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case int:
		return int64(x)
	case int32:
		return int64(x)
	}
	return v
}

// wantAvro is what each column of recordtest.AllTypes(3) decodes to (normalized).
func wantAvro(tupleSecond any) map[string]any {
	return map[string]any{
		"c_ascii": "ascii-3", "c_bigint": int64(math.MaxInt64), "c_blob": []byte{0, 1, 2, 0xff, 3},
		"c_boolean": false, "c_counter": int64(-3), "c_date": time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC),
		"c_decimal": "12345678901234567890.000000000000123", "c_double": 3.141592653589793,
		"c_duration": "1mo2d3h4m5s6ms7us8ns", "c_float": float32(1.5), "c_inet": "2001:db8::1",
		"c_int": int64(math.MinInt32), "c_smallint": int64(32767), "c_text": "héllo \"quoted\" \n\t\u2028 3",
		"c_time":      13*time.Hour + 14*time.Minute + 15*time.Second + 123456*time.Microsecond,
		"c_timestamp": time.UnixMilli(1709251200123).UTC(),
		"c_timeuuid":  "e8f2a4a0-d6b1-11ee-8c90-0242ac120002", "c_tinyint": int64(-128),
		"c_uuid": "123e4567-e89b-12d3-a456-426614174000", "c_varchar": "varchar",
		"c_varint": "-123456789012345678901234567890", "c_list": []any{"a", "b"},
		"c_set":     []any{int64(1), int64(2)},
		"c_map":     []any{map[string]any{"key": "k1", "value": int64(1)}, map[string]any{"key": "k2", "value": int64(2)}},
		"c_map_int": []any{map[string]any{"key": int64(7), "value": []any{"x"}}},
		"c_tuple":   map[string]any{"f0": int64(3), "f1": tupleSecond},
		"c_udt":     map[string]any{"street": "1 Main St", "zip": int64(12345), "tags": []any{"home"}},
		"c_null":    nil, "c_static": "static", "id": nil, "ck": nil,
	}
}

func decodeOCF(t *testing.T, body []byte) ([]map[string]any, map[string][]byte) {
	t.Helper()
	d, err := ocf.NewDecoder(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for d.HasNext() {
		var v map[string]any
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, normalize(v).(map[string]any))
	}
	if err := d.Error(); err != nil {
		t.Fatal(err)
	}
	return out, d.Metadata()
}

func TestAvroRoundTrip(t *testing.T) {
	sources := map[string]func() TableSource{
		"GetTable": func() TableSource { return KeyspacesSource{API: &recordtest.FakeKeyspaces{}} },
		"derived": func() TableSource {
			api := &recordtest.FakeKeyspaces{}
			api.Fail(errors.New("AccessDeniedException"))
			return KeyspacesSource{API: api}
		},
	}
	for srcName, src := range sources {
		for _, codec := range []string{CodecDeflate, CodecSnappy, CodecZstandard, CodecNull} {
			t.Run(srcName+"/"+codec, func(t *testing.T) {
				encodeOnce := func(keepEvents bool) *File {
					b, err := NewBuilder(Options{Format: FormatAvro, Compression: codec, CellMetadata: true,
						Schemas: NewSchemas(src(), true, nil), KeepEvents: keepEvents})
					if err != nil {
						t.Fatal(err)
					}
					for i := 1; i <= 3; i++ {
						if err := b.Add(context.Background(), allTypesEvent(t, i)); err != nil {
							t.Fatal(err)
						}
					}
					f, err := b.Finish()
					if err != nil {
						t.Fatal(err)
					}
					return f
				}
				f := encodeOnce(false)
				if again := encodeOnce(false); !bytes.Equal(f.Body, again.Body) {
					t.Fatal("two encodings of the same events differ")
				}
				if kept := encodeOnce(true); !bytes.Equal(f.Body, kept.Body) {
					t.Fatal("KeepEvents (replay) encoding differs from the streamed one")
				}
				rows, meta := decodeOCF(t, f.Body)
				if string(meta["avro.schema"]) != f.Schema.JSON || string(meta["avro.codec"]) != codec {
					t.Errorf("header metadata: codec %q, schema matches %v", meta["avro.codec"], string(meta["avro.schema"]) == f.Schema.JSON)
				}
				if len(rows) != 3 {
					t.Fatalf("%d rows", len(rows))
				}
				got := rows[2]
				head := map[string]any{"keyspace": "ks", "table": "all_types", "shard_id": "shard-1",
					"sequence_number": recordtest.Seq(3), "created_at": created, "origin": "USER", "op": "INSERT",
					"old_image": nil, "old_image_metadata": nil,
					"keys":               map[string]any{"id": "00000000-0000-0000-0000-000000000003", "ck": int64(3)},
					"new_image_metadata": []any{map[string]any{"column": "c_ascii", "write_time": "1709251200123456", "expiration_time": "1709337600"}},
				}
				for k, want := range head {
					if !reflect.DeepEqual(got[k], want) {
						t.Errorf("%s = %#v, want %#v", k, got[k], want)
					}
				}
				img := got["new_image"].(map[string]any)
				want := wantAvro(nil)
				if len(img) != len(want) {
					t.Errorf("image has %d fields, want %d", len(img), len(want))
				}
				for col, w := range want {
					if !reflect.DeepEqual(img[col], w) {
						t.Errorf("%s = %#v, want %#v", col, img[col], w)
					}
				}
				if srcName == "GetTable" && !strings.Contains(f.Schema.JSON, `"name":"f1","type":["null","string"]`) {
					t.Error("tuple<int, text> from GetTable did not give a string second component")
				}
			})
		}
	}
}

func TestSchemaWidensOnNewColumn(t *testing.T) {
	api := &recordtest.FakeKeyspaces{}
	schemas := NewSchemas(KeyspacesSource{API: api}, false, nil)
	ctx := context.Background()
	ev1 := allTypesEvent(t, 1)
	s1, err := schemas.For(ctx, ev1)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := schemas.For(ctx, allTypesEvent(t, 2)); again != s1 || api.GetTableCalls() != 1 {
		t.Fatalf("covered event changed the schema or called GetTable again (%d calls)", api.GetTableCalls())
	}

	// ALTER TABLE ADD c_new bigint; the next record carries it.
	api.AddColumn("c_new", "bigint")
	ev2 := allTypesEvent(t, 2)
	ev2.NewImage.Columns = append(ev2.NewImage.Columns, record.Field{Name: "c_new", Value: record.Value{Type: streams.TypeBigint, Int: 5}})
	s2, err := schemas.For(ctx, ev2)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Fingerprint == s1.Fingerprint || !strings.Contains(s2.JSON, `"c_new"`) {
		t.Fatal("schema did not gain c_new")
	}
	if err := s2.covers(ev1); err != nil {
		t.Errorf("new version does not cover old events: %v", err)
	}

	// A column GetTable does not know (denied now) is derived from the record.
	api.Fail(errors.New("AccessDeniedException"))
	ev3 := allTypesEvent(t, 3)
	ev3.NewImage.Columns = append(ev3.NewImage.Columns, record.Field{Name: "c-odd name", Value: record.Value{Type: streams.TypeText, Text: "x"}})
	s3, err := schemas.For(ctx, ev3)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s3.JSON, `"name":"c_odd_name","type":["null","string"]`) || !strings.Contains(s3.JSON, `"c_new"`) {
		t.Errorf("derived column missing or c_new lost: %s", s3.JSON)
	}
}

// avroWithABadEvent returns an Avro builder holding allTypesEvent 1, and allTypesEvent 2
// with the value of its column changed by set.
func avroWithABadEvent(t *testing.T, schemas *Schemas, column string, set func(*record.Value)) (Builder, *record.Event) {
	t.Helper()
	b, err := NewBuilder(Options{Format: FormatAvro, Schemas: schemas})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(context.Background(), allTypesEvent(t, 1)); err != nil {
		t.Fatal(err)
	}
	bad := allTypesEvent(t, 2)
	for i, c := range bad.NewImage.Columns {
		if c.Name == column {
			set(&bad.NewImage.Columns[i].Value)
		}
	}
	return b, bad
}

func TestAvroTypeConflictIsRejectedAlone(t *testing.T) {
	ctx := context.Background()
	b, bad := avroWithABadEvent(t, NewSchemas(KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, false, nil), "c_int", func(v *record.Value) {
		*v = record.Value{Type: streams.TypeText, Text: "not an int"}
	})
	if err := b.Add(ctx, bad); !errors.Is(err, ErrTypeConflict) {
		t.Fatalf("Add(conflicting) = %v, want ErrTypeConflict", err)
	}
	if b.Len() != 1 {
		t.Errorf("Len = %d after a rejected event", b.Len())
	}
	if _, err := b.Finish(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckFormat(t *testing.T) {
	tests := []struct{ format, comp, wantErr string }{
		{"json", "gzip", ""}, {"json", "zstd", ""}, {"json", "none", ""},
		{"avro", "deflate", ""}, {"avro", "snappy", ""}, {"avro", "zstandard", ""}, {"avro", "null", ""},
		{"parquet", "zstd", ""}, {"parquet", "snappy", ""}, {"parquet", "gzip", ""}, {"parquet", "none", ""},
		{"json", "deflate", "gzip, zstd, none"}, {"avro", "gzip", "deflate, snappy, zstandard, null"},
		{"parquet", "deflate", "zstd, snappy, gzip, none"}, {"orc", "gzip", "json, avro, parquet"},
	}
	for _, tt := range tests {
		err := CheckFormat(tt.format, tt.comp)
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("CheckFormat(%s, %s) = %v, want %q", tt.format, tt.comp, err, tt.wantErr)
		}
	}
}

func TestAvroName(t *testing.T) {
	for in, want := range map[string]string{"plain": "plain", "1st": "_1st", "a-b c": "a_b_c", "": "_", "é": "_"} {
		if got := AvroName(in); got != want {
			t.Errorf("AvroName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestAvroSchemaChangeWithinAFile: a streamed file ends when an event needs a newer
// schema; a kept-events (replay) file widens instead and holds both.
func TestAvroSchemaChangeWithinAFile(t *testing.T) {
	ctx := context.Background()
	withNew := allTypesEvent(t, 2)
	withNew.NewImage.Columns = append(withNew.NewImage.Columns, record.Field{Name: "c_new", Value: record.Value{Type: streams.TypeText, Text: "n"}})
	for _, keep := range []bool{false, true} {
		api := &recordtest.FakeKeyspaces{}
		b, err := NewBuilder(Options{Format: FormatAvro, Schemas: NewSchemas(KeyspacesSource{API: api}, false, nil), KeepEvents: keep})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(ctx, allTypesEvent(t, 1)); err != nil {
			t.Fatal(err)
		}
		api.AddColumn("c_new", "text")
		err = b.Add(ctx, withNew)
		if !keep {
			if !errors.Is(err, ErrSchemaChanged) || b.Len() != 1 {
				t.Fatalf("streamed: Add = %v, Len %d; want ErrSchemaChanged and 1", err, b.Len())
			}
			f1, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Add(ctx, withNew); err != nil {
				t.Fatal(err)
			}
			f2, err := b.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(f1.Schema.JSON, "c_new") || !strings.Contains(f2.Schema.JSON, "c_new") {
				t.Error("streamed: the second file should carry the new schema, the first the old")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		f, err := b.Finish()
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := decodeOCF(t, f.Body)
		if len(rows) != 2 || rows[0]["new_image"].(map[string]any)["c_new"] != nil || rows[1]["new_image"].(map[string]any)["c_new"] != "n" {
			t.Errorf("kept events: rows %v", len(rows))
		}
	}
}

// TestDatumMatchesGeneric: the direct datum writer encodes what hamba's generic path
// encodes for the same events (schema from GetTable and derived, both images, cell
// metadata): both decode to the same values. (The bytes may differ: hamba writes array
// blocks with their byte size, which Avro allows.)
func TestDatumMatchesGeneric(t *testing.T) {
	for _, src := range []TableSource{KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, nil} {
		schemas := NewSchemas(src, true, nil)
		// A fresh API per schema: hamba caches encoders by schema fingerprint, and two
		// versions referencing a record by the same name share one (see datumWriter).
		api := avro.Config{}.Freeze()
		for i := 1; i <= 3; i++ {
			ev := allTypesEvent(t, i)
			if i == 2 {
				ev.OldImage = ev.NewImage
				ev.NewImage = nil
			}
			if i == 3 {
				ev.OldImage = allTypesEvent(t, 4).NewImage
			}
			s, err := schemas.For(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			native, err := s.Native(ev)
			if err != nil {
				t.Fatal(err)
			}
			generic, err := api.Marshal(s.Schema(), native)
			if err != nil {
				t.Fatal(err)
			}
			direct, err := newDatumWriter(s).encode(ev)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			if err := api.Unmarshal(s.Schema(), generic, &want); err != nil {
				t.Fatal(err)
			}
			if err := api.Unmarshal(s.Schema(), direct, &got); err != nil {
				t.Fatalf("event %d: direct datum does not decode: %v", i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("event %d: direct datum decodes to\n%v\nwant\n%v", i, got, want)
			}
		}
	}
}

func TestRetainsEvents(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		want bool
	}{
		{Options{Format: FormatJSON, Compression: CompressionGzip}, false},
		{Options{Format: FormatAvro, Compression: CodecDeflate, Schemas: NewSchemas(nil, false, nil)}, false},
		{Options{Format: FormatAvro, Compression: CodecDeflate, Schemas: NewSchemas(nil, false, nil), KeepEvents: true}, true},
		{Options{Format: FormatParquet, Compression: CompressionZstd, Schemas: NewSchemas(nil, false, nil)}, true},
	} {
		b, err := NewBuilder(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := RetainsEvents(b); got != tt.want {
			t.Errorf("%s/%s keep %v: RetainsEvents %v, want %v", tt.opts.Format, tt.opts.Compression, tt.opts.KeepEvents, got, tt.want)
		}
	}
}
