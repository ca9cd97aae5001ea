package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Closest returns known sorted by how close each is to name (edit distance, ignoring case),
// the closest first; names as close keep their order in known. The consumer names the
// setting a mistyped variable or flag meant, the CDK app the context parameter.
func Closest(name string, known []string) []string {
	type scored struct {
		name string
		d    int
	}
	s := make([]scored, len(known))
	for i, k := range known {
		s[i] = scored{k, distance(strings.ToLower(name), strings.ToLower(k))}
	}
	slices.SortStableFunc(s, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = x.name
	}
	return out
}

// distance is the Levenshtein distance between a and b, with a swap of two adjacent
// characters counted as one edit (FORAMT is one edit from FORMAT).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j]; three rows suffice.
	prev2, prev, cur := make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// TestEnvPrefix starts the variables of the repository's own tests (CDC_TEST_DYNALITE...):
// the consumer ignores them, and refuses any other unknown CDC_ variable.
const TestEnvPrefix = "CDC_TEST_"

// CheckEnviron reports every variable of environ (KEY=value items, as os.Environ gives them)
// that starts with CDC_ and is set, but is no setting of the consumer: a mistyped name
// (CDC_FORAMT=avro) would otherwise leave the default in force without a word. Each error
// names the closest setting.
func CheckEnviron(environ []string) error {
	var known []string
	for _, s := range table {
		known = append(known, s.Env)
	}
	var errs []error
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "CDC_") || strings.HasPrefix(name, TestEnvPrefix) || value == "" || slices.Contains(known, name) {
			continue
		}
		errs = append(errs, fmt.Errorf("%s: not a setting of the consumer; did you mean %s? (--help lists them all)", name, Closest(name, known)[0]))
	}
	return errors.Join(errs...)
}

// unknownFlag adds the closest flag to the flag package's "flag provided but not defined: -x".
func unknownFlag(err error) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return err
	}
	var known []string
	for _, s := range table {
		known = append(known, s.Flag)
	}
	return fmt.Errorf("%w; did you mean --%s?", err, Closest(strings.TrimLeft(name, "-"), known)[0])
}
