package jsonscan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// skipCases are values and near-values for the skipping loop: every kind of token, white
// space everywhere, each way a string, number or literal can go wrong, and nesting around
// skipStack.
var skipCases = []string{
	`{"a":[1,-0.5e+3,"x\"\\\/\b\f\n\r\t\u00e9",true,false,null,{},[]],"b":{"c":{}}} tail`,
	" \t\n\r{ \"a\" : [ 1 , 2 ] , \"b\" : null } ", `"é\xff"`, `[]`, `{}`, `0`, `-0`, `1E9`, `"`,
	`{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{1:2}`, `{"a":1]`, `[1}`, `"\x"`, `"\u12"`, `"\u12G4"`,
	"\"a\x01\"", `01`, `-`, `1.`, `1e`, `1e+`, `.5`, `tru`, `nul`, `fals`, `truex`, `[`, `{"a":`, ``, ` `,
	`x`, `}`, `"abcdefghijklmnopqrstuvwxyz\"abcdefgh"`, `"abcdefgh`, `"abcdefgh\`,
	strings.Repeat("[", skipStack) + strings.Repeat("]", skipStack),
	strings.Repeat("[", skipStack+1) + strings.Repeat("]", skipStack+1),
	strings.Repeat(`{"a":`, skipStack) + "1" + strings.Repeat("}", skipStack),
	strings.Repeat(`{"a":`, skipStack+1) + "1" + strings.Repeat("}", skipStack+1),
	strings.Repeat("[", skipStack+1) + strings.Repeat("]", skipStack),
}

func TestSkipAsTheRecursiveReader(t *testing.T) {
	for _, c := range skipCases {
		checkSkip(t, []byte(c))
	}
}

func FuzzSkip(f *testing.F) {
	for _, c := range skipCases {
		f.Add([]byte(c))
	}
	f.Fuzz(checkSkip)
}

// checkSkip: Skip consumes what the recursive reader consumes, and refuses what it refuses
// with the same error; the loop itself accepts every valid value nested within its stack,
// and nothing else.
func checkSkip(t *testing.T, data []byte) {
	var fast, slow Scanner
	fast.Init(data, nil)
	slow.Init(data, nil)
	errFast, errSlow := fast.Skip(), slow.skip(0)
	if (errFast == nil) != (errSlow == nil) || errFast != nil && errFast.Error() != errSlow.Error() ||
		errFast == nil && fast.Offset() != slow.Offset() {
		t.Fatalf("%q: Skip %v at %d, the recursive reader %v at %d", data, errFast, fast.Offset(), errSlow, slow.Offset())
	}
	end, ok := skipValid(data, 0)
	shallow := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) <= skipStack
	if ok && (errSlow != nil || end != slow.Offset()) || !ok && errSlow == nil && shallow {
		t.Fatalf("%q: the loop says %v at %d, the recursive reader %v at %d", data, ok, end, errSlow, slow.Offset())
	}
	if ok && !json.Valid(data[:end]) {
		t.Fatalf("%q: the loop accepts %q, which encoding/json refuses", data, data[:end])
	}
}
