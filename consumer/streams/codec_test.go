package streams

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func txt(t CQLType, s string) CellValue { return CellValue{Type: t, Text: s} }
func c(v CellValue) Cell                { return Cell{Value: v} }

func TestDecodeCellValue(t *testing.T) {
	tests := []struct {
		file string
		want CellValue
	}{
		{"ascii", txt(TypeASCII, "hello")},
		{"bigint", txt(TypeBigint, "-9223372036854775808")},
		{"bigint_number", txt(TypeBigint, "9223372036854775807")},
		{"blob", CellValue{Type: TypeBlob, Blob: []byte{0, 1, 2, 0xff}}},
		{"bool", CellValue{Type: TypeBool, Bool: true}},
		{"counter", txt(TypeCounter, "42")},
		{"date_iso", txt(TypeDate, "2024-02-29")},
		{"date_days", txt(TypeDate, "19782")},
		{"decimal", txt(TypeDecimal, "-123456789012345678901234567890.000000000000000001")},
		{"double", txt(TypeDouble, "1.7976931348623157E308")},
		{"duration", txt(TypeDuration, "1mo2d3h4m5s6ms7us8ns")},
		{"duration_iso", txt(TypeDuration, "P1Y2M3DT4H5M6S")},
		{"float", txt(TypeFloat, "-Infinity")},
		{"inet", txt(TypeInet, "2001:db8::1")},
		{"int", txt(TypeInt, "-2147483648")},
		{"smallint", txt(TypeSmallint, "32767")},
		{"text", txt(TypeText, "café \"quoted\"\n😀")},
		{"timestamp_millis", txt(TypeTimestamp, "1700000000123")},
		{"timestamp_iso", txt(TypeTimestamp, "2023-11-14T22:13:20.123Z")},
		{"timestamp_number", txt(TypeTimestamp, "1700000000123")},
		{"time", txt(TypeTime, "13:45:07.123456789")},
		{"timeuuid", txt(TypeTimeuuid, "d2177dd0-eaa2-11de-a572-001b779c76e3")},
		{"tinyint", txt(TypeTinyint, "-128")},
		{"uuid", txt(TypeUUID, "123e4567-e89b-12d3-a456-426614174000")},
		{"varchar", txt(TypeVarchar, "")},
		{"varint", txt(TypeVarint, "-340282366920938463463374607431768211457")},
		{"null_empty", CellValue{}},
		{"null_literal", CellValue{}},
		{"list", CellValue{Type: TypeList, Elems: []Cell{
			c(txt(TypeText, "a")),
			{Value: txt(TypeText, "b"), Metadata: &Metadata{WriteTime: "1700000000000000"}},
		}}},
		{"list_empty", CellValue{Type: TypeList, Elems: []Cell{}}},
		{"set", CellValue{Type: TypeSet, Elems: []Cell{c(txt(TypeInt, "1")), c(txt(TypeInt, "2"))}}},
		{"map_text", CellValue{Type: TypeMap, Entries: []MapEntry{
			{Key: txt(TypeText, "b"), Value: txt(TypeInt, "2")},
			{Key: txt(TypeText, "a"), Value: txt(TypeInt, "1"), Metadata: &Metadata{ExpirationTime: "1800000000"}},
		}}},
		{"map_int_keys", CellValue{Type: TypeMap, Entries: []MapEntry{
			{Key: txt(TypeInt, "10"), Value: CellValue{Type: TypeList, Elems: []Cell{c(txt(TypeDouble, "0.5"))}}},
		}}},
		{"tuple", CellValue{Type: TypeTuple, Elems: []Cell{c(txt(TypeInt, "7")), c(txt(TypeText, "x")), {}}}},
		{"udt_nested", CellValue{Type: TypeUDT, Fields: []NamedCell{
			{Name: "street", Cell: c(txt(TypeText, "1 Main St"))},
			{Name: "geo", Cell: c(CellValue{Type: TypeTuple, Elems: []Cell{c(txt(TypeDouble, "1.5")), c(txt(TypeDouble, "-2.25"))}})},
			{Name: "tags", Cell: c(CellValue{Type: TypeSet, Elems: []Cell{
				c(CellValue{Type: TypeUDT, Fields: []NamedCell{{Name: "k", Cell: c(txt(TypeASCII, "v"))}}}),
			}})},
		}}},
		{"unknown_member", CellValue{Unknown: "vectorT", Raw: json.RawMessage(`{"vectorT":[1,2,3]}`)}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "cells", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var got CellValue
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode:\n got %#v\nwant %#v", got, tt.want)
			}
			seen[string(got.Type)] = true
			// The re-encoded value decodes to the same value.
			enc, _ := got.MarshalJSON()
			var again CellValue
			if err := json.Unmarshal(enc, &again); err != nil {
				t.Fatalf("re-decode %s: %v", enc, err)
			}
			if !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip via %s:\n got %#v\nwant %#v", enc, again, got)
			}
		})
	}
	// Every member of the union has a fixture.
	for name, m := range memberTypes {
		if !seen[string(m.typ)] {
			t.Errorf("no fixture decodes to %s (%s)", m.typ, name)
		}
	}
}

func TestDecodeCellValueErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"list not array", `{"listT": {"a": 1}}`, "want a JSON array"},
		{"map not array", `{"mapT": "x"}`, "want a JSON array"},
		{"udt not object", `{"udtT": []}`, "want a JSON object"},
		{"udt null", `{"udtT": null}`, "got null"},
		{"blob not base64", `{"blobT": "!!!"}`, "illegal base64"},
		{"blob number", `{"blobT": 12}`, "want a JSON string"},
		{"bool string", `{"boolT": "true"}`, "want a JSON boolean"},
		{"text number", `{"textT": 12}`, "want a JSON string"},
		{"two members", `{"textT": "a", "intT": "1"}`, "several union members"},
		{"not an object", `"text"`, "want a JSON object"},
		{"cell not object", `{"listT": [1]}`, "want a JSON object"},
		{"truncated", `{"textT": "a"`, "unexpected end"},
		{"trailing data", `{"textT": "a"} {}`, "data after"},
		{"too deep", strings.Repeat(`{"listT":[{"value":`, 70) + `{}` + strings.Repeat(`}]}`, 70), "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v CellValue
			err := v.UnmarshalJSON([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestDecodeRecordFixtures(t *testing.T) {
	pk := []Column{
		{Name: "tenant", Value: txt(TypeText, "acme")},
		{Name: "content_id", Value: txt(TypeUUID, "123e4567-e89b-12d3-a456-426614174000")},
	}
	tests := []struct {
		file string
		want Record
	}{
		{"update_both_images", Record{
			EventVersion: "1.0", CreatedAt: time.Unix(1700000000, 123456789).UTC(), Origin: "USER",
			PartitionKeys: pk,
			ClusteringKeys: []Column{
				{Name: "locale", Value: txt(TypeText, "en")},
				{Name: "revision", Value: txt(TypeInt, "3")},
			},
			NewImage: &Row{
				ValueCells: []NamedCell{
					{Name: "title", Cell: Cell{Value: txt(TypeText, "New"),
						Metadata: &Metadata{WriteTime: "1700000000123456", ExpirationTime: "1800000000"}}},
					{Name: "total_bytes", Cell: c(txt(TypeVarint, "123456789012345678901234567890"))},
					{Name: "tags", Cell: c(CellValue{Type: TypeSet, Elems: []Cell{c(txt(TypeText, "a"))}})},
				},
				StaticCells: []NamedCell{{Name: "owner", Cell: c(txt(TypeText, "studio"))}},
				RowMetadata: &Metadata{WriteTime: "1700000000123456"},
			},
			OldImage: &Row{
				ValueCells:  []NamedCell{{Name: "title", Cell: c(txt(TypeText, "Old"))}},
				StaticCells: []NamedCell{},
			},
			SequenceNumber: "000000000000000000042",
		}},
		{"delete_keys_only", Record{
			EventVersion: "1.0", CreatedAt: time.Unix(1700000001, 0).UTC(), Origin: "TTL",
			PartitionKeys: pk, ClusteringKeys: []Column{}, SequenceNumber: "000000000000000000043",
		}},
		{"static_only", Record{
			EventVersion: "1.0", CreatedAt: time.Unix(1700000002, 5e8).UTC(), Origin: "USER",
			PartitionKeys:  pk,
			NewImage:       &Row{StaticCells: []NamedCell{{Name: "owner", Cell: c(txt(TypeText, "studio-2"))}}},
			SequenceNumber: "000000000000000000044",
		}},
		{"counter", Record{
			EventVersion: "1.0", CreatedAt: time.Unix(1700000003, 0).UTC(), Origin: "REPLICATION",
			PartitionKeys:  []Column{{Name: "id", Value: txt(TypeText, "page-1")}},
			ClusteringKeys: []Column{},
			NewImage:       &Row{ValueCells: []NamedCell{{Name: "views", Cell: c(txt(TypeCounter, "9223372036854775807"))}}},
			SequenceNumber: "000000000000000000045",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "records", tt.file+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var got Record
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Raw, bytes.TrimSpace(data)) {
				t.Errorf("Raw is not the input")
			}
			got.Raw = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("\n got %+v\nwant %+v", got, tt.want)
			}
			checkRoundTrip(t, got)
		})
	}
}

func TestEncodeRecordIsCompactWireJSON(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "records", "delete_keys_only.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := DecodeRecord(bytes.TrimSpace(data))
	if err != nil {
		t.Fatal(err)
	}
	if got := EncodeRecord(&r); !bytes.Equal(got, bytes.TrimSpace(data)) {
		t.Fatalf("encode:\n got %s\nwant %s", got, data)
	}
}

func TestEpochSeconds(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		out  string
	}{
		{"1700000000", time.Unix(1700000000, 0), "1700000000"},
		{"1700000000.5", time.Unix(1700000000, 5e8), "1700000000.5"},
		{"1700000000.123456789999", time.Unix(1700000000, 123456789), "1700000000.123456789"},
		{"-1.5", time.Unix(-2, 5e8), "-1.5"},
		{"1.7e9", time.Unix(1700000000, 0), "1700000000"},
		{"0.000000001", time.Unix(0, 1), "0.000000001"},
		{"0001.25", time.Unix(1, 25e7), "1.25"},
		{"1700000000.", time.Unix(1700000000, 0), "1700000000"},
		{"99999999999.987654321", time.Unix(99999999999, 987654321), "99999999999.987654321"},
		{"-99999999999.9", time.Unix(-100000000000, 1e8), "-99999999999.9"},
	}
	for _, tt := range tests {
		got, err := ParseEpochSeconds(tt.in)
		if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("ParseEpochSeconds(%q) = %v, %v; want %v UTC", tt.in, got, err, tt.want)
		}
		if out := string(AppendEpochSeconds(nil, got)); out != tt.out {
			t.Errorf("AppendEpochSeconds(%v) = %s, want %s", got, out, tt.out)
		}
	}
	for _, bad := range []string{"", "abc", "1e400", "99999999999999999999", "100000000000", "000000000000100000000000", "1.2.3", "--1", "NaN", "1.x", "-", "."} {
		if _, err := ParseEpochSeconds(bad); err == nil {
			t.Errorf("ParseEpochSeconds(%q): no error", bad)
		}
	}
}

