package streams

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNesting bounds how deep collections, tuples and UDTs may nest inside one cell value, so a
// hostile record cannot exhaust the stack. CQL itself rarely nests more than a few levels.
const maxNesting = 64

// maxSkipDepth bounds the nesting of skipped (unknown) members, as encoding/json does.
const maxSkipDepth = 10000

// maxEpochSeconds bounds createdAt (about the year 5138): beyond it time.Time arithmetic
// could overflow and nothing real sends such a value.
const maxEpochSeconds = 1e11

// DecodeRecord decodes one change record from its wire JSON. Record.Raw aliases data (not a
// copy). Unknown record members are ignored, unknown CellValue union members are kept in
// CellValue.Unknown and CellValue.Raw; JSON of the wrong kind for a known member is an error.
//
// It is a hand-written scanner (object members are read in wire order, numbers keep their
// text); strings are unescaped exactly as encoding/json does (invalid UTF-8 and lone
// surrogates become U+FFFD).
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	err := decodeWhole(data, func(s *scanner) error { return s.record(&r) })
	if err != nil {
		return Record{}, err
	}
	r.Raw = data
	return r, nil
}

// UnmarshalJSON decodes a record (see DecodeRecord); Raw is a copy of data.
func (r *Record) UnmarshalJSON(data []byte) error {
	rec, err := DecodeRecord(data)
	if err != nil {
		return err
	}
	rec.Raw = bytes.Clone(data)
	*r = rec
	return nil
}

// UnmarshalJSON decodes a CellValue union object.
func (v *CellValue) UnmarshalJSON(data []byte) error {
	var out CellValue
	if err := decodeWhole(data, func(s *scanner) error { return s.cellValue(&out, 0) }); err != nil {
		return err
	}
	*v = out
	return nil
}

// UnmarshalJSON decodes a cell ({value, metadata}).
func (c *Cell) UnmarshalJSON(data []byte) error {
	var out Cell
	if err := decodeWhole(data, func(s *scanner) error { return s.cell(&out, 0) }); err != nil {
		return err
	}
	*c = out
	return nil
}

// UnmarshalJSON decodes a row image ({valueCells, staticCells, rowMetadata}).
func (r *Row) UnmarshalJSON(data []byte) error {
	return decodeWhole(data, func(s *scanner) error {
		row, err := s.row()
		if err == nil && row != nil {
			*r = *row
		}
		return err
	})
}

// UnmarshalJSON decodes cell or row metadata ({writeTime, expirationTime}).
func (m *Metadata) UnmarshalJSON(data []byte) error {
	return decodeWhole(data, func(s *scanner) error {
		md, err := s.metadata()
		if err == nil && md != nil {
			*m = *md
		}
		return err
	})
}

func decodeWhole(data []byte, fn func(*scanner) error) error {
	s := &scanner{data: data}
	if err := fn(s); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	if s.peek() != 0 || s.pos < len(s.data) {
		return errors.New("decode record: data after the JSON value")
	}
	return nil
}

// scanner reads JSON from data. Every method first skips white space.
type scanner struct {
	data []byte
	pos  int
	buf  []byte // scratch for unescaping strings
}

var errEOF = fmt.Errorf("unexpected end of JSON: %w", io.ErrUnexpectedEOF)

// peek returns the next non-space byte without consuming it (0 at the end).
func (s *scanner) peek() byte {
	for s.pos < len(s.data) {
		switch c := s.data[s.pos]; c {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return c
		}
	}
	return 0
}

func (s *scanner) syntaxError(what string) error {
	if s.pos >= len(s.data) {
		return errEOF
	}
	return fmt.Errorf("invalid character %q %s at offset %d", s.data[s.pos], what, s.pos)
}

// kind names the JSON value that starts at the next byte, for error messages.
func (s *scanner) kind() string {
	switch c := s.peek(); {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	case c == 0:
		return "the end of the input"
	}
	return fmt.Sprintf("%q", s.data[s.pos])
}

// null consumes a null literal if one is next.
func (s *scanner) null() (bool, error) {
	if s.peek() != 'n' {
		return false, nil
	}
	return true, s.literal("null")
}

