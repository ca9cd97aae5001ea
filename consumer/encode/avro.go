package encode

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// ErrSchemaChanged is returned by an Avro Builder's Add when the event needs a newer schema
// than the file being built was started with: the caller finishes the file and adds the
// event again, to a new file with the new schema.
var ErrSchemaChanged = errors.New("avro schema changed: finish the file first")

// avroFile builds an Avro Object Container File. Normally each event is encoded at Add
// into compressed blocks (memory: the compressed file plus one block), and an event that
// needs a newer schema ends the file (ErrSchemaChanged). With keepEvents (a replay, whose
// file must end at a given record), events are kept and encoded at Finish with the newest
// schema, which covers every event added before it.
type avroFile struct {
	schemas    *Schemas
	codec      string
	keepEvents bool
	zstd       *zstd.Encoder // created on first use, reused for every file of this builder

	schema *AvroSchema
	dw     *datumWriter
	out    *ocfWriter      // streaming mode
	events []*record.Event // keepEvents mode
	n      int
	size   int
	sync   [16]byte
}

func newAvroFile(schemas *Schemas, codec string, keepEvents bool) *avroFile {
	return &avroFile{schemas: schemas, codec: codec, keepEvents: keepEvents}
}

func (f *avroFile) Add(ctx context.Context, ev *record.Event) error {
	s := f.schema
	if s == nil || s.covers(ev) != nil {
		var err error
		if s, err = f.schemas.For(ctx, ev); err != nil {
			return err
		}
	}
	if !f.keepEvents && f.n > 0 && s != f.schema {
		return ErrSchemaChanged
	}
	// Encode before anything changes, so that an event that cannot be written fails here,
	// alone.
	datum, err := f.datum(s).encode(ev)
	if err != nil {
		return err
	}
	if f.n == 0 {
		f.sync = SyncMarker(ev.ShardID, ev.SequenceNumber)
	}
	if f.keepEvents {
		f.events = append(f.events, ev)
	} else {
		if f.n == 0 {
			if f.out, err = f.newOCF(s); err != nil {
				return err
			}
		}
		if err := f.out.write(datum); err != nil {
			return err
		}
	}
	f.schema = s
	f.n++
	f.size += ev.Size()
	return nil
}

// datum returns the datum writer of schema s.
func (f *avroFile) datum(s *AvroSchema) *datumWriter {
	if f.dw == nil || f.dw.s != s {
		f.dw = newDatumWriter(s)
	}
	return f.dw
}

func (f *avroFile) Len() int  { return f.n }
func (f *avroFile) Size() int { return f.size }

func (f *avroFile) newOCF(s *AvroSchema) (*ocfWriter, error) {
	if f.codec == CodecZstandard && f.zstd == nil {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("create zstd encoder: %w", err)
		}
		f.zstd = enc
	}
	return newOCFWriter(s, f.codec, f.sync, f.zstd)
}

func (f *avroFile) Finish() (*File, error) {
	if f.n == 0 {
		return nil, errors.New("finish avro file: no events")
	}
	if f.keepEvents {
		out, err := f.newOCF(f.schema)
		if err != nil {
			return nil, err
		}
		dw := f.datum(f.schema)
		for _, ev := range f.events {
			datum, err := dw.encode(ev)
			if err == nil {
				err = out.write(datum)
			}
			if err != nil {
				return nil, fmt.Errorf("encode event %s: %w", ev.SequenceNumber, err)
			}
		}
		f.out = out
	}
	body, err := f.out.finish()
	if err != nil {
		return nil, err
	}
	file := &File{Body: body, Ext: "avro", ContentType: "application/avro", Records: f.n,
		UncompressedBytes: f.size, Schema: f.schema}
	f.out, f.events, f.schema, f.n, f.size = nil, nil, nil, 0, 0
	return file, nil
}

// SyncMarker derives a file's 16-byte sync marker from its shard and first record, which a
// replay of the file shares: the replay then writes the same bytes (a random marker, the
// usual choice, would not).
func SyncMarker(shardID, firstSeq string) [16]byte {
	sum := sha256.Sum256([]byte("avro-sync:" + shardID + ":" + firstSeq))
	var s [16]byte
	copy(s[:], sum[:16])
	return s
}

// ocfWriter writes an Avro Object Container File. hamba/avro's ocf.Encoder writes the data
// blocks (and compresses them); the header is written here, because ocf writes its
// metadata map in Go's random map order, which would make two runs differ.
type ocfWriter struct {
	schema    *AvroSchema
	codec     string
	sync      [16]byte
	blocks    bytes.Buffer
	enc       *ocf.Encoder
	headerLen int
}

