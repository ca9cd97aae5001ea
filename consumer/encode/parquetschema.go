package encode

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/schema"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// ParquetSchema is the Parquet form of one version of a table's schema (an AvroSchema: the
// same table definition, the same event columns and the same sanitised names), so Avro and
// Parquet files of one table have the same columns and a Glue table serves both.
//
// CQL types map to Parquet as follows (reasons in the README's type table): tinyint and
// smallint are INT32 annotated INTEGER(8|16, signed); int INT32; bigint and counter INT64;
// float FLOAT; double DOUBLE; boolean BOOLEAN; blob BYTE_ARRAY; timestamp INT64
// TIMESTAMP(MILLIS, UTC-adjusted) (MICROS with ParquetOptions.TimestampMicros); date INT32 DATE; list and set a 3-level LIST of
// required elements; map a MAP of required keys and values (entries in wire order); tuple a
// group of optional f0, f1, ...; a UDT a group of its optional fields. The types no reader
// agrees on are STRING, kept exactly as sent: uuid, timeuuid, inet, varint, decimal,
// duration, and time ("HH:MM:SS.fffffffff", as in JSON). A column whose type is not known yet
// (only nulls or empty collections seen, schema derived from records) is left out with
// ParquetOptions.OmitUnknown (the formats' choice), an optional STRING that is always null
// without.
type ParquetSchema struct {
	Avro *AvroSchema
	// Message is the schema in the text form parquet-java's MessageTypeParser reads and
	// parquet-cli prints ("message t { required binary keyspace (STRING); ... }").
	Message string
	// Fingerprint names the version: the first 16 bytes of SHA-256 of Message, in hex.
	Fingerprint string
	// Doc is the JSON document stored under _schemas/ (see parquetSchemaDoc).
	Doc []byte

	root   *schema.GroupNode
	sch    *schema.Schema
	leaves []parquet.Type // physical type of each leaf column, in column order
	keys   *pqNode        // the required keys group
	images [2]*pqNode     // new_image, old_image
	metas  [2]*pqNode     // new_image_metadata, old_image_metadata (nil without cell metadata)
	micros bool           // timestamps in microseconds (ParquetOptions.TimestampMicros)
	// unknown holds the paths (names joined by ".") of the columns and fields whose type is
	// not known yet (Unknown).
	unknown map[string]bool
}

// Unknown reports whether the column or field at path (the names from the root, as
// ParquetOptions.FieldID gets them) has a type no record has told yet, in a schema derived
// from records: a column or a tuple or UDT field seen only as null, a collection empty in
// every record (its elements' type unknown), a tuple or UDT all of whose fields are
// unknown, or a node under one of those. Such a node holds no value in any file of the
// version (a record that tells the type needs a wider version first), and its STRING type
// is a placeholder: a table format must not add it to its table, nor map it to a column of
// the table that has a real type.
func (ps *ParquetSchema) Unknown(path []string) bool {
	for i := range path {
		if ps.unknown[strings.Join(path[:i+1], ".")] {
			return true
		}
	}
	return false
}

// unknownType reports whether a column of type t holds no value yet (ParquetSchema.Unknown).
func unknownType(t record.Type) bool {
	switch t.Name {
	case "":
		return true
	case streams.TypeList, streams.TypeSet, streams.TypeMap:
		return slices.ContainsFunc(t.Elems, unknownType)
	case streams.TypeTuple:
		return !slices.ContainsFunc(t.Elems, func(e record.Type) bool { return !unknownType(e) })
	case streams.TypeUDT:
		return !slices.ContainsFunc(t.Fields, func(f record.FieldType) bool { return !unknownType(f.Type) })
	}
	return false
}

// timestamp is a timestamp column's value: milliseconds, or microseconds since the epoch.
func (ps *ParquetSchema) timestamp(t time.Time) int64 {
	if ps.micros {
		return t.UnixMicro()
	}
	return t.UnixMilli()
}

// pqKind is how a node's values are written.
type pqKind uint8

