package record_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// wireEdgeCases are records whose shape or values take the unusual ways through the
// grammar: each must convert alike through the tree and straight from the wire.
var wireEdgeCases = []string{
	`{"partitionKeys":{"id":{"intT":"1"}},"newImage":{"valueCells":{"a":{"value":{"textT":"x"}}}},"sequenceNumber":"1"}`,
	// Shapes left to the reference path: a member twice (the last one wins), static cells
	// first, clustering keys first.
	`{"partitionKeys":{"id":{"intT":"1"}},"newImage":{"valueCells":{"a":{"value":{"textT":"x"}}}},"newImage":{"valueCells":{"b":{"value":{"intT":"2"}}}}}`,
	`{"partitionKeys":{"id":{"intT":"1"}},"partitionKeys":{"id":{"intT":"2"}}}`,
	`{"newImage":{"staticCells":{"s":{"value":{"intT":"1"}}},"valueCells":{"a":{"value":{"textT":"x"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"}}},"valueCells":{"b":{"value":{"textT":"y"}}}}}`,
	`{"clusteringKeys":{"c":{"intT":"1"}},"partitionKeys":{"id":{"intT":"1"}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"value":{"intT":"1"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"writeTime":"1"},"metadata":null}}}}`,
	`{"newImage":{"valueCells":{"m":{"value":{"mapT":[{"key":{"intT":"1"},"key":{"intT":"2"},"value":{"textT":"v"}}]}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"}}},"rowMetadata":{"writeTime":"1"},"rowMetadata":{"writeTime":"2"}}}`,
	// Nulls and empties.
	`{"newImage":null,"oldImage":{},"partitionKeys":null,"clusteringKeys":{}}`,
	`{"newImage":{"valueCells":null,"staticCells":{"s":null}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{}},"b":{"value":null},"c":{},"d":null}}}`,
	`{"newImage":{"valueCells":{"l":{"value":{"listT":[]}},"m":{"value":{"mapT":[]}},"u":{"value":{"udtT":{}}},"t":{"value":{"tupleT":[null,{"value":null},{}]}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":null}}},"rowMetadata":null}`,
	// Every scalar, as strings and as numbers where allowed, with escapes.
	`{"newImage":{"valueCells":{"a":{"value":{"asciiT":"a\"b\\c\u00e9\ud83d\ude00"}},"b":{"value":{"bigintT":-9223372036854775808}},"c":{"value":{"blobT":"AAEC"}},"d":{"value":{"boolT":true}},"e":{"value":{"counterT":"5"}},"f":{"value":{"dateT":"2024-02-29"}},"g":{"value":{"decimalT":1.5e3}},"h":{"value":{"doubleT":"NaN"}},"i":{"value":{"durationT":"1h2m"}},"j":{"value":{"floatT":2.5}},"k":{"value":{"inetT":"::1"}},"l":{"value":{"intT":7}},"n":{"value":{"smallintT":"-3"}},"o":{"value":{"timestampT":1709251200123}},"p":{"value":{"timeT":"13:14:15.5"}},"q":{"value":{"timeuuidT":"4891de18-c952-1a8b-9306-c439892cbc41"}},"r":{"value":{"tinyintT":"-128"}},"s":{"value":{"uuidT":"123e4567-e89b-12d3-a456-426614174000"}},"t":{"value":{"varcharT":"v"}},"u":{"value":{"varintT":"123456789012345678901234567890"}},"v":{"value":{"boolT":false}},"w":{"value":{"blobT":""}}}}}`,
	`{"newImage":{"valueCells":{"x":{"value":{"udtT":{"f":{"value":{"mapT":[{"key":{"textT":"k"},"value":{"listT":[{"value":{"intT":"1"}}]},"metadata":{"writeTime":"1"}}]}},"g":{"value":{"setT":[{"value":{"udtT":{"h":{"value":{"tupleT":[{"value":{"boolT":true}}]}}}}}]}}}}}}}}`,
	// The compact forms the reader matches byte for byte, and forms that leave them halfway:
	// white space, an escaped member name, members after or before the usual ones, metadata
	// members in another order or twice.
	`{"partitionKeys":{"id":{"intT" :"1"}},"newImage":{"valueCells":{"a":{ "value":{"textT":"x"}},"b":{"value": {"intT":"2"}},"c":{"value":{"intT":"3"} ,"metadata":{"writeTime":"1"}}}}}`,
	`{"partitionKeys":{"id":{"in\u0074T":"1"}},"newImage":{"valueCells":{"a":{"value":{"text\u0054":"x"},"metadata":{"writeTime":"1"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"writeTime":"1"},"later":[1,{"b":null}]},"b":{"value":{"textT":"y"},"later":true}}}}`,
	`{"newImage":{"valueCells":{"a":{"metadata":{"writeTime":"1"},"value":{"textT":"x"}},"b":{"later":1,"value":{"intT":"1"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"expirationTime":"2","writeTime":"1"}},"b":{"value":{"textT":"y"},"metadata":{"writeTime":"1","expirationTime":"2","writeTime":"3","later":{}}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"writeTime":1700000000000000,"expirationTime":1.5e9}},"b":{"value":{"textT":"y"},"metadata":{}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"listT":[{"value":{"intT":"1"},"metadata":{"writeTime":"1"}},{"value":{"intT":"2"},"later":1}]},"metadata":{"writeTime":"1"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"writeTime":"1"},"value":{"intT":"1"}}}}}`,
	// A member refused, then sent again: the later one replaces it (the reference takes the
	// record; found by the fuzz test).
	`{"partitionKeys":{"00":{"0000":"0"}},"partitionKeys":{}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"x"}}}},"newImage":null}`,
	`{"newImage":{"valueCells":{"a":{"value":{"futureT":"x"},"value":{"intT":"1"}}}}}`,
	// Errors: each must be refused both ways.
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"1"},"metadata":{"writeTime":"1"},"x"}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"1"},"metadata":{"writeTime":"1",}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"1"},"metadata":{"writeTime":"1","expirationTime":}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"1"},"metadata":{"writeTime":"1"}},}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"1"},}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"1",}}}}}`,
	`{"partitionKeys":{"id":{"intT":"1","textT":"x"}}}`,
	`{"partitionKeys":{"id":{"boolT":true,"textT":"x"}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"listT":[],"intT":"1"}}}}}`,
	// ... and one brace short: a reader that took the second member for the cell's would
	// come out even, were the envelope's syntax check ever to let such a record through.
	`{"newImage":{"valueCells":{"a":{"value":{"listT":[],"intT":"1"}}}}`,
	`{"partitionKeys":{"id":{"boolT":true,"textT":"x"}}`,
	`{"partitionKeys":{"id":{"intT":"x"}}}`,
	`{"partitionKeys":{"id":{"futureT":"1"}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"writeTime":"1"}}x}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"\x"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"futureT":"x"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x","intT":"1"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"futureT":"x","intT":"1"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"intT":"x"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"tinyintT":"128"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":1}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"boolT":"true"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"blobT":"!!"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"blobT":1}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"udtT":null}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"listT":null}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"mapT":[{"key":{"intT":"z"}}]}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"},"metadata":{"writeTime":true}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"textT":"x"}}},"rowMetadata":{"writeTime":[]}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"listT":[{"value":{"textT":"x"},"metadata":{"expirationTime":{}}}]}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"uuidT":"not-a-uuid"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"dateT":"2024-02-30"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"timestampT":"yesterday"}}}}}`,
	`{"newImage":{"valueCells":{"a":{"value":{"inetT":"300.1.1.1"}}}}}`,
	`{"newImage":{"valueCells":{"a":"x"}}}`,
	`{"newImage":{"valueCells":[]}}`,
	`{"newImage":5}`,
	`{"partitionKeys":[]}`,
	`{"partitionKeys":{"id":{"intT":"1"}},"newImage":{"valueCells":{"a":{"value":{"textT":"x"}}}},"origin":"TTL"}`,
	`{"oldImage":{"valueCells":{"a":{"value":{"textT":"x"}}}}}`,
	`{"createdAt":"x"}`,
	`null`,
	`[]`,
}

