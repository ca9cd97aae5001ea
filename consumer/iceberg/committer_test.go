package iceberg

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestCommitterRounds: a round's answers from every member are committed in one snapshot;
// an answer after its round's commit and an urgent one (shard end, drain) are committed at
// once; a member that does not answer holds its round back only for the linger time.
func TestCommitterRounds(t *testing.T) {
	l := newLake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ct := ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	c, err := NewCommitter(ctx, CommitterConfig{Table: ct, Writer: "w1", Linger: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a, b, idle := c.Join(), c.Join(), c.Join()
	snapshots := func() int { return len(ct.Table().Metadata().Snapshots()) }
	shard := func(m *Member, name string, first int, now bool) chan error {
		evs := events(t, name, first, first+1, day1)
		df := l.writeFile(t, ct, evs)
		done := make(chan error, 1)
		go func() {
			prev := ""
			if first > 1 {
				prev = seqs(events(t, name, first-1, first-1, day1))[0]
			}
			res, err := m.Commit(ctx, ShardCommit{ShardID: name, Prev: prev, Last: evs[1].SequenceNumber, Files: []DataFile{df}}, now)
			if err == nil && !res.Committed {
				err = fmt.Errorf("%s not committed: %+v", name, res)
			}
			done <- err
		}()
		return done
	}

	c.NextRound()
	if !a.Due() || !b.Due() || !idle.Due() {
		t.Fatal("members not due after NextRound")
	}
	da := shard(a, "shard-a", 1, false)
	time.Sleep(50 * time.Millisecond)
	if snapshots() != 0 {
		t.Fatal("committed before every member answered")
	}
	db := shard(b, "shard-b", 1, false)
	idle.Pass()
	for _, d := range []chan error{da, db} {
		if err := <-d; err != nil {
			t.Fatal(err)
		}
	}
	if n := snapshots(); n != 1 {
		t.Fatalf("%d snapshots after a round of two answers, want 1", n)
	}
	if a.Due() || idle.Due() {
		t.Fatal("members still due after answering")
	}

	// Urgent: committed without a round.
	if err := <-shard(a, "shard-a", 3, true); err != nil {
		t.Fatal(err)
	}
	if n := snapshots(); n != 2 {
		t.Fatalf("%d snapshots after an urgent answer, want 2", n)
	}

	// A round whose idle member never answers: committed after the linger time.
	c.NextRound()
	start := time.Now()
	if err := <-shard(b, "shard-b", 3, false); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("committed after %s, before the linger time", waited)
	}
	// A member that leaves no longer holds rounds back.
	idle.Close()
	c.NextRound()
	a.Pass()
	start = time.Now()
	if err := <-shard(b, "shard-b", 5, false); err != nil || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("round of the remaining members: %v after %s", err, time.Since(start))
	}
	// A member that joins while a round is open is not waited for.
	c.NextRound()
	late := c.Join()
	a.Pass()
	start = time.Now()
	if err := <-shard(b, "shard-b", 7, false); err != nil || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("round with a member that joined after it opened: %v after %s", err, time.Since(start))
	}
	late.Close()
	got, _ := ct.Committed(ctx)
	if got["shard-a"] != seqs(events(t, "x", 4, 4, day1))[0] || got["shard-b"] != seqs(events(t, "x", 8, 8, day1))[0] {
		t.Fatalf("committed %v", got)
	}
	st := c.Stats()
	if st.Snapshots != 5 || st.Refused != 0 {
		t.Fatalf("stats %+v", st)
	}
	rows, _ := scanned(t, ct)
	if len(rows["shard-a"]) != 4 || len(rows["shard-b"]) != 8 || !slices.IsSorted(sorted(rows["shard-b"])) {
		t.Fatalf("scan %v", rows)
	}
}