const (
	pqText      pqKind = iota // BYTE_ARRAY STRING from Value.Text (validated UTF-8)
	pqTimeText                // BYTE_ARRAY STRING "HH:MM:SS.fffffffff" from Value.TimeOfDay
	pqInt32                   // INT32 from Value.Int (tinyint, smallint, int)
	pqInt64                   // INT64 from Value.Int
	pqFloat                   // FLOAT
	pqDouble                  // DOUBLE
	pqBool                    // BOOLEAN
	pqBlob                    // BYTE_ARRAY
	pqTimestamp               // INT64 milliseconds (or microseconds) since the epoch
	pqDate                    // INT32 days since the epoch
	pqUnknown                 // BYTE_ARRAY STRING, always null (type not known yet)
	pqOmitted                 // not in the file (ParquetOptions.OmitUnknown): no leaf, no value
	pqStruct                  // group of optional fields: a UDT (by name) or a tuple (by position)
	pqList                    // LIST of required elements
	pqMap                     // MAP of required keys and values
)

// pqNode is a node of the schema tree with what shredding needs: its definition level
// when present (def), its repetition level (rep) and, for a list or map, those of its
// repeated group (elemDef, elemRep); the leaf columns under it are [first, last).
type pqNode struct {
	kind             pqKind
	typ              record.Type
	def, rep         int16
	elemDef, elemRep int16
	leaf             int
	first, last      int
	children         []*pqNode
	// names are a UDT's CQL field names (children in the same order); nil for a tuple.
	names []string
}

// NewParquetSchema builds the Parquet schema of an Avro schema version.
func NewParquetSchema(a *AvroSchema) (*ParquetSchema, error) {
	return NewParquetSchemaWith(a, ParquetOptions{})
}

// NewParquetSchemaWith builds the Parquet schema of an Avro schema version with options (those
// of the Apache Iceberg format: field ids, microsecond timestamps).
func NewParquetSchemaWith(a *AvroSchema, opts ParquetOptions) (*ParquetSchema, error) {
	b := &pqBuilder{ps: &ParquetSchema{Avro: a, micros: opts.TimestampMicros, unknown: map[string]bool{}}, opts: opts}
	var fields schema.FieldList
	add := func(n schema.Node, err error) error {
		if err != nil {
			return err
		}
		fields = append(fields, n)
		return nil
	}
	str := func(name string) error {
		b.leaf(parquet.Types.ByteArray)
		return add(schema.NewPrimitiveNodeLogical(name, parquet.Repetitions.Required, schema.StringLogicalType{}, parquet.Types.ByteArray, -1, b.id(name)))
	}
	for _, name := range []string{"keyspace", "table", "shard_id", "sequence_number"} {
		if err := str(name); err != nil {
			return nil, err
		}
	}
	b.leaf(parquet.Types.Int64)
	if err := add(schema.NewPrimitiveNodeLogical("created_at", parquet.Repetitions.Required,
		b.timestamp(), parquet.Types.Int64, -1, b.id("created_at"))); err != nil {
		return nil, err
	}
	for _, name := range []string{"origin", "op"} {
		if err := str(name); err != nil {
			return nil, err
		}
	}
	var err error
	var n schema.Node
	if n, b.ps.keys, err = b.row("keys", a.keys, false); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	fields = append(fields, n)
	for i, name := range []string{"new_image", "old_image"} {
		if n, b.ps.images[i], err = b.row(name, a.columns, true); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		fields = append(fields, n)
	}
	if a.cellMetadata {
		for i, name := range []string{"new_image_metadata", "old_image_metadata"} {
			if n, b.ps.metas[i], err = b.metadata(name); err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			fields = append(fields, n)
		}
	}
	root, err := schema.NewGroupNode(AvroName(a.Table), parquet.Repetitions.Repeated, fields, -1)
	if err != nil {
		return nil, fmt.Errorf("parquet schema of %s.%s: %w", a.Keyspace, a.Table, err)
	}
	ps := b.ps
	ps.root, ps.sch = root, schema.NewSchema(root)
	ps.Message = messageText(root)
	sum := sha256.Sum256([]byte(ps.Message))
	ps.Fingerprint = hex.EncodeToString(sum[:16])
	if ps.Doc, err = parquetSchemaDoc(ps); err != nil {
		return nil, err
	}
	return ps, nil
}

