package streams

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/internal/jsonscan"
)

// MaxNesting bounds how deep collections, tuples and UDTs may nest inside one cell value, so a
// hostile record cannot exhaust the stack. CQL itself rarely nests more than a few levels.
const MaxNesting = 64

// maxEpochSeconds bounds createdAt (about the year 5138): beyond it time.Time arithmetic
// could overflow and nothing real sends such a value.
const maxEpochSeconds = 1e11

// DecodeRecord decodes one change record from its wire JSON. Record.Raw and the record's
// strings alias data (not a copy): data must not be modified afterwards. Unknown record members are ignored, unknown CellValue union members are kept in
// CellValue.Unknown and CellValue.Raw; JSON of the wrong kind for a known member is an error.
//
// The JSON is read by a hand-written scanner (consumer/internal/jsonscan: object members are
// read in wire order, numbers keep their text); strings are unescaped exactly as encoding/json
// does (invalid UTF-8 and lone surrogates become U+FFFD).
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	err := decodeWhole(newAliasDecoder(data), func(d *decoder) error { return d.record(&r) })
	if err != nil {
		return Record{}, err
	}
	r.Raw = data
	return r, nil
}

// DecodeRecordEnvelope is DecodeRecord of the envelope only: the record comes back Deferred,
// its keys and images left in Raw (see GetRecordsInput.EnvelopeOnly).
func DecodeRecordEnvelope(data []byte) (Record, error) {
	var r Record
	d := newAliasDecoder(data)
	d.envelopeOnly = true
	if err := decodeWhole(d, func(d *decoder) error { return d.record(&r) }); err != nil {
		return Record{}, err
	}
	r.Raw = data
	return r, nil
}

// UnmarshalJSON decodes a record (see DecodeRecord); Raw is a copy of data.
func (r *Record) UnmarshalJSON(data []byte) error {
	rec, err := DecodeRecord(bytes.Clone(data)) // encoding/json reuses data
	if err != nil {
		return err
	}
	*r = rec
	return nil
}

// UnmarshalJSON decodes a CellValue union object.
func (v *CellValue) UnmarshalJSON(data []byte) error {
	var out CellValue
	if err := decodeWhole(newDecoder(data), func(d *decoder) error { return d.cellValue(&out, 0) }); err != nil {
		return err
	}
	*v = out
	return nil
}

// UnmarshalJSON decodes a cell ({value, metadata}).
func (c *Cell) UnmarshalJSON(data []byte) error {
	var out Cell
	if err := decodeWhole(newDecoder(data), func(d *decoder) error { return d.cell(&out, 0) }); err != nil {
		return err
	}
	*c = out
	return nil
}

// UnmarshalJSON decodes a row image ({valueCells, staticCells, rowMetadata}).
func (r *Row) UnmarshalJSON(data []byte) error {
	return decodeWhole(newDecoder(data), func(d *decoder) error {
		row, err := d.row()
		if err == nil && row != nil {
			*r = *row
		}
		return err
	})
}

// UnmarshalJSON decodes cell or row metadata ({writeTime, expirationTime}).
func (m *Metadata) UnmarshalJSON(data []byte) error {
	return decodeWhole(newDecoder(data), func(d *decoder) error {
		md, err := d.metadata()
		if err == nil && md != nil {
			*m = *md
		}
		return err
	})
}

// decoder reads the record grammar from JSON; the JSON itself is read by the embedded
// scanner. The records it decodes share its arenas' chunks.
type decoder struct {
	jsonscan.Scanner
	cellA  arena[NamedCell]
	colA   arena[Column]
	elemA  arena[Cell]
	entryA arena[MapEntry]
	rowA   arena[Row]
	metaA  arena[Metadata]
	// envelopeOnly skips the keys and images of records (syntax checked only), and marks
	// the records Deferred.
	envelopeOnly bool
}

// newDecoder returns a decoder whose strings are copies of data's.
func newDecoder(data []byte) *decoder {
	d := &decoder{}
	d.Init(data, memberNames)
	return d
}

// newAliasDecoder returns a decoder whose strings share data's memory (see
// jsonscan.Scanner.InitAlias): data must never change afterwards.
func newAliasDecoder(data []byte) *decoder {
	d := &decoder{}
	d.InitAlias(data, memberNames)
	return d
}

func decodeWhole(d *decoder, fn func(*decoder) error) error {
	if err := fn(d); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	if !d.End() {
		return errors.New("decode record: data after the JSON value")
	}
	return nil
}

