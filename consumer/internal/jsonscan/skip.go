package jsonscan

import (
	"encoding/binary"
	"errors"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/internal/jsonstr"
)

// Skip consumes any JSON value, checking its syntax.
//
// The stream's client checks the syntax of every record's keys and images this way without
// reading them (streams.GetRecordsInput.EnvelopeOnly), so it is most of that pass: valid
// JSON is walked by one loop over the bytes (skipValid), without a call per token or
// unescaping a string. Anything that loop does not accept (a syntax error, nesting deeper
// than its stack) is walked again by the recursive reader from the same offset, which gives
// the error, with its offset, that Skip has always given.
func (s *Scanner) Skip() error {
	if end, ok := skipValid(s.data, s.pos); ok {
		s.pos = end
		return nil
	}
	return s.skip(0)
}

// skipStack bounds the nesting skipValid follows; deeper values go the recursive way.
const skipStack = 64

// skipValid returns the offset after the JSON value that starts at i (after white space),
// and whether that value is valid JSON nested at most skipStack deep.
func skipValid(d []byte, i int) (int, bool) {
	var stack [skipStack]byte // the open containers' closing brackets
	n := 0
	for {
		// A value.
		i = skipSpace(d, i)
		if i >= len(d) {
			return i, false
		}
		switch c := d[i]; c {
		case '{', '[':
			end := byte('}')
			if c == '[' {
				end = ']'
			}
			if i = skipSpace(d, i+1); i < len(d) && d[i] == end {
				i++
				break // an empty container is a whole value
			}
			if n == len(stack) {
				return i, false
			}
			stack[n] = end
			n++
			if end == '}' {
				var ok bool
				if i, ok = skipKey(d, i); !ok {
					return i, false
				}
			}
			continue // its first value
		case '"':
			var ok bool
			if i, ok = skipString(d, i); !ok {
				return i, false
			}
		case 't':
			if i = skipLiteral(d, i, "true"); i < 0 {
				return 0, false
			}
		case 'f':
			if i = skipLiteral(d, i, "false"); i < 0 {
				return 0, false
			}
		case 'n':
			if i = skipLiteral(d, i, "null"); i < 0 {
				return 0, false
			}
		default:
			if i = skipNumber(d, i); i < 0 {
				return 0, false
			}
		}
		// After a value: close containers until a comma starts the next value.
		for next := false; !next; {
			if n == 0 {
				return i, true
			}
			if i = skipSpace(d, i); i >= len(d) {
				return i, false
			}
			switch d[i] {
			case ',':
				i++
				if stack[n-1] == '}' {
					var ok bool
					if i, ok = skipKey(d, skipSpace(d, i)); !ok {
						return i, false
					}
				}
				next = true
			case stack[n-1]:
				i++
				n--
			default:
				return i, false
			}
		}
	}
}

// skipSpace returns the offset of the first byte from i that is not white space.
func skipSpace(d []byte, i int) int {
	for i < len(d) && d[i] <= ' ' && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

// skipKey skips a member name, white space and the colon, from i.
func skipKey(d []byte, i int) (int, bool) {
	if i >= len(d) || d[i] != '"' {
		return i, false
	}
	i, ok := skipString(d, i)
	if !ok {
		return i, false
	}
	if i = skipSpace(d, i); i >= len(d) || d[i] != ':' {
		return i, false
	}
	return i + 1, true
}

// skipString returns the offset after the JSON string whose opening quote is at i. Invalid
// UTF-8 is not an error (a reader replaces it); control characters and bad escapes are.
func skipString(d []byte, i int) (int, bool) {
	i++
	for {
		for i+8 <= len(d) {
			n := jsonstr.FirstSpecial8(binary.LittleEndian.Uint64(d[i:]))
			i += n
			if n < 8 {
				break
			}
		}
		if i >= len(d) {
			return i, false
		}
		switch c := d[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(d) {
				return i, false
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) || !isHex(d[i+2]) || !isHex(d[i+3]) || !isHex(d[i+4]) || !isHex(d[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default:
			i++ // a non-ASCII byte, or one of the last few bytes of d
		}
	}
}

// skipLiteral returns the offset after lit at i, or -1.
func skipLiteral(d []byte, i int, lit string) int {
	if len(d)-i < len(lit) || string(d[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// skipNumber returns the offset after the JSON number at i, or -1 (the grammar of Number).
func skipNumber(d []byte, i int) int {
	digits := func() int {
		start := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case digits() == 0:
		return -1
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			return -1
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			return -1
		}
	}
	return i
}

// skip is the recursive reader Skip falls back on.
func (s *Scanner) skip(depth int) error {
	if depth > maxSkipDepth {
		return errors.New("exceeded max depth")
	}
	switch c := s.Peek(); {
	case c == '{':
		return s.skipObject(depth)
	case c == '[':
		return s.Array("", func() error { return s.skip(depth + 1) })
	case c == '"':
		_, err := s.StrBytes()
		return err
	case c == 't':
		return s.Literal("true")
	case c == 'f':
		return s.Literal("false")
	case c == 'n':
		return s.Literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		_, err := s.Number()
		return err
	}
	return s.SyntaxError("looking for beginning of value")
}