type pqBuilder struct {
	ps   *ParquetSchema
	opts ParquetOptions
	path []string // names from the root to the node being built
}

// leaf registers the next leaf column.
func (b *pqBuilder) leaf(t parquet.Type) int {
	b.ps.leaves = append(b.ps.leaves, t)
	return len(b.ps.leaves) - 1
}

// row builds the keys group (required) or an image group (optional) of nullable columns.
func (b *pqBuilder) row(name string, cols []avroColumn, optional bool) (schema.Node, *pqNode, error) {
	rep := parquet.Repetitions.Required
	def := int16(0)
	if optional {
		rep, def = parquet.Repetitions.Optional, 1
	}
	n := &pqNode{kind: pqStruct, def: def, first: len(b.ps.leaves)}
	id := b.id(name)
	defer b.enter(name)()
	var fields schema.FieldList
	for _, c := range cols {
		f, child, err := b.node(c.avroName, c.typ, def, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("column %s: %w", c.name, err)
		}
		if f != nil { // nil: omitted (ParquetOptions.OmitUnknown)
			fields = append(fields, f)
		}
		n.children = append(n.children, child)
	}
	n.last = len(b.ps.leaves)
	g, err := schema.NewGroupNode(name, rep, fields, id)
	return g, n, err
}

// metadata builds an image's cell metadata column: an optional LIST of required
// (column, write_time, expiration_time) groups, as Avro's.
func (b *pqBuilder) metadata(name string) (schema.Node, *pqNode, error) {
	n := &pqNode{kind: pqList, def: 1, elemDef: 2, elemRep: 1, first: len(b.ps.leaves)}
	id := b.id(name)
	defer b.enter(name)()
	elemID := b.id("element")
	defer b.enter("element")()
	var fields schema.FieldList
	for i, f := range []string{"column", "write_time", "expiration_time"} {
		rep := parquet.Repetitions.Optional
		if i == 0 {
			rep = parquet.Repetitions.Required
		}
		b.leaf(parquet.Types.ByteArray)
		p, err := schema.NewPrimitiveNodeLogical(f, rep, schema.StringLogicalType{}, parquet.Types.ByteArray, -1, b.id(f))
		if err != nil {
			return nil, nil, err
		}
		fields = append(fields, p)
	}
	n.last = len(b.ps.leaves)
	elem, err := schema.NewGroupNode("element", parquet.Repetitions.Required, fields, elemID)
	if err != nil {
		return nil, nil, err
	}
	g, err := listNode(name, parquet.Repetitions.Optional, elem, id)
	return g, n, err
}

// listNode is a 3-level LIST: the field (id), its repeated "list" group, and the element.
func listNode(name string, rep parquet.Repetition, elem schema.Node, id int32) (schema.Node, error) {
	list, err := schema.NewGroupNode("list", parquet.Repetitions.Repeated, schema.FieldList{elem}, -1)
	if err != nil {
		return nil, err
	}
	return schema.NewGroupNodeLogical(name, rep, schema.FieldList{list}, schema.ListLogicalType{}, id)
}

// node builds the optional (required, for collection elements and map entries) node of
// CQL type t under a parent present at definition level parentDef and repetition level rep.
func (b *pqBuilder) node(name string, t record.Type, parentDef, rep int16) (schema.Node, *pqNode, error) {
	return b.nodeRep(name, t, parentDef, rep, true)
}

func (b *pqBuilder) nodeRep(name string, t record.Type, parentDef, rep int16, optional bool) (schema.Node, *pqNode, error) {
	repetition, def := parquet.Repetitions.Required, parentDef
	if optional {
		repetition, def = parquet.Repetitions.Optional, parentDef+1
	}
	// A type not known yet (t.Name "") is a STRING that holds no value, required or not: it
	// comes from a schema derived from records, where a collection was empty in every record
	// so far (an empty map shows no key type). A record with elements needs a wider schema
	// version first, so no value is ever written here.
	n := &pqNode{typ: t, def: def, rep: rep, first: len(b.ps.leaves)}
	if unknownType(t) {
		b.ps.unknown[strings.Join(append(slices.Clip(b.path), name), ".")] = true
		if b.opts.OmitUnknown {
			n.kind, n.last = pqOmitted, n.first
			return nil, n, nil
		}
	}
	id := b.id(name)
	defer b.enter(name)()
	if p, ok := pqPrimitives[t.Name]; ok {
		n.kind, n.leaf = p.kind, b.leaf(p.phys)
		n.last = n.leaf + 1
		node, err := schema.NewPrimitiveNodeLogical(name, repetition, p.logical(b), p.phys, -1, id)
		return node, n, err
	}
	switch t.Name {
	case streams.TypeList, streams.TypeSet:
		return b.listNode(name, repetition, t, n, id)
	case streams.TypeMap:
		return b.mapNode(name, repetition, t, n, id)
	case streams.TypeTuple, streams.TypeUDT:
		return b.structNode(name, repetition, t, n, id)
	}
	return nil, nil, fmt.Errorf("CQL type %s has no Parquet mapping", t)
}