func newOCFWriter(s *AvroSchema, codec string, sync [16]byte, zenc *zstd.Encoder) (*ocfWriter, error) {
	opts := []ocf.EncoderFunc{ocf.WithCodec(ocf.CodecName(codec)), ocf.WithSyncBlock(sync),
		ocf.WithBlockLength(1000), ocf.WithBlockSize(1 << 20)}
	if codec == CodecDeflate {
		// Level 1 encodes twice as fast as the default 6 for files about a quarter larger
		// (see docs/benchmarks.md); CPU is the scarcer resource of a shard worker.
		opts = append(opts, ocf.WithCompressionLevel(flate.BestSpeed))
	}
	if zenc != nil {
		opts = append(opts, ocf.WithZStandardEncoder(zenc))
	}
	w := &ocfWriter{schema: s, codec: codec, sync: sync}
	enc, err := ocf.NewEncoderWithSchema(s.schema, &w.blocks, opts...)
	if err != nil {
		return nil, fmt.Errorf("create ocf encoder: %w", err)
	}
	w.enc, w.headerLen = enc, w.blocks.Len()
	return w, nil
}

// write appends one encoded datum.
func (w *ocfWriter) write(datum []byte) error {
	if _, err := w.enc.Write(datum); err != nil {
		return fmt.Errorf("write ocf block: %w", err)
	}
	return nil
}

func (w *ocfWriter) finish() ([]byte, error) {
	if err := w.enc.Close(); err != nil {
		return nil, fmt.Errorf("close ocf encoder: %w", err)
	}
	blocks := w.blocks.Bytes()[w.headerLen:]
	out := appendOCFHeader(make([]byte, 0, len(blocks)+len(w.schema.JSON)+64), w.schema.JSON, w.codec, w.sync)
	return append(out, blocks...), nil
}

// appendOCFHeader writes the container header with its metadata in sorted key order.
func appendOCFHeader(b []byte, schemaJSON, codec string, sync [16]byte) []byte {
	b = append(b, 'O', 'b', 'j', 1)
	b = binary.AppendVarint(b, 2) // one block of two entries (Avro longs are zig-zag varints)
	b = appendAvroBytes(b, "avro.codec")
	b = appendAvroBytes(b, codec)
	b = appendAvroBytes(b, "avro.schema")
	b = appendAvroBytes(b, schemaJSON)
	b = binary.AppendVarint(b, 0)
	return append(b, sync[:]...)
}

func appendAvroBytes(b []byte, s string) []byte {
	b = binary.AppendVarint(b, int64(len(s)))
	return append(b, s...)
}

// Native converts an event to the generic form hamba/avro's reflection path and goavro
// encode: records are map[string]any, a non-null value of a nullable union is
// map[string]any{branch: value}. The sink encodes with the faster datumWriter; Native is
// the reference it is checked against, and what the library benchmark feeds both libraries.
func (a *AvroSchema) Native(ev *record.Event) (map[string]any, error) {
	keys, err := a.nativeRow(a.keys, a.keyIndex, ev.Keys)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	n := map[string]any{
		"keyspace": ev.Keyspace, "table": ev.Table, "shard_id": ev.ShardID,
		"sequence_number": ev.SequenceNumber, "created_at": ev.CreatedAt,
		"origin": ev.Origin, "op": string(ev.Op), "keys": keys,
	}
	for _, side := range []struct {
		name string
		img  *record.Image
	}{{"new_image", ev.NewImage}, {"old_image", ev.OldImage}} {
		if side.img == nil {
			n[side.name] = nil
			if a.cellMetadata {
				n[side.name+"_metadata"] = nil
			}
			continue
		}
		row, err := a.nativeRow(a.columns, a.colIndex, side.img.Columns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", side.name, err)
		}
		n[side.name] = map[string]any{a.image: row}
		if a.cellMetadata {
			meta := []any{}
			for _, c := range side.img.Columns {
				if c.Meta != nil {
					meta = append(meta, map[string]any{"column": c.Name,
						"write_time": optString(c.Meta.WriteTime), "expiration_time": optString(c.Meta.ExpirationTime)})
				}
			}
			n[side.name+"_metadata"] = map[string]any{"array": meta}
		}
	}
	return n, nil
}

func optString(s string) any {
	if s == "" {
		return nil
	}
	return map[string]any{"string": s}
}

