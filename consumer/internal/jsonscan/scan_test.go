package jsonscan

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"unsafe"
)

// walk reads any JSON value into a flat list of its tokens: member names, string values and
// number texts, in wire order.
func walk(s *Scanner, out *[]string) error {
	switch c := s.Peek(); {
	case c == '{':
		_, err := s.Object("", func(name string) error {
			*out = append(*out, "name:"+name)
			return walk(s, out)
		})
		return err
	case c == '[':
		return s.Array("", func() error { return walk(s, out) })
	case c == '"' || c == '-' || (c >= '0' && c <= '9'):
		t, err := s.Text("", true)
		*out = append(*out, t)
		return err
	}
	return s.Skip()
}

func TestScanner(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: `{"b":1.50,"a":["x\u00e9\ud83d\ude00",-0e+1],"c":null,"d":true}`,
			want: []string{"name:b", "1.50", "name:a", "xé😀", "-0e+1", "name:c", "name:d"}},
		{in: " \"lone \\ud800 and bad \xff\" ", want: []string{"lone \uFFFD and bad \uFFFD"}},
		{in: `{"a":01}`, err: `invalid character '1' after object key:value pair at offset 6`},
		{in: `{"a":1.}`, err: `invalid character '}' in numeric literal at offset 7`},
		{in: `[1,]`, err: `invalid character ']' looking for beginning of value at offset 3`},
		{in: `"\x"`, err: `invalid character 'x' in string escape code at offset 2`},
		{in: `{"a":tru`, err: "unexpected end of JSON: unexpected EOF"},
	}
	for _, tt := range tests {
		var s Scanner
		s.Init([]byte(tt.in), nil)
		var got []string
		err := walk(&s, &got)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !s.End() {
			t.Fatalf("%s: error %v, end %v", tt.in, err, s.End())
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestScannerEOFIsUnexpected(t *testing.T) {
	var s Scanner
	s.Init([]byte(`{"a":"b`), nil)
	if err := s.Skip(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("got %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestScannerInternsNamesAndSpans(t *testing.T) {
	names := NewNames("key")
	var s Scanner
	s.Init([]byte(`{"key": [1, 2]} `), names)
	var start int
	_, err := s.Object("", func(name string) error {
		if name != "key" {
			t.Errorf("name %q", name)
		}
		s.Peek()
		start = s.Offset()
		if err := s.Skip(); err != nil {
			return err
		}
		if got := string(s.Span(start)); got != "[1, 2]" {
			t.Errorf("span %q", got)
		}
		s.Rewind(start)
		return s.Skip()
	})
	if err != nil || !s.End() {
		t.Fatalf("error %v, end %v", err, s.End())
	}
}

// within says whether s's bytes lie inside data.
func within(s string, data []byte) bool {
	if s == "" || len(data) == 0 {
		return false
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(&data[0]))
	return p >= lo && p < lo+uintptr(len(data))
}

func TestAliasSharesOnlyPlainValues(t *testing.T) {
	data := []byte(`{"plain":"abc","escaped":"a\nb","num":12.5,"plain":"x"}`)
	for _, alias := range []bool{false, true} {
		var s Scanner
		if alias {
			s.InitAlias(data, nil)
		} else {
			s.Init(data, nil)
		}
		var names []string
		values := map[string]string{}
		if _, err := s.Object("", func(name string) error {
			names = append(names, name)
			v, err := s.Text(name, true)
			values[name] = v
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if values["escaped"] != "a\nb" || values["num"] != "12.5" || values["plain"] != "x" {
			t.Fatalf("alias %v: values %q", alias, values)
		}
		if got := within(values["num"], data) && within(values["plain"], data); got != alias {
			t.Errorf("alias %v: plain strings and numbers share data: %v", alias, got)
		}
		if within(values["escaped"], data) {
			t.Errorf("alias %v: an unescaped string shares data", alias)
		}
		for _, n := range names {
			if within(n, data) {
				t.Errorf("alias %v: member name %q shares data", alias, n)
			}
		}
		// A name met again is the same string, not a new copy.
		if unsafe.StringData(names[0]) != unsafe.StringData(names[3]) {
			t.Errorf("alias %v: the repeated name %q was allocated twice", alias, names[0])
		}
	}
}

func TestNamesFindEveryNameAndNoOther(t *testing.T) {
	var names []string
	for i := range 2000 {
		names = append(names, fmt.Sprintf("c%d", i), fmt.Sprintf("column_%d_x", i))
	}
	n := NewNames(append(names, "", names[0])...)
	for _, name := range names {
		got, ok := n.Lookup([]byte(name))
		if !ok || got != name {
			t.Fatalf("%q: got %q, %v", name, got, ok)
		}
	}
	for _, absent := range []string{"", "c", "c2000", "column_1_y", "C1"} {
		if got, ok := n.Lookup([]byte(absent)); ok {
			t.Fatalf("%q: found %q", absent, got)
		}
	}
	if n.n != len(names) {
		t.Fatalf("%d names kept, want %d", n.n, len(names))
	}
}

// TestExpectPlainNameObjectRest: a reader that matches an object's usual compact form itself
// and reads the rest the general way meets the same members Object meets, and is refused
// what Object refuses; what it does not match is left unread.
func TestExpectPlainNameObjectRest(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{in: `{"a":1}`, want: []string{"a=1"}},
		{in: `{"a":1,"b":"x", "c" : 2 }`, want: []string{"a=1", "b=x", "c=2"}},
		{in: `{"a":1,}`, err: `invalid character '}' looking for the beginning of an object key string at offset 7`},
		{in: `{"a":1 x`, err: `invalid character 'x' after object key:value pair at offset 7`},
		{in: `{"a":1,"b"`, err: "unexpected end of JSON: unexpected EOF"},
	}
	for _, tt := range tests {
		var s Scanner
		s.Init([]byte(tt.in), nil)
		if !s.Expect(`{`) || s.Expect(`{`) {
			t.Fatalf("%s: Expect", tt.in)
		}
		b, ok := s.PlainName()
		if !ok || string(b) != "a" {
			t.Fatalf("%s: PlainName %q %v", tt.in, b, ok)
		}
		first, err := s.Text("a", true)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{"a=" + first}
		err = s.ObjectRest(func(name string) error {
			v, err := s.Text(name, true)
			got = append(got, name+"="+v)
			return err
		})
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("%s: error %v, want %s", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !s.End() || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %q, error %v, end %v", tt.in, got, err, s.End())
		}
	}
	// Names PlainName leaves to StrBytes, reading nothing.
	for _, in := range []string{`"a\u0062":1`, `"é":1`, `"a" :1`, `"a"`, `"a`, ` "a":1`, "\"a\tb\":1"} {
		var s Scanner
		s.Init([]byte(in), nil)
		if b, ok := s.PlainName(); ok || s.Offset() != 0 {
			t.Errorf("%q: PlainName %q, offset %d", in, b, s.Offset())
		}
	}
}