func TestDeferredRecordsConvertAlike(t *testing.T) {
	var raws [][]byte
	for _, c := range wireEdgeCases {
		raws = append(raws, []byte(c))
	}
	for _, wrap := range []string{`{"listT":[{"value":%s}]}`, `{"mapT":[{"key":{"intT":"1"},"value":%s}]}`, `{"udtT":{"f":{"value":%s}}}`} {
		raws = append(raws, nestedTooDeep(streams.MaxNesting, wrap), nestedTooDeep(streams.MaxNesting+1, wrap))
	}
	raws = append(raws, workloadRecords(t, 300)...)
	raws = append(raws, testdataRecords(t)...)
	// Each again with white space between every token: the wire reader matches the compact
	// form the stream sends byte for byte and reads any other form the general way, so
	// both of its ways are held to the reference.
	for _, raw := range raws[:len(raws):len(raws)] {
		var spaced bytes.Buffer
		if json.Indent(&spaced, raw, "", " ") == nil {
			raws = append(raws, spaced.Bytes())
		}
	}
	views := []string{"", record.ViewNewAndOldImages, record.ViewNewImage, record.ViewOldImage, record.ViewKeysOnly}
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "s"}
	var reused record.Event
	for i, raw := range raws {
		src.ViewType = views[i%len(views)]
		want, wantErr := viaTree(raw, src)
		got, gotErr := viaWire(raw, src, nil)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("record %d %s:\nstraight from the wire: %v\nthrough the tree: %v", i, raw, gotErr, wantErr)
		}
		if wantErr != nil {
			continue
		}
		// FromStreamInto lets the reference path decide a record the wire reader refuses;
		// the reader itself must refuse no record the reference takes but for a member
		// sent twice (the later one may replace the one refused).
		if err := record.WireAlone(raw, src.ViewType); err != nil && !errors.Is(err, record.ErrReshape) && !repeatsMember(raw) {
			t.Fatalf("record %d %s: the wire reader alone refuses it: %v", i, raw, err)
		}
		if !sameEvent(got, want) {
			t.Fatalf("record %d %s:\nstraight from the wire: %s\nthrough the tree:       %s", i, raw,
				encode.AppendJSON(nil, got, true), encode.AppendJSON(nil, want, true))
		}
		// The same into a reused event (what the JSON Lines and Avro writers do).
		again, err := viaWire(raw, src, &reused)
		if err != nil {
			t.Fatalf("record %d %s: into a reused event: %v", i, raw, err)
		}
		if a, b := encode.AppendJSON(nil, again, true), encode.AppendJSON(nil, want, true); !bytes.Equal(a, b) {
			t.Fatalf("record %d %s:\ninto a reused event: %s\nthrough the tree:   %s", i, raw, a, b)
		}
		reused.Clear()
	}
}