// nativeRow fills every column of the record (absent ones null).
func (a *AvroSchema) nativeRow(cols []avroColumn, idx map[string]int, fields []record.Field) (map[string]any, error) {
	row := make(map[string]any, len(cols))
	for _, c := range cols {
		row[c.avroName] = nil
	}
	for _, f := range fields {
		i, ok := idx[f.Name]
		if !ok {
			return nil, fmt.Errorf("column %s: not in the schema", f.Name)
		}
		v, err := a.nullable(cols[i].typ, f.Value)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", f.Name, err)
		}
		row[cols[i].avroName] = v
	}
	return row, nil
}

// nullable converts a value at a ["null", T] position.
func (a *AvroSchema) nullable(t record.Type, v record.Value) (any, error) {
	if v.IsNull() {
		return nil, nil
	}
	if t.Name == "" {
		return nil, fmt.Errorf("%s value in a column of unknown type", v.Type)
	}
	n, err := a.native(t, v)
	if err != nil {
		return nil, err
	}
	return map[string]any{a.branch(t): n}, nil
}

// branch is the union branch name of t's Avro type.
func (a *AvroSchema) branch(t record.Type) string {
	if b, ok := scalarBranch[string(t.Name)]; ok {
		return b
	}
	switch t.Name {
	case "list", "set", "map":
		return "array"
	case "tuple", "udt":
		return a.names[typeKey(t)]
	}
	return "string"
}

// native converts a non-null value under the declared type t.
func (a *AvroSchema) native(t record.Type, v record.Value) (any, error) {
	if v.IsNull() {
		return nil, fmt.Errorf("null where %s needs a value", t)
	}
	if !t.Covers(record.TypeOf(v)) {
		return nil, fmt.Errorf("%w: %s value for %s", ErrTypeConflict, record.TypeOf(v), t)
	}
	switch t.Name {
	case streams.TypeTinyint, streams.TypeSmallint, streams.TypeInt:
		return int32(v.Int), nil
	case streams.TypeBigint, streams.TypeCounter:
		return v.Int, nil
	case streams.TypeFloat:
		return float32(v.Float), nil
	case streams.TypeDouble:
		return v.Float, nil
	case streams.TypeBool:
		return v.Bool, nil
	case streams.TypeBlob:
		return v.Bytes, nil
	case streams.TypeTimestamp, streams.TypeDate:
		return v.Time, nil
	case streams.TypeTime:
		return v.TimeOfDay.Truncate(time.Microsecond), nil
	case streams.TypeList, streams.TypeSet:
		out := make([]any, len(v.Elems))
		for i, e := range v.Elems {
			n, err := a.native(t.Elems[0], e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = n
		}
		return out, nil
	case streams.TypeMap:
		out := make([]any, len(v.Entries))
		for i, e := range v.Entries {
			k, err := a.native(t.Elems[0], e.Key)
			if err != nil {
				return nil, fmt.Errorf("map key %d: %w", i, err)
			}
			val, err := a.native(t.Elems[1], e.Value)
			if err != nil {
				return nil, fmt.Errorf("map value %d: %w", i, err)
			}
			out[i] = map[string]any{"key": k, "value": val}
		}
		return out, nil
	case streams.TypeTuple:
		out := make(map[string]any, len(t.Elems))
		for i, et := range t.Elems {
			var e record.Value
			if i < len(v.Elems) {
				e = v.Elems[i]
			}
			n, err := a.nullable(et, e)
			if err != nil {
				return nil, fmt.Errorf("tuple component %d: %w", i, err)
			}
			out[fmt.Sprintf("f%d", i)] = n
		}
		return out, nil
	case streams.TypeUDT:
		return a.nativeUDT(t, v)
	}
	// Strings: text, ascii, varchar, inet, uuid, timeuuid, varint, decimal, duration.
	return v.Text, nil
}

func (a *AvroSchema) nativeUDT(t record.Type, v record.Value) (any, error) {
	out := make(map[string]any, len(t.Fields))
	names := udtFieldNames(t)
	for _, n := range names {
		out[n] = nil
	}
	for _, f := range v.Fields {
		i := -1
		for j, tf := range t.Fields {
			if tf.Name == f.Name {
				i = j
				break
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("udt field %s: not in the type", f.Name)
		}
		n, err := a.nullable(t.Fields[i].Type, f.Value)
		if err != nil {
			return nil, fmt.Errorf("udt field %s: %w", f.Name, err)
		}
		out[names[i]] = n
	}
	return out, nil
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
