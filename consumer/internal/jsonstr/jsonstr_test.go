package jsonstr

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// encodingJSON is s as encoding/json writes it (HTML characters left as they are).
func encodingJSON(t *testing.T, s string) string {
	t.Helper()
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(out.String(), "\n")
}

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x01\x1f\x7f", "<html>&",
		"tab\tnl\ncr\r", "\u2028\u2029", "emoji 😀", "bad utf8 \xff\xfe", "é",
		"a long plain string of several words", "long then \"quoted\" and \\ then more words", "tail ctl after words\x01",
		"exactly8", "sixteen bytes ok", "words then é and 😀 then \u2028 and \xff at the end"} {
		if got, want := string(Append(nil, s)), encodingJSON(t, s); got != want {
			t.Errorf("Append(%q) = %s, encoding/json %s", s, got, want)
		}
	}
}

// TestAppendMatchesEncodingJSONOnShortStrings: strings of 0-24 bytes drawn from plain
// letters and every kind of byte Append treats apart, in every position (the word-at-a-time
// check of a string's last bytes must never hide one).
func TestAppendMatchesEncodingJSONOnShortStrings(t *testing.T) {
	alphabet := []string{"a", "Z", " ", "~", `"`, `\`, "\x00", "\x1f", "\n", "\x7f", "é", "\u2028", "\xff", "😀"}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200_000 {
		var sb strings.Builder
		n := rng.IntN(25)
		special := rng.IntN(3) // none, one, or any number of bytes other than letters
		for j := 0; sb.Len() < n; j++ {
			c := alphabet[rng.IntN(2)]
			if special == 2 || (special == 1 && j == n/2) {
				c = alphabet[rng.IntN(len(alphabet))]
			}
			sb.WriteString(c)
		}
		s := sb.String()
		if got, want := string(Append(nil, s)), encodingJSON(t, s); got != want {
			t.Fatalf("Append(%q) = %s, encoding/json %s", s, got, want)
		}
	}
}

func TestSpecial8NeverMisses(t *testing.T) {
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	for pos := range 8 {
		for c := range 256 {
			word := []byte("abcdefgh")
			word[pos] = byte(c)
			if got := Special8(binary.LittleEndian.Uint64(word)); got != isSpecial(byte(c)) {
				t.Fatalf("byte %#x at %d: special8 %v", c, pos, got)
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 1_000_000 {
		x := rng.Uint64()
		if i%2 == 0 {
			x &= 0x7f7f7f7f7f7f7f7f // ASCII only: the other tests must tell
		}
		var word [8]byte
		binary.LittleEndian.PutUint64(word[:], x)
		if slices.ContainsFunc(word[:], isSpecial) && !Special8(x) {
			t.Fatalf("%q: missed", word)
		}
	}
}

func TestFirstSpecial8IsExact(t *testing.T) {
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 1_000_000 {
		x := rng.Uint64()
		switch i % 3 {
		case 0:
			x &= 0x7f7f7f7f7f7f7f7f // ASCII only
		case 1:
			x = x&0x3f3f3f3f3f3f3f3f | 0x4040404040404040 // letters and such, a special byte or none
			word := rng.IntN(9)
			if word < 8 {
				x = x&^(0xff<<(8*word)) | uint64([]byte{'"', '\\', 0, 0x1f, 0x80, 0xff}[rng.IntN(6)])<<(8*word)
			}
		}
		var word [8]byte
		binary.LittleEndian.PutUint64(word[:], x)
		want := slices.IndexFunc(word[:], isSpecial)
		if want < 0 {
			want = 8
		}
		if got := FirstSpecial8(x); got != want {
			t.Fatalf("%q: first special byte at %d, want %d", word, got, want)
		}
	}
}