// pqPrimitive is the column of a CQL scalar type: how its values are written, its physical
// type and its logical type.
type pqPrimitive struct {
	kind    pqKind
	phys    parquet.Type
	logical func(b *pqBuilder) schema.LogicalType // b.timestamp() for timestamps
}

// pqPrimitives maps each CQL scalar type, and the unknown type "", to its column.
var pqPrimitives = func() map[streams.CQLType]pqPrimitive {
	str := func(*pqBuilder) schema.LogicalType { return schema.StringLogicalType{} }
	none := func(*pqBuilder) schema.LogicalType { return schema.NoLogicalType{} }
	ints := func(bits int8) func(*pqBuilder) schema.LogicalType {
		return func(*pqBuilder) schema.LogicalType { return schema.NewIntLogicalType(bits, true) }
	}
	m := map[streams.CQLType]pqPrimitive{
		"":                    {pqUnknown, parquet.Types.ByteArray, str},
		streams.TypeTime:      {pqTimeText, parquet.Types.ByteArray, str},
		streams.TypeTinyint:   {pqInt32, parquet.Types.Int32, ints(8)},
		streams.TypeSmallint:  {pqInt32, parquet.Types.Int32, ints(16)},
		streams.TypeInt:       {pqInt32, parquet.Types.Int32, none},
		streams.TypeBigint:    {pqInt64, parquet.Types.Int64, none},
		streams.TypeCounter:   {pqInt64, parquet.Types.Int64, none},
		streams.TypeFloat:     {pqFloat, parquet.Types.Float, none},
		streams.TypeDouble:    {pqDouble, parquet.Types.Double, none},
		streams.TypeBool:      {pqBool, parquet.Types.Boolean, none},
		streams.TypeBlob:      {pqBlob, parquet.Types.ByteArray, none},
		streams.TypeDate:      {pqDate, parquet.Types.Int32, func(*pqBuilder) schema.LogicalType { return schema.DateLogicalType{} }},
		streams.TypeTimestamp: {pqTimestamp, parquet.Types.Int64, (*pqBuilder).timestamp},
	}
	for _, t := range []streams.CQLType{streams.TypeText, streams.TypeASCII, streams.TypeVarchar, streams.TypeInet,
		streams.TypeUUID, streams.TypeTimeuuid, streams.TypeVarint, streams.TypeDecimal, streams.TypeDuration} {
		m[t] = pqPrimitive{pqText, parquet.Types.ByteArray, str}
	}
	return m
}()

// listNode builds a list or a set: a LIST of required elements.
func (b *pqBuilder) listNode(name string, repetition parquet.Repetition, t record.Type, n *pqNode, id int32) (schema.Node, *pqNode, error) {
	n.kind, n.elemDef, n.elemRep = pqList, n.def+1, n.rep+1
	elem, child, err := b.nodeRep("element", t.Elems[0], n.elemDef, n.elemRep, false)
	if err != nil {
		return nil, nil, err
	}
	n.children, n.last = []*pqNode{child}, len(b.ps.leaves)
	g, err := listNode(name, repetition, elem, id)
	return g, n, err
}

