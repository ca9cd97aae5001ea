package encode

import (
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// pqEncoder shreds events into the leaf columns of a ParquetSchema: each leaf gets its
// values and, per slot, a definition level (how much of the path to it is present) and a
// repetition level (at which list or map the slot starts a new element; 0 = a new row),
// as the Parquet format (Dremel) defines them. check validates an event without touching
// the buffers; add then cannot fail. Not safe for concurrent use.
type pqEncoder struct {
	ps     *ParquetSchema
	leaves []pqLeaf
	slots  []*record.Value // a row's values by schema column, reused
	// distinct is dictionaryLeaves' scratch set.
	distinct map[uint64]struct{}
}

// pqLeaf buffers one leaf column's slots until the next flush. Byte arrays are copied into
// data (ends[i] is where value i ends), so the events need not outlive add. A leaf keeps
// definition (repetition) levels only if its column has any (hasDef, hasRep): a required
// column's are all 0 and the writer ignores them.
type pqLeaf struct {
	hasDef, hasRep bool
	def, rep       []int16
	i32            []int32
	i64            []int64
	f32            []float32
	f64            []float64
	bools          []bool
	data           []byte
	ends           []int
	ba             []parquet.ByteArray
}

func newPQEncoder(ps *ParquetSchema) *pqEncoder {
	a := ps.Avro
	e := &pqEncoder{ps: ps, leaves: make([]pqLeaf, len(ps.leaves)),
		slots: make([]*record.Value, max(len(a.keys), len(a.columns)))}
	for i := range e.leaves {
		c := ps.sch.Column(i)
		e.leaves[i].hasDef, e.leaves[i].hasRep = c.MaxDefinitionLevel() > 0, c.MaxRepetitionLevel() > 0
	}
	return e
}

// The leaves of the event columns, in schema order.
const (
	leafKeyspace = iota
	leafTable
	leafShardID
	leafSequenceNumber
	leafCreatedAt
	leafOrigin
	leafOp
)

// check reports why the event cannot be written under the schema: a column the schema
// lacks, a value of another type (ErrTypeConflict), a null inside a collection, text that
// is not UTF-8 (Parquet strings must be). Its errors read like the Avro writer's.
func (e *pqEncoder) check(ev *record.Event) error {
	for _, s := range []string{ev.Keyspace, ev.Table, ev.ShardID, ev.SequenceNumber, ev.Origin, string(ev.Op)} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("event field %q is not valid UTF-8", s)
		}
	}
	a := e.ps.Avro
	if err := e.checkRow(e.ps.keys, a.keyIndex, ev.Keys); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	for _, img := range []*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			continue
		}
		if err := e.checkRow(e.ps.images[0], a.colIndex, img.Columns); err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if a.cellMetadata {
			for _, c := range img.Columns {
				if m := c.Meta; m != nil && !validMeta(c.Name, m) {
					return fmt.Errorf("image: column %s: cell metadata is not valid UTF-8", c.Name)
				}
			}
		}
	}
	return nil
}

// validMeta reports whether a cell's name and metadata are valid UTF-8 (Parquet's strings).
func validMeta(name string, m *record.Meta) bool {
	return utf8.ValidString(name) && utf8.ValidString(m.WriteTime) && utf8.ValidString(m.ExpirationTime)
}

func (e *pqEncoder) checkRow(n *pqNode, idx map[string]int, fields []record.Field) error {
	for i := range fields {
		f := &fields[i]
		j, ok := idx[f.Name]
		if !ok {
			return fmt.Errorf("column %s: not in the schema", f.Name)
		}
		if f.Value.IsNull() {
			continue
		}
		if err := checkValue(n.children[j], &f.Value); err != nil {
			return fmt.Errorf("column %s: %w", f.Name, err)
		}
	}
	return nil
}