func (d *decoder) record(r *Record) error {
	r.Deferred = d.envelopeOnly
	present, err := d.Object("record", func(name string) error {
		var err error
		switch name {
		case "partitionKeys", "clusteringKeys", "newImage", "oldImage":
			if d.envelopeOnly {
				err = d.Skip()
				break
			}
			err = d.keysOrImage(r, name)
		case "eventVersion":
			r.EventVersion, err = d.Text(name, true)
		case "createdAt":
			var t string
			if t, err = d.Text(name, true); err == nil {
				r.CreatedAt, err = ParseEpochSeconds(t)
			}
		case "origin":
			r.Origin, err = d.Text(name, false)
		case "sequenceNumber":
			// A copy: the last sequence number read outlives its answer (checkpoints, the
			// read position), and must not keep the answer's memory alive.
			var seq string
			seq, err = d.Text(name, true)
			r.SequenceNumber = strings.Clone(seq)
		default:
			err = d.Skip() // newer members: ignore, the record stays readable
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err == nil && !present {
		return errors.New("record is null")
	}
	return err
}

// keysOrImage reads the record member name: partitionKeys, clusteringKeys, newImage or oldImage.
func (d *decoder) keysOrImage(r *Record, name string) error {
	var err error
	switch name {
	case "partitionKeys":
		r.PartitionKeys, err = d.columns(name)
	case "clusteringKeys":
		r.ClusteringKeys, err = d.columns(name)
	case "newImage":
		r.NewImage, err = d.row()
	case "oldImage":
		r.OldImage, err = d.row()
	}
	return err
}

// columns reads a key map ({col: CellValue}); an empty object gives an empty, non-nil
// slice so presence survives a re-encode.
func (d *decoder) columns(what string) ([]Column, error) {
	mark := d.colA.mark()
	present, err := d.Object(what, func(name string) error {
		var v CellValue
		if err := d.cellValue(&v, 0); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d.colA.push(Column{Name: name, Value: v})
		return nil
	})
	cols := d.colA.take(mark)
	if !present {
		return nil, err
	}
	return cols, err
}

func (d *decoder) row() (*Row, error) {
	var r Row
	present, err := d.Object("row", func(name string) error {
		var err error
		switch name {
		case "valueCells":
			r.ValueCells, err = d.namedCells(name, 0)
		case "staticCells":
			r.StaticCells, err = d.namedCells(name, 0)
		case "rowMetadata":
			r.RowMetadata, err = d.metadata()
		default:
			err = d.Skip()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if !present {
		return nil, err
	}
	return d.rowA.one(r), err
}

// namedCells reads {name: Cell} (row cells, UDT fields) in wire order.
func (d *decoder) namedCells(what string, depth int) ([]NamedCell, error) {
	mark := d.cellA.mark()
	present, err := d.Object(what, func(name string) error {
		nc := NamedCell{Name: name}
		if err := d.cell(&nc.Cell, depth); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		d.cellA.push(nc)
		return nil
	})
	cells := d.cellA.take(mark)
	if !present {
		return nil, err
	}
	return cells, err
}

func (d *decoder) metadata() (*Metadata, error) {
	m, present, err := DecodeMetadata(&d.Scanner)
	if !present {
		return nil, err
	}
	return d.metaA.one(m), err
}

// DecodeMetadata reads a cell's or row's {writeTime, expirationTime} at s; present is false
// for null. The record package's decoder of deferred records reads it with this too.
func DecodeMetadata(s *jsonscan.Scanner) (m Metadata, present bool, err error) {
	member := func(name string) error {
		var err error
		switch name {
		case "writeTime":
			m.WriteTime, err = s.Text(name, true)
		case "expirationTime":
			m.ExpirationTime, err = s.Text(name, true)
		default:
			err = s.Skip()
		}
		return err
	}
	// Nearly every cell has metadata, and in this compact form: its members matched byte for
	// byte, the rest of the object (if any) read the general way from there.
	if s.Expect(`{"writeTime":`) {
		if m.WriteTime, err = s.Text("writeTime", true); err != nil {
			return m, true, err
		}
		if s.Expect(`,"expirationTime":`) {
			if m.ExpirationTime, err = s.Text("expirationTime", true); err != nil {
				return m, true, err
			}
		}
		if s.Expect(`}`) {
			return m, true, nil
		}
		return m, true, s.ObjectRest(member)
	}
	present, err = s.Object("metadata", member)
	return m, present, err
}

// cell reads {value, metadata}; a null cell reads as a null value.
func (d *decoder) cell(c *Cell, depth int) error {
	_, err := d.Object("cell", func(name string) error {
		switch name {
		case "value":
			return d.cellValue(&c.Value, depth)
		case "metadata":
			var err error
			c.Metadata, err = d.metadata()
			return err
		}
		return d.Skip()
	})
	return err
}

// memberNames holds the member names of the protocol's objects, so reading them allocates
// nothing.
var memberNames = func() *jsonscan.Names {
	names := strings.Fields("eventVersion createdAt origin partitionKeys clusteringKeys newImage " +
		"oldImage sequenceNumber valueCells staticCells rowMetadata value metadata writeTime expirationTime key")
	for n := range memberTypes {
		names = append(names, n)
	}
	return jsonscan.NewNames(names...)
}()

// unionMember is a union member's type, and whether the member may also arrive as a JSON
// number (numeric scalars: their text is kept either way).
type unionMember struct {
	typ      CQLType
	numberOK bool
}

// memberTypes maps a union member name to its type.
var memberTypes = map[string]unionMember{
	"asciiT": {TypeASCII, false}, "bigintT": {TypeBigint, true}, "blobT": {TypeBlob, false},
	"boolT": {TypeBool, false}, "counterT": {TypeCounter, true}, "dateT": {TypeDate, true},
	"decimalT": {TypeDecimal, true}, "doubleT": {TypeDouble, true}, "durationT": {TypeDuration, false},
	"floatT": {TypeFloat, true}, "inetT": {TypeInet, false}, "intT": {TypeInt, true},
	"listT": {TypeList, false}, "mapT": {TypeMap, false}, "setT": {TypeSet, false},
	"smallintT": {TypeSmallint, true}, "textT": {TypeText, false}, "timestampT": {TypeTimestamp, true},
	"timeT": {TypeTime, true}, "timeuuidT": {TypeTimeuuid, false}, "tinyintT": {TypeTinyint, true},
	"tupleT": {TypeTuple, false}, "udtT": {TypeUDT, false}, "uuidT": {TypeUUID, false},
	"varcharT": {TypeVarchar, false}, "varintT": {TypeVarint, true},
}

// memberIndex is memberTypes by the names' first byte: every cell value looks its member
// up, and comparing a few short strings is cheaper than hashing one.
var memberIndex = func() (idx [256][]struct {
	name string
	unionMember
}) {
	for name, m := range memberTypes {
		idx[name[0]] = append(idx[name[0]], struct {
			name string
			unionMember
		}{name, m})
	}
	return idx
}()

// UnionMember returns the CQL type of the CellValue union member called name ("textT":
// TypeText), and whether the member may also arrive as a JSON number; ok is false for a
// member this code does not know.
func UnionMember(name string) (t CQLType, numberOK bool, ok bool) {
	m, ok := lookupMember(name)
	return m.typ, m.numberOK, ok
}

// lookupMember returns the union member called name.
func lookupMember(name string) (unionMember, bool) {
	if name == "" {
		return unionMember{}, false
	}
	for _, m := range memberIndex[name[0]] {
		if m.name == name {
			return m.unionMember, true
		}
	}
	return unionMember{}, false
}

// cellValue reads a union object. {} and null are a null value.
func (d *decoder) cellValue(v *CellValue, depth int) error {
	if depth > MaxNesting {
		return fmt.Errorf("values nested deeper than %d", MaxNesting)
	}
	d.Peek()
	start := d.Offset() // the '{' of the union, if it is one
	members := 0
	unknown := false
	_, err := d.Object("cell value", func(name string) error {
		if members++; members > 1 {
			return fmt.Errorf("cell value has several union members (%q and more)", name)
		}
		m, ok := lookupMember(name)
		if !ok {
			v.Type, v.Unknown, unknown = TypeNull, name, true
			return d.Skip()
		}
		v.Type = m.typ
		return d.member(v, name, m.numberOK, depth)
	})
	if err != nil {
		return err
	}
	if unknown {
		var buf bytes.Buffer
		// Compacted, so a re-encoded record decodes to the same Raw.
		if err := json.Compact(&buf, d.Span(start)); err != nil {
			return err
		}
		v.Raw = buf.Bytes()
	}
	return nil
}

// member reads the value of the known union member name into v, whose Type is already set;
// numberOK says whether a scalar may arrive as a JSON number.
func (d *decoder) member(v *CellValue, name string, numberOK bool, depth int) error {
	var err error
	switch v.Type {
	case TypeBlob:
		v.Blob, err = d.blob(name)
	case TypeBool:
		v.Bool, err = d.boolean(name)
	case TypeList, TypeSet, TypeTuple:
		v.Elems, err = d.elems(name, depth+1)
	case TypeMap:
		v.Entries, err = d.entries(name, depth+1)
	case TypeUDT:
		v.Fields, err = d.udt(name, depth+1)
	default:
		v.Text, err = d.Text(name, numberOK)
	}
	return err
}

// blob reads a base64 JSON string.
func (d *decoder) blob(name string) ([]byte, error) {
	if d.Peek() != '"' {
		return nil, fmt.Errorf("%s: want a JSON string, got %s", name, d.Kind())
	}
	b, err := d.StrBytes()
	if err != nil {
		return nil, err
	}
	blob := make([]byte, base64.StdEncoding.DecodedLen(len(b)))
	n, err := base64.StdEncoding.Decode(blob, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return blob[:n], nil
}

// boolean reads a JSON boolean.
func (d *decoder) boolean(name string) (bool, error) {
	switch d.Peek() {
	case 't':
		return true, d.Literal("true")
	case 'f':
		return false, d.Literal("false")
	}
	return false, fmt.Errorf("%s: want a JSON boolean, got %s", name, d.Kind())
}

// elems reads the cells of a list, set or tuple; an empty array gives an empty, non-nil slice.
func (d *decoder) elems(name string, depth int) ([]Cell, error) {
	mark := d.elemA.mark()
	err := d.Array(name, func() error {
		var c Cell
		if err := d.cell(&c, depth); err != nil {
			return err
		}
		d.elemA.push(c)
		return nil
	})
	return d.elemA.take(mark), err
}

// entries reads the entries of a map; an empty array gives an empty, non-nil slice.
func (d *decoder) entries(name string, depth int) ([]MapEntry, error) {
	mark := d.entryA.mark()
	err := d.Array(name, func() error {
		e, err := d.mapEntry(depth)
		if err != nil {
			return err
		}
		d.entryA.push(e)
		return nil
	})
	return d.entryA.take(mark), err
}

// udt reads the fields of a user-defined type value, which may not be null.
func (d *decoder) udt(name string, depth int) ([]NamedCell, error) {
	if isNull, err := d.Null(); isNull || err != nil {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: want a JSON object, got null", name)
	}
	return d.namedCells(name, depth)
}

func (d *decoder) mapEntry(depth int) (MapEntry, error) {
	var e MapEntry
	_, err := d.Object("map entry", func(name string) error {
		switch name {
		case "key":
			return d.cellValue(&e.Key, depth)
		case "value":
			return d.cellValue(&e.Value, depth)
		case "metadata":
			var err error
			e.Metadata, err = d.metadata()
			return err
		}
		return d.Skip()
	})
	return e, err
}

// ParseEpochSeconds reads epoch seconds with an optional fraction ("1700000000.123456",
// exponent forms too) into a UTC time, exactly to the nanosecond for plain decimals.
func ParseEpochSeconds(s string) (time.Time, error) {
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.Abs(f) >= maxEpochSeconds {
			return time.Time{}, fmt.Errorf("epoch seconds %q: out of range or malformed", s)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
	}
	neg := strings.HasPrefix(s, "-")
	intPart, fracPart, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if intPart == "" || !allDigits(intPart) || !allDigits(fracPart) {
		return time.Time{}, fmt.Errorf("epoch seconds %q: malformed", s)
	}
	if len(intPart) > 12 {
		return time.Time{}, fmt.Errorf("epoch seconds %q: out of range", s)
	}
	// Both parts are checked digits, the integer part at most 12 of them: read digit by
	// digit (every record of an answer has its createdAt read, and ParseInt and a padded
	// copy of the fraction were a tenth of the envelope's time).
	var sec, nsec int64
	for i := 0; i < len(intPart); i++ {
		sec = sec*10 + int64(intPart[i]-'0')
	}
	if sec >= maxEpochSeconds {
		return time.Time{}, fmt.Errorf("epoch seconds %q: out of range", s)
	}
	for i := 0; i < 9; i++ { // below a nanosecond: truncated
		nsec *= 10
		if i < len(fracPart) {
			nsec += int64(fracPart[i] - '0')
		}
	}
	if neg {
		sec, nsec = -sec, -nsec
	}
	return time.Unix(sec, nsec).UTC(), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
