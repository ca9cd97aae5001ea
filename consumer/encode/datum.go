package encode

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// datumWriter encodes events as Avro binary data of one schema, straight from the events.
// It replaces the generic path (AvroSchema.Native, now a test oracle in native_test.go, then
// hamba's reflection over map[string]any), which is several times slower (docs/benchmarks.md,
// section sink) and caches encoders by schema fingerprint — where a record referenced by name
// in two versions of a table's schema shares a key, so one process writing two versions could
// encode with the wrong one. TestDatumMatchesGeneric checks both paths agree.
//
// The binary encoding is appended here rather than through hamba's avro.Writer, whose
// WriteFloat and WriteDouble allocate; it is short (zig-zag varints for int and long, a long
// length before bytes and strings, little-endian IEEE floats, the branch index before a
// union's value, count-prefixed array blocks ended by 0). TestDatumMatchesHambaWriter checks
// the bytes equal those of the hamba-based writer this one replaced, byte for byte, and
// FuzzDatum on arbitrary values. Not safe for concurrent use.
type datumWriter struct {
	s    *AvroSchema
	buf  []byte
	vals []*record.Value // an image's values by schema column, reused
	// The schema column of each field position in the last keys and image written: the
	// events of a table list their columns in the same order, so a guess checked by
	// comparing names saves most lookups in the schema's index map.
	keyPos, colPos []int
}

func newDatumWriter(s *AvroSchema) *datumWriter {
	d := &datumWriter{s: s, buf: make([]byte, 0, 4096), vals: make([]*record.Value, max(len(s.columns), len(s.keys))),
		keyPos: make([]int, len(s.keys)), colPos: make([]int, len(s.columns))}
	// First guess: schema order. Each guess is a column the index map gives for its name,
	// so a guess whose name matches is what the map would say.
	for i, c := range s.keys {
		d.keyPos[i] = s.keyIndex[c.name]
	}
	for i, c := range s.columns {
		d.colPos[i] = s.colIndex[c.name]
	}
	return d
}

// encode returns the event's datum; the slice is valid until the next call. An error
// leaves nothing behind.
func (d *datumWriter) encode(ev *record.Event) ([]byte, error) {
	b := d.buf[:0]
	b = appendAvroBytes(b, ev.Keyspace)
	b = appendAvroBytes(b, ev.Table)
	b = appendAvroBytes(b, ev.ShardID)
	b = appendAvroBytes(b, ev.SequenceNumber)
	b = binary.AppendVarint(b, ev.CreatedAt.UnixMilli())
	b = appendAvroBytes(b, ev.Origin)
	b = appendAvroBytes(b, string(ev.Op))
	var err error
	if b, err = d.row(b, d.s.keys, d.s.keyIndex, d.keyPos, ev.Keys); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	for _, img := range [2]*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			b = append(b, 0) // union branch 0: null
			continue
		}
		b = append(b, 2) // branch 1, zig-zag encoded
		if b, err = d.row(b, d.s.columns, d.s.colIndex, d.colPos, img.Columns); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	if d.s.cellMetadata {
		for _, img := range [2]*record.Image{ev.NewImage, ev.OldImage} {
			if img == nil {
				b = append(b, 0)
				continue
			}
			b = append(b, 2)
			n := 0
			for _, c := range img.Columns {
				if c.Meta != nil {
					n++
				}
			}
			if n > 0 {
				b = binary.AppendVarint(b, int64(n))
				for _, c := range img.Columns {
					if c.Meta != nil {
						b = appendAvroBytes(b, c.Name)
						b = appendNullableString(b, c.Meta.WriteTime)
						b = appendNullableString(b, c.Meta.ExpirationTime)
					}
				}
			}
			b = append(b, 0) // end of the array
		}
	}
	d.buf = b
	return b, nil
}

// appendNullableString writes a ["null","string"] union, "" being null.
func appendNullableString(b []byte, s string) []byte {
	if s == "" {
		return append(b, 0)
	}
	return appendAvroBytes(append(b, 2), s)
}

// row writes a record of nullable columns, in schema order, from the fields present.
func (d *datumWriter) row(b []byte, cols []avroColumn, idx map[string]int, pos []int, fields []record.Field) ([]byte, error) {
	vals := d.vals[:len(cols)]
	clear(vals)
	for i := range fields {
		name := fields[i].Name
		if i < len(pos) && cols[pos[i]].name == name {
			vals[pos[i]] = &fields[i].Value
			continue
		}
		j, ok := idx[name]
		if !ok {
			return b, fmt.Errorf("column %s: not in the schema", name)
		}
		vals[j] = &fields[i].Value
		if i < len(pos) {
			pos[i] = j
		}
	}
	var null record.Value
	for j := range cols {
		v := vals[j]
		if v == nil {
			v = &null
		}
		var err error
		if b, err = nullable(b, &cols[j].typ, v); err != nil {
			return b, fmt.Errorf("column %s: %w", cols[j].name, err)
		}
	}
	return b, nil
}

// nullable writes a value at a ["null", T] position (or a "null" one, for unknown T).
func nullable(b []byte, t *record.Type, v *record.Value) ([]byte, error) {
	if t.Name == "" {
		if !v.IsNull() {
			return b, fmt.Errorf("%s value in a column of unknown type", v.Type)
		}
		return b, nil
	}
	if v.IsNull() {
		return append(b, 0), nil
	}
	return value(append(b, 2), t, v)
}

