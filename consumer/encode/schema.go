package encode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces"
	"github.com/hamba/avro/v2"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// TableDef is a table's definition: its key columns and all its columns, UDTs resolved.
type TableDef struct {
	// Keys are the partition key columns then the clustering key columns.
	Keys []record.FieldType
	// Columns are all the columns (keys included) in the table's order.
	Columns []record.FieldType
}

// TableSource answers a table's definition.
type TableSource interface {
	Table(ctx context.Context, keyspace, table string) (*TableDef, error)
}

// KeyspacesAPI is the part of the Amazon Keyspaces client (aws-sdk-go-v2/service/keyspaces)
// the schema source calls.
type KeyspacesAPI interface {
	GetTable(ctx context.Context, in *keyspaces.GetTableInput, opts ...func(*keyspaces.Options)) (*keyspaces.GetTableOutput, error)
	GetType(ctx context.Context, in *keyspaces.GetTypeInput, opts ...func(*keyspaces.Options)) (*keyspaces.GetTypeOutput, error)
}

// KeyspacesSource reads table definitions with GetTable, and the UDTs they use with GetType.
type KeyspacesSource struct {
	API KeyspacesAPI
}

// Table calls GetTable and resolves every UDT (nested ones too) with GetType.
func (k KeyspacesSource) Table(ctx context.Context, keyspace, table string) (*TableDef, error) {
	out, err := k.API.GetTable(ctx, &keyspaces.GetTableInput{KeyspaceName: aws.String(keyspace), TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("keyspaces GetTable %s.%s: %w", keyspace, table, err)
	}
	if out.SchemaDefinition == nil {
		return nil, fmt.Errorf("keyspaces GetTable %s.%s: no schema definition", keyspace, table)
	}
	sd := out.SchemaDefinition
	udts := map[string][]record.FieldType{}
	def := &TableDef{}
	types := map[string]record.Type{}
	for _, c := range sd.AllColumns {
		t, err := record.ParseType(aws.ToString(c.Type))
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", aws.ToString(c.Name), err)
		}
		if t, err = k.resolve(ctx, keyspace, t, udts, 0); err != nil {
			return nil, fmt.Errorf("column %s: %w", aws.ToString(c.Name), err)
		}
		types[aws.ToString(c.Name)] = t
		def.Columns = append(def.Columns, record.FieldType{Name: aws.ToString(c.Name), Type: t})
	}
	for _, pk := range sd.PartitionKeys {
		def.Keys = append(def.Keys, record.FieldType{Name: aws.ToString(pk.Name), Type: types[aws.ToString(pk.Name)]})
	}
	for _, ck := range sd.ClusteringKeys {
		def.Keys = append(def.Keys, record.FieldType{Name: aws.ToString(ck.Name), Type: types[aws.ToString(ck.Name)]})
	}
	return def, nil
}

// maxUDTDepth bounds UDT nesting (Keyspaces allows 8 levels).
const maxUDTDepth = 16

func (k KeyspacesSource) resolve(ctx context.Context, keyspace string, t record.Type, udts map[string][]record.FieldType, depth int) (record.Type, error) {
	if depth > maxUDTDepth {
		return t, fmt.Errorf("UDTs nested deeper than %d", maxUDTDepth)
	}
	for i, e := range t.Elems {
		r, err := k.resolve(ctx, keyspace, e, udts, depth+1)
		if err != nil {
			return t, err
		}
		t.Elems[i] = r
	}
	if t.Name != "udt" || t.Fields != nil {
		return t, nil
	}
	fields, ok := udts[t.UDT]
	if !ok {
		out, err := k.API.GetType(ctx, &keyspaces.GetTypeInput{KeyspaceName: aws.String(keyspace), TypeName: aws.String(t.UDT)})
		if err != nil {
			return t, fmt.Errorf("keyspaces GetType %s.%s: %w", keyspace, t.UDT, err)
		}
		for _, f := range out.FieldDefinitions {
			ft, err := record.ParseType(aws.ToString(f.Type))
			if err != nil {
				return t, fmt.Errorf("type %s field %s: %w", t.UDT, aws.ToString(f.Name), err)
			}
			if ft, err = k.resolve(ctx, keyspace, ft, udts, depth+1); err != nil {
				return t, err
			}
			fields = append(fields, record.FieldType{Name: aws.ToString(f.Name), Type: ft})
		}
		udts[t.UDT] = fields
	}
	t.Fields = append([]record.FieldType(nil), fields...)
	return t, nil
}

// ErrTypeConflict marks a value whose type conflicts with its column's declared type.
var ErrTypeConflict = errors.New("value does not match the column type")

// Schemas keeps the current Avro schema of each table and widens it when an event shows a
// column (or a UDT field, or a collection's element type) the schema lacks: first by asking
// the TableSource again (the table was altered), then, for what the source does not know
// or when it is unavailable (no permission, no network), from the values the event carries.
// A new version only ever adds columns and fills unknown types, so it covers every event
// the previous one did. Safe for concurrent use.
type Schemas struct {
	src          TableSource
	cellMetadata bool
	logger       *slog.Logger

	mu      sync.Mutex
	current map[string]*AvroSchema // by keyspace.table
}