func (s *scanner) literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		if len(s.data)-s.pos < len(lit) && bytes.HasPrefix([]byte(lit), s.data[s.pos:]) {
			return errEOF
		}
		return s.syntaxError("in literal")
	}
	s.pos += len(lit)
	return nil
}

// object reads an object member by member; null reads as absent (present false).
func (s *scanner) object(what string, fn func(name string) error) (present bool, err error) {
	if isNull, err := s.null(); isNull || err != nil {
		return false, err
	}
	if s.peek() != '{' {
		return false, fmt.Errorf("%s: want a JSON object, got %s", what, s.kind())
	}
	s.pos++
	if s.peek() == '}' {
		s.pos++
		return true, nil
	}
	for {
		if s.peek() != '"' {
			return true, s.syntaxError("looking for the beginning of an object key string")
		}
		b, err := s.strBytes()
		if err != nil {
			return true, err
		}
		name, ok := memberNames[string(b)] // no allocation for the protocol's own names
		if !ok {
			name = string(b)
		}
		if s.peek() != ':' {
			return true, s.syntaxError("after object key")
		}
		s.pos++
		if err := fn(name); err != nil {
			return true, err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return true, nil
		default:
			return true, s.syntaxError("after object key:value pair")
		}
	}
}

// array reads an array element by element.
func (s *scanner) array(what string, fn func() error) error {
	if s.peek() != '[' {
		return fmt.Errorf("%s: want a JSON array, got %s", what, s.kind())
	}
	s.pos++
	if s.peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.syntaxError("after array element")
		}
	}
}

// text reads a JSON string, or a JSON number when numberOK (its exact text).
func (s *scanner) text(what string, numberOK bool) (string, error) {
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case numberOK && (c == '-' || (c >= '0' && c <= '9')):
		b, err := s.number()
		return string(b), err
	}
	return "", fmt.Errorf("%s: want a JSON string, got %s", what, s.kind())
}

func (s *scanner) str() (string, error) {
	b, err := s.strBytes()
	return string(b), err
}

// strBytes reads a JSON string; the result aliases data or the scratch buffer.
func (s *scanner) strBytes() ([]byte, error) {
	s.pos++ // '"'
	start := s.pos
	for i := start; i < len(s.data); i++ {
		switch c := s.data[i]; {
		case c == '"':
			s.pos = i + 1
			return s.data[start:i], nil
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return s.strSlow(start)
		}
	}
	s.pos = len(s.data)
	return nil, errEOF
}

// strSlow unescapes a string with escapes, control characters or non-ASCII bytes.
func (s *scanner) strSlow(start int) ([]byte, error) {
	b := s.buf[:0]
	i := start
	for i < len(s.data) {
		c := s.data[i]
		switch {
		case c == '"':
			s.pos = i + 1
			s.buf = b
			return b, nil
		case c < 0x20:
			s.pos = i
			return nil, s.syntaxError("in string literal")
		case c == '\\':
			if i+1 >= len(s.data) {
				s.pos = len(s.data)
				return nil, errEOF
			}
			switch e := s.data[i+1]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := s.hex4(i + 2)
				if !ok {
					return nil, s.badEscape(i)
				}
				i += 6
				if utf16.IsSurrogate(r) {
					// A valid pair combines; anything else leaves U+FFFD for the first half.
					if r2, ok := s.hex4(i + 2); ok && i+1 < len(s.data) && s.data[i] == '\\' && s.data[i+1] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
							b = utf8.AppendRune(b, dec)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, r)
				continue
			default:
				s.pos = i + 1
				return nil, s.syntaxError("in string escape code")
			}
			i += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRune(s.data[i:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, unicode.ReplacementChar)
			} else {
				b = append(b, s.data[i:i+size]...)
			}
			i += size
		}
	}
	s.pos = len(s.data)
	return nil, errEOF
}

