// Package jsonscan reads JSON from a byte slice one value at a time, without reflection: the
// caller walks objects member by member in wire order, and numbers keep their exact text.
// Strings are unescaped exactly as encoding/json does (invalid UTF-8 and lone surrogates
// become U+FFFD). It knows nothing of the documents it reads: consumer/streams writes its
// record grammar on it.
package jsonscan

import (
	"bytes"
	"fmt"
	"io"
	"unsafe"
)

// maxSkipDepth bounds the nesting of skipped (unknown) members, as encoding/json does.
const maxSkipDepth = 10000

// Scanner reads JSON from data. Every method first skips white space. The zero Scanner reads
// an empty input; Init sets what it reads.
type Scanner struct {
	data  []byte
	pos   int
	buf   []byte // scratch for unescaping strings
	names *Names // object member names returned without allocating
	seen  *Names // other member names met so far, each allocated once
	alias bool
}

// maxSeenNames bounds how many distinct member names outside Init's names a Scanner keeps,
// so that a document with endless distinct names cannot grow it without end.
const maxSeenNames = 1024

var errEOF = fmt.Errorf("unexpected end of JSON: %w", io.ErrUnexpectedEOF)

// Init makes s read data from its start. Object member names found in names are returned
// as names' own strings, so reading a document's usual member names allocates nothing;
// names may be nil.
func (s *Scanner) Init(data []byte, names *Names) {
	*s = Scanner{data: data, names: names}
}

// InitAlias is Init, but the strings Str and Text return share data's memory when they need
// no unescaping, instead of being copies: reading them allocates nothing. The caller promises
// that data is never modified afterwards (a string's bytes must not change). Member names are
// still copies (each distinct one once), so a name kept for long does not keep data alive;
// those met in the documents s read before are kept, so a Scanner reused for document after
// document of the same kind (records of one table) allocates each name once.
func (s *Scanner) InitAlias(data []byte, names *Names) {
	*s = Scanner{data: data, names: names, alias: true, seen: s.seen, buf: s.buf[:0]}
}

// Offset returns the offset in data of the next unread byte.
func (s *Scanner) Offset() int { return s.pos }

// Rewind moves back to off, an offset Offset returned earlier, to read from there again.
func (s *Scanner) Rewind(off int) { s.pos = off }

// Span returns the bytes read since off (an offset Offset returned earlier); it aliases data.
func (s *Scanner) Span(off int) []byte { return s.data[off:s.pos] }

// End reports whether only white space is left.
func (s *Scanner) End() bool { return s.Peek() == 0 && s.pos >= len(s.data) }

// Peek returns the next non-space byte without consuming it (0 at the end).
func (s *Scanner) Peek() byte {
	// Compact JSON has no white space: the usual case is one comparison, inlined (the loop
	// below was a fifth of the time the stream's client spends checking a record's syntax).
	if s.pos < len(s.data) && s.data[s.pos] > ' ' {
		return s.data[s.pos]
	}
	return s.peekSpace()
}

