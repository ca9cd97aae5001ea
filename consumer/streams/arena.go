package streams

// arena hands out the slices and single values of one decoder's records from shared chunks,
// so that a GetRecords answer of a thousand records costs a few dozen allocations, not tens
// of thousands. A slice is built on a scratch stack (mark, push, then take), which nested
// values of the same type use above it, and copied into a chunk once complete. Values taken
// from a chunk keep it alive: they belong to one answer, which is read and dropped as a whole.
type arena[T any] struct {
	scratch []T
	chunk   []T
}

// The chunks grow from minChunk to maxChunk values, so a lone record decoded by DecodeRecord
// allocates little and a batch allocates rarely.
const (
	minChunk = 1
	maxChunk = 256
)

func (a *arena[T]) mark() int { return len(a.scratch) }

func (a *arena[T]) push(v T) { a.scratch = append(a.scratch, v) }

// room makes room for n more values in the chunk.
func (a *arena[T]) room(n int) {
	if cap(a.chunk)-len(a.chunk) >= n {
		return
	}
	a.chunk = make([]T, 0, max(n, min(2*cap(a.chunk), maxChunk), minChunk))
}

// take returns the values pushed since mark as a slice of their own (its capacity ends with
// it, so an append copies) and pops them. No values give an empty, non-nil slice.
func (a *arena[T]) take(mark int) []T {
	items := a.scratch[mark:]
	n := len(items)
	if n == 0 {
		return []T{}
	}
	a.room(n)
	start := len(a.chunk)
	a.chunk = append(a.chunk, items...)
	clear(items) // the scratch keeps no pointer into the answer
	a.scratch = a.scratch[:mark]
	return a.chunk[start : start+n : start+n]
}

// one returns a pointer to a copy of v.
func (a *arena[T]) one(v T) *T {
	a.room(1)
	a.chunk = append(a.chunk, v)
	return &a.chunk[len(a.chunk)-1]
}