// checkValue checks a non-null value against node n. Values are passed by pointer, here
// and in the shredder: a record.Value is about 200 bytes, and copying it per column and
// element was a tenth of the shredding.
func checkValue(n *pqNode, v *record.Value) error {
	if n.kind == pqUnknown || n.kind == pqOmitted && !holdsNothing(v) {
		return fmt.Errorf("%s value in a column of unknown type", v.Type)
	}
	if n.kind == pqOmitted {
		return nil
	}
	if avroClass(v.Type) != avroClass(n.typ.Name) {
		return fmt.Errorf("%w: %s value for %s", ErrTypeConflict, v.Type, n.typ)
	}
	switch n.kind {
	case pqText:
		if !utf8.ValidString(v.Text) {
			return fmt.Errorf("%s value is not valid UTF-8, which a Parquet string must be", v.Type)
		}
	case pqDate:
		if days := v.Time.Unix() / 86400; int64(int32(days)) != days {
			return fmt.Errorf("date %s out of the 32-bit day range", v.Time.Format("2006-01-02"))
		}
	case pqList:
		for i := range v.Elems {
			el := &v.Elems[i]
			if el.IsNull() {
				return fmt.Errorf("element %d: null in a %s", i, n.typ)
			}
			if err := checkValue(n.children[0], el); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
	case pqMap:
		for i := range v.Entries {
			en := &v.Entries[i]
			if en.Key.IsNull() || en.Value.IsNull() {
				return fmt.Errorf("map entry %d: null in a %s", i, n.typ)
			}
			if err := checkValue(n.children[0], &en.Key); err != nil {
				return fmt.Errorf("map key %d: %w", i, err)
			}
			if err := checkValue(n.children[1], &en.Value); err != nil {
				return fmt.Errorf("map value %d: %w", i, err)
			}
		}
	case pqStruct:
		if n.names == nil { // tuple
			if len(v.Elems) != len(n.children) {
				return fmt.Errorf("%w: tuple of %d components for %s", ErrTypeConflict, len(v.Elems), n.typ)
			}
			for i := range v.Elems {
				c := &v.Elems[i]
				if c.IsNull() {
					continue
				}
				if err := checkValue(n.children[i], c); err != nil {
					return fmt.Errorf("tuple component %d: %w", i, err)
				}
			}
			return nil
		}
		for k := range v.Fields {
			f := &v.Fields[k]
			j := indexOf(n.names, f.Name)
			if j < 0 {
				return fmt.Errorf("%w: udt field %s not in %s", ErrTypeConflict, f.Name, n.typ)
			}
			if f.Value.IsNull() {
				continue
			}
			if err := checkValue(n.children[j], &f.Value); err != nil {
				return fmt.Errorf("udt field %s: %w", f.Name, err)
			}
		}
	}
	return nil
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// add shreds a checked event.
func (e *pqEncoder) add(ev *record.Event) {
	e.leaves[leafKeyspace].text(0, 0, ev.Keyspace)
	e.leaves[leafTable].text(0, 0, ev.Table)
	e.leaves[leafShardID].text(0, 0, ev.ShardID)
	e.leaves[leafSequenceNumber].text(0, 0, ev.SequenceNumber)
	l := &e.leaves[leafCreatedAt]
	l.level(0, 0)
	l.i64 = append(l.i64, e.ps.timestamp(ev.CreatedAt))
	e.leaves[leafOrigin].text(0, 0, ev.Origin)
	e.leaves[leafOp].text(0, 0, string(ev.Op))
	a := e.ps.Avro
	e.row(e.ps.keys, a.keyIndex, ev.Keys)
	for i, img := range []*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			e.levels(e.ps.images[i], 0, 0)
		} else {
			e.row(e.ps.images[i], a.colIndex, img.Columns)
		}
		if m := e.ps.metas[i]; m != nil {
			e.metadata(m, img)
		}
	}
}

// row writes a present keys or image group: its columns in schema order, absent ones null.
func (e *pqEncoder) row(n *pqNode, idx map[string]int, fields []record.Field) {
	vals := e.slots[:len(n.children)]
	clear(vals)
	for i := range fields {
		vals[idx[fields[i].Name]] = &fields[i].Value
	}
	for j, c := range n.children {
		if vals[j] == nil || vals[j].IsNull() {
			e.levels(c, n.def, 0)
		} else {
			e.value(c, vals[j], 0)
		}
	}
}

