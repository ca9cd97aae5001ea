package jsonscan

// Names is a set of member names that a Scanner returns as its own strings, so reading a
// document's usual member names allocates nothing. It is a small hash table (by a name's
// first and last bytes and length), not a map: a record has dozens of member names, and
// comparing a name against the few of its bucket costs a fraction of hashing it (map
// lookups were a tenth of a JSON worker's CPU). A Names from NewNames is read-only and may
// be shared by any number of Scanners.
type Names struct {
	buckets [nameBuckets][]string
	n       int
}

// nameBuckets is small, so that a Scanner's table of the names it met (one per GetRecords
// answer, one per record for DecodeRecord) is cheap to allocate; a table has a few dozen
// names, rarely hundreds.
const nameBuckets = 64

// NewNames returns the table of names (duplicates are kept once; the empty name is ignored).
func NewNames(names ...string) *Names {
	n := &Names{}
	for _, name := range names {
		if _, ok := n.Lookup([]byte(name)); !ok && name != "" {
			n.add(name)
		}
	}
	return n
}

// Lookup returns the table's string equal to b.
func (n *Names) Lookup(b []byte) (string, bool) {
	if n == nil || len(b) == 0 {
		return "", false
	}
	for _, name := range n.buckets[bucket(b)] {
		if name == string(b) { // compared in place: no conversion is allocated
			return name, true
		}
	}
	return "", false
}

// add puts name (not empty, not in the table) in the table.
func (n *Names) add(name string) {
	i := bucket([]byte(name))
	n.buckets[i] = append(n.buckets[i], name)
	n.n++
}

// bucket spreads names over the buckets: columns often share a first letter or a length,
// rarely all three.
func bucket(b []byte) uint8 {
	return (b[0] ^ b[len(b)-1]<<2 ^ uint8(len(b))*37) % nameBuckets
}
