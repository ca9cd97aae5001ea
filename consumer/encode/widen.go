package encode

import (
	"fmt"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The widening rules of the Avro schemas: which CQL types share one Avro representation,
// how two views of a column's type merge into one, and which declared type holds which value.

// mergeTypes combines what two sources know about one column's type: unknown parts of one are
// filled from the other. Two known, different types are a conflict (an error).
func mergeTypes(a, b record.Type) (record.Type, error) {
	if a.Name == "" {
		return b, nil
	}
	if b.Name == "" {
		return a, nil
	}
	if avroClass(a.Name) != avroClass(b.Name) {
		return record.Type{}, fmt.Errorf("type %s conflicts with %s", a, b)
	}
	out := a
	if a.Name == streams.TypeUDT {
		if out.UDT == "" {
			out.UDT = b.UDT
		}
		fields := append([]record.FieldType(nil), a.Fields...)
		for _, bf := range b.Fields {
			i := fieldIndex(fields, bf.Name)
			if i < 0 {
				fields = append(fields, bf)
				continue
			}
			m, err := mergeTypes(fields[i].Type, bf.Type)
			if err != nil {
				return record.Type{}, fmt.Errorf("field %s: %w", bf.Name, err)
			}
			fields[i].Type = m
		}
		out.Fields = fields
		return out, nil
	}
	if len(a.Elems) != len(b.Elems) {
		return record.Type{}, fmt.Errorf("type %s conflicts with %s", a, b)
	}
	if len(a.Elems) > 0 {
		out.Elems = make([]record.Type, len(a.Elems))
		for i := range a.Elems {
			m, err := mergeTypes(a.Elems[i], b.Elems[i])
			if err != nil {
				return record.Type{}, err
			}
			out.Elems[i] = m
		}
	}
	return out, nil
}

// typeCovers reports whether values of type v can be written under the declared type t
// without losing anything: same representation, and every UDT field of v present in t.
func typeCovers(t, v record.Type) bool {
	if v.Name == "" {
		return true
	}
	if t.Name == "" || avroClass(t.Name) != avroClass(v.Name) {
		return false
	}
	if t.Name == streams.TypeUDT {
		for _, vf := range v.Fields {
			i := fieldIndex(t.Fields, vf.Name)
			if i < 0 || !typeCovers(t.Fields[i].Type, vf.Type) {
				return false
			}
		}
		return true
	}
	if len(t.Elems) != len(v.Elems) {
		return false
	}
	for i := range v.Elems {
		if !typeCovers(t.Elems[i], v.Elems[i]) {
			return false
		}
	}
	return true
}

// fits reports whether v can be written under t, as the Avro writer checks it: level by
// level, every component under its declared type. It is typeCovers(t, typeOf(v)) without
// building v's type (which allocates for every collection value) and a little stricter:
// typeOf skips collection elements that conflict with earlier ones, where fits rejects
// them (they cannot be written). So fits implies typeCovers, and a caller needing the
// whole comparison's answer asks it only when fits says no.
func fits(t *record.Type, v *record.Value) bool {
	if v.IsNull() {
		return true
	}
	if t.Name == "" || avroClass(t.Name) != avroClass(v.Type) {
		return false
	}
	switch t.Name {
	case streams.TypeList, streams.TypeSet:
		if len(t.Elems) != 1 {
			return false
		}
		for i := range v.Elems {
			if !fits(&t.Elems[0], &v.Elems[i]) {
				return false
			}
		}
		return true
	case streams.TypeMap:
		if len(t.Elems) != 2 {
			return false
		}
		for i := range v.Entries {
			if !fits(&t.Elems[0], &v.Entries[i].Key) || !fits(&t.Elems[1], &v.Entries[i].Value) {
				return false
			}
		}
		return true
	case streams.TypeTuple:
		if len(t.Elems) != len(v.Elems) {
			return false
		}
		for i := range v.Elems {
			if !fits(&t.Elems[i], &v.Elems[i]) {
				return false
			}
		}
		return true
	case streams.TypeUDT:
		for i := range v.Fields {
			j := fieldIndex(t.Fields, v.Fields[i].Name)
			if j < 0 || !fits(&t.Fields[j].Type, &v.Fields[i].Value) {
				return false
			}
		}
		return true
	}
	return len(t.Elems) == 0
}

func fieldIndex(fs []record.FieldType, name string) int {
	for i := range fs {
		if fs[i].Name == name {
			return i
		}
	}
	return -1
}

// avroClass groups the CQL types that share one representation (text, ascii and varchar
// are all strings), so that a varchar value under a text column is not a conflict.
func avroClass(n streams.CQLType) string {
	switch n {
	case streams.TypeText, streams.TypeASCII, streams.TypeVarchar, streams.TypeInet:
		return "string"
	case streams.TypeUUID, streams.TypeTimeuuid:
		return "uuid"
	case streams.TypeInt, streams.TypeSmallint, streams.TypeTinyint:
		return "int"
	case streams.TypeBigint, streams.TypeCounter:
		return "long"
	case streams.TypeList, streams.TypeSet:
		return "array"
	}
	return string(n)
}

// typeOf is the CQL type the value itself shows. Collections take their element types from
// their elements; an empty collection's element type is unknown (Name ""), as is a UDT's
// name (the record does not carry it).
func typeOf(v record.Value) record.Type {
	switch v.Type {
	case streams.TypeList, streams.TypeSet:
		var elem record.Type
		for _, e := range v.Elems {
			if m, err := mergeTypes(elem, typeOf(e)); err == nil {
				elem = m
			}
		}
		return record.Type{Name: v.Type, Elems: []record.Type{elem}}
	case streams.TypeMap:
		var k, val record.Type
		for _, e := range v.Entries {
			if m, err := mergeTypes(k, typeOf(e.Key)); err == nil {
				k = m
			}
			if m, err := mergeTypes(val, typeOf(e.Value)); err == nil {
				val = m
			}
		}
		return record.Type{Name: v.Type, Elems: []record.Type{k, val}}
	case streams.TypeTuple:
		elems := make([]record.Type, len(v.Elems))
		for i, e := range v.Elems {
			elems[i] = typeOf(e)
		}
		return record.Type{Name: v.Type, Elems: elems}
	case streams.TypeUDT:
		fields := make([]record.FieldType, len(v.Fields))
		for i, f := range v.Fields {
			fields[i] = record.FieldType{Name: f.Name, Type: typeOf(f.Value)}
		}
		return record.Type{Name: v.Type, Fields: fields}
	}
	return record.Type{Name: v.Type}
}