// TestCloneOutlivesTheReusedEvent: a clone keeps its record's content when the event it was
// cloned from takes the next record (what the Parquet and Iceberg writers rely on).
func TestCloneOutlivesTheReusedEvent(t *testing.T) {
	raws := workloadRecords(t, 50)
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "s"}
	var ev record.Event
	var clones []*record.Event
	for _, raw := range raws {
		if _, err := viaWire(raw, src, &ev); err != nil {
			t.Fatal(err)
		}
		clones = append(clones, ev.Clone())
		ev.Clear()
	}
	for i, raw := range raws {
		want, err := viaTree(raw, src)
		if err != nil {
			t.Fatal(err)
		}
		if !sameEvent(clones[i], want) {
			t.Fatalf("clone %d: %s\nwant %s", i, encode.AppendJSON(nil, clones[i], true), encode.AppendJSON(nil, want, true))
		}
	}
}

// FuzzDeferredRecordsConvertAlike: whatever the bytes, a record converts alike (or is
// refused alike) straight from the wire and through the tree.
func FuzzDeferredRecordsConvertAlike(f *testing.F) {
	for _, c := range wireEdgeCases {
		f.Add([]byte(c))
	}
	for _, raw := range workloadRecords(f, 20) {
		f.Add(raw)
	}
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "s"}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantErr := viaTree(raw, src)
		got, gotErr := viaWire(bytes.Clone(raw), src, nil)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q:\nstraight from the wire: %v\nthrough the tree: %v", raw, gotErr, wantErr)
		}
		if wantErr == nil && !sameEvent(got, want) {
			t.Fatalf("%q:\nstraight from the wire: %s\nthrough the tree:       %s", raw,
				encode.AppendJSON(nil, got, true), encode.AppendJSON(nil, want, true))
		}
	})
}

