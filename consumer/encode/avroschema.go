package encode

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/hamba/avro/v2"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// AvroSchema is one version of a table's Avro schema.
type AvroSchema struct {
	Keyspace, Table string
	Def             *TableDef
	// JSON is the schema text embedded in each file and written to _schemas/.
	JSON string
	// Fingerprint names the version: the first 16 bytes of SHA-256 of JSON, in hex.
	Fingerprint string

	schema       avro.Schema
	cellMetadata bool
	keys         []avroColumn
	columns      []avroColumn
	colIndex     map[string]int
	keyIndex     map[string]int
	// names maps a named type's key (see typeKey) to its full Avro name, which is also
	// its branch name in a union.
	names map[string]string
	ns    string
	image string // full name of the image record
}

type avroColumn struct {
	name, avroName string
	typ            record.Type
}

// covers checks that every column the event carries is in the schema with a type that
// holds its value.
func (a *AvroSchema) covers(ev *record.Event) error {
	// Fields go by pointer: a record.Field is a few hundred bytes.
	check := func(idx map[string]int, cols []avroColumn, f *record.Field) error {
		i, ok := idx[f.Name]
		if !ok {
			return fmt.Errorf("column %s: not in the schema", f.Name)
		}
		if !fits(&cols[i].typ, &f.Value) && !typeCovers(cols[i].typ, typeOf(f.Value)) {
			return fmt.Errorf("column %s: %w: %s value in a %s column", f.Name, ErrTypeConflict, typeOf(f.Value), cols[i].typ)
		}
		return nil
	}
	for i := range ev.Keys {
		if err := check(a.keyIndex, a.keys, &ev.Keys[i]); err != nil {
			return err
		}
	}
	for _, img := range [2]*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			continue
		}
		for i := range img.Columns {
			if err := check(a.colIndex, a.columns, &img.Columns[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// NewAvroSchema builds the Avro schema of a table definition. Layout (names sanitised, see
// AvroName): a record named after the table in a namespace named after the keyspace, with
// the event fields; keys and images are records of nullable columns.
func NewAvroSchema(keyspace, table string, def *TableDef, cellMetadata bool) (*AvroSchema, error) {
	a := &AvroSchema{
		Keyspace: keyspace, Table: table, Def: def, cellMetadata: cellMetadata,
		names: map[string]string{}, colIndex: map[string]int{}, keyIndex: map[string]int{},
		ns: AvroNamespace(keyspace),
	}
	w := &schemaWriter{a: a, used: map[string]bool{}, prefix: AvroName(table)}
	top := w.prefix
	w.used[top] = true
	a.keys = avroColumns(def.Keys, a.keyIndex)
	a.columns = avroColumns(def.Columns, a.colIndex)

	b := &w.b
	fmt.Fprintf(b, `{"type":"record","name":%s,"namespace":%s,"doc":%s,"fields":[`,
		strconv.Quote(top), strconv.Quote(a.ns), strconv.Quote("Change events of Amazon Keyspaces table "+keyspace+"."+table))
	b.WriteString(`{"name":"keyspace","type":"string"},{"name":"table","type":"string"},`)
	b.WriteString(`{"name":"shard_id","type":"string"},{"name":"sequence_number","type":"string"},`)
	b.WriteString(`{"name":"created_at","type":{"type":"long","logicalType":"timestamp-millis"}},`)
	b.WriteString(`{"name":"origin","type":"string"},{"name":"op","type":"string"},`)
	b.WriteString(`{"name":"keys","type":`)
	w.record(w.name("keys"), a.keys)
	imageName := w.name("image")
	a.image = a.ns + "." + imageName
	b.WriteString(`},{"name":"new_image","type":["null",`)
	w.record(imageName, a.columns)
	b.WriteString(`],"default":null},{"name":"old_image","type":["null",`)
	b.WriteString(strconv.Quote(imageName))
	b.WriteString(`],"default":null}`)
	if cellMetadata {
		meta := w.name("cell_metadata")
		b.WriteString(`,{"name":"new_image_metadata","type":["null",{"type":"array","items":{"type":"record","name":`)
		b.WriteString(strconv.Quote(meta))
		b.WriteString(`,"fields":[{"name":"column","type":"string"},{"name":"write_time","type":["null","string"],"default":null},{"name":"expiration_time","type":["null","string"],"default":null}]}}],"default":null}`)
		b.WriteString(`,{"name":"old_image_metadata","type":["null",{"type":"array","items":`)
		b.WriteString(strconv.Quote(meta))
		b.WriteString(`}],"default":null}`)
	}
	b.WriteString(`]}`)
	a.JSON = b.String()
	sum := sha256.Sum256([]byte(a.JSON))
	a.Fingerprint = hex.EncodeToString(sum[:16])
	// A private cache: versions of one table reuse names, which a shared cache would mix.
	s, err := avro.ParseWithCache(a.JSON, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("parse generated Avro schema of %s.%s: %w", keyspace, table, err)
	}
	a.schema = s
	return a, nil
}

// Schema is the parsed schema.
func (a *AvroSchema) Schema() avro.Schema { return a.schema }

func avroColumns(cols []record.FieldType, idx map[string]int) []avroColumn {
	out := make([]avroColumn, len(cols))
	used := map[string]bool{}
	for i, c := range cols {
		name := AvroName(c.Name)
		for n := 2; used[name]; n++ {
			name = AvroName(c.Name) + "_" + strconv.Itoa(n)
		}
		used[name] = true
		out[i] = avroColumn{name: c.Name, avroName: name, typ: c.Type}
		idx[c.Name] = i
	}
	return out
}

// AvroName sanitises a CQL name into an Avro name ([A-Za-z_][A-Za-z0-9_]*): every other
// character becomes '_', and a leading digit gets a '_' in front. Columns whose sanitised
// names collide get suffixes _2, _3, ... in column order.
func AvroName(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// AvroNamespace sanitises a keyspace name into an Avro namespace.
func AvroNamespace(keyspace string) string { return AvroName(keyspace) }

type schemaWriter struct {
	a      *AvroSchema
	b      strings.Builder
	used   map[string]bool
	prefix string
}

// name reserves a unique short name <table>_<base>.
func (w *schemaWriter) name(base string) string {
	n := w.prefix + "_" + AvroName(base)
	for i := 2; w.used[n]; i++ {
		n = w.prefix + "_" + AvroName(base) + "_" + strconv.Itoa(i)
	}
	w.used[n] = true
	return n
}

func (w *schemaWriter) record(name string, cols []avroColumn) {
	w.b.WriteString(`{"type":"record","name":`)
	w.b.WriteString(strconv.Quote(name))
	w.b.WriteString(`,"fields":[`)
	for i, c := range cols {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.field(c.avroName, c.typ)
	}
	w.b.WriteString(`]}`)
}

// field writes a nullable field with a null default.
func (w *schemaWriter) field(name string, t record.Type) {
	w.b.WriteString(`{"name":`)
	w.b.WriteString(strconv.Quote(name))
	w.b.WriteString(`,"type":`)
	w.nullable(t)
	w.b.WriteString(`,"default":null}`)
}

func (w *schemaWriter) nullable(t record.Type) {
	if t.Name == "" {
		w.b.WriteString(`"null"`)
		return
	}
	w.b.WriteString(`["null",`)
	w.typ(t)
	w.b.WriteByte(']')
}

// scalarAvro is the Avro type of each CQL scalar (see the type table of docs/output.md).
var scalarAvro = map[string]string{
	"ascii": `"string"`, "text": `"string"`, "varchar": `"string"`, "inet": `"string"`,
	"uuid": `{"type":"string","logicalType":"uuid"}`, "timeuuid": `{"type":"string","logicalType":"uuid"}`,
	"tinyint": `"int"`, "smallint": `"int"`, "int": `"int"`,
	"bigint": `"long"`, "counter": `"long"`,
	"float": `"float"`, "double": `"double"`, "bool": `"boolean"`, "blob": `"bytes"`,
	"timestamp": `{"type":"long","logicalType":"timestamp-millis"}`,
	"date":      `{"type":"int","logicalType":"date"}`,
	"time":      `{"type":"long","logicalType":"time-micros"}`,
	"varint":    `{"type":"string","logicalType":"cql-varint"}`,
	"decimal":   `{"type":"string","logicalType":"cql-decimal"}`,
	"duration":  `{"type":"string","logicalType":"cql-duration"}`,
}

// typ writes the (non-null) Avro type of t. Named types (tuples, UDTs, map entries) are
// defined at first use and referenced by name afterwards.
func (w *schemaWriter) typ(t record.Type) {
	if t.Name == "" {
		w.b.WriteString(`"null"`)
		return
	}
	if s, ok := scalarAvro[string(t.Name)]; ok {
		w.b.WriteString(s)
		return
	}
	switch t.Name {
	case "list", "set":
		w.b.WriteString(`{"type":"array","items":`)
		w.typ(t.Elems[0])
		w.b.WriteByte('}')
		return
	}
	key := typeKey(t)
	if full, ok := w.a.names[key]; ok {
		w.b.WriteString(strconv.Quote(full))
		return
	}
	switch t.Name {
	case "map":
		// Avro maps would be encoded in Go's random map order; an array of entries keeps
		// the wire order, so a replay writes identical bytes.
		entryKey := "entry:" + key
		w.b.WriteString(`{"type":"array","items":`)
		if full, ok := w.a.names[entryKey]; ok {
			w.b.WriteString(strconv.Quote(full))
		} else {
			name := w.name("map_entry")
			w.a.names[entryKey] = w.a.ns + "." + name
			w.b.WriteString(`{"type":"record","name":`)
			w.b.WriteString(strconv.Quote(name))
			w.b.WriteString(`,"fields":[{"name":"key","type":`)
			w.typ(t.Elems[0])
			w.b.WriteString(`},{"name":"value","type":`)
			w.typ(t.Elems[1])
			w.b.WriteString(`}]}`)
		}
		w.b.WriteByte('}')
	case "tuple":
		name := w.name("tuple")
		w.a.names[key] = w.a.ns + "." + name
		w.b.WriteString(`{"type":"record","name":`)
		w.b.WriteString(strconv.Quote(name))
		w.b.WriteString(`,"fields":[`)
		for i, e := range t.Elems {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.field("f"+strconv.Itoa(i), e)
		}
		w.b.WriteString(`]}`)
	case "udt":
		base := "udt"
		if t.UDT != "" {
			base = "udt_" + t.UDT
		}
		name := w.name(base)
		w.a.names[key] = w.a.ns + "." + name
		w.b.WriteString(`{"type":"record","name":`)
		w.b.WriteString(strconv.Quote(name))
		w.b.WriteString(`,"fields":[`)
		for i, fname := range udtFieldNames(t) {
			if i > 0 {
				w.b.WriteByte(',')
			}
			w.field(fname, t.Fields[i].Type)
		}
		w.b.WriteString(`]}`)
	default:
		// Unreachable for types built by record.ParseType / typeOf.
		w.b.WriteString(`"string"`)
	}
}

// typeKey identifies a type structurally (UDTs by name and fields), so that one named Avro
// type serves every use of the same CQL type.
func typeKey(t record.Type) string {
	var b strings.Builder
	writeTypeKey(&b, t)
	return b.String()
}

func writeTypeKey(b *strings.Builder, t record.Type) {
	b.WriteString(string(t.Name))
	if t.Name == "udt" {
		b.WriteString(":" + t.UDT)
	}
	if len(t.Elems) > 0 {
		b.WriteByte('<')
		for i, e := range t.Elems {
			if i > 0 {
				b.WriteByte(',')
			}
			writeTypeKey(b, e)
		}
		b.WriteByte('>')
	}
	if len(t.Fields) > 0 {
		b.WriteByte('{')
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Quote(f.Name))
			b.WriteByte(' ')
			writeTypeKey(b, f.Type)
		}
		b.WriteByte('}')
	}
}

// udtFieldNames are the sanitised Avro names of a UDT's fields (as schemaWriter.typ
// writes them).
func udtFieldNames(t record.Type) []string {
	out := make([]string, len(t.Fields))
	used := map[string]bool{}
	for i, f := range t.Fields {
		name := AvroName(f.Name)
		for n := 2; used[name]; n++ {
			name = fmt.Sprintf("%s_%d", AvroName(f.Name), n)
		}
		used[name] = true
		out[i] = name
	}
	return out
}
