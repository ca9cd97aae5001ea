package record

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

func TestConvertValueScalars(t *testing.T) {
	s := recordtest.S
	tests := []struct {
		name string
		in   streams.CellValue
		want Value
	}{
		{"tinyint", s(streams.TypeTinyint, "-128"), Value{Type: streams.TypeTinyint, Int: -128}},
		{"smallint", s(streams.TypeSmallint, "32767"), Value{Type: streams.TypeSmallint, Int: 32767}},
		{"int", s(streams.TypeInt, "-2147483648"), Value{Type: streams.TypeInt, Int: math.MinInt32}},
		{"bigint max", s(streams.TypeBigint, "9223372036854775807"), Value{Type: streams.TypeBigint, Int: math.MaxInt64}},
		{"counter", s(streams.TypeCounter, "42"), Value{Type: streams.TypeCounter, Int: 42}},
		{"double", s(streams.TypeDouble, "2.5e-3"), Value{Type: streams.TypeDouble, Float: 2.5e-3}},
		{"float", s(streams.TypeFloat, "1.5"), Value{Type: streams.TypeFloat, Float: 1.5}},
		{"bool", streams.CellValue{Type: streams.TypeBool, Bool: true}, Value{Type: streams.TypeBool, Bool: true}},
		{"text", s(streams.TypeText, "a\"b"), Value{Type: streams.TypeText, Text: "a\"b"}},
		{"inet4", s(streams.TypeInet, "10.0.0.1"), Value{Type: streams.TypeInet, Text: "10.0.0.1"}},
		{"varint", s(streams.TypeVarint, "-123456789012345678901234567890"), Value{Type: streams.TypeVarint, Text: "-123456789012345678901234567890"}},
		{"decimal", s(streams.TypeDecimal, "1.50E+3"), Value{Type: streams.TypeDecimal, Text: "1.50E+3"}},
		{"timestamp ms", s(streams.TypeTimestamp, "1709251200123"), Value{Type: streams.TypeTimestamp, Time: time.UnixMilli(1709251200123).UTC()}},
		{"timestamp iso", s(streams.TypeTimestamp, "2024-03-01T00:00:00.123456Z"), Value{Type: streams.TypeTimestamp, Time: time.UnixMilli(1709251200123).UTC()}},
		{"timestamp offset", s(streams.TypeTimestamp, "2024-03-01 01:00:00.123+0100"), Value{Type: streams.TypeTimestamp, Time: time.UnixMilli(1709251200123).UTC()}},
		{"date text", s(streams.TypeDate, "2024-02-29"), Value{Type: streams.TypeDate, Time: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)}},
		{"date days", s(streams.TypeDate, "-1"), Value{Type: streams.TypeDate, Time: time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC)}},
		{"time text", s(streams.TypeTime, "13:14:15.123"), Value{Type: streams.TypeTime, TimeOfDay: 13*time.Hour + 14*time.Minute + 15*time.Second + 123*time.Millisecond}},
		{"time nanos", s(streams.TypeTime, "1000000001"), Value{Type: streams.TypeTime, TimeOfDay: time.Second + 1}},
		{"null", streams.CellValue{}, Value{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ConvertValue(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != tt.want.Type || got.Int != tt.want.Int || got.Float != tt.want.Float ||
				got.Bool != tt.want.Bool || got.Text != tt.want.Text || !got.Time.Equal(tt.want.Time) ||
				got.Time.Location() != tt.want.Time.Location() || got.TimeOfDay != tt.want.TimeOfDay {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestConvertValueErrors(t *testing.T) {
	s := recordtest.S
	tests := []struct {
		name string
		in   streams.CellValue
		want string // part of the error
	}{
		{"unknown member", streams.CellValue{Unknown: "vectorT"}, `unknown CQL value type "vectorT"`},
		{"int text", s(streams.TypeInt, "12a"), `int "12a"`},
		{"int overflow", s(streams.TypeInt, "2147483648"), "out of range"},
		{"tinyint overflow", s(streams.TypeTinyint, "128"), "out of range"},
		{"bigint overflow", s(streams.TypeBigint, "9223372036854775808"), "out of range"},
		{"double", s(streams.TypeDouble, "pi"), "double"},
		{"bad date", s(streams.TypeDate, "2024-02-30"), "not a date"},
		{"bad time", s(streams.TypeTime, "25:00:00"), "not a time of day"},
		{"bad timestamp", s(streams.TypeTimestamp, "yesterday"), "not a timestamp"},
		{"bad uuid", s(streams.TypeUUID, "123"), "not a UUID"},
		{"bad inet", s(streams.TypeInet, "300.1.1.1"), "inet"},
		{"bad varint", s(streams.TypeVarint, "1.5"), "not an integer"},
		{"bad decimal", s(streams.TypeDecimal, "1,5"), "not a decimal"},
		{"nested", streams.CellValue{Type: streams.TypeList, Elems: []streams.Cell{recordtest.C(s(streams.TypeInt, "x"))}}, "list element 0"},
		{"unknown type name", streams.CellValue{Type: "vector"}, "unknown CQL value type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ConvertValue(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFloatSpecials(t *testing.T) {
	for _, text := range []string{"NaN", "Infinity", "-Infinity"} {
		v, err := ConvertValue(recordtest.S(streams.TypeDouble, text))
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		if !math.IsNaN(v.Float) && !math.IsInf(v.Float, 0) {
			t.Errorf("%s: got %v", text, v.Float)
		}
	}
}

func TestParseType(t *testing.T) {
	tests := []struct{ in, want string }{
		{"text", "text"},
		{"boolean", "boolean"},
		{"list<text>", "list<text>"},
		{"map<text, int>", "map<text, int>"},
		{"frozen<tuple<int, text>>", "tuple<int, text>"},
		{"frozen<address>", "address"},
		{"map<int, frozen<list<frozen<map<text,bigint>>>>>", "map<int, list<map<text, bigint>>>"},
		{`frozen<"Odd Type">`, "Odd Type"},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got.String() != tt.want {
			t.Errorf("ParseType(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"", "list<", "map<text>", "list<int, int>", "text>"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q): no error", bad)
		}
	}
}

func TestInferOp(t *testing.T) {
	img := &streams.Row{}
	tests := []struct {
		name string
		rec  streams.Record
		view string
		want Op
	}{
		{"new and old", streams.Record{NewImage: img, OldImage: img}, "", OpUpdate},
		{"new only", streams.Record{NewImage: img}, ViewNewAndOldImages, OpInsert},
		{"new only, new image view", streams.Record{NewImage: img}, ViewNewImage, OpInsert},
		{"old only", streams.Record{OldImage: img}, ViewNewAndOldImages, OpDelete},
		{"keys only", streams.Record{}, ViewNewImage, OpDelete},
		{"ttl", streams.Record{Origin: "TTL", OldImage: img}, "", OpDelete},
		{"old image view", streams.Record{OldImage: img}, ViewOldImage, OpUnknown},
		{"keys only view", streams.Record{}, ViewKeysOnly, OpUnknown},
	}
	for _, tt := range tests {
		if got := InferOp(&tt.rec, tt.view); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestFromStreamAllTypes(t *testing.T) {
	created := time.Date(2024, 3, 1, 10, 30, 0, 123456789, time.UTC)
	rec := recordtest.AllTypes(3, recordtest.Seq(3), created)
	ev, err := FromStream(rec, Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.Op != OpInsert || ev.SequenceNumber != recordtest.Seq(3) || !ev.CreatedAt.Equal(created.Truncate(time.Millisecond)) {
		t.Errorf("event header %+v", ev)
	}
	if len(ev.Keys) != 2 || ev.Keys[0].Name != "id" || ev.Keys[1].Value.Int != 3 {
		t.Errorf("keys %+v", ev.Keys)
	}
	cols := ev.NewImage.Columns
	last := cols[len(cols)-1]
	if last.Name != "c_static" || !last.Static || cols[0].Static {
		t.Errorf("static column not marked: %+v", last)
	}
	if cols[0].Meta == nil || cols[0].Meta.WriteTime != "1709251200123456" {
		t.Errorf("metadata lost: %+v", cols[0])
	}
	if ev.OldImage != nil {
		t.Error("old image invented")
	}

	rec.NewImage.ValueCells[5].Value = recordtest.S(streams.TypeDate, "2024-13-01")
	if _, err := FromStream(rec, Source{}); err == nil || !strings.Contains(err.Error(), "column c_date") {
		t.Errorf("bad date: error %v", err)
	}
}

// The hand-written UUID and decimal checks accept exactly what the regular expressions they
// replaced accepted.
func TestTextChecksMatchTheirRegexps(t *testing.T) {
	uuidRE := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	decimalRE := regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)
	inputs := []string{"", "0", "-1.5", "+.5", "5.", ".", "-", "+e1", "1e", "1e+", "1E-7", "1.5e10", "1.5e1.0",
		" 1", "1 ", "1..2", "0x10", "12345678901234567890.123", ".e1", "1.e5",
		"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
		"123e4567e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-42661417400", "123e4567-e89b-12d3-a456-4266141740000",
		"123g4567-e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456_426614174000", "123e4567-e89b-12d3-a456-42661417400-",
		"123e456--e89b-12d3-a456-426614174000", "123e4567-e89b-12d3-a456-4266141740\x00\x00", "123e4567-e89b-12d3-a456-42661417400\xe9", "{123e4567-e89b-12d3-a456-426614174000}"}
	for _, s := range inputs {
		if got, want := isUUID(s), uuidRE.MatchString(s); got != want {
			t.Errorf("isUUID(%q) = %v, the regexp says %v", s, got, want)
		}
		if got, want := isDecimal(s), decimalRE.MatchString(s); got != want {
			t.Errorf("isDecimal(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

// An event converted into again holds the new record alone: nothing of the one before.
func TestFromStreamIntoReusesWithoutTrace(t *testing.T) {
	cell := func(text string, meta bool) streams.Cell {
		c := streams.Cell{Value: streams.CellValue{Type: streams.TypeText, Text: text}}
		if meta {
			c.Metadata = &streams.Metadata{WriteTime: "w-" + text}
		}
		return c
	}
	big := &streams.Record{SequenceNumber: "1", Origin: "USER",
		PartitionKeys:  []streams.Column{{Name: "k", Value: streams.CellValue{Type: streams.TypeText, Text: "a"}}},
		ClusteringKeys: []streams.Column{{Name: "c", Value: streams.CellValue{Type: streams.TypeText, Text: "b"}}},
		NewImage:       &streams.Row{ValueCells: []streams.NamedCell{{Name: "x", Cell: cell("1", true)}, {Name: "y", Cell: cell("2", true)}}},
		OldImage:       &streams.Row{ValueCells: []streams.NamedCell{{Name: "x", Cell: cell("0", true)}}}}
	small := &streams.Record{SequenceNumber: "2", Origin: "USER",
		PartitionKeys: []streams.Column{{Name: "k", Value: streams.CellValue{Type: streams.TypeText, Text: "z"}}},
		NewImage:      &streams.Row{ValueCells: []streams.NamedCell{{Name: "x", Cell: cell("9", false)}, {Name: "y", Cell: cell("8", true)}}}}
	src := Source{Keyspace: "ks", Table: "t", ShardID: "s"}
	var ev Event
	for _, rec := range []*streams.Record{big, small, big, small} {
		if err := FromStreamInto(&ev, rec, src); err != nil {
			t.Fatal(err)
		}
		want, err := FromStream(rec, src)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ev.Keys, want.Keys) || ev.SequenceNumber != want.SequenceNumber ||
			!reflect.DeepEqual(ev.NewImage.Columns, want.NewImage.Columns) || (ev.OldImage == nil) != (want.OldImage == nil) ||
			(want.OldImage != nil && !reflect.DeepEqual(ev.OldImage.Columns, want.OldImage.Columns)) {
			t.Fatalf("record %s: reused event %+v, want %+v", rec.SequenceNumber, ev, want)
		}
	}
	ev.Clear()
	if ev.NewImage != nil || len(ev.Keys) != 0 || ev.SequenceNumber != "" {
		t.Fatalf("cleared event %+v", ev)
	}
	for _, f := range append(ev.Keys[:cap(ev.Keys)], ev.images[0].Columns[:cap(ev.images[0].Columns)]...) {
		if f.Name != "" || f.Value.Text != "" || f.Meta != nil {
			t.Fatalf("a cleared event still holds %+v", f)
		}
	}
	for _, m := range ev.images[1].metas[:cap(ev.images[1].metas)] {
		if m.WriteTime != "" {
			t.Fatalf("a cleared event still holds metadata %+v", m)
		}
	}
	if err := FromStreamInto(&ev, &streams.Record{DecodeErr: errors.New("bad")}, src); err == nil {
		t.Fatal("an undecodable record converted")
	}
}

// isInteger stands for big.Int's SetString(s, 10) in the varint check, and guards ParseInt.
func TestIsIntegerIsWhatBigIntAccepts(t *testing.T) {
	for _, s := range []string{"", "0", "-0", "+7", "-", "+", "12a", "1_000", "0x10", " 1", "1 ", "--1",
		"123456789012345678901234567890", "-98765432109876543210", "1e3", "1.0", "٣"} {
		_, ok := new(big.Int).SetString(s, 10)
		if got := isInteger(s); got != ok {
			t.Errorf("%q: isInteger %v, big.Int %v", s, got, ok)
		}
		if _, err := strconv.ParseInt(s, 10, 64); err == nil && !isInteger(s) {
			t.Errorf("%q: ParseInt takes it, isInteger does not", s)
		}
	}
}

// TestClearLeavesNothingBehind: however records of different lengths follow one another
// into a reused event, cleared between them or not, by either path (the wire, the tree, the
// wire handing a shape to the tree), Clear leaves no value in the room the event keeps.
func TestClearLeavesNothingBehind(t *testing.T) {
	long := `{"partitionKeys":{"a":{"textT":"x"},"b":{"intT":"1"}},"clusteringKeys":{"c":{"textT":"y"}},` +
		`"newImage":{"valueCells":{"d":{"value":{"textT":"1"},"metadata":{"writeTime":"1"}},"e":{"value":{"listT":[{"value":{"intT":"2"}}]},"metadata":{"writeTime":"2"}},"m":{"value":{"mapT":[{"key":{"textT":"k"},"value":{"udtT":{"u":{"value":{"textT":"v"}}}}}]}},"f":{"value":{"textT":"3"}}},"staticCells":{"g":{"value":{"textT":"4"},"metadata":{"writeTime":"4"}}}},` +
		`"oldImage":{"valueCells":{"d":{"value":{"textT":"5"},"metadata":{"writeTime":"5"}},"h":{"value":{"textT":"6"},"metadata":{"writeTime":"6"}}}}}`
	short := `{"partitionKeys":{"a":{"textT":"z"}},"newImage":{"valueCells":{"d":{"value":{"textT":"7"}}}}}`
	reshaped := `{"clusteringKeys":{"c":{"textT":"y"}},"partitionKeys":{"a":{"textT":"x"}},"oldImage":{"valueCells":{"d":{"value":{"textT":"8"},"metadata":{"writeTime":"8"}}}}}`
	bad := `{"partitionKeys":{"a":{"textT":"x"},"b":{"intT":"x"}}}`
	decoders := map[string]func([]byte) (streams.Record, error){"wire": streams.DecodeRecordEnvelope, "tree": streams.DecodeRecord}
	var ev Event
	for _, order := range [][]string{{long, short}, {long, reshaped}, {long, bad}, {reshaped, short}, {long, long, short}, {short, long}} {
		for _, way := range []string{"wire", "tree"} {
			for _, raw := range order { // no Clear between them: each overwrites the last
				rec, err := decoders[way]([]byte(raw))
				if err != nil {
					t.Fatal(err)
				}
				_ = FromStreamInto(&ev, &rec, Source{})
			}
			ev.Clear()
			if !zeroPastLength(ev.Keys) || !zeroPastLength(ev.images[0].Columns) || !zeroPastLength(ev.images[1].Columns) ||
				!zeroPastLength(ev.images[0].metas) || !zeroPastLength(ev.images[1].metas) ||
				ev.wire != nil && (!zeroPastLength(ev.wire.valueRoom.chunk) || !zeroPastLength(ev.wire.entryRoom.chunk) ||
					!zeroPastLength(ev.wire.fieldRoom.chunk)) {
				t.Fatalf("%s %d records: a value is left after Clear: %+v", way, len(order), ev)
			}
		}
	}
}

// zeroPastLength says whether s, up to its capacity, holds only zero values.
func zeroPastLength[T any](s []T) bool {
	var zero T
	for _, v := range s[:cap(s)] {
		if !reflect.DeepEqual(v, zero) {
			return false
		}
	}
	return true
}

// TestCanonicalDateAgreesWithTimeParse: the fast reading of "yyyy-mm-dd" gives time.Parse's
// time for every day of years around the edges (leap years of every kind), and leaves to it
// every string it does not read (bad days and months, other shapes).
func TestCanonicalDateAgreesWithTimeParse(t *testing.T) {
	var inputs []string
	for _, y := range []int{0, 1, 4, 100, 400, 1900, 1970, 2000, 2023, 2024, 2100, 9999} {
		for m := 0; m <= 13; m++ {
			for d := 0; d <= 32; d++ {
				inputs = append(inputs, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	inputs = append(inputs, "2024-1-01", "2024-01-1", "2024/01/01", "+024-01-01", "2024-01-0a", "2024-01-01 ", "20240101", "")
	for _, s := range inputs {
		want, wantErr := time.Parse("2006-01-02", s)
		got, ok := canonicalDate(s)
		switch {
		case ok && wantErr != nil:
			t.Errorf("canonicalDate(%q) = %v, time.Parse refuses it: %v", s, got, wantErr)
		case ok && got != want:
			t.Errorf("canonicalDate(%q) = %v, time.Parse %v", s, got, want)
		case !ok && wantErr == nil && len(s) == 10:
			t.Errorf("canonicalDate(%q) left a canonical date to time.Parse", s)
		}
	}
}
