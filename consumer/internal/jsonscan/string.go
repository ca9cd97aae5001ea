package jsonscan

import (
	"encoding/binary"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/internal/jsonstr"
)

// StrBytes reads a JSON string; the next byte must be its opening quote. The result aliases
// data or a scratch buffer that the next string read overwrites.
func (s *Scanner) StrBytes() ([]byte, error) {
	s.pos++ // '"'
	start := s.pos
	i := start
	// Eight bytes at a time: most of a record's bytes are in strings, and this loop reads
	// them at several times the byte-by-byte speed. It stops at the first byte that needs a
	// look, most often the closing quote (most strings are a few bytes long: member names,
	// numbers sent as text).
	for i+8 <= len(s.data) {
		n := jsonstr.FirstSpecial8(binary.LittleEndian.Uint64(s.data[i:]))
		if n == 8 {
			i += 8
			continue
		}
		if i += n; s.data[i] == '"' {
			s.pos = i + 1
			return s.data[start:i], nil
		}
		return s.strSlow(start)
	}
	for ; i < len(s.data); i++ {
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
func (s *Scanner) strSlow(start int) ([]byte, error) {
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
			return nil, s.SyntaxError("in string literal")
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
				return nil, s.SyntaxError("in string escape code")
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

func (s *Scanner) badEscape(i int) error {
	for j := i + 2; j < i+6; j++ {
		if j >= len(s.data) {
			s.pos = len(s.data)
			return errEOF
		}
		if !isHex(s.data[j]) {
			s.pos = j
			return s.SyntaxError("in \\u hexadecimal character escape")
		}
	}
	s.pos = i
	return s.SyntaxError("in string escape code")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// hex4 reads the 4 hex digits at i.
func (s *Scanner) hex4(i int) (rune, bool) {
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