// mapNode builds a map: a MAP of required keys and values.
func (b *pqBuilder) mapNode(name string, repetition parquet.Repetition, t record.Type, n *pqNode, id int32) (schema.Node, *pqNode, error) {
	n.kind, n.elemDef, n.elemRep = pqMap, n.def+1, n.rep+1
	k, kn, err := b.nodeRep("key", t.Elems[0], n.elemDef, n.elemRep, false)
	if err != nil {
		return nil, nil, fmt.Errorf("map key: %w", err)
	}
	v, vn, err := b.nodeRep("value", t.Elems[1], n.elemDef, n.elemRep, false)
	if err != nil {
		return nil, nil, fmt.Errorf("map value: %w", err)
	}
	n.children, n.last = []*pqNode{kn, vn}, len(b.ps.leaves)
	kv, err := schema.NewGroupNode("key_value", parquet.Repetitions.Repeated, schema.FieldList{k, v}, -1)
	if err != nil {
		return nil, nil, err
	}
	g, err := schema.NewGroupNodeLogical(name, repetition, schema.FieldList{kv}, schema.MapLogicalType{}, id)
	return g, n, err
}

// structNode builds a tuple (fields f0, f1, ... by position) or a UDT (by name): a group of
// optional fields.
func (b *pqBuilder) structNode(name string, repetition parquet.Repetition, t record.Type, n *pqNode, id int32) (schema.Node, *pqNode, error) {
	n.kind = pqStruct
	var fields schema.FieldList
	names := make([]string, 0, len(t.Elems)+len(t.Fields))
	var types []record.Type
	if t.Name == streams.TypeTuple {
		for i, e := range t.Elems {
			names = append(names, "f"+strconv.Itoa(i))
			types = append(types, e)
		}
	} else {
		names = udtFieldNames(t)
		for _, f := range t.Fields {
			types = append(types, f.Type)
			n.names = append(n.names, f.Name)
		}
	}
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("%s without fields", t)
	}
	for i, fname := range names {
		f, child, err := b.node(fname, types[i], n.def, n.rep)
		if err != nil {
			return nil, nil, err
		}
		if f != nil { // nil: omitted (ParquetOptions.OmitUnknown)
			fields = append(fields, f)
		}
		n.children = append(n.children, child)
	}
	n.last = len(b.ps.leaves)
	g, err := schema.NewGroupNode(name, repetition, fields, id)
	return g, n, err
}

// messageText prints a schema as parquet-java's MessageType.toString does.
func messageText(root *schema.GroupNode) string {
	var b strings.Builder
	b.WriteString("message ")
	b.WriteString(root.Name())
	b.WriteString(" {\n")
	for i := 0; i < root.NumFields(); i++ {
		writeNodeText(&b, root.Field(i), 1)
	}
	b.WriteString("}\n")
	return b.String()
}

func writeNodeText(b *strings.Builder, n schema.Node, depth int) {
	b.WriteString(strings.Repeat("  ", depth))
	b.WriteString(strings.ToLower(n.RepetitionType().String()))
	if g, ok := n.(*schema.GroupNode); ok {
		b.WriteString(" group ")
		b.WriteString(g.Name())
		b.WriteString(logicalText(g.LogicalType()))
		b.WriteString(fieldIDText(g))
		b.WriteString(" {\n")
		for i := 0; i < g.NumFields(); i++ {
			writeNodeText(b, g.Field(i), depth+1)
		}
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString("}\n")
		return
	}
	p := n.(*schema.PrimitiveNode)
	b.WriteByte(' ')
	b.WriteString(physicalText(p))
	b.WriteByte(' ')
	b.WriteString(p.Name())
	b.WriteString(logicalText(p.LogicalType()))
	b.WriteString(fieldIDText(p))
	b.WriteString(";\n")
}

// physicalText is a primitive type as parquet-java prints it.
func physicalText(p *schema.PrimitiveNode) string {
	switch p.PhysicalType() {
	case parquet.Types.ByteArray:
		return "binary"
	case parquet.Types.FixedLenByteArray:
		return fmt.Sprintf("fixed_len_byte_array(%d)", p.TypeLength())
	}
	return strings.ToLower(p.PhysicalType().String())
}

