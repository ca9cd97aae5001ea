// Package jsonstr writes JSON strings the way encoding/json does, without reflection or
// allocation: the one escaping rule shared by the wire encoder (consumer/streams) and the
// JSON Lines output (consumer/encode).
package jsonstr

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Append appends s as a JSON string: quotes, backslashes and control characters
// escaped, U+2028/U+2029 escaped (as encoding/json does), invalid UTF-8 replaced by U+FFFD.
func Append(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight plain bytes at a time (most strings have no byte to escape).
		for i+8 <= len(s) && !Special8(load8(s, i)) {
			i += 8
		}
		if i >= len(s) {
			break
		}
		// Fewer than eight bytes left: one word tells whether they are plain too (most
		// strings are short names and values, whose every byte went one by one before).
		if i+8 > len(s) && !Special8(tail8(s, i)) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Special8 says whether one of the eight bytes of x (possibly) ends a plain string: a quote,
// a backslash, a control character or a non-ASCII byte. It never misses one; a false
// positive only sends the bytes to the byte-by-byte loop.
func Special8(x uint64) bool { return special8(x) != 0 }

// FirstSpecial8 returns the index of the first of the eight bytes of x (read little-endian:
// the first byte is the lowest) that ends a plain string, as Special8 defines it; 8 when
// none does. Unlike Special8 it is exact: a reader of strings goes straight to the closing
// quote of a short one instead of looking at its bytes one by one.
func FirstSpecial8(x uint64) int { return bits.TrailingZeros64(special8(x)) >> 3 }

// special8 has the high bit of each byte of x that ends a plain string set, and may have
// some of the bytes above the first such byte set too (a subtraction's borrow), never
// below it: its lowest bit is exact.
//
// A byte b is flagged by b itself when non-ASCII, by b-0x20 when below 0x20, by (b^'"')-1
// when a quote and by (b^'\\')-1 when a backslash (each subtraction reaches the high bit
// from an ASCII byte only by wrapping below zero, and borrows from the byte above only
// then). The non-ASCII bytes those subtractions flag too are flagged anyway, so no term
// needs the usual "&^ v" that keeps them out: one OR of five words, masked once.
func special8(x uint64) uint64 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	return (x | (x - 0x20*ones) | ((x ^ '"'*ones) - ones) | ((x ^ '\\'*ones) - ones)) & high
}

// tail8 reads s[i:] (fewer than eight bytes) into a word that is special where s[i:] is:
// the last eight bytes of s when it has eight (those before i may flag too, which only sends
// the tail to the byte-by-byte loop), else s[i:] padded with plain bytes.
func tail8(s string, i int) uint64 {
	if len(s) >= 8 {
		return load8(s, len(s)-8)
	}
	w := [8]byte{'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a'}
	copy(w[:], s[i:])
	return binary.LittleEndian.Uint64(w[:])
}

// load8 reads s[i:i+8] as a little-endian word (the compiler makes it one load).
func load8(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}