// viaTree is the reference: the whole record decoded, then converted.
func viaTree(raw []byte, src record.Source) (*record.Event, error) {
	rec, err := streams.DecodeRecord(raw)
	if err != nil {
		return nil, err
	}
	return record.FromStream(&rec, src)
}

// viaWire is the pipeline's way: the envelope decoded, the rest read from the wire into ev
// (a new event when nil).
func viaWire(raw []byte, src record.Source, ev *record.Event) (*record.Event, error) {
	rec, err := streams.DecodeRecordEnvelope(raw)
	if err != nil {
		return nil, err
	}
	if !rec.Deferred {
		panic("envelope not deferred")
	}
	if ev == nil {
		return record.FromStream(&rec, src)
	}
	return ev, record.FromStreamInto(ev, &rec, src)
}

// nestedTooDeep is a record whose one value nests collections depth deep, each wrap (a
// format with one %s: a list, map or UDT of it) of the one inside, a scalar innermost.
func nestedTooDeep(depth int, wrap string) []byte {
	v := `{"intT":"1"}`
	for range depth {
		v = fmt.Sprintf(wrap, v)
	}
	return []byte(`{"newImage":{"valueCells":{"a":{"value":` + v + `}}}}`)
}

// workloadRecords are n records of each view type from the emulator's workload (every CQL
// type of media_content, deletes, TTL expiries, static updates, large rows).
func workloadRecords(t testing.TB, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, view := range []string{record.ViewNewAndOldImages, record.ViewNewImage, record.ViewOldImage, record.ViewKeysOnly} {
		w, err := emulator.NewWorkload(emulator.WorkloadConfig{Seed: 7, ViewType: view, LargeRowRate: 0.02, LargeRowBytes: 5000})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1700000000, 0)
		for i := range n {
			r := w.Next(now.Add(time.Duration(i) * time.Millisecond))
			r.EventVersion, r.SequenceNumber = "1.0", "000000000000000000001"
			out = append(out, streams.EncodeRecord(&r))
		}
	}
	return out
}

// testdataRecords are the emulator command's sample records.
func testdataRecords(t *testing.T) [][]byte {
	data, err := os.ReadFile("../cmd/streams-emulator/testdata/records.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, []byte(line))
		}
	}
	return out
}

