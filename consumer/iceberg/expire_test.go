package iceberg

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestSnapshotExpiry: expiry removes the snapshots older than its age but the current one,
// in one commit, and nothing when none is that old; the data stays readable and no file is
// deleted. A shard whose summary entry went with an expired snapshot reads as not committed,
// so a writer still holding its old Prev is refused (it restarts from the lease checkpoint)
// and one starting from the table commits.
func TestSnapshotExpiry(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	ct := ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	last := func(i int) string { return seqs(events(t, "x", i, i, day1))[0] }
	commit := func(shard string, first int, prev string) CommitResult {
		t.Helper()
		evs := events(t, shard, first, first+1, day1)
		res, err := ct.Commit(ctx, "w1", []ShardCommit{{ShardID: shard, Prev: prev, Last: evs[1].SequenceNumber,
			Files: []DataFile{l.writeFile(t, ct, evs)}}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	commit("shard-b", 1, "")
	firstList := ct.Table().CurrentSnapshot().ManifestList
	commit("shard-a", 1, "")
	commit("shard-a", 3, last(2))

	before := ct.Table().MetadataLocation()
	if n, err := ct.ExpireSnapshots(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("expiry of snapshots an hour old: removed %d, %v; want none", n, err)
	}
	if ct.Table().MetadataLocation() != before {
		t.Fatal("an expiry with nothing to expire committed")
	}
	if n, err := ct.ExpireSnapshots(ctx, time.Nanosecond); err != nil || n != 2 {
		t.Fatalf("expiry of every old snapshot: removed %d, %v; want 2", n, err)
	}

	other := ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	if got, err := other.Committed(ctx); err != nil || len(got) != 1 || got["shard-a"] != last(4) {
		t.Fatalf("committed after expiry: %v, %v; want shard-a only, at %s", got, err, last(4))
	}
	if n := len(other.Table().Metadata().Snapshots()); n != 1 {
		t.Fatalf("%d snapshots after expiry, want 1", n)
	}
	if rows, _ := scanned(t, other); len(rows["shard-a"]) != 4 || len(rows["shard-b"]) != 2 {
		t.Fatalf("scan after expiry: %v", rows)
	}
	if _, err := os.Stat(l.local(t, firstList)); err != nil {
		t.Fatalf("an expired snapshot's manifest list was deleted (the orphan-file cleanup's job): %v", err)
	}

	if res := commit("shard-b", 3, last(2)); len(res.Committed) != 0 || res.Refused["shard-b"] != "" {
		t.Fatalf("a commit after the shard's entry expired, with its old Prev: %+v; want refused, the table holding nothing", res)
	}
	if res := commit("shard-b", 3, ""); len(res.Committed) != 1 {
		t.Fatalf("a commit starting from the table: %+v", res)
	}
}

// TestCommitterExpires: with a retention, the committer expires old snapshots after its
// commits, at most once per ExpireEvery, and counts them.
func TestCommitterExpires(t *testing.T) {
	l := newLake(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ct := ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	c, err := NewCommitter(ctx, CommitterConfig{Table: ct, Writer: "w1", SnapshotRetention: time.Nanosecond,
		ExpireEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	m := c.Join()
	defer m.Close()
	prev := ""
	for i := 1; i <= 7; i += 2 {
		evs := events(t, "shard-a", i, i+1, day1)
		res, err := m.Commit(ctx, ShardCommit{ShardID: "shard-a", Prev: prev, Last: evs[1].SequenceNumber,
			Files: []DataFile{l.writeFile(t, ct, evs)}}, true)
		if err != nil || !res.Committed {
			t.Fatalf("commit %d: %+v, %v", i, res, err)
		}
		prev = evs[1].SequenceNumber
		st := c.Stats() // after the expiry that followed the commit (Stats waits for it)
		if n := len(ct.Table().Metadata().Snapshots()); n != 1 || st.Expired != int64(i/2) || st.ExpireErrors != 0 {
			t.Fatalf("after commit %d: %d snapshots, stats %+v; want 1 snapshot, %d expired", i, n, st, i/2)
		}
	}
	if rows, _ := scanned(t, ct); len(rows["shard-a"]) != 8 {
		t.Fatalf("scan: %v", rows)
	}
}
