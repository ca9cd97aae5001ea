package jsonstr

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\"back\\slash", "ctl\x00\x01\x1f\x7f", "<html>&",
		"tab\tnl\ncr\r", "\u2028\u2029", "emoji 😀", "bad utf8 \xff\xfe", "é"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(Append(nil, s)); got != strings.TrimSuffix(want.String(), "\n") {
			t.Errorf("Append(%q) = %s, encoding/json %s", s, got, want.String())
		}
	}
}