// value writes a non-null value under the declared type t. Values and types go by pointer:
// both are large structs, copied at every level otherwise.
//
// Whether t holds v is checked level by level as the value is written (shapeFits), not by
// building v's type (typeOf, which allocates for every collection value) and comparing it
// whole. The errors are the ones the whole comparison gave: when a component fails, the
// whole comparison decides whether the fault is reported here (see valueErr).
func value(b []byte, t *record.Type, v *record.Value) ([]byte, error) {
	if v.IsNull() {
		return b, fmt.Errorf("null where %s needs a value", t)
	}
	if !shapeFits(t, v) {
		return b, conflict(t, v)
	}
	switch t.Name {
	case streams.TypeTinyint, streams.TypeSmallint, streams.TypeInt:
		b = binary.AppendVarint(b, int64(int32(v.Int)))
	case streams.TypeBigint, streams.TypeCounter:
		b = binary.AppendVarint(b, v.Int)
	case streams.TypeFloat:
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(float32(v.Float)))
	case streams.TypeDouble:
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(v.Float))
	case streams.TypeBool:
		if v.Bool {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case streams.TypeBlob:
		b = binary.AppendVarint(b, int64(len(v.Bytes)))
		b = append(b, v.Bytes...)
	case streams.TypeTimestamp:
		b = binary.AppendVarint(b, v.Time.UnixMilli())
	case streams.TypeDate:
		b = binary.AppendVarint(b, int64(int32(v.Time.Unix()/86400)))
	case streams.TypeTime:
		b = binary.AppendVarint(b, int64(v.TimeOfDay/time.Microsecond))
	case streams.TypeList, streams.TypeSet, streams.TypeMap, streams.TypeTuple, streams.TypeUDT:
		return composite(b, t, v)
	default:
		// Strings: text, ascii, varchar, inet, uuid, timeuuid, varint, decimal, duration.
		b = appendAvroBytes(b, v.Text)
	}
	return b, nil
}

// composite writes a collection, tuple or UDT value whose shape fits t.
func composite(b []byte, t *record.Type, v *record.Value) ([]byte, error) {
	var err error
	switch t.Name {
	case streams.TypeList, streams.TypeSet:
		if len(v.Elems) > 0 {
			b = binary.AppendVarint(b, int64(len(v.Elems)))
			for i := range v.Elems {
				if b, err = value(b, &t.Elems[0], &v.Elems[i]); err != nil {
					return b, valueErr(t, v, fmt.Errorf("element %d: %w", i, err))
				}
			}
		}
		b = append(b, 0)
	case streams.TypeMap:
		if len(v.Entries) > 0 {
			b = binary.AppendVarint(b, int64(len(v.Entries)))
			for i := range v.Entries {
				e := &v.Entries[i]
				if b, err = value(b, &t.Elems[0], &e.Key); err != nil {
					return b, valueErr(t, v, fmt.Errorf("map key %d: %w", i, err))
				}
				if b, err = value(b, &t.Elems[1], &e.Value); err != nil {
					return b, valueErr(t, v, fmt.Errorf("map value %d: %w", i, err))
				}
			}
		}
		b = append(b, 0)
	case streams.TypeTuple:
		var null record.Value
		for i := range t.Elems {
			e := &null
			if i < len(v.Elems) {
				e = &v.Elems[i]
			}
			if b, err = nullable(b, &t.Elems[i], e); err != nil {
				return b, valueErr(t, v, fmt.Errorf("tuple component %d: %w", i, err))
			}
		}
	case streams.TypeUDT:
		var null record.Value
		for i := range t.Fields {
			tf := &t.Fields[i]
			fv := &null
			for j := range v.Fields {
				if v.Fields[j].Name == tf.Name {
					fv = &v.Fields[j].Value
					break
				}
			}
			if b, err = nullable(b, &tf.Type, fv); err != nil {
				return b, valueErr(t, v, fmt.Errorf("udt field %s: %w", tf.Name, err))
			}
		}
	}
	return b, nil
}

func conflict(t *record.Type, v *record.Value) error {
	return fmt.Errorf("%w: %s value for %s", ErrTypeConflict, typeOf(*v), t)
}

// valueErr is the error of a value whose component err failed: a conflict of the value as
// a whole if its type is not covered (what the whole comparison would have reported first),
// else err.
func valueErr(t *record.Type, v *record.Value, err error) error {
	if !typeCovers(*t, typeOf(*v)) {
		return conflict(t, v)
	}
	return err
}

// shapeFits checks one level of typeCovers(t, typeOf(v)) for a non-null v: t's kind and its
// number of components, and every UDT field of v in t. Where the value's components are
// written under t's, they are checked as they are written; a UDT field repeated in v is not
// written, so it is checked here.
func shapeFits(t *record.Type, v *record.Value) bool {
	if t.Name == "" || avroClass(t.Name) != avroClass(v.Type) {
		return false
	}
	switch t.Name {
	case streams.TypeList, streams.TypeSet:
		return len(t.Elems) == 1
	case streams.TypeMap:
		return len(t.Elems) == 2
	case streams.TypeTuple:
		return len(t.Elems) == len(v.Elems)
	case streams.TypeUDT:
		for j := range v.Fields {
			i := fieldIndex(t.Fields, v.Fields[j].Name)
			if i < 0 {
				return false
			}
			if repeated(v.Fields[:j], v.Fields[j].Name) && !typeCovers(t.Fields[i].Type, typeOf(v.Fields[j].Value)) {
				return false
			}
		}
		return true
	}
	return len(t.Elems) == 0
}

func repeated(fs []record.Field, name string) bool {
	for i := range fs {
		if fs[i].Name == name {
			return true
		}
	}
	return false
}
