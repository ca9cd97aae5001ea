package iceberg

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
	"weak"
)

// TestCommitterRounds: a round's answers from every member are committed in one snapshot;
// an answer after its round's commit and an urgent one (shard end, drain) are committed at
// once; a member that does not answer holds its round back only for the linger time, and
// one that left or joined after the round opened not at all. No assertion depends on how
// fast the machine is: where the committer must not wait for the linger, the linger is an
// hour and the answer must come within a minute.
func TestCommitterRounds(t *testing.T) {
	l := newLake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ct := ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	c, err := NewCommitter(ctx, CommitterConfig{Table: ct, Writer: "w1", Linger: time.Hour})
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
	// answered waits for a commit that must not wait for the (hour-long) linger.
	answered := func(what string, d chan error) {
		t.Helper()
		select {
		case err := <-d:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: not committed within a minute: the round waited for the linger", what)
		}
	}

	c.NextRound()
	if !a.Due() || !b.Due() || !idle.Due() {
		t.Fatal("members not due after NextRound")
	}
	da := shard(a, "shard-a", 1, false)
	db := shard(b, "shard-b", 1, false)
	idle.Pass()
	answered("a round of three answers", da)
	answered("a round of three answers", db)
	if n := snapshots(); n != 1 {
		t.Fatalf("%d snapshots after a round of two answers, want 1", n)
	}
	if a.Due() || idle.Due() {
		t.Fatal("members still due after answering")
	}

	// Urgent: committed without a round.
	answered("an urgent answer", shard(a, "shard-a", 3, true))
	if n := snapshots(); n != 2 {
		t.Fatalf("%d snapshots after an urgent answer, want 2", n)
	}

	// A member that leaves no longer holds rounds back.
	idle.Close()
	c.NextRound()
	a.Pass()
	answered("a round of the remaining members", shard(b, "shard-b", 3, false))
	// A member that joins while a round is open is not waited for.
	c.NextRound()
	late := c.Join()
	a.Pass()
	answered("a round with a member that joined after it opened", shard(b, "shard-b", 5, false))
	late.Close()

	// A round whose idle member never answers: committed after the linger time, not before.
	c2, err := NewCommitter(ctx, CommitterConfig{Table: ct, Writer: "w2", Linger: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := c2.Join(), c2.Join()
	start := time.Now() // before the round opens: the linger runs from then at the earliest
	c2.NextRound()
	if err := <-shard(m, "shard-c", 1, false); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Fatalf("committed after %s, before the linger time", waited)
	}

	got, _ := ct.Committed(ctx)
	last := func(i int) string { return seqs(events(t, "x", i, i, day1))[0] }
	if got["shard-a"] != last(4) || got["shard-b"] != last(6) || got["shard-c"] != last(2) {
		t.Fatalf("committed %v", got)
	}
	if st, st2 := c.Stats(), c2.Stats(); st.Snapshots != 4 || st.Refused != 0 || st2.Snapshots != 1 {
		t.Fatalf("stats %+v and %+v", st, st2)
	}
	rows, _ := scanned(t, ct)
	if len(rows["shard-a"]) != 4 || len(rows["shard-b"]) != 6 || len(rows["shard-c"]) != 2 || !slices.IsSorted(sorted(rows["shard-b"])) {
		t.Fatalf("scan %v", rows)
	}
}

// TestCommitterKeepsNothingAlive: a round's linger timer (an hour here) does not keep the
// committer, and so its tables and their caches, alive once its context has ended, whether
// the round's batch was taken before (no member: at once) or is still open. (Each round armed a timer that held the committer for the
// whole linger: the fault-injection test kept every scenario's world, 11 GiB at -count=20.)
func TestCommitterKeepsNothingAlive(t *testing.T) {
	l := newLake(t)
	ct := ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	for _, end := range []string{"batch taken", "context ended"} {
		t.Run(end, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := func() weak.Pointer[Committer] { // the committer's only reference ends with it
				c, err := NewCommitter(ctx, CommitterConfig{Table: ct, Writer: "w1", Linger: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if end == "context ended" {
					c.Join() // a member that never answers: the round stays open
				}
				c.NextRound()
				return weak.Make(c)
			}()
			cancel() // the committer's end; a batch taken before must not need it
			// The context's AfterFunc runs in a goroutine of its own: collect until it has.
			for i := 0; i < 1000 && p.Value() != nil; i++ {
				runtime.GC()
				runtime.Gosched()
			}
			if p.Value() != nil {
				t.Fatal("the committer is still alive")
			}
		})
	}
}
