package record

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/internal/jsonscan"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// This file reads a deferred record's keys and images (streams.Record.Deferred) from its wire
// JSON straight into an Event: one pass, no streams.CellValue tree built first and converted
// after. Keeping two trees of every record alive (the decoded one, then the converted one) and
// having the collector mark both was a fifth of a worker's CPU.
//
// It reads the grammar consumer/streams reads (decode.go) and converts each value as
// ConvertValue does, so that a record gives the same event, or an error, either way
// (TestDeferredRecordsConvertAlike). The few shapes where the two would need more than one
// pass to agree (a member twice in one object, where the last one wins; static cells sent
// before the regular ones; clustering keys before partition keys) are handed to the
// reference path instead: decode the tree, then convert it. So is every record this reader
// refuses (FromStreamInto): a member sent twice may replace the one it refused.

// errReshape says the record's shape needs the reference path (see above); it may come
// wrapped.
var errReshape = errors.New("record: shape left to the reference decoder")

// wireNames are the member names of the record grammar, returned without allocating.
var wireNames = func() *jsonscan.Names {
	names := []string{"eventVersion", "createdAt", "origin", "partitionKeys", "clusteringKeys",
		"newImage", "oldImage", "sequenceNumber", "valueCells", "staticCells", "rowMetadata",
		"value", "metadata", "writeTime", "expirationTime", "key"}
	for _, t := range allTypes {
		names = append(names, string(t)+"T")
	}
	return jsonscan.NewNames(names...)
}()

// allTypes are the CQL types of the union, for wireNames.
var allTypes = []streams.CQLType{streams.TypeASCII, streams.TypeBigint, streams.TypeBlob,
	streams.TypeBool, streams.TypeCounter, streams.TypeDate, streams.TypeDecimal, streams.TypeDouble,
	streams.TypeDuration, streams.TypeFloat, streams.TypeInet, streams.TypeInt, streams.TypeList,
	streams.TypeMap, streams.TypeSet, streams.TypeSmallint, streams.TypeText, streams.TypeTimestamp,
	streams.TypeTime, streams.TypeTimeuuid, streams.TypeTinyint, streams.TypeTuple, streams.TypeUDT,
	streams.TypeUUID, streams.TypeVarchar, streams.TypeVarint}

// wireDecoder reads one record's JSON. Its strings share the record's bytes (the answer the
// record came in is never written again: streams.Record.Raw).
type wireDecoder struct {
	jsonscan.Scanner
	// Stacks on which a collection's values are gathered before they get a slice of their
	// own, exactly sized (nested collections use the stack above their parent's values).
	values  []Value
	entries []Entry
	fields  []Field
	// Room the collections' slices are taken from, reused from record to record (resetRoom):
	// a slice of their own each was most of what this reader allocated, and the collector
	// it ran. The event's values point into it, so it is the event's: Event.Clone copies
	// them out before the next record overwrites them.
	valueRoom room[Value]
	entryRoom room[Entry]
	fieldRoom room[Field]
}

// resetRoom makes the collections' room reusable, clearing what it held (pointers into an
// answer).
func (d *wireDecoder) resetRoom() {
	d.valueRoom.reset()
	d.entryRoom.reset()
	d.fieldRoom.reset()
}

