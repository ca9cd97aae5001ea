// Package recordtest builds change records for the tests and benchmarks of the record,
// encode and sink packages: the records are built in Go, not decoded, so these tests do not
// depend on the streams JSON decoder.
package recordtest

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// S is a scalar CellValue carried as text (every scalar but blob and bool).
func S(t streams.CQLType, text string) streams.CellValue {
	return streams.CellValue{Type: t, Text: text}
}

// C wraps a value in a cell without metadata.
func C(v streams.CellValue) streams.Cell { return streams.Cell{Value: v} }

// N names a cell.
func N(name string, v streams.CellValue) streams.NamedCell {
	return streams.NamedCell{Name: name, Cell: C(v)}
}

// AllTypesColumns is the CQL definition of the table AllTypes writes, in column order, as
// GetTable would answer it (partition key id, clustering key ck).
var AllTypesColumns = []struct{ Name, Type string }{
	{"id", "uuid"}, {"ck", "int"},
	{"c_ascii", "ascii"}, {"c_bigint", "bigint"}, {"c_blob", "blob"}, {"c_boolean", "boolean"},
	{"c_counter", "counter"}, {"c_date", "date"}, {"c_decimal", "decimal"},
	{"c_double", "double"}, {"c_duration", "duration"}, {"c_float", "float"},
	{"c_inet", "inet"}, {"c_int", "int"}, {"c_smallint", "smallint"}, {"c_text", "text"},
	{"c_time", "time"}, {"c_timestamp", "timestamp"}, {"c_timeuuid", "timeuuid"},
	{"c_tinyint", "tinyint"}, {"c_uuid", "uuid"}, {"c_varchar", "varchar"},
	{"c_varint", "varint"},
	{"c_list", "list<text>"}, {"c_set", "set<int>"}, {"c_map", "map<text, int>"},
	{"c_map_int", "map<int, frozen<list<text>>>"}, {"c_tuple", "frozen<tuple<int, text>>"},
	{"c_udt", "frozen<address>"}, {"c_null", "text"}, {"c_static", "text"},
}

// AddressFields is the UDT `address` of AllTypes.
var AddressFields = []struct{ Name, Type string }{{"street", "text"}, {"zip", "int"}, {"tags", "frozen<set<text>>"}}