// logicalText is a logical type annotation as parquet-java prints it (" (STRING)").
func logicalText(t schema.LogicalType) string {
	switch t := t.(type) {
	case nil, schema.NoLogicalType:
		return ""
	case schema.StringLogicalType:
		return " (STRING)"
	case schema.DateLogicalType:
		return " (DATE)"
	case schema.ListLogicalType:
		return " (LIST)"
	case schema.MapLogicalType:
		return " (MAP)"
	case schema.IntLogicalType:
		return fmt.Sprintf(" (INTEGER(%d,%t))", t.BitWidth(), t.IsSigned())
	case schema.TimestampLogicalType:
		return fmt.Sprintf(" (TIMESTAMP(%s,%t))", strings.ToUpper(timeUnitText(t.TimeUnit())), t.IsAdjustedToUTC())
	}
	return " (" + t.String() + ")"
}

func timeUnitText(u schema.TimeUnitType) string {
	switch u {
	case schema.TimeUnitMillis:
		return "millis"
	case schema.TimeUnitMicros:
		return "micros"
	}
	return "nanos"
}

// parquetSchemaDoc is what _schemas/<keyspace>/<table>/<fingerprint>.parquet.json holds: the
// Parquet schema (Message) for Parquet tools, and the Hive DDL type of each top-level
// column, which a Glue table or an Athena CREATE EXTERNAL TABLE over the files declares.
func parquetSchemaDoc(ps *ParquetSchema) ([]byte, error) {
	a := ps.Avro
	type column struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	doc := struct {
		Format      string   `json:"format"`
		Keyspace    string   `json:"keyspace"`
		Table       string   `json:"table"`
		Fingerprint string   `json:"fingerprint"`
		Message     string   `json:"message"`
		Columns     []column `json:"columns"`
	}{Format: FormatParquet, Keyspace: a.Keyspace, Table: a.Table, Fingerprint: ps.Fingerprint, Message: ps.Message}
	for _, name := range []string{"keyspace", "table", "shard_id", "sequence_number"} {
		doc.Columns = append(doc.Columns, column{name, "string"})
	}
	doc.Columns = append(doc.Columns, column{"created_at", "timestamp"}, column{"origin", "string"}, column{"op", "string"},
		column{"keys", hiveRow(a.keys)}, column{"new_image", hiveRow(a.columns)}, column{"old_image", hiveRow(a.columns)})
	if a.cellMetadata {
		meta := "array<struct<column:string,write_time:string,expiration_time:string>>"
		doc.Columns = append(doc.Columns, column{"new_image_metadata", meta}, column{"old_image_metadata", meta})
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode parquet schema document: %w", err)
	}
	return append(out, '\n'), nil
}

func hiveRow(cols []avroColumn) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c.avroName + ":" + HiveType(c.typ)
	}
	return "struct<" + strings.Join(parts, ",") + ">"
}

// HiveType is the Hive DDL type (Glue, Athena CREATE TABLE) of a CQL type's Parquet column.
func HiveType(t record.Type) string {
	switch t.Name {
	case streams.TypeTinyint:
		return "tinyint"
	case streams.TypeSmallint:
		return "smallint"
	case streams.TypeInt:
		return "int"
	case streams.TypeBigint, streams.TypeCounter:
		return "bigint"
	case streams.TypeFloat:
		return "float"
	case streams.TypeDouble:
		return "double"
	case streams.TypeBool:
		return "boolean"
	case streams.TypeBlob:
		return "binary"
	case streams.TypeTimestamp:
		return "timestamp"
	case streams.TypeDate:
		return "date"
	case streams.TypeList, streams.TypeSet:
		return "array<" + HiveType(t.Elems[0]) + ">"
	case streams.TypeMap:
		return "map<" + HiveType(t.Elems[0]) + "," + HiveType(t.Elems[1]) + ">"
	case streams.TypeTuple:
		parts := make([]string, len(t.Elems))
		for i, e := range t.Elems {
			parts[i] = "f" + strconv.Itoa(i) + ":" + HiveType(e)
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	case streams.TypeUDT:
		names := udtFieldNames(t)
		parts := make([]string, len(t.Fields))
		for i, f := range t.Fields {
			parts[i] = names[i] + ":" + HiveType(f.Type)
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	}
	// text, ascii, varchar, inet, uuid, timeuuid, varint, decimal, duration, time, and an
	// unknown type (always null).
	return "string"
}