// fromWire fills ev's keys, images and operation from raw, the wire JSON of a deferred
// record whose envelope ev already holds. errReshape hands the record to the reference path.
func fromWire(ev *Event, raw []byte, viewType string) error {
	// The event's own decoder, kept from record to record: the column names it has met are
	// not allocated again.
	if ev.wire == nil {
		ev.wire = &wireDecoder{}
	}
	d := ev.wire
	d.resetRoom() // the event's previous values are overwritten
	d.InitAlias(raw, wireNames)
	defer d.InitAlias(nil, wireNames) // keep no pointer into the record's answer
	const (
		partition = 1 << iota
		clustering
		newImage
		oldImage
	)
	seen := 0
	once := func(bit int) error {
		if seen&bit != 0 {
			return errReshape
		}
		seen |= bit
		return nil
	}
	_, err := d.Object("record", func(name string) error {
		var err error
		switch name {
		case "partitionKeys":
			if seen&clustering != 0 {
				return errReshape
			}
			if err = once(partition); err == nil {
				err = d.keys(ev, name)
			}
		case "clusteringKeys":
			if err = once(clustering); err == nil {
				err = d.keys(ev, name)
			}
		case "newImage":
			if err = once(newImage); err == nil {
				ev.NewImage, err = d.image(&ev.images[0])
			}
		case "oldImage":
			if err = once(oldImage); err == nil {
				ev.OldImage, err = d.image(&ev.images[1])
			}
		default:
			err = d.Skip() // the envelope, read by the stream's client; newer members
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !d.End() {
		return errors.New("data after the record")
	}
	ev.Op = inferOp(ev.Origin, ev.NewImage != nil, ev.OldImage != nil, viewType)
	return nil
}

// keys reads a key map ({column: CellValue}) onto ev.Keys.
func (d *wireDecoder) keys(ev *Event, what string) error {
	_, err := d.Object(what, func(name string) error {
		ev.Keys = append(ev.Keys, Field{Name: name})
		if err := d.valueInto(&ev.Keys[len(ev.Keys)-1].Value); err != nil {
			return fmt.Errorf("key column %s: %w", name, err)
		}
		return nil
	})
	return err
}

// image reads a row image into img, reusing its slices; nil when the image is null.
func (d *wireDecoder) image(img *Image) (*Image, error) {
	img.Columns, img.metas = reset(img.Columns), reset(img.metas)
	var seenValue, seenStatic, seenMeta bool
	present, err := d.Object("row", func(name string) error {
		switch name {
		case "valueCells":
			if seenValue || seenStatic {
				return errReshape
			}
			seenValue = true
			return d.cells(img, name, false)
		case "staticCells":
			if seenStatic {
				return errReshape
			}
			seenStatic = true
			return d.cells(img, name, true)
		case "rowMetadata":
			if seenMeta {
				return errReshape
			}
			seenMeta = true
			_, _, err := d.metadata() // not part of the event; read for its syntax
			return err
		}
		return d.Skip()
	})
	if !present || err != nil {
		return nil, err
	}
	return img, nil
}

// The functions below return values rather than fill them through pointers: they recurse
// (a list of maps of UDTs...), and the compiler moves to the heap any local whose address
// goes round such a cycle, which cost an allocation per element.

// cells reads {column: {value, metadata}} onto img's columns.
func (d *wireDecoder) cells(img *Image, what string, static bool) error {
	_, err := d.Object(what, func(name string) error {
		img.Columns = append(img.Columns, Field{Name: name, Static: static})
		f := &img.Columns[len(img.Columns)-1]
		meta, hasMeta, err := d.cellInto(&f.Value)
		if err != nil {
			return fmt.Errorf("column %s: %w", name, err)
		}
		if hasMeta {
			// A pointer into metas: should the append move metas, the pointers taken before
			// still read the values written there, which do not change.
			img.metas = append(img.metas, meta)
			f.Meta = &img.metas[len(img.metas)-1]
		}
		return nil
	})
	return err
}

// cell reads {value, metadata}; a null cell is a null value. hasMeta says whether metadata
// was present (not null).
func (d *wireDecoder) cell(depth int) (v Value, meta Meta, hasMeta bool, err error) {
	// The compact form the stream sends every cell in, {"value":{...},"metadata":{...}}, is
	// matched byte for byte rather than read member by member through a closure (a third of
	// the time this reader took). From the first byte that differs the cell is read the
	// general way, from there on: nothing is read twice.
	if !d.Expect(`{"value":`) {
		return d.cellMembers(depth, false, Value{}, Meta{}, false, false)
	}
	if v, err = d.value(depth); err != nil {
		return v, meta, false, err
	}
	seenMeta := false
	if d.Expect(`,"metadata":`) {
		seenMeta = true
		if meta, hasMeta, err = d.metadata(); err != nil {
			return v, meta, hasMeta, err
		}
	}
	if d.Expect(`}`) {
		return v, meta, hasMeta, nil
	}
	return d.cellMembers(depth, true, v, meta, hasMeta, seenMeta)
}

// cellMembers reads a cell member by member: the whole object, or (started) the members
// after the value and metadata cell read itself, which it passes on.
func (d *wireDecoder) cellMembers(depth int, started bool, v Value, meta Meta, hasMeta, seenMeta bool) (Value, Meta, bool, error) {
	seenValue := started
	member := func(name string) error {
		var err error
		switch name {
		case "value":
			if seenValue {
				return errReshape
			}
			seenValue = true
			v, err = d.value(depth)
		case "metadata":
			if seenMeta {
				return errReshape
			}
			seenMeta = true
			meta, hasMeta, err = d.metadata()
		default:
			err = d.Skip()
		}
		return err
	}
	var err error
	if started {
		err = d.ObjectRest(member)
	} else {
		_, err = d.Object("cell", member)
	}
	return v, meta, hasMeta, err
}

// metadata reads {writeTime, expirationTime}; present is false for null.
func (d *wireDecoder) metadata() (Meta, bool, error) {
	m, present, err := streams.DecodeMetadata(&d.Scanner)
	return Meta(m), present, err
}

// value reads a CellValue union object converted: {} and null are a null value; an unknown
// member is an error, never a guess.
func (d *wireDecoder) value(depth int) (Value, error) {
	if depth > streams.MaxNesting {
		return Value{}, fmt.Errorf("values nested deeper than %d", streams.MaxNesting)
	}
	// The usual form, {"<member>":...}, read without a closure (see cell); anything else
	// before the member's value (white space, an escaped or unknown name) is read again the
	// general way, which costs a few bytes at most.
	start := d.Offset()
	if d.Expect(`{`) {
		if b, ok := d.PlainName(); ok {
			if m, ok := lookupUnion(b); ok {
				v, err := d.member(m.typ, m.name, m.numberOK, depth)
				if err != nil || d.Expect(`}`) {
					return v, err
				}
				return v, d.ObjectRest(func(name string) error {
					return fmt.Errorf("cell value has several union members (%q and more)", name)
				})
			}
		}
		d.Rewind(start)
	}
	var v Value
	members := 0
	_, err := d.Object("cell value", func(name string) error {
		if members++; members > 1 {
			return fmt.Errorf("cell value has several union members (%q and more)", name)
		}
		t, numberOK, ok := streams.UnionMember(name)
		if !ok {
			return fmt.Errorf("unknown CQL value type %q", name)
		}
		var err error
		v, err = d.member(t, name, numberOK, depth)
		return err
	})
	return v, err
}

// member reads the value of the union member name, of type t.
func (d *wireDecoder) member(t streams.CQLType, name string, numberOK bool, depth int) (Value, error) {
	switch t {
	case streams.TypeBlob:
		if d.Peek() != '"' {
			return Value{}, fmt.Errorf("%s: want a JSON string, got %s", name, d.Kind())
		}
		b, err := d.StrBytes()
		if err != nil {
			return Value{}, err
		}
		blob := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
		n, err := base64.StdEncoding.Decode(blob, b)
		if err != nil {
			return Value{}, fmt.Errorf("%s: %w", name, err)
		}
		return Value{Type: t, Bytes: blob[:n]}, nil
	case streams.TypeBool:
		switch d.Peek() {
		case 't':
			return Value{Type: t, Bool: true}, d.Literal("true")
		case 'f':
			return Value{Type: t}, d.Literal("false")
		}
		return Value{}, fmt.Errorf("%s: want a JSON boolean, got %s", name, d.Kind())
	case streams.TypeList, streams.TypeSet, streams.TypeTuple:
		return d.elems(t, name, depth+1)
	case streams.TypeMap:
		return d.mapEntries(name, depth+1)
	case streams.TypeUDT:
		if isNull, err := d.Null(); isNull || err != nil {
			if err != nil {
				return Value{}, err
			}
			return Value{}, fmt.Errorf("%s: want a JSON object, got null", name)
		}
		return d.udt(name, depth+1)
	}
	text, err := d.Text(name, numberOK)
	if err != nil {
		return Value{}, err
	}
	return convertText(t, text)
}

// elems reads the cells of a list, set or tuple (their metadata is not part of the event).
func (d *wireDecoder) elems(t streams.CQLType, name string, depth int) (Value, error) {
	mark := len(d.values)
	err := d.Array(name, func() error {
		// A scalar element in the compact form is read in place (see cellInto); the depth
		// check is value's.
		if depth <= streams.MaxNesting {
			d.values = append(d.values, Value{})
			if _, _, ok := d.scalarCell(&d.values[len(d.values)-1]); ok {
				return nil
			}
			d.values = pop(d.values)
		}
		e, _, _, err := d.cell(depth)
		if err != nil {
			return fmt.Errorf("%s element %d: %w", t, len(d.values)-mark, err)
		}
		d.values = append(d.values, e)
		return nil
	})
	return Value{Type: t, Elems: take(&d.values, mark, &d.valueRoom)}, err
}

// mapEntries reads the entries of a map, in wire order.
func (d *wireDecoder) mapEntries(name string, depth int) (Value, error) {
	mark := len(d.entries)
	err := d.Array(name, func() error {
		if depth <= streams.MaxNesting {
			d.entries = append(d.entries, Entry{})
			if d.scalarEntry(&d.entries[len(d.entries)-1]) {
				return nil
			}
			d.entries = pop(d.entries)
		}
		var e Entry
		var seenKey, seenValue, seenMeta bool
		_, err := d.Object("map entry", func(member string) error {
			var err error
			switch member {
			case "key":
				if seenKey {
					return errReshape
				}
				seenKey = true
				e.Key, err = d.value(depth)
			case "value":
				if seenValue {
					return errReshape
				}
				seenValue = true
				e.Value, err = d.value(depth)
			case "metadata":
				if seenMeta {
					return errReshape
				}
				seenMeta = true
				_, _, err = d.metadata()
			default:
				err = d.Skip()
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("map entry %d: %w", len(d.entries)-mark, err)
		}
		d.entries = append(d.entries, e)
		return nil
	})
	return Value{Type: streams.TypeMap, Entries: take(&d.entries, mark, &d.entryRoom)}, err
}

// udt reads the fields of a user-defined type value, in wire order (their metadata is not
// part of the event).
func (d *wireDecoder) udt(name string, depth int) (Value, error) {
	mark := len(d.fields)
	_, err := d.Object(name, func(field string) error {
		if depth <= streams.MaxNesting {
			d.fields = append(d.fields, Field{Name: field})
			if _, _, ok := d.scalarCell(&d.fields[len(d.fields)-1].Value); ok {
				return nil
			}
			d.fields = pop(d.fields)
		}
		v, _, _, err := d.cell(depth)
		if err != nil {
			return fmt.Errorf("udt field %s: %w", field, err)
		}
		d.fields = append(d.fields, Field{Name: field, Value: v})
		return nil
	})
	return Value{Type: streams.TypeUDT, Fields: take(&d.fields, mark, &d.fieldRoom)}, err
}

// take pops the values pushed on *stack since mark into a slice of their own, exactly
// sized, from r (empty, not nil, when there are none).
func take[T any](stack *[]T, mark int, r *room[T]) []T {
	out := r.alloc(len(*stack) - mark)
	copy(out, (*stack)[mark:])
	clear((*stack)[mark:]) // the stack keeps no pointer into the record
	*stack = (*stack)[:mark]
	return out
}

// pop drops the last value pushed on stack, clearing it (the stack keeps no pointer into the
// record).
func pop[T any](stack []T) []T {
	var zero T
	stack[len(stack)-1] = zero
	return stack[:len(stack)-1]
}

// room hands out slices from chunks it reuses once reset: after a reset the largest chunk is
// kept, and a record that needs more gets a larger one (the full chunk stays with the values
// that use it), so a stream of records allocates only until the room fits its largest.
type room[T any] struct {
	chunk []T
}

// alloc returns n zero values, capped so that appending to them cannot reach the next ones.
func (r *room[T]) alloc(n int) []T {
	if n == 0 {
		return []T{}
	}
	if cap(r.chunk)-len(r.chunk) < n {
		r.chunk = make([]T, 0, max(2*cap(r.chunk), n, 16))
	}
	end := len(r.chunk) + n
	out := r.chunk[len(r.chunk):end:end]
	r.chunk = r.chunk[:end]
	return out
}

// reset clears what the chunk holds and makes it reusable.
func (r *room[T]) reset() {
	clear(r.chunk)
	r.chunk = r.chunk[:0]
}
