package record

import "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"

// This file reads the compact forms the stream sends cells, union values and map entries in
// ({"value":{"intT":"1"},"metadata":{...}}), matched byte for byte and converted in place.
// What it does not match it leaves unread, to wire.go's general reader.

// cellInto is cell(0) into *v, the zero Value of a column: a cell of a scalar in the compact
// form (nearly all of them) is converted in place. A Value is large, and returning it from
// cell through value and member copied it three times on its way into its column, which
// was a fifth of this reader's time; cell itself returns values because it recurses (see
// wire.go), and it reads every other cell.
func (d *wireDecoder) cellInto(v *Value) (meta Meta, hasMeta bool, err error) {
	if meta, hasMeta, ok := d.scalarCell(v); ok {
		return meta, hasMeta, nil
	}
	*v, meta, hasMeta, err = d.cell(0)
	return meta, hasMeta, err
}

// scalarCell reads a scalar's cell in the compact form, {"value":{"<member>":<text>}} and
// optional metadata, into *v (the zero Value); ok false when the cell is another form or
// type, or holds an error. It then has read nothing (a scalar's cell is a few dozen bytes,
// read again the general way, which also gives the error the reference path gives), but
// *v may hold part of a value: the caller overwrites or drops it. It reads no nested
// value, so it is no part of the recursion (cell, value, member...): v may point into
// the stacks, and a caller's local it points to stays on the stack.
func (d *wireDecoder) scalarCell(v *Value) (meta Meta, hasMeta bool, ok bool) {
	start := d.Offset()
	if d.Expect(`{"value":`) && d.scalarInto(v) {
		if d.Expect(`}`) {
			return meta, false, true
		}
		if d.Expect(`,"metadata":`) {
			var err error
			if meta, hasMeta, err = d.metadata(); err == nil && d.Expect(`}`) {
				return meta, hasMeta, true
			}
		}
	}
	d.Rewind(start)
	return Meta{}, false, false
}

// scalarEntry reads a map entry of two scalars in the compact form, {"key":{...},"value":
// {...}} and optional metadata, into *e (the zero Entry); false as scalarCell.
func (d *wireDecoder) scalarEntry(e *Entry) bool {
	start := d.Offset()
	if d.Expect(`{"key":`) && d.scalarInto(&e.Key) && d.Expect(`,"value":`) && d.scalarInto(&e.Value) {
		if d.Expect(`}`) {
			return true
		}
		if d.Expect(`,"metadata":`) {
			if _, _, err := d.metadata(); err == nil && d.Expect(`}`) {
				return true
			}
		}
	}
	d.Rewind(start)
	return false
}

// valueInto is value(0) into *v, the zero Value of a key column, as cellInto.
func (d *wireDecoder) valueInto(v *Value) error {
	start := d.Offset()
	if d.scalarInto(v) {
		return nil
	}
	d.Rewind(start)
	var err error
	*v, err = d.value(0)
	return err
}

// scalarInto reads a union object {"<member>":<text>} in the compact form into *v (the zero
// Value), for a member whose value the wire sends as text (every scalar but blob and
// bool). It reports whether it did; when not (another form or type, or an error) it has
// read an unknown part of the object and *v holds nothing meaningful.
func (d *wireDecoder) scalarInto(v *Value) bool {
	if !d.Expect(`{`) {
		return false
	}
	b, ok := d.PlainName()
	if !ok {
		return false
	}
	m, ok := lookupUnion(b)
	if !ok || !m.text {
		return false
	}
	text, err := d.Text(m.name, m.numberOK)
	return err == nil && convertTextInto(v, m.typ, text) == nil && d.Expect(`}`)
}

// unionMember is a CellValue union member as lookupUnion finds it.
type unionMember struct {
	name     string
	typ      streams.CQLType
	numberOK bool
	text     bool // the value is sent as text (a JSON string, or a number if numberOK)
}

// unionIndex holds the union's members by their names' first byte, for lookupUnion.
var unionIndex = func() (idx [256][]unionMember) {
	for _, t := range allTypes {
		name := string(t) + "T"
		typ, numberOK, ok := streams.UnionMember(name)
		if !ok {
			panic("record: no union member " + name)
		}
		text := true
		switch typ {
		case streams.TypeBlob, streams.TypeBool, streams.TypeList, streams.TypeSet, streams.TypeTuple,
			streams.TypeMap, streams.TypeUDT:
			text = false
		}
		idx[name[0]] = append(idx[name[0]], unionMember{name, typ, numberOK, text})
	}
	return idx
}()

// lookupUnion returns the union member named b, from its bytes (no string made of them).
func lookupUnion(b []byte) (unionMember, bool) {
	if len(b) == 0 {
		return unionMember{}, false
	}
	for _, m := range unionIndex[b[0]] {
		if m.name == string(b) {
			return m, true
		}
	}
	return unionMember{}, false
}
