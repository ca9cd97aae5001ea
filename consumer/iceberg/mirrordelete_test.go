package iceberg

import (
	"slices"
	"testing"
)

// TestKeyLookup: a key is found by its own values only: a text value holding a NUL and a type
// name (valid in Cassandra text) does not make one key the prefix of another, so a partition
// delete removes the rows of its partition and of no other.
func TestKeyLookup(t *testing.T) {
	fk := &fileKeys{rows: map[string][]int64{}, deleted: map[int64]bool{}}
	rows := [][]any{
		{"a\x00string:b", "c", int32(1)}, // 0
		{"a", "b\x00string:c", int32(2)}, // 1
		{"a", "b", int32(3)},             // 2
		{"a", "b", int32(4)},             // 3
	}
	for pos, k := range rows {
		fk.rows[keyString(k)] = append(fk.rows[keyString(k)], int64(pos))
	}
	for _, tc := range []struct {
		key  []any
		want []int64
	}{
		{[]any{"a", "b\x00string:c", nil}, []int64{1}},
		{[]any{"a", "b", nil}, []int64{2, 3}},
		{[]any{"a\x00string:b", "c", nil}, []int64{0}},
		{[]any{"a", "b", int32(3)}, []int64{2}},
		{[]any{"a", "b", int32(5)}, nil},
	} {
		got := fk.lookup(tc.key)
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("lookup %q = %v, want %v", tc.key, got, tc.want)
		}
	}
}