// checkRoundTrip asserts that r encodes to JSON that decodes to r again.
func checkRoundTrip(t *testing.T, r Record) {
	t.Helper()
	enc := EncodeRecord(&r)
	again, err := DecodeRecord(enc)
	if err != nil {
		t.Fatalf("re-decode %s: %v", enc, err)
	}
	if !again.CreatedAt.Equal(r.CreatedAt) {
		t.Fatalf("createdAt %v after round trip, want %v", again.CreatedAt, r.CreatedAt)
	}
	again.Raw, r.Raw = nil, nil
	again.CreatedAt, r.CreatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(again, r) {
		t.Fatalf("round trip via %s:\n got %+v\nwant %+v", enc, again, r)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, dir := range []string{"records", "fuzz"} {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRecord(data)
		// The scanner agrees with the encoding/json token decoder on every input.
		o, oerr := decodeRecordTokens(data)
		if (err == nil) != (oerr == nil) {
			t.Fatalf("scanner error %v, token decoder error %v", err, oerr)
		}
		if err != nil {
			return // an error, not a panic, is all that is asked of bad input
		}
		if !o.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("createdAt %v, token decoder %v", r.CreatedAt, o.CreatedAt)
		}
		a, b := r, o
		a.CreatedAt, b.CreatedAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("scanner and token decoder differ:\n%+v\n%+v", a, b)
		}
		checkRoundTrip(t, r)
	})
}