// levels writes an empty slot (no value) with definition level def into every leaf under
// n: n is null (def is its parent's level) or an empty list or map (def is its own).
func (e *pqEncoder) levels(n *pqNode, def, rep int16) {
	for i := n.first; i < n.last; i++ {
		e.leaves[i].level(def, rep)
	}
}

// value writes a checked non-null value of node n; rep is the repetition level of its
// first slot.
func (e *pqEncoder) value(n *pqNode, v *record.Value, rep int16) {
	switch n.kind {
	case pqList:
		if len(v.Elems) == 0 {
			e.levels(n, n.def, rep)
			return
		}
		for i := range v.Elems {
			if i > 0 {
				rep = n.elemRep
			}
			e.value(n.children[0], &v.Elems[i], rep)
		}
	case pqMap:
		if len(v.Entries) == 0 {
			e.levels(n, n.def, rep)
			return
		}
		for i := range v.Entries {
			if i > 0 {
				rep = n.elemRep
			}
			e.value(n.children[0], &v.Entries[i].Key, rep)
			e.value(n.children[1], &v.Entries[i].Value, rep)
		}
	case pqStruct:
		e.structValue(n, v, rep)
	case pqUnknown, pqOmitted:
		// always null (or empty): checkValue lets no value here
	default:
		e.primitive(n, v, rep)
	}
}

// structValue writes a tuple's or a UDT's fields, each in its child node (null when absent).
func (e *pqEncoder) structValue(n *pqNode, v *record.Value, rep int16) {
	for i, c := range n.children {
		var cv *record.Value
		if n.names == nil {
			cv = &v.Elems[i]
		} else {
			for k := range v.Fields {
				if v.Fields[k].Name == n.names[i] {
					cv = &v.Fields[k].Value
					break
				}
			}
		}
		if cv == nil || cv.IsNull() {
			e.levels(c, n.def, rep)
		} else {
			e.value(c, cv, rep)
		}
	}
}

// primitive writes a checked non-null value of leaf node n.
func (e *pqEncoder) primitive(n *pqNode, v *record.Value, rep int16) {
	l := &e.leaves[n.leaf]
	if n.kind == pqText {
		l.text(n.def, rep, v.Text)
		return
	}
	l.level(n.def, rep)
	switch n.kind {
	case pqTimeText:
		l.data = appendClock(l.data, v.TimeOfDay)
		l.ends = append(l.ends, len(l.data))
	case pqBlob:
		l.data = append(l.data, v.Bytes...)
		l.ends = append(l.ends, len(l.data))
	case pqInt32:
		l.i32 = append(l.i32, int32(v.Int))
	case pqDate:
		l.i32 = append(l.i32, int32(v.Time.Unix()/86400))
	case pqInt64:
		l.i64 = append(l.i64, v.Int)
	case pqTimestamp:
		l.i64 = append(l.i64, e.ps.timestamp(v.Time))
	case pqFloat:
		l.f32 = append(l.f32, float32(v.Float))
	case pqDouble:
		l.f64 = append(l.f64, v.Float)
	case pqBool:
		l.bools = append(l.bools, v.Bool)
	}
}

// metadata writes an image's cell metadata list: null without the image, else one
// (column, write_time, expiration_time) element per cell that has metadata.
func (e *pqEncoder) metadata(n *pqNode, img *record.Image) {
	if img == nil {
		e.levels(n, 0, 0)
		return
	}
	col, wt, et := &e.leaves[n.first], &e.leaves[n.first+1], &e.leaves[n.first+2]
	rep := int16(0)
	for _, c := range img.Columns {
		if c.Meta == nil {
			continue
		}
		col.text(n.elemDef, rep, c.Name)
		for _, p := range []struct {
			l *pqLeaf
			s string
		}{{wt, c.Meta.WriteTime}, {et, c.Meta.ExpirationTime}} {
			if p.s == "" {
				p.l.level(n.elemDef, rep)
			} else {
				p.l.text(n.elemDef+1, rep, p.s)
			}
		}
		rep = n.elemRep
	}
	if rep == 0 { // no cell had metadata: an empty list
		e.levels(n, n.def, 0)
	}
}