// sameEvent compares what two events hold (not the room they keep for reuse); NaNs are
// equal, and zero's sign counts.
func sameEvent(a, b *record.Event) bool {
	if a.Keyspace != b.Keyspace || a.Table != b.Table || a.ShardID != b.ShardID ||
		a.SequenceNumber != b.SequenceNumber || a.CreatedAt != b.CreatedAt || a.Origin != b.Origin || a.Op != b.Op {
		return false
	}
	if !sameFields(a.Keys, b.Keys) {
		return false
	}
	for _, imgs := range [][2]*record.Image{{a.NewImage, b.NewImage}, {a.OldImage, b.OldImage}} {
		if (imgs[0] == nil) != (imgs[1] == nil) || imgs[0] != nil && !sameFields(imgs[0].Columns, imgs[1].Columns) {
			return false
		}
	}
	return true
}

func sameFields(a, b []record.Field) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Name != y.Name || x.Static != y.Static || (x.Meta == nil) != (y.Meta == nil) ||
			x.Meta != nil && *x.Meta != *y.Meta || !sameValue(x.Value, y.Value) {
			return false
		}
	}
	return true
}

func sameValue(a, b record.Value) bool {
	sameFloat := math.Float64bits(a.Float) == math.Float64bits(b.Float) || math.IsNaN(a.Float) && math.IsNaN(b.Float)
	if a.Type != b.Type || a.Int != b.Int || !sameFloat || a.Bool != b.Bool || a.Text != b.Text ||
		!bytes.Equal(a.Bytes, b.Bytes) || (a.Bytes == nil) != (b.Bytes == nil) || a.Time != b.Time ||
		a.TimeOfDay != b.TimeOfDay || len(a.Elems) != len(b.Elems) || (a.Elems == nil) != (b.Elems == nil) ||
		len(a.Entries) != len(b.Entries) || (a.Entries == nil) != (b.Entries == nil) || !sameFields(a.Fields, b.Fields) {
		return false
	}
	for i := range a.Elems {
		if !sameValue(a.Elems[i], b.Elems[i]) {
			return false
		}
	}
	for i := range a.Entries {
		if !sameValue(a.Entries[i].Key, b.Entries[i].Key) || !sameValue(a.Entries[i].Value, b.Entries[i].Value) {
			return false
		}
	}
	return true
}

// BenchmarkConvert: what the sink does with each ~1 KB record of a GetRecords answer, into
// the writer's reused event, the answer already decoded (BenchmarkDecodeGetRecords in
// consumer/streams times that: "whole" goes with "tree" here, "envelope" with "wire"). "tree"
// converts the record's decoded CellValues; "wire" reads its keys and images from Raw.
func BenchmarkConvert(b *testing.B) {
	w, err := emulator.NewWorkload(emulator.WorkloadConfig{Seed: 1, RowBytes: 1024, ViewType: streams.ViewNewImage})
	if err != nil {
		b.Fatal(err)
	}
	var raws [][]byte
	for now := time.Unix(1700000000, 0); len(raws) < 1000; now = now.Add(time.Millisecond) {
		r := w.Next(now)
		r.EventVersion, r.SequenceNumber = "1.0", "000000000000000000001"
		raws = append(raws, streams.EncodeRecord(&r))
	}
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "s"}
	for _, way := range []struct {
		name   string
		decode func([]byte) (streams.Record, error)
	}{{"tree", streams.DecodeRecord}, {"wire", streams.DecodeRecordEnvelope}} {
		recs := make([]streams.Record, len(raws))
		for i, raw := range raws {
			if recs[i], err = way.decode(raw); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			var ev record.Event
			for i := 0; b.Loop(); i++ {
				if err := record.FromStreamInto(&ev, &recs[i%len(recs)], src); err != nil {
					b.Fatal(err)
				}
				ev.Clear()
			}
		})
	}
}

// repeatsMember says whether raw (valid JSON) has an object with a member name twice.
func repeatsMember(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object bool
		names  map[string]bool
		key    bool // the next token of an object is a member name
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].key {
			if name, ok := tok.(string); ok {
				if stack[n-1].names[name] {
					return true
				}
				stack[n-1].names[name], stack[n-1].key = true, false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{object: true, names: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].key = true // a value ended: a name or the end comes next
		}
	}
}
