package streams

import "strings"

// CompareSequenceNumbers orders two sequence numbers numerically: they are decimal strings
// of any length, leading zeros ignored. It returns -1, 0 or 1.
func CompareSequenceNumbers(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