// peekSpace is Peek past white space.
func (s *Scanner) peekSpace() byte {
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

// SyntaxError reports the byte at the current offset as invalid, what saying where
// ("in numeric literal"); at the end of data it is an unexpected end of JSON.
func (s *Scanner) SyntaxError(what string) error {
	if s.pos >= len(s.data) {
		return errEOF
	}
	return fmt.Errorf("invalid character %q %s at offset %d", s.data[s.pos], what, s.pos)
}

// Kind names the JSON value that starts at the next byte, for error messages.
func (s *Scanner) Kind() string {
	switch c := s.Peek(); {
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

// Null consumes a null literal if one is next.
func (s *Scanner) Null() (bool, error) {
	if s.Peek() != 'n' {
		return false, nil
	}
	return true, s.Literal("null")
}

// Literal consumes lit (true, false or null), which must come next.
func (s *Scanner) Literal(lit string) error {
	if !bytes.HasPrefix(s.data[s.pos:], []byte(lit)) {
		if len(s.data)-s.pos < len(lit) && bytes.HasPrefix([]byte(lit), s.data[s.pos:]) {
			return errEOF
		}
		return s.SyntaxError("in literal")
	}
	s.pos += len(lit)
	return nil
}

// Object reads an object member by member, calling fn with each member's name to read its
// value; null reads as absent (present false). what names the object in errors.
func (s *Scanner) Object(what string, fn func(name string) error) (present bool, err error) {
	if isNull, err := s.Null(); isNull || err != nil {
		return false, err
	}
	if s.Peek() != '{' {
		return false, fmt.Errorf("%s: want a JSON object, got %s", what, s.Kind())
	}
	s.pos++
	if s.Peek() == '}' {
		s.pos++
		return true, nil
	}
	for {
		if err := s.member(fn); err != nil {
			return true, err
		}
		if more, err := s.next(); !more {
			return true, err
		}
	}
}

// ObjectRest reads the rest of an object, from right after the value of one of its members
// (a comma and more members, or the closing brace), calling fn as Object does: for a reader
// that matched the object's usual first members itself (Expect, PlainName) and meets a form
// it did not expect.
func (s *Scanner) ObjectRest(fn func(name string) error) error {
	for {
		if more, err := s.next(); !more {
			return err
		}
		if err := s.member(fn); err != nil {
			return err
		}
	}
}

// member reads one object member: its name, the colon, and its value by fn.
func (s *Scanner) member(fn func(name string) error) error {
	if s.Peek() != '"' {
		return s.SyntaxError("looking for the beginning of an object key string")
	}
	b, err := s.StrBytes()
	if err != nil {
		return err
	}
	name := s.name(b)
	if s.Peek() != ':' {
		return s.SyntaxError("after object key")
	}
	s.pos++
	return fn(name)
}

// next reads what follows an object member's value: more is true after a comma, false after
// the closing brace or on error.
func (s *Scanner) next() (more bool, err error) {
	switch s.Peek() {
	case ',':
		s.pos++
		return true, nil
	case '}':
		s.pos++
		return false, nil
	}
	return false, s.SyntaxError("after object key:value pair")
}

// Expect consumes lit if the unread bytes begin with it exactly, white space not skipped:
// for a reader that tries the compact form a document usually comes in (`{"value":`) before
// reading it member by member. It checks nothing else, so lit must be valid JSON as far as
// it goes.
func (s *Scanner) Expect(lit string) bool {
	if len(s.data)-s.pos >= len(lit) && string(s.data[s.pos:s.pos+len(lit)]) == lit {
		s.pos += len(lit)
		return true
	}
	return false
}

// PlainName reads a member name and its colon written `"name":`, when the name needs no
// unescaping (printable ASCII but for quotes and backslashes); else it reads nothing and ok
// is false. The name aliases data.
func (s *Scanner) PlainName() (name []byte, ok bool) {
	d := s.data
	if s.pos >= len(d) || d[s.pos] != '"' {
		return nil, false
	}
	for i := s.pos + 1; i < len(d); i++ {
		switch c := d[i]; {
		case c == '"':
			if i+1 < len(d) && d[i+1] == ':' {
				name = d[s.pos+1 : i]
				s.pos = i + 2
				return name, true
			}
			return nil, false
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
	}
	return nil, false
}

// name returns a member name: the document's usual ones, and the ones met before, without
// allocating.
func (s *Scanner) name(b []byte) string {
	if name, ok := s.names.Lookup(b); ok {
		return name
	}
	if name, ok := s.seen.Lookup(b); ok {
		return name
	}
	name := string(b)
	if s.seen == nil {
		s.seen = &Names{}
	}
	if name != "" && s.seen.n < maxSeenNames {
		s.seen.add(name)
	}
	return name
}

// Array reads an array element by element, calling fn to read each element. what names the
// array in errors.
func (s *Scanner) Array(what string, fn func() error) error {
	if s.Peek() != '[' {
		return fmt.Errorf("%s: want a JSON array, got %s", what, s.Kind())
	}
	s.pos++
	if s.Peek() == ']' {
		s.pos++
		return nil
	}
	for {
		if err := fn(); err != nil {
			return err
		}
		switch s.Peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.SyntaxError("after array element")
		}
	}
}

// Text reads a JSON string, or a JSON number when numberOK (its exact text).
func (s *Scanner) Text(what string, numberOK bool) (string, error) {
	switch c := s.Peek(); {
	case c == '"':
		return s.Str()
	case numberOK && (c == '-' || (c >= '0' && c <= '9')):
		b, err := s.Number()
		if err != nil {
			return "", err
		}
		return s.str(b, true), nil
	}
	return "", fmt.Errorf("%s: want a JSON string, got %s", what, s.Kind())
}

// Str reads a JSON string; the next byte must be its opening quote.
func (s *Scanner) Str() (string, error) {
	start := s.pos + 1
	b, err := s.StrBytes()
	if err != nil {
		return "", err
	}
	// Unescaped strings are read in place: b is then data's own bytes.
	return s.str(b, len(b) > 0 && &b[0] == &s.data[start]), nil
}

// str returns b as a string: sharing its memory when the Scanner aliases and b is data's own
// (inData), else a copy.
func (s *Scanner) str(b []byte, inData bool) string {
	if s.alias && inData && len(b) > 0 {
		return unsafe.String(&b[0], len(b))
	}
	return string(b)
}

// Number reads a JSON number (grammar checked) and returns its text.
func (s *Scanner) Number() ([]byte, error) {
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
		return nil, s.SyntaxError("in numeric literal")
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

// skipObject consumes an object without looking its member names up (they are not kept).
func (s *Scanner) skipObject(depth int) error {
	s.pos++ // '{'
	if s.Peek() == '}' {
		s.pos++
		return nil
	}
	for {
		if s.Peek() != '"' {
			return s.SyntaxError("looking for the beginning of an object key string")
		}
		if _, err := s.StrBytes(); err != nil {
			return err
		}
		if s.Peek() != ':' {
			return s.SyntaxError("after object key")
		}
		s.pos++
		if err := s.skip(depth + 1); err != nil {
			return err
		}
		switch s.Peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.SyntaxError("after object key:value pair")
		}
	}
}