// NewSchemas returns a schema registry. src may be nil: schemas are then derived from the
// records alone.
func NewSchemas(src TableSource, cellMetadata bool, logger *slog.Logger) *Schemas {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Schemas{src: src, cellMetadata: cellMetadata, logger: logger, current: map[string]*AvroSchema{}}
}

// For returns a schema that covers the event: the current one, or a new version.
func (s *Schemas) For(ctx context.Context, ev *record.Event) (*AvroSchema, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := ev.Keyspace + "." + ev.Table
	cur := s.current[id]
	if cur != nil && cur.covers(ev) == nil {
		return cur, nil
	}
	def := &TableDef{}
	if cur != nil {
		def = cur.Def
	}
	if s.src != nil {
		fresh, err := s.src.Table(ctx, ev.Keyspace, ev.Table)
		if err != nil {
			s.logger.Warn("table definition unavailable; deriving the Avro schema from the records",
				"keyspace", ev.Keyspace, "table", ev.Table, "error", err.Error())
		} else {
			def = widen(def, fresh, s.logger)
		}
	}
	def, err := deriveFrom(def, ev)
	if err != nil {
		return nil, err
	}
	next, err := NewAvroSchema(ev.Keyspace, ev.Table, def, s.cellMetadata)
	if err != nil {
		return nil, err
	}
	if err := next.covers(ev); err != nil {
		return nil, err
	}
	if cur == nil || cur.Fingerprint != next.Fingerprint {
		s.logger.Info("avro schema version", "keyspace", ev.Keyspace, "table", ev.Table,
			"fingerprint", next.Fingerprint, "columns", len(next.Def.Columns))
	}
	s.current[id] = next
	return next, nil
}

// widen returns the definition fresh from the source, keeping every column of old that it
// lacks (a dropped column stays readable in older events) and old's knowledge of types it
// leaves unknown.
func widen(old, fresh *TableDef, logger *slog.Logger) *TableDef {
	out := &TableDef{Keys: fresh.Keys}
	if len(out.Keys) == 0 {
		out.Keys = old.Keys
	}
	seen := map[string]bool{}
	for _, c := range fresh.Columns {
		seen[c.Name] = true
		if i := columnIndex(old.Columns, c.Name); i >= 0 {
			m, err := record.Merge(old.Columns[i].Type, c.Type)
			if err != nil {
				logger.Warn("column type changed; keeping the previous one", "column", c.Name, "error", err.Error())
				m = old.Columns[i].Type
			}
			c.Type = m
		}
		out.Columns = append(out.Columns, c)
	}
	for _, c := range old.Columns {
		if !seen[c.Name] {
			out.Columns = append(out.Columns, c)
		}
	}
	return out
}

// deriveFrom adds the event's columns that def lacks and fills the types def does not know
// from the event's values. A value whose type conflicts with a known type is an error.
func deriveFrom(def *TableDef, ev *record.Event) (*TableDef, error) {
	out := &TableDef{Keys: append([]record.FieldType(nil), def.Keys...), Columns: append([]record.FieldType(nil), def.Columns...)}
	add := func(cols *[]record.FieldType, f record.Field) error {
		vt := record.TypeOf(f.Value)
		i := columnIndex(*cols, f.Name)
		if i < 0 {
			*cols = append(*cols, record.FieldType{Name: f.Name, Type: vt})
			return nil
		}
		m, err := record.Merge((*cols)[i].Type, vt)
		if err != nil {
			return fmt.Errorf("column %s: %w: %w", f.Name, ErrTypeConflict, err)
		}
		(*cols)[i].Type = m
		return nil
	}
	for _, k := range ev.Keys {
		if err := add(&out.Keys, k); err != nil {
			return nil, err
		}
		if err := add(&out.Columns, k); err != nil {
			return nil, err
		}
	}
	for _, img := range []*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			continue
		}
		for _, c := range img.Columns {
			if err := add(&out.Columns, c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func columnIndex(cols []record.FieldType, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}

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
	check := func(idx map[string]int, cols []avroColumn, f record.Field) error {
		i, ok := idx[f.Name]
		if !ok {
			return fmt.Errorf("column %s: not in the schema", f.Name)
		}
		if !cols[i].typ.Covers(record.TypeOf(f.Value)) {
			return fmt.Errorf("column %s: %w: %s value in a %s column", f.Name, ErrTypeConflict, record.TypeOf(f.Value), cols[i].typ)
		}
		return nil
	}
	for _, k := range ev.Keys {
		if err := check(a.keyIndex, a.keys, k); err != nil {
			return err
		}
	}
	for _, img := range []*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			continue
		}
		for _, c := range img.Columns {
			if err := check(a.colIndex, a.columns, c); err != nil {
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

// scalarBranch is the union branch name of each scalar's Avro type (type.logicalType for
// the logical types the library knows).
var scalarBranch = map[string]string{
	"uuid": "string.uuid", "timeuuid": "string.uuid", "tinyint": "int", "smallint": "int",
	"int": "int", "bigint": "long", "counter": "long", "float": "float", "double": "double",
	"bool": "boolean", "blob": "bytes", "timestamp": "long.timestamp-millis",
	"date": "int.date", "time": "long.time-micros",
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
		// Unreachable for types built by record.ParseType / record.TypeOf.
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
