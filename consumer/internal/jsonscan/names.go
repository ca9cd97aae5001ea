package jsonscan

// Names is a fixed set of member names that a Scanner returns as its own strings, so reading
// a document's usual member names allocates nothing. It is a table by first byte, not a map:
// a record has dozens of member names, and comparing a name against the few that share its
// first byte costs a fraction of hashing it (a map lookup was a tenth of a JSON worker's CPU).
// A Names is read-only once built and may be shared by any number of Scanners.
type Names struct {
	byFirst [256][]string
}

// NewNames returns the table of names (duplicates are kept once; the empty name is ignored).
func NewNames(names ...string) *Names {
	n := &Names{}
	for _, name := range names {
		if name == "" {
			continue
		}
		if _, ok := n.Lookup([]byte(name)); !ok {
			n.byFirst[name[0]] = append(n.byFirst[name[0]], name)
		}
	}
	return n
}

// Lookup returns the table's string equal to b.
func (n *Names) Lookup(b []byte) (string, bool) {
	if n == nil || len(b) == 0 {
		return "", false
	}
	for _, name := range n.byFirst[b[0]] {
		if name == string(b) { // compared in place: no conversion is allocated
			return name, true
		}
	}
	return "", false
}