func (l *pqLeaf) level(def, rep int16) {
	if l.hasDef {
		l.def = append(l.def, def)
	}
	if l.hasRep {
		l.rep = append(l.rep, rep)
	}
}

func (l *pqLeaf) text(def, rep int16, s string) {
	l.level(def, rep)
	l.data = append(l.data, s...)
	l.ends = append(l.ends, len(l.data))
}

// flush writes every leaf's buffered slots to its column writer in rg and empties the
// buffers.
func (e *pqEncoder) flush(rg file.BufferedRowGroupWriter) error {
	for i := range e.leaves {
		l := &e.leaves[i]
		cw, err := rg.Column(i)
		if err != nil {
			return fmt.Errorf("parquet column %d: %w", i, err)
		}
		switch w := cw.(type) {
		case *file.ByteArrayColumnChunkWriter:
			start := 0
			for _, end := range l.ends {
				l.ba = append(l.ba, l.data[start:end:end])
				start = end
			}
			_, err = w.WriteBatch(l.ba, l.def, l.rep)
		case *file.Int32ColumnChunkWriter:
			_, err = w.WriteBatch(l.i32, l.def, l.rep)
		case *file.Int64ColumnChunkWriter:
			_, err = w.WriteBatch(l.i64, l.def, l.rep)
		case *file.Float32ColumnChunkWriter:
			_, err = w.WriteBatch(l.f32, l.def, l.rep)
		case *file.Float64ColumnChunkWriter:
			_, err = w.WriteBatch(l.f64, l.def, l.rep)
		case *file.BooleanColumnChunkWriter:
			_, err = w.WriteBatch(l.bools, l.def, l.rep)
		default:
			err = fmt.Errorf("unexpected column writer %T", cw)
		}
		if err != nil {
			return fmt.Errorf("write parquet column %s: %w", e.ps.sch.Column(i).Path(), err)
		}
		l.reset()
	}
	return nil
}

// reset empties the leaf buffers, keeping their memory.
func (e *pqEncoder) reset() {
	for i := range e.leaves {
		e.leaves[i].reset()
	}
}

func (l *pqLeaf) reset() {
	l.def, l.rep, l.i32, l.i64, l.f32, l.f64, l.bools = l.def[:0], l.rep[:0], l.i32[:0], l.i64[:0], l.f32[:0], l.f64[:0], l.bools[:0]
	l.data, l.ends = l.data[:0], l.ends[:0]
	clear(l.ba)
	l.ba = l.ba[:0]
}

// appendClock writes a CQL time as "HH:MM:SS.fffffffff", the text JSON Lines writes.
func appendClock(b []byte, d time.Duration) []byte {
	ns := int64(d)
	two := func(b []byte, n int64) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }
	b = two(b, ns/int64(time.Hour))
	b = two(append(b, ':'), ns/int64(time.Minute)%60)
	b = two(append(b, ':'), ns/int64(time.Second)%60)
	b = append(b, '.')
	f := ns % int64(time.Second)
	for div := int64(100_000_000); div > 0; div /= 10 {
		b = append(b, byte('0'+f/div%10))
	}
	return b
}

// holdsNothing reports whether a value of a type not known yet (an omitted column) holds
// nothing a file would lose: an empty collection, or a tuple or UDT whose parts hold nothing.
func holdsNothing(v *record.Value) bool {
	if v.IsNull() {
		return true
	}
	for i := range v.Elems {
		if v.Type != streams.TypeTuple || !holdsNothing(&v.Elems[i]) {
			return false
		}
	}
	for i := range v.Fields {
		if !holdsNothing(&v.Fields[i].Value) {
			return false
		}
	}
	return len(v.Entries) == 0
}
