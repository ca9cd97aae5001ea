package encode

import (
	"fmt"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The generic form of events below is a test oracle, kept out of the binary: the datum
// writer is checked against it (TestDatumMatchesGeneric) and the library benchmark feeds it
// to hamba/avro and goavro.

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
	if !typeCovers(t, typeOf(v)) {
		return nil, fmt.Errorf("%w: %s value for %s", ErrTypeConflict, typeOf(v), t)
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

// scalarBranch is the union branch name of each scalar's Avro type (type.logicalType for
// the logical types the library knows).
var scalarBranch = map[string]string{
	"uuid": "string.uuid", "timeuuid": "string.uuid", "tinyint": "int", "smallint": "int",
	"int": "int", "bigint": "long", "counter": "long", "float": "float", "double": "double",
	"bool": "boolean", "blob": "bytes", "timestamp": "long.timestamp-millis",
	"date": "int.date", "time": "long.time-micros",
}
