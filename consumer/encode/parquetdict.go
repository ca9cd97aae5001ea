package encode

import (
	"math"

	"github.com/apache/arrow-go/v18/parquet"
)

// Dictionary encoding pays for values that repeat (an op, a keyspace, a status): each is
// stored once and referenced by a small index. For values that do not repeat (ids, sequence
// numbers, names, amounts, long text) it costs a hash-table insert per value and a
// dictionary page as large as the values, and once zstd compresses the pages the plain
// column is smaller too (BENCHMARKS.md, section Parquet). A leaf column therefore gets a
// dictionary only if its values in the file's first batch repeat: among its first
// parquetDictSample values, each distinct value occurs parquetDictRepeat times on average,
// and byte arrays average at most parquetDictMaxMeanBytes. The choice depends only on the
// file's own first events, so a replay makes it again and writes the same bytes.
const (
	parquetDictSample       = 256
	parquetDictRepeat       = 4
	parquetDictMaxMeanBytes = 64
)

// dictionaryLeaves are the paths of the leaf columns to write with a dictionary, from the
// buffered first batch.
func (e *pqEncoder) dictionaryLeaves() []string {
	var out []string
	for i := range e.leaves {
		if e.repeats(i) {
			out = append(out, e.ps.sch.Column(i).Path())
		}
	}
	return out
}

// repeats reports whether leaf i's sampled values repeat enough for a dictionary.
func (e *pqEncoder) repeats(i int) bool {
	l := &e.leaves[i]
	var n int
	switch e.ps.leaves[i] {
	case parquet.Types.ByteArray:
		n = len(l.ends)
		if n == 0 || len(l.data)/n > parquetDictMaxMeanBytes {
			return false
		}
	case parquet.Types.Int32:
		n = len(l.i32)
	case parquet.Types.Int64:
		n = len(l.i64)
	case parquet.Types.Float:
		n = len(l.f32)
	case parquet.Types.Double:
		n = len(l.f64)
	default: // boolean: never dictionary-encoded
		return false
	}
	n = min(n, parquetDictSample)
	limit := n / parquetDictRepeat
	if limit == 0 {
		return false
	}
	if e.distinct == nil {
		e.distinct = make(map[uint64]struct{}, parquetDictSample)
	}
	seen := e.distinct
	clear(seen)
	start := 0
	for j := 0; j < n; j++ {
		var k uint64
		switch e.ps.leaves[i] {
		case parquet.Types.ByteArray:
			k = fnv64(l.data[start:l.ends[j]])
			start = l.ends[j]
		case parquet.Types.Int32:
			k = uint64(uint32(l.i32[j]))
		case parquet.Types.Int64:
			k = uint64(l.i64[j])
		case parquet.Types.Float:
			k = uint64(math.Float32bits(l.f32[j]))
		case parquet.Types.Double:
			k = math.Float64bits(l.f64[j])
		}
		seen[k] = struct{}{}
		if len(seen) > limit {
			return false
		}
	}
	return true
}

// fnv64 is FNV-1a: a fixed hash, so that the count (and the choice) is the same in every
// process. A collision can only undercount, the same way each time.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
