package encode

import (
	"fmt"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// hambaDatumWriter is the datum writer as it was before it appended the bytes itself (with
// hamba/avro's Writer primitives, and whole-type checks through typeOf): the oracle of
// datum_test.go, which checks the two write the same bytes and fail with the same errors.
type hambaDatumWriter struct {
	s    *AvroSchema
	w    *avro.Writer
	vals []*record.Value // an image's values by schema column, reused
}

func newHambaDatumWriter(s *AvroSchema) *hambaDatumWriter {
	return &hambaDatumWriter{s: s, w: avro.NewWriter(nil, 4096), vals: make([]*record.Value, max(len(s.columns), len(s.keys)))}
}

// encode returns the event's datum; the slice is valid until the next call. An error
// leaves nothing behind.
func (d *hambaDatumWriter) encode(ev *record.Event) ([]byte, error) {
	w := d.w
	w.Reset(nil)
	w.WriteString(ev.Keyspace)
	w.WriteString(ev.Table)
	w.WriteString(ev.ShardID)
	w.WriteString(ev.SequenceNumber)
	w.WriteLong(ev.CreatedAt.UnixMilli())
	w.WriteString(ev.Origin)
	w.WriteString(string(ev.Op))
	if err := d.row(d.s.keys, d.s.keyIndex, ev.Keys); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	for _, img := range []*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			w.WriteLong(0)
			continue
		}
		w.WriteLong(1)
		if err := d.row(d.s.columns, d.s.colIndex, img.Columns); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
	}
	if d.s.cellMetadata {
		for _, img := range []*record.Image{ev.NewImage, ev.OldImage} {
			if img == nil {
				w.WriteLong(0)
				continue
			}
			w.WriteLong(1)
			n := 0
			for _, c := range img.Columns {
				if c.Meta != nil {
					n++
				}
			}
			if n > 0 {
				w.WriteLong(int64(n))
				for _, c := range img.Columns {
					if c.Meta != nil {
						w.WriteString(c.Name)
						d.optString(c.Meta.WriteTime)
						d.optString(c.Meta.ExpirationTime)
					}
				}
			}
			w.WriteLong(0)
		}
	}
	if w.Error != nil {
		return nil, w.Error
	}
	return w.Buffer(), nil
}

func (d *hambaDatumWriter) optString(s string) {
	if s == "" {
		d.w.WriteLong(0)
		return
	}
	d.w.WriteLong(1)
	d.w.WriteString(s)
}

// row writes a record of nullable columns, in schema order, from the fields present.
func (d *hambaDatumWriter) row(cols []avroColumn, idx map[string]int, fields []record.Field) error {
	vals := d.vals[:len(cols)]
	clear(vals)
	for i := range fields {
		j, ok := idx[fields[i].Name]
		if !ok {
			return fmt.Errorf("column %s: not in the schema", fields[i].Name)
		}
		vals[j] = &fields[i].Value
	}
	for j, c := range cols {
		var v record.Value
		if vals[j] != nil {
			v = *vals[j]
		}
		if err := d.nullable(c.typ, v); err != nil {
			return fmt.Errorf("column %s: %w", c.name, err)
		}
	}
	return nil
}

// nullable writes a value at a ["null", T] position (or a "null" one, for unknown T).
func (d *hambaDatumWriter) nullable(t record.Type, v record.Value) error {
	if t.Name == "" {
		if !v.IsNull() {
			return fmt.Errorf("%s value in a column of unknown type", v.Type)
		}
		return nil
	}
	if v.IsNull() {
		d.w.WriteLong(0)
		return nil
	}
	d.w.WriteLong(1)
	return d.value(t, v)
}

// value writes a non-null value under the declared type t.
func (d *hambaDatumWriter) value(t record.Type, v record.Value) error {
	if v.IsNull() {
		return fmt.Errorf("null where %s needs a value", t)
	}
	if !typeCovers(t, typeOf(v)) {
		return fmt.Errorf("%w: %s value for %s", ErrTypeConflict, typeOf(v), t)
	}
	w := d.w
	switch t.Name {
	case streams.TypeTinyint, streams.TypeSmallint, streams.TypeInt:
		w.WriteInt(int32(v.Int))
	case streams.TypeBigint, streams.TypeCounter:
		w.WriteLong(v.Int)
	case streams.TypeFloat:
		w.WriteFloat(float32(v.Float))
	case streams.TypeDouble:
		w.WriteDouble(v.Float)
	case streams.TypeBool:
		w.WriteBool(v.Bool)
	case streams.TypeBlob:
		w.WriteBytes(v.Bytes)
	case streams.TypeTimestamp:
		w.WriteLong(v.Time.UnixMilli())
	case streams.TypeDate:
		w.WriteInt(int32(v.Time.Unix() / 86400))
	case streams.TypeTime:
		w.WriteLong(int64(v.TimeOfDay / time.Microsecond))
	case streams.TypeList, streams.TypeSet:
		if len(v.Elems) > 0 {
			w.WriteLong(int64(len(v.Elems)))
			for i, e := range v.Elems {
				if err := d.value(t.Elems[0], e); err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
			}
		}
		w.WriteLong(0)
	case streams.TypeMap:
		if len(v.Entries) > 0 {
			w.WriteLong(int64(len(v.Entries)))
			for i, e := range v.Entries {
				if err := d.value(t.Elems[0], e.Key); err != nil {
					return fmt.Errorf("map key %d: %w", i, err)
				}
				if err := d.value(t.Elems[1], e.Value); err != nil {
					return fmt.Errorf("map value %d: %w", i, err)
				}
			}
		}
		w.WriteLong(0)
	case streams.TypeTuple:
		for i, et := range t.Elems {
			var e record.Value
			if i < len(v.Elems) {
				e = v.Elems[i]
			}
			if err := d.nullable(et, e); err != nil {
				return fmt.Errorf("tuple component %d: %w", i, err)
			}
		}
	case streams.TypeUDT:
		for _, tf := range t.Fields {
			var fv record.Value
			for _, f := range v.Fields {
				if f.Name == tf.Name {
					fv = f.Value
					break
				}
			}
			if err := d.nullable(tf.Type, fv); err != nil {
				return fmt.Errorf("udt field %s: %w", tf.Name, err)
			}
		}
	default:
		// Strings: text, ascii, varchar, inet, uuid, timeuuid, varint, decimal, duration.
		w.WriteString(v.Text)
	}
	return nil
}
