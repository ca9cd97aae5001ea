package streams

import (
	"encoding/json"
	"time"
)

// This file is the record model shared by the client, the emulator, the sink and the
// pipeline. Maps on the wire (keys, rows, UDT fields) are kept as slices in wire order, so
// nothing depends on Go's map order and composite keys keep their column order.

// CQLType names a CellValue's union member without its "T" suffix: "text", "bigint", "list",
// "udt", ... The empty CQLType is a null value (no member set).
type CQLType string

// The CQL types of the union, one per member (`asciiT` → TypeASCII, ...).
const (
	TypeNull      CQLType = ""
	TypeASCII     CQLType = "ascii"
	TypeBigint    CQLType = "bigint"
	TypeBlob      CQLType = "blob"
	TypeBool      CQLType = "bool"
	TypeCounter   CQLType = "counter"
	TypeDate      CQLType = "date"
	TypeDecimal   CQLType = "decimal"
	TypeDouble    CQLType = "double"
	TypeDuration  CQLType = "duration"
	TypeFloat     CQLType = "float"
	TypeInet      CQLType = "inet"
	TypeInt       CQLType = "int"
	TypeList      CQLType = "list"
	TypeMap       CQLType = "map"
	TypeSet       CQLType = "set"
	TypeSmallint  CQLType = "smallint"
	TypeText      CQLType = "text"
	TypeTimestamp CQLType = "timestamp"
	TypeTime      CQLType = "time"
	TypeTimeuuid  CQLType = "timeuuid"
	TypeTinyint   CQLType = "tinyint"
	TypeTuple     CQLType = "tuple"
	TypeUDT       CQLType = "udt"
	TypeUUID      CQLType = "uuid"
	TypeVarchar   CQLType = "varchar"
	TypeVarint    CQLType = "varint"
)

// Record is one change record of a shard.
type Record struct {
	EventVersion   string
	CreatedAt      time.Time // UTC
	Origin         string    // USER | REPLICATION | TTL
	PartitionKeys  []Column
	ClusteringKeys []Column
	NewImage       *Row // nil when absent
	OldImage       *Row // nil when absent
	SequenceNumber string
	// Raw is the record exactly as received, kept so a record that cannot be converted can
	// be stored untouched under the error prefix.
	Raw json.RawMessage
	// DecodeErr is set when the record arrived but could not be decoded: only Raw (and
	// SequenceNumber, when readable) are meaningful, and the sink stores it as a poison record.
	DecodeErr error
	// Deferred is set when only the record's envelope was decoded (GetRecordsInput.EnvelopeOnly):
	// EventVersion, CreatedAt, Origin and SequenceNumber are set, but PartitionKeys,
	// ClusteringKeys, NewImage and OldImage are left empty whatever the record holds: they are
	// still in Raw, unchecked, for the caller to read (record.FromStream does).
	Deferred bool
}

// Column is a key column: its name and value.
type Column struct {
	Name  string
	Value CellValue
}

// Row is an image of a row: regular and static cells, in wire order.
type Row struct {
	ValueCells  []NamedCell
	StaticCells []NamedCell
	RowMetadata *Metadata
}

// NamedCell is a cell of a row or a field of a UDT.
type NamedCell struct {
	Name string
	Cell
}

// Cell is a value with its optional write time / expiration metadata.
type Cell struct {
	Value    CellValue
	Metadata *Metadata
}

// Metadata holds a cell's or row's write time and expiration time, as sent (strings).
type Metadata struct {
	WriteTime      string
	ExpirationTime string
}

// MapEntry is one entry of a map value.
type MapEntry struct {
	Key      CellValue
	Value    CellValue
	Metadata *Metadata
}

// CellValue is the CQL value union: exactly one of the fields below is meaningful, chosen
// by Type.
type CellValue struct {
	Type CQLType
	// Text is the exact text of every scalar but blob and bool (numbers too: varint,
	// decimal and bigint keep all their digits).
	Text    string
	Blob    []byte      // blob (decoded from base64)
	Bool    bool        // bool
	Elems   []Cell      // list, set, tuple
	Entries []MapEntry  // map
	Fields  []NamedCell // udt, in wire order
	// Unknown is the member name when the union named a member this code does not know;
	// Raw then holds the whole union object. Such a value is never guessed at: the record
	// goes to the error prefix.
	Unknown string
	Raw     json.RawMessage
}