// AllTypes is an INSERT record (new image only) of the all-types table with a value of
// every CQL type, made distinct by i, with sequence number seq.
func AllTypes(i int, seq string, created time.Time) *streams.Record {
	it := strconv.Itoa(i)
	img := &streams.Row{
		ValueCells: []streams.NamedCell{
			N("c_ascii", S(streams.TypeASCII, "ascii-"+it)),
			N("c_bigint", S(streams.TypeBigint, "9223372036854775807")),
			N("c_blob", streams.CellValue{Type: streams.TypeBlob, Blob: []byte{0, 1, 2, 0xff, byte(i)}}),
			N("c_boolean", streams.CellValue{Type: streams.TypeBool, Bool: i%2 == 0}),
			N("c_counter", S(streams.TypeCounter, "-"+it)),
			N("c_date", S(streams.TypeDate, "2024-02-29")),
			N("c_decimal", S(streams.TypeDecimal, "12345678901234567890.000000000000123")),
			N("c_double", S(streams.TypeDouble, "3.141592653589793")),
			N("c_duration", S(streams.TypeDuration, "1mo2d3h4m5s6ms7us8ns")),
			N("c_float", S(streams.TypeFloat, "1.5")),
			N("c_inet", S(streams.TypeInet, "2001:db8::1")),
			N("c_int", S(streams.TypeInt, "-2147483648")),
			N("c_smallint", S(streams.TypeSmallint, "32767")),
			N("c_text", S(streams.TypeText, "héllo \"quoted\" \n\t\u2028 "+it)),
			N("c_time", S(streams.TypeTime, "13:14:15.123456789")),
			N("c_timestamp", S(streams.TypeTimestamp, "1709251200123")),
			N("c_timeuuid", S(streams.TypeTimeuuid, "e8f2a4a0-d6b1-11ee-8c90-0242ac120002")),
			N("c_tinyint", S(streams.TypeTinyint, "-128")),
			N("c_uuid", S(streams.TypeUUID, "123e4567-e89b-12d3-a456-426614174000")),
			N("c_varchar", S(streams.TypeVarchar, "varchar")),
			N("c_varint", S(streams.TypeVarint, "-123456789012345678901234567890")),
			N("c_list", streams.CellValue{Type: streams.TypeList, Elems: []streams.Cell{
				C(S(streams.TypeText, "a")), C(S(streams.TypeText, "b"))}}),
			N("c_set", streams.CellValue{Type: streams.TypeSet, Elems: []streams.Cell{
				C(S(streams.TypeInt, "1")), C(S(streams.TypeInt, "2"))}}),
			N("c_map", streams.CellValue{Type: streams.TypeMap, Entries: []streams.MapEntry{
				{Key: S(streams.TypeText, "k1"), Value: S(streams.TypeInt, "1")},
				{Key: S(streams.TypeText, "k2"), Value: S(streams.TypeInt, "2")}}}),
			N("c_map_int", streams.CellValue{Type: streams.TypeMap, Entries: []streams.MapEntry{
				{Key: S(streams.TypeInt, "7"), Value: streams.CellValue{Type: streams.TypeList,
					Elems: []streams.Cell{C(S(streams.TypeText, "x"))}}}}}),
			N("c_tuple", streams.CellValue{Type: streams.TypeTuple, Elems: []streams.Cell{
				C(S(streams.TypeInt, it)), C(streams.CellValue{})}}),
			N("c_udt", streams.CellValue{Type: streams.TypeUDT, Fields: []streams.NamedCell{
				N("street", S(streams.TypeText, "1 Main St")), N("zip", S(streams.TypeInt, "12345")),
				N("tags", streams.CellValue{Type: streams.TypeSet, Elems: []streams.Cell{C(S(streams.TypeText, "home"))}})}}),
			N("c_null", streams.CellValue{}),
		},
		StaticCells: []streams.NamedCell{N("c_static", S(streams.TypeText, "static"))},
	}
	img.ValueCells[0].Metadata = &streams.Metadata{WriteTime: "1709251200123456", ExpirationTime: "1709337600"}
	return &streams.Record{
		EventVersion:   "1",
		CreatedAt:      created,
		Origin:         "USER",
		PartitionKeys:  []streams.Column{{Name: "id", Value: S(streams.TypeUUID, fmt.Sprintf("00000000-0000-0000-0000-%012d", i))}},
		ClusteringKeys: []streams.Column{{Name: "ck", Value: S(streams.TypeInt, it)}},
		NewImage:       img,
		SequenceNumber: seq,
		Raw:            []byte(`{"sequenceNumber":"` + seq + `"}`),
	}
}

// Row is a record of a plain table (id int, name text, note text, n bigint, score double,
// at timestamp, tags list<text>) of about size bytes as a JSON line. Its text is made of
// words picked pseudo-randomly from i, so it compresses like real text, not like padding.
func Row(i int, seq string, created time.Time, size int) *streams.Record {
	it := strconv.Itoa(i)
	note := words(uint64(i)+1, size-420)
	return &streams.Record{
		EventVersion:  "1",
		CreatedAt:     created,
		Origin:        "USER",
		PartitionKeys: []streams.Column{{Name: "id", Value: S(streams.TypeInt, it)}},
		NewImage: &streams.Row{ValueCells: []streams.NamedCell{
			N("name", S(streams.TypeText, words(uint64(i)*7+3, 24))),
			N("note", S(streams.TypeText, note)),
			N("n", S(streams.TypeBigint, strconv.Itoa(i*7919))),
			N("score", S(streams.TypeDouble, strconv.FormatFloat(float64(i)/7, 'g', -1, 64))),
			N("at", S(streams.TypeTimestamp, strconv.FormatInt(created.UnixMilli(), 10))),
			N("tags", streams.CellValue{Type: streams.TypeList, Elems: []streams.Cell{
				C(S(streams.TypeText, words(uint64(i)+11, 8))), C(S(streams.TypeText, words(uint64(i)+13, 8)))}}),
		}},
		SequenceNumber: seq,
		Raw:            []byte(`{"sequenceNumber":"` + seq + `"}`),
	}
}

var vocabulary = strings.Fields(`alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo
lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu
order customer invoice shipped pending payment address street city region warehouse parcel
amount currency discount refund status created updated deleted account session device`)

// words is about n bytes of words chosen by a linear congruential generator seeded by seed.
func words(seed uint64, n int) string {
	var b strings.Builder
	x := seed
	for b.Len() < n {
		x = x*6364136223846793005 + 1442695040888963407
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[(x>>33)%uint64(len(vocabulary))])
	}
	return b.String()
}

// Seq is a sequence number of the fixed width the stream uses (so they sort as text too).
func Seq(i int) string { return fmt.Sprintf("4960000000000000000000%08d", i) }