func (s *scanner) badEscape(i int) error {
	for j := i + 2; j < i+6; j++ {
		if j >= len(s.data) {
			s.pos = len(s.data)
			return errEOF
		}
		if !isHex(s.data[j]) {
			s.pos = j
			return s.syntaxError("in \\u hexadecimal character escape")
		}
	}
	s.pos = i
	return s.syntaxError("in string escape code")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// hex4 reads the 4 hex digits at i.
func (s *scanner) hex4(i int) (rune, bool) {
	if i+4 > len(s.data) {
		return 0, false
	}
	var r rune
	for _, c := range s.data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number (grammar checked) and returns its text.
func (s *scanner) number() ([]byte, error) {
	start := s.pos
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	fail := func() ([]byte, error) {
		s.pos = i
		return nil, s.syntaxError("in numeric literal")
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		return fail()
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return fail()
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return fail()
		}
	}
	s.pos = i
	return d[start:i], nil
}

// skip consumes any JSON value, checking its syntax.
func (s *scanner) skip(depth int) error {
	if depth > maxSkipDepth {
		return errors.New("exceeded max depth")
	}
	switch c := s.peek(); {
	case c == '{':
		_, err := s.object("", func(string) error { return s.skip(depth + 1) })
		return err
	case c == '[':
		return s.array("", func() error { return s.skip(depth + 1) })
	case c == '"':
		_, err := s.strBytes()
		return err
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.number()
		return err
	}
	return s.syntaxError("looking for beginning of value")
}

func (s *scanner) record(r *Record) error {
	present, err := s.object("record", func(name string) error {
		var err error
		switch name {
		case "eventVersion":
			r.EventVersion, err = s.text(name, true)
		case "createdAt":
			var t string
			if t, err = s.text(name, true); err == nil {
				r.CreatedAt, err = ParseEpochSeconds(t)
			}
		case "origin":
			r.Origin, err = s.text(name, false)
		case "partitionKeys":
			r.PartitionKeys, err = s.columns(name)
		case "clusteringKeys":
			r.ClusteringKeys, err = s.columns(name)
		case "newImage":
			r.NewImage, err = s.row()
		case "oldImage":
			r.OldImage, err = s.row()
		case "sequenceNumber":
			r.SequenceNumber, err = s.text(name, true)
		default:
			err = s.skip(0) // newer members: ignore, the record stays readable
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

// columns reads a key map ({col: CellValue}); an empty object gives an empty, non-nil
// slice so presence survives a re-encode.
func (s *scanner) columns(what string) ([]Column, error) {
	cols := []Column{}
	present, err := s.object(what, func(name string) error {
		var v CellValue
		if err := s.cellValue(&v, 0); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cols = append(cols, Column{Name: name, Value: v})
		return nil
	})
	if !present {
		return nil, err
	}
	return cols, err
}

func (s *scanner) row() (*Row, error) {
	r := &Row{}
	present, err := s.object("row", func(name string) error {
		var err error
		switch name {
		case "valueCells":
			r.ValueCells, err = s.namedCells(name, 0)
		case "staticCells":
			r.StaticCells, err = s.namedCells(name, 0)
		case "rowMetadata":
			r.RowMetadata, err = s.metadata()
		default:
			err = s.skip(0)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if !present {
		return nil, err
	}
	return r, err
}

// namedCells reads {name: Cell} (row cells, UDT fields) in wire order.
func (s *scanner) namedCells(what string, depth int) ([]NamedCell, error) {
	cells := []NamedCell{}
	present, err := s.object(what, func(name string) error {
		nc := NamedCell{Name: name}
		if err := s.cell(&nc.Cell, depth); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cells = append(cells, nc)
		return nil
	})
	if !present {
		return nil, err
	}
	return cells, err
}

func (s *scanner) metadata() (*Metadata, error) {
	m := &Metadata{}
	present, err := s.object("metadata", func(name string) error {
		var err error
		switch name {
		case "writeTime":
			m.WriteTime, err = s.text(name, true)
		case "expirationTime":
			m.ExpirationTime, err = s.text(name, true)
		default:
			err = s.skip(0)
		}
		return err
	})
	if !present {
		return nil, err
	}
	return m, err
}

// cell reads {value, metadata}; a null cell reads as a null value.
func (s *scanner) cell(c *Cell, depth int) error {
	_, err := s.object("cell", func(name string) error {
		switch name {
		case "value":
			return s.cellValue(&c.Value, depth)
		case "metadata":
			var err error
			c.Metadata, err = s.metadata()
			return err
		}
		return s.skip(0)
	})
	return err
}

// memberNames holds the member names of the protocol's objects, so reading them allocates
// nothing.
var memberNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range strings.Fields("eventVersion createdAt origin partitionKeys clusteringKeys newImage " +
		"oldImage sequenceNumber valueCells staticCells rowMetadata value metadata writeTime expirationTime key") {
		m[n] = n
	}
	for n := range memberTypes {
		m[n] = n
	}
	return m
}()

// memberTypes maps a union member name to its type, and says whether the member may also
// arrive as a JSON number (numeric scalars: their text is kept either way).
var memberTypes = map[string]struct {
	typ      CQLType
	numberOK bool
}{
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

// cellValue reads a union object. {} and null are a null value.
func (s *scanner) cellValue(v *CellValue, depth int) error {
	if depth > maxNesting {
		return fmt.Errorf("values nested deeper than %d", maxNesting)
	}
	s.peek()
	start := s.pos // the '{' of the union, if it is one
	members := 0
	unknown := false
	_, err := s.object("cell value", func(name string) error {
		if members++; members > 1 {
			return fmt.Errorf("cell value has several union members (%q and more)", name)
		}
		m, ok := memberTypes[name]
		if !ok {
			v.Type, v.Unknown, unknown = TypeNull, name, true
			return s.skip(0)
		}
		v.Type = m.typ
		switch m.typ {
		case TypeBlob:
			if s.peek() != '"' {
				return fmt.Errorf("%s: want a JSON string, got %s", name, s.kind())
			}
			b, err := s.strBytes()
			if err != nil {
				return err
			}
			v.Blob = make([]byte, base64.StdEncoding.DecodedLen(len(b)))
			n, err := base64.StdEncoding.Decode(v.Blob, b)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			v.Blob = v.Blob[:n]
			return nil
		case TypeBool:
			switch s.peek() {
			case 't':
				v.Bool = true
				return s.literal("true")
			case 'f':
				return s.literal("false")
			}
			return fmt.Errorf("%s: want a JSON boolean, got %s", name, s.kind())
		case TypeList, TypeSet, TypeTuple:
			v.Elems = []Cell{}
			return s.array(name, func() error {
				var c Cell
				if err := s.cell(&c, depth+1); err != nil {
					return err
				}
				v.Elems = append(v.Elems, c)
				return nil
			})
		case TypeMap:
			v.Entries = []MapEntry{}
			return s.array(name, func() error {
				e, err := s.mapEntry(depth + 1)
				if err != nil {
					return err
				}
				v.Entries = append(v.Entries, e)
				return nil
			})
		case TypeUDT:
			if isNull, err := s.null(); isNull || err != nil {
				if err != nil {
					return err
				}
				return fmt.Errorf("%s: want a JSON object, got null", name)
			}
			var err error
			v.Fields, err = s.namedCells(name, depth+1)
			return err
		}
		var err error
		v.Text, err = s.text(name, m.numberOK)
		return err
	})
	if err != nil {
		return err
	}
	if unknown {
		var buf bytes.Buffer
		// Compacted, so a re-encoded record decodes to the same Raw.
		if err := json.Compact(&buf, s.data[start:s.pos]); err != nil {
			return err
		}
		v.Raw = buf.Bytes()
	}
	return nil
}

func (s *scanner) mapEntry(depth int) (MapEntry, error) {
	var e MapEntry
	_, err := s.object("map entry", func(name string) error {
		switch name {
		case "key":
			return s.cellValue(&e.Key, depth)
		case "value":
			return s.cellValue(&e.Value, depth)
		case "metadata":
			var err error
			e.Metadata, err = s.metadata()
			return err
		}
		return s.skip(0)
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
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || sec >= maxEpochSeconds {
		return time.Time{}, fmt.Errorf("epoch seconds %q: out of range", s)
	}
	if len(fracPart) > 9 {
		fracPart = fracPart[:9] // below a nanosecond: truncated
	}
	var nsec int64
	if fracPart != "" {
		nsec, _ = strconv.ParseInt(fracPart+strings.Repeat("0", 9-len(fracPart)), 10, 64)
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
