package iceberg

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
)

// BenchmarkMirrorCommit: one mirror commit of a round of 1,000 updated keys, spread at random
// over a table of 100,000 rows (position deletes: the commit reads the data files whose
// statistics may hold a changed key, and writes delete files and one data file).
//
//	go test -run '^$' -bench BenchmarkMirrorCommit -benchtime 5x ./consumer/iceberg
func BenchmarkMirrorCommit(b *testing.B) {
	const rows, changed = 100_000, 1_000
	l := newLake(b)
	w := &mirrorWriter{t: b, mt: newMirror(b, l.open(b)), ks: &recordtest.FakeKeyspaces{}, shard: "shard-1", writer: "w1"}
	// The table: 100 commits of 1,000 rows each (as many data files).
	for f := 0; f < rows/changed; f++ {
		cs := make([]change, changed)
		for i := range cs {
			cs[i] = change{i: f*changed + i, text: "v0", static: "s"}
		}
		w.commit(cs...)
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		cs := make([]change, changed)
		for i := range cs {
			cs[i] = change{i: rnd.IntN(rows), text: "v1", static: "s"}
		}
		parts, last := w.rows(cs...)
		b.StartTimer()
		res, err := w.mt.Commit(context.Background(), "w1", []ShardCommit{{ShardID: w.shard, Prev: w.prev, Last: last, Rows: parts}})
		if err != nil || len(res.Committed) != 1 {
			b.Fatal(res, err)
		}
		w.prev = last
	}
}
