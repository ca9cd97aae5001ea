package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := Config{WorkerID: "w"}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.FailoverTime != 10*time.Second || c.RenewInterval != 3*time.Second || c.TakeInterval != 5*time.Second ||
		c.ScanInterval != 30*time.Second || c.WriteConcurrency != 16 || c.ShardSyncInterval != time.Minute || c.InitialPosition != checkpoint.TrimHorizon || c.ParentCleanupGrace != time.Minute ||
		c.HandoffTimeout != 30*time.Second || c.MaxLeasesPerWorker != 0 || c.MaxStealsPerCycle != 1 || c.Logger == nil {
		t.Fatalf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no worker id", Config{}},
		{"renew not below failover", Config{WorkerID: "w", FailoverTime: time.Second, RenewInterval: time.Second}},
		{"bad position", Config{WorkerID: "w", InitialPosition: "AT_TIMESTAMP"}},
		{"negative cap", Config{WorkerID: "w", MaxLeasesPerWorker: -1}},
		{"negative steals", Config{WorkerID: "w", MaxStealsPerCycle: -1}},
		{"negative interval", Config{WorkerID: "w", ShardSyncInterval: -time.Second}},
	} {
		if _, err := tc.cfg.withDefaults(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestOneWorkerManyShards(t *testing.T) {
	h := newHarness(t)
	const shards, records = 20, 35
	for i := 0; i < shards; i++ {
		id := fmt.Sprintf("shard-%02d", i)
		h.stream.addShard(id)
		for j := 1; j <= records; j++ {
			h.stream.add(id, fmt.Sprintf("k%d", j%3), j)
		}
		h.stream.close(id)
	}
	w := h.start(fastConfig("w1"))
	// A finished shard is counted before its lease is released: wait for both.
	var all []lease.Lease
	waitFor(t, 20*time.Second, "every shard finished and released", func() bool {
		if w.c.Stats().ShardsFinished != shards {
			return false
		}
		var err error
		if all, err = h.table.List(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, l := range all {
			if l.Owner != "" {
				return false
			}
		}
		return true
	})
	for _, l := range all {
		if !l.Finished() || l.Owner != "" || l.Pending != nil {
			t.Errorf("lease %s after its shard ended: %+v", l.Key, l)
		}
	}
	for i := 0; i < shards; i++ {
		id := fmt.Sprintf("shard-%02d", i)
		got := h.seqs(id)
		if len(got) != records {
			t.Fatalf("%s: %d records delivered, want %d", id, len(got), records)
		}
		for j, s := range got {
			if s != fmt.Sprintf("%08d", j+1) {
				t.Fatalf("%s: record %d is %s", id, j, s)
			}
		}
	}
	if st := w.c.Stats(); st.Takes != shards || st.LeasesHeld != 0 || st.RenewFailures != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	h.noViolations()
}

// openShards adds n shards that stay open, each with records.
func openShards(h *harness, n, records int) []string {
	var ids []string
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("shard-%02d", i)
		h.stream.addShard(id)
		for j := 1; j <= records; j++ {
			h.stream.add(id, "k", j)
		}
		ids = append(ids, id)
	}
	return ids
}

// balanced reports whether every lease is owned by one of the workers and their loads differ
// by at most one.
func balanced(h *harness, shards int, workers ...string) bool {
	ok, _ := balancedLoads(h, shards, workers...)
	return ok
}

func balancedLoads(h *harness, shards int, workers ...string) (bool, map[string]int) {
	l := loads(h.owners())
	lo, hi, total := shards, 0, 0
	for _, w := range workers {
		lo, hi, total = min(lo, l[w]), max(hi, l[w]), total+l[w]
	}
	return total == shards && hi-lo <= 1, l
}

// TestWorkersStartedTogetherShareWithoutSteals: a new deployment of three workers on 30
// shards. Each one's first take cycle only marks it present, so at the second every worker
// counts three and takes 10 free leases: no worker grabs them all and no lease is stolen.
// (The take interval is 1 s so that the workers' starts, a few milliseconds apart, stay
// within one cycle on a loaded machine.)
func TestWorkersStartedTogetherShareWithoutSteals(t *testing.T) {
	h := newHarness(t)
	const n = 30
	openShards(h, n, 1)
	var ws []*running
	for _, id := range []string{"w1", "w2", "w3"} {
		cfg := fastConfig(id)
		cfg.TakeInterval, cfg.FailoverTime, cfg.RenewInterval = time.Second, 5*time.Second, time.Second
		ws = append(ws, h.start(cfg))
	}
	// A take is written to the table before the worker counts it: wait until each worker's
	// count has caught up with the leases the table says it owns, then read the stats.
	waitFor(t, 30*time.Second, "30 leases spread 10 each, every take counted", func() bool {
		ok, l := balancedLoads(h, n, "w1", "w2", "w3")
		for _, w := range ws {
			ok = ok && w.c.Stats().Takes >= int64(l[w.id])
		}
		return ok
	})
	for _, w := range ws {
		if st := w.c.Stats(); st.Steals != 0 || st.Takes != 10 {
			t.Errorf("%s: %+v, want 10 takes and no steal", w.id, st)
		}
	}
	for _, w := range ws {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	// A graceful stop deletes the worker's presence item.
	if snap, err := h.table.Scan(context.Background()); err != nil || len(snap.Workers) != 0 {
		t.Fatalf("presence after stop: %+v, %v", snap.Workers, err)
	}
	h.noViolations()
}

// TestLeasesLiveByTheirOwnersHeartbeat: nothing renews a lease; a peer's leases are alive
// while its heartbeat moves, however long their own counters stay still, and expired once its
// heartbeat has not moved for the failover time: then all of them are taken at once.
func TestLeasesLiveByTheirOwnersHeartbeat(t *testing.T) {
	h := newHarness(t)
	holdLeases(t, h, map[string]int{"peer": 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the processors of the leases taken
	if _, err := h.table.Heartbeat(ctx, "peer"); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("w1")
	cfg.Logger = testLogger()
	c, err := New(cfg, h.table, h.stream, &fakeProc{h: h, worker: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stopWatchdog()
	defer func() { cancel(); c.waitProcessors(nil) }() // no Run reads the processors' exits
	c.soft = ctx
	c.beat(ctx)
	c.takeCycle(ctx) // looks: sees the leases and the peer's heartbeat
	// Everything w1 saw last changed a failover time ago...
	for _, o := range c.seen {
		o.changedAt = o.changedAt.Add(-2 * cfg.FailoverTime)
	}
	// ...but the peer's heartbeat moves: its leases are alive.
	if _, err := h.table.Heartbeat(ctx, "peer"); err != nil {
		t.Fatal(err)
	}
	c.lookUntil = time.Now()
	c.wantScan.Store(true)
	c.takeCycle(ctx)
	if l := loads(h.owners()); l["peer"] != 2 {
		t.Fatalf("loads %v: the peer's leases were taken while its heartbeat moves", l)
	}
	// No heartbeat for the failover time: both leases are expired, and taken in one cycle.
	c.seen[lease.WorkerKeyPrefix+"peer"].changedAt = time.Now().Add(-cfg.FailoverTime)
	c.takeCycle(ctx)
	if l := loads(h.owners()); l["w1"] != 2 {
		t.Fatalf("loads %v: w1 should hold both expired leases of the gone peer", l)
	}
}

// TestEventHookMayReadStats: the coordinator never calls the OnEvent hook while it holds its
// lock. reconcile gave up a lease the table showed owned by another worker, and so emitted
// EventLost, under it: a hook that read Stats deadlocked at once, and TestZombieCannotCheckpoint
// hung in about 1 of 140 runs (its harness's hook waits for the harness lock, under which the
// test reads Stats).
func TestEventHookMayReadStats(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := h.table.CreateLease(ctx, "shard-00", nil, checkpoint.TrimHorizon); err != nil {
		t.Fatal(err)
	}
	h.stream.addShard("shard-00")
	var c *Coordinator
	lost := make(chan Stats, 1)
	cfg := fastConfig("w1")
	cfg.Logger = testLogger()
	cfg.OnEvent = func(e Event) {
		if e.Type == EventLost {
			lost <- c.Stats()
		}
	}
	c, err := New(cfg, h.table, h.stream, &fakeProc{h: h, worker: "w1"})
	if err != nil {
		t.Fatal(err)
	}
	hung := false
	defer func() {
		cancel()
		if !hung { // else the coordinator's lock is held for good
			c.waitProcessors(nil) // no Run reads the processors' exits
			c.stopWatchdog()
		}
	}()
	c.soft = ctx
	c.beat(ctx)
	c.takeCycle(ctx) // looks
	c.lookUntil = time.Now()
	c.wantScan.Store(true)
	c.takeCycle(ctx) // takes the free lease
	l, _, err := h.table.Get(ctx, "shard-00")
	if err != nil || l.Owner != "w1" {
		t.Fatalf("lease after w1's take: %+v, %v", l, err)
	}
	// Another worker takes it; w1's next scan shows it and gives it up.
	for {
		if _, err := h.table.Take(ctx, l, "intruder"); err == nil {
			break
		} else if !errors.Is(err, lease.ErrConflict) {
			t.Fatal(err)
		}
		if l, _, err = h.table.Get(ctx, "shard-00"); err != nil { // w1's processor wrote meanwhile
			t.Fatal(err)
		}
	}
	c.wantScan.Store(true)
	done := make(chan struct{})
	go func() {
		c.takeCycle(ctx)
		close(done)
	}()
	select {
	case st := <-lost:
		if st.LeasesHeld != 0 {
			t.Errorf("stats read by the hook: %+v, want no lease held", st)
		}
	case <-time.After(10 * time.Second):
		hung = true
		t.Fatal("no EventLost in 10 s: the hook's Stats call deadlocked on the coordinator's lock")
	}
	<-done
}

// TestGoneWorkersPresenceIsDeleted: the presence item of a worker that crashed (no heartbeat
// for three failover times) is deleted; the running worker's own stays.
func TestGoneWorkersPresenceIsDeleted(t *testing.T) {
	h := newHarness(t)
	openShards(h, 2, 1)
	ctx := context.Background()
	if _, err := h.table.Heartbeat(ctx, "ghost"); err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig("w1")
	cfg.FailoverTime, cfg.RenewInterval, cfg.TakeInterval = 500*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond
	cfg.ScanInterval = cfg.FailoverTime // the cleanup runs with the periodic scans
	w1 := h.start(cfg)
	var workers []string
	took := waitFor(t, 20*time.Second, "only w1 present", func() bool {
		snap, err := h.table.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		workers = workers[:0]
		for _, w := range snap.Workers {
			workers = append(workers, w.Owner)
		}
		return slices.Equal(workers, []string{"w1"})
	})
	if took < 3*cfg.FailoverTime {
		t.Fatalf("ghost deleted after %s, before three failover times (%s)", took, 3*cfg.FailoverTime)
	}
	if err := w1.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestThreeWorkersSpreadEvenly(t *testing.T) {
	h := newHarness(t)
	const n = 20
	openShards(h, n, 15)
	var ws []*running
	for _, id := range []string{"w1", "w2", "w3"} {
		ws = append(ws, h.start(fastConfig(id)))
	}
	var spread map[string]int
	took := waitFor(t, 30*time.Second, "leases spread within one of even", func() bool {
		var ok bool
		ok, spread = balancedLoads(h, n, "w1", "w2", "w3")
		return ok
	})
	t.Logf("spread 20 leases over 3 workers in %s: %v", took.Round(time.Millisecond), spread)
	// Every shard is being processed by exactly its owner.
	waitFor(t, 5*time.Second, "every shard processed by its owner", func() bool {
		owners := h.owners()
		h.mu.Lock()
		defer h.mu.Unlock()
		for s, o := range owners {
			if h.active[s] != o {
				return false
			}
		}
		return true
	})
	for _, w := range ws {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	h.noViolations()
	for s := 0; s < n; s++ {
		id := fmt.Sprintf("shard-%02d", s)
		if got := h.seqs(id); len(got) != 15 || got[len(got)-1] != fmt.Sprintf("%08d", 15) {
			t.Errorf("%s delivered %v", id, got)
		}
	}
}

func TestKilledWorkersShardsAreTakenOver(t *testing.T) {
	h := newHarness(t)
	const n = 12
	ids := openShards(h, n, 30)
	cfg := fastConfig("")
	var ws []*running
	for _, id := range []string{"w1", "w2", "w3"} {
		c := cfg
		c.WorkerID = id
		ws = append(ws, h.start(c))
	}
	waitFor(t, 30*time.Second, "balanced", func() bool { return balanced(h, n, "w1", "w2", "w3") })
	waitFor(t, 10*time.Second, "every record checkpointed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, id := range ids {
			if h.checkpoints[id] != fmt.Sprintf("%08d", 30) {
				return false
			}
		}
		return true
	})
	victim := ws[0]
	var theirs []string
	for s, o := range h.owners() {
		if o == victim.id {
			theirs = append(theirs, s)
		}
	}
	killedAt := time.Now()
	if err := victim.kill(); !errors.Is(err, ErrAborted) {
		t.Fatalf("killed worker's Run: %v", err)
	}
	// Records arrive while nobody reads the dead worker's shards.
	for _, id := range ids {
		for j := 31; j <= 40; j++ {
			h.stream.add(id, "k", j)
		}
	}
	// Worst case: a renewal just before the kill is first seen one take interval later,
	// expires FailoverTime after that and is found at the next take cycle.
	// The slack covers the DynamoDB calls of a loaded test machine.
	limit := cfg.FailoverTime + 2*cfg.TakeInterval + 1500*time.Millisecond
	waitFor(t, limit, "dead worker's leases taken", func() bool {
		owners := h.owners()
		for _, s := range theirs {
			if o := owners[s]; o == victim.id || o == "" {
				return false
			}
		}
		return true
	})
	t.Logf("%d leases of the killed worker taken over %s after the kill (failover %s, take interval %s, bound %s)",
		len(theirs), time.Since(killedAt).Round(time.Millisecond), cfg.FailoverTime, cfg.TakeInterval, limit)
	waitFor(t, 10*time.Second, "new records read", func() bool {
		for _, id := range ids {
			if got := h.seqs(id); len(got) != 40 {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		got := h.seqs(id)
		for j, s := range got {
			if s != fmt.Sprintf("%08d", j+1) {
				t.Fatalf("%s: delivery %d is %s: not resumed from the last checkpoint (%v)", id, j, s, got)
			}
		}
	}
	for _, w := range ws[1:] {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	h.noViolations()
}

func TestNewWorkerStealsItsShare(t *testing.T) {
	h := newHarness(t)
	const n = 12
	openShards(h, n, 5)
	w1 := h.start(fastConfig("w1"))
	w2 := h.start(fastConfig("w2"))
	waitFor(t, 30*time.Second, "two workers balanced", func() bool { return balanced(h, n, "w1", "w2") })
	joinedAt := time.Now()
	w3 := h.start(fastConfig("w3"))
	took := waitFor(t, 30*time.Second, "three workers balanced", func() bool { return balanced(h, n, "w1", "w2", "w3") })
	waitFor(t, 2*time.Second, "w3 adopted the leases handed to it", func() bool { return w3.c.Stats().LeasesHeld == 4 })
	t.Logf("a joining worker got its share (%v) %s after it started (table balanced after %s)",
		loads(h.owners()), time.Since(joinedAt).Round(time.Millisecond), took.Round(time.Millisecond))
	// On a quiet machine all 4 come from steals; on a starved one a late renewal may let a
	// lease expire, and taking it is then just as right.
	if st := w3.c.Stats(); st.Steals < 1 || st.Takes < 4 {
		t.Fatalf("new worker: %+v, want 4 leases taken, stolen", st)
	}
	t.Logf("new worker's stats: %+v", w3.c.Stats())
	// Settled: no more steals once balanced.
	before := w3.c.Stats().Steals + w1.c.Stats().Steals + w2.c.Stats().Steals
	settle := time.Now()
	waitFor(t, 5*time.Second, "a few take cycles", func() bool { return time.Since(settle) > 5*fastConfig("").TakeInterval })
	if after := w3.c.Stats().Steals + w1.c.Stats().Steals + w2.c.Stats().Steals; after != before || !balanced(h, n, "w1", "w2", "w3") {
		t.Fatalf("steals went on after balance: %d then %d", before, after)
	}
	for _, w := range []*running{w1, w2, w3} {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	h.noViolations()
	for s := 0; s < n; s++ {
		if got := h.seqs(fmt.Sprintf("shard-%02d", s)); len(got) != 5 {
			t.Errorf("shard-%02d: %d records delivered, want 5 once each (graceful handoff)", s, len(got))
		}
	}
}

func TestSplitChildrenWaitForParents(t *testing.T) {
	h := newHarness(t)
	// parent holds versions 1..60 of keys a, b, c; it splits into two children that carry
	// versions 61..90 (a, b in child-1; c in child-2).
	h.stream.addShard("parent")
	h.stream.addShard("child-1", "parent")
	h.stream.addShard("child-2", "parent")
	for v := 1; v <= 60; v++ {
		for _, k := range []string{"a", "b", "c"} {
			h.stream.add("parent", k, v)
		}
	}
	h.stream.close("parent")
	for v := 61; v <= 90; v++ {
		h.stream.add("child-1", "a", v)
		h.stream.add("child-1", "b", v)
		h.stream.add("child-2", "c", v)
	}
	h.stream.close("child-1")
	h.stream.close("child-2")
	// The cleanup of finished parents runs with the periodic scans.
	cfg := fastConfig("")
	cfg.ScanInterval = time.Second
	c1, c2 := cfg, cfg
	c1.WorkerID, c2.WorkerID = "w1", "w2"
	w1 := h.start(c1)
	w2 := h.start(c2)
	waitFor(t, 20*time.Second, "all shards finished", func() bool {
		return w1.c.Stats().ShardsFinished+w2.c.Stats().ShardsFinished == 3
	})
	h.mu.Lock()
	parentEnd := h.endedAt["parent"]
	for _, c := range []string{"child-1", "child-2"} {
		for _, at := range h.startedAt[c] {
			if at.Before(parentEnd) {
				t.Errorf("%s processing started %s before the parent's SHARD_END", c, parentEnd.Sub(at))
			}
		}
		if a := h.assignments[c]; len(a) == 0 || a[0].Checkpoint != checkpoint.TrimHorizon || len(a[0].ParentShardIDs) != 1 {
			t.Errorf("%s assignments: %+v", c, a)
		}
	}
	last := map[string]int{}
	for _, d := range h.deliveries {
		for _, r := range d.recs {
			if r.version != last[r.key]+1 {
				t.Fatalf("key %s: version %d delivered after %d", r.key, r.version, last[r.key])
			}
			last[r.key] = r.version
		}
	}
	h.mu.Unlock()
	if last["a"] != 90 || last["b"] != 90 || last["c"] != 90 {
		t.Fatalf("last versions: %v", last)
	}
	// The finished parent's lease is cleaned up once the children were taken; the children's
	// leases stay (they have no children yet).
	waitFor(t, 10*time.Second, "parent lease deleted", func() bool {
		_, ok := h.owners()["parent"]
		return !ok
	})
	if owners := h.owners(); len(owners) != 2 {
		t.Fatalf("leases left: %v", owners)
	}
	// Shard sync must not recreate the parent's lease while the stream still lists it.
	sync := time.Now()
	waitFor(t, 5*time.Second, "two shard syncs", func() bool { return time.Since(sync) > 2*fastConfig("").ShardSyncInterval })
	if _, ok := h.owners()["parent"]; ok {
		t.Fatal("shard sync recreated a cleaned-up parent's lease")
	}
	for _, w := range []*running{w1, w2} {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	h.noViolations()
}

func TestZombieCannotCheckpoint(t *testing.T) {
	h := newHarness(t)
	openShards(h, 1, 5)
	cfg := fastConfig("w1")
	cfg.ScanInterval = time.Second // nobody tells w1: it learns from its next read of the table
	w1 := h.start(cfg)
	waitFor(t, 10*time.Second, "w1 checkpointed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.checkpoints["shard-00"] == fmt.Sprintf("%08d", 5)
	})
	h.mu.Lock()
	zombie := h.assignments["shard-00"][0].Checkpointer
	h.mu.Unlock()

	// Another worker takes the lease by a conditional write on the counter it read.
	ctx := context.Background()
	l, _, err := h.table.Get(ctx, "shard-00")
	if err != nil {
		t.Fatal(err)
	}
	for {
		held, err := h.table.Take(ctx, l, "intruder")
		if err == nil {
			if err := held.Checkpoint(ctx, "00000005"); err != nil {
				t.Fatal(err)
			}
			break
		}
		// w1 wrote in between: read again.
		if l, _, err = h.table.Get(ctx, "shard-00"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, cfg.ScanInterval+2*cfg.TakeInterval+time.Second, "w1 noticed the loss and stopped its processor", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return w1.c.Stats().LeasesLost == 1 && h.active["shard-00"] == ""
	})
	for _, op := range []func() error{
		func() error { return zombie.Checkpoint(ctx, "00000009") },
		func() error { return zombie.SaveIntent(ctx, checkpoint.Intent{Key: "zombie"}) },
		func() error { return zombie.ShardEnd(ctx) },
	} {
		if err := op(); !errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("zombie write: %v, want ErrLeaseLost", err)
		}
	}
	got, _, err := h.table.Get(ctx, "shard-00")
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "intruder" || got.Checkpoint != "00000005" || got.Pending != nil {
		t.Fatalf("new owner's lease: %+v", got)
	}
	if err := w1.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestGracefulShutdownReleasesLeases(t *testing.T) {
	h := newHarness(t)
	const n = 6
	openShards(h, n, 12)
	cfg := fastConfig("")
	cfg.FailoverTime = 4 * time.Second
	c1, c2 := cfg, cfg
	c1.WorkerID, c2.WorkerID = "w1", "w2"
	w1, w2 := h.start(c1), h.start(c2)
	waitFor(t, 30*time.Second, "balanced", func() bool { return balanced(h, n, "w1", "w2") })
	waitFor(t, 10*time.Second, "every record checkpointed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for s := 0; s < n; s++ {
			if h.checkpoints[fmt.Sprintf("shard-%02d", s)] != fmt.Sprintf("%08d", 12) {
				return false
			}
		}
		return true
	})
	var theirs []string
	for s, o := range h.owners() {
		if o == "w1" {
			theirs = append(theirs, s)
		}
	}
	stopped := time.Now()
	if err := w1.stop(); err != nil {
		t.Fatal(err)
	}
	owners := h.owners()
	for _, s := range theirs {
		if o := owners[s]; o != "" && o != "w2" {
			t.Fatalf("after w1's shutdown %s is owned by %q", s, o)
		}
	}
	took := waitFor(t, cfg.FailoverTime, "w2 took w1's leases", func() bool { return loads(h.owners())["w2"] == n })
	t.Logf("w2 took the %d released leases %s after w1 was asked to stop (failover %s)", len(theirs),
		time.Since(stopped).Round(time.Millisecond), cfg.FailoverTime)
	if took >= cfg.FailoverTime {
		t.Fatalf("took %s: as slow as an expiry", took)
	}
	if err := w2.stop(); err != nil {
		t.Fatal(err)
	}
	h.noViolations()
	for s := 0; s < n; s++ {
		if got := h.seqs(fmt.Sprintf("shard-%02d", s)); len(got) != 12 {
			t.Errorf("shard-%02d: %d records delivered, want 12 once each", s, len(got))
		}
	}
}

func TestProcessorErrorRestartsFromCheckpoint(t *testing.T) {
	h := newHarness(t)
	openShards(h, 1, 25)
	h.failOnce["shard-00"] = true
	w := h.start(fastConfig("w1"))
	waitFor(t, 10*time.Second, "every record delivered", func() bool { return len(h.seqs("shard-00")) >= 25 })
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	got := h.seqs("shard-00")
	for j, s := range got {
		if s != fmt.Sprintf("%08d", j+1) {
			t.Fatalf("delivery %d is %s: %v", j, s, got)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	as := h.assignments["shard-00"]
	if len(as) != 2 || as[0].Checkpoint != checkpoint.TrimHorizon || as[1].Checkpoint != "00000010" {
		t.Fatalf("assignments: %+v, want a restart from 00000010", as)
	}
	if st := w.c.Stats(); st.LeasesLost != 0 || st.Takes != 1 {
		t.Fatalf("stats: %+v: the lease must be kept across a processor failure", st)
	}
}

// joinCycle runs one balancing take cycle of a worker "joiner" that has just started, against a table
// where each of owners holds as many leases as it maps to (none expired yet on the joiner's
// clock: it has just seen them), and returns per owner how many leases the joiner asked for.
// The joiner's earlier requests stay: a later call sees them pending.
func joinCycle(t *testing.T, h *harness, maxSteals int) map[string]int {
	t.Helper()
	ctx := context.Background()
	cfg := fastConfig("joiner")
	cfg.MaxStealsPerCycle, cfg.Logger = maxSteals, testLogger()
	c, err := New(cfg, h.table, h.stream, &fakeProc{h: h, worker: "joiner"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.stopWatchdog()
	c.beat(ctx)
	c.soft, c.lookUntil = ctx, time.Now() // it has looked already
	c.takeCycle(ctx)
	leases, err := h.table.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	asked := map[string]int{}
	for _, l := range leases {
		if l.HandoffTo == "joiner" {
			asked[l.Owner]++
		}
	}
	return asked
}

// holdLeases creates the leases of a table held by stopped workers: owners[w] each.
func holdLeases(t *testing.T, h *harness, owners map[string]int) {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, w := range slices.Sorted(maps.Keys(owners)) {
		for range owners[w] {
			key := fmt.Sprintf("shard-%02d", n)
			n++
			h.stream.addShard(key)
			if _, err := h.table.CreateLease(ctx, key, nil, checkpoint.TrimHorizon); err != nil {
				t.Fatal(err)
			}
			l, _, err := h.table.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := h.table.Take(ctx, l, w); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestMaxStealsPerCycle(t *testing.T) {
	h := newHarness(t)
	holdLeases(t, h, map[string]int{"w1": 6, "w2": 6})
	// The default asks for one lease per cycle.
	if got := joinCycle(t, h, 0); got["w1"]+got["w2"] != 1 {
		t.Fatalf("default: handoffs asked %v, want 1", got)
	}
	// Up to 8 per cycle: the joiner's target is ceil(12/3) = 4 and the pending request counts
	// for it, so it asks for 3 more, each time of the most loaded owner.
	if got := joinCycle(t, h, 8); got["w1"] != 2 || got["w2"] != 2 {
		t.Fatalf("8 per cycle: handoffs asked %v, want 2 of w1 and 2 of w2", got)
	}
}

// TestJoinerStealsFromWorkersAtTarget: 9 leases held 3+3+3, a fourth worker joins. Its target
// is ceil(9/4) = 3 and nobody is above it, yet 3+3+3+0 is not balanced: a worker two or more
// below the target takes from one at the target, until every load is within one.
func TestJoinerStealsFromWorkersAtTarget(t *testing.T) {
	h := newHarness(t)
	holdLeases(t, h, map[string]int{"w1": 3, "w2": 3, "w4": 3})
	if got := joinCycle(t, h, 0); len(got) != 1 {
		t.Fatalf("first cycle: handoffs asked %v, want 1", got)
	}
	// One pending (it counts for the joiner): 1 is still two below 3, so one more, of another
	// owner; then 2+2+3+2 (pending counted) is balanced and it stops though 8 are allowed.
	got := joinCycle(t, h, 8)
	if len(got) != 2 || got["w1"] > 1 || got["w2"] > 1 || got["w4"] > 1 {
		t.Fatalf("second cycle: handoffs asked %v, want one of each of two owners", got)
	}
	if again := joinCycle(t, h, 8); !maps.Equal(again, got) {
		t.Fatalf("third cycle: handoffs asked %v, want no more than %v", again, got)
	}
}

func TestMaxLeasesPerWorker(t *testing.T) {
	h := newHarness(t)
	const n = 5
	openShards(h, n, 1)
	capped := fastConfig("w1")
	capped.MaxLeasesPerWorker = 3
	w1 := h.start(capped)
	waitFor(t, 10*time.Second, "w1 at its cap", func() bool { return loads(h.owners())["w1"] == 3 })
	w2 := h.start(fastConfig("w2"))
	waitFor(t, 10*time.Second, "w2 took the free leases", func() bool { return loads(h.owners())["w2"] == 2 })
	// w2's target is ceil(5/2) = 3, but w1 is not above it: no steal, ever.
	settle := time.Now()
	waitFor(t, 5*time.Second, "a few take cycles", func() bool { return time.Since(settle) > 4*capped.TakeInterval })
	if l := loads(h.owners()); l["w1"] != 3 || l["w2"] != 2 || w2.c.Stats().Steals != 0 {
		t.Fatalf("loads %v, w2 %+v", l, w2.c.Stats())
	}
	for _, w := range []*running{w1, w2} {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	h.noViolations()
}

func TestUnreachableTableStopsProcessingBeforeFailover(t *testing.T) {
	h := newHarness(t)
	const n = 3
	openShards(h, n, 2)
	cfg := fastConfig("w1")
	w := h.start(cfg)
	waitFor(t, 10*time.Second, "all shards read to their tip", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.active) == n && h.checkpoints["shard-00"] != "" && h.checkpoints["shard-01"] != "" && h.checkpoints["shard-02"] != ""
	})
	h.calls.down.Store(true)
	// Other workers may take the leases FailoverTime after they last saw them renewed, which
	// is after the cut: the worker must have stopped every processor by then.
	took := waitFor(t, cfg.FailoverTime, "processors stopped", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.active) == 0
	})
	t.Logf("processors stopped %s after DynamoDB became unreachable (failover %s)", took.Round(time.Millisecond), cfg.FailoverTime)
	if st := w.c.Stats(); st.LeasesLost != n || st.RenewFailures == 0 {
		t.Fatalf("stats: %+v", st)
	}
	// It gives up at the first renewal tick within one interval of the failover time after
	// its last successful renewal (at most one interval before the cut).
	if took < cfg.FailoverTime-3*cfg.RenewInterval {
		t.Fatalf("gave up after %s: too early for a %s failover", took, cfg.FailoverTime)
	}
	// Back again: nobody else took the leases, so the worker adopts them and goes on.
	h.calls.down.Store(false)
	waitFor(t, 10*time.Second, "processing again", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.active) == n
	})
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	h.noViolations()
}

// TestWorkerCutOffFromTheTable: DynamoDB becomes unreachable from w1 only. w1 cannot write
// its heartbeat, so it stops every processor by itself before w2 may judge it gone; w2 then
// takes all its leases at once and reads what arrived meanwhile. Never do two processors run
// one shard, and every record is delivered once. When w1 is back, its leases are gone; it
// gets its share again by steals.
func TestWorkerCutOffFromTheTable(t *testing.T) {
	h := newHarness(t)
	const n = 6
	ids := openShards(h, n, 5)
	cfg := fastConfig("")
	c1, c2 := cfg, cfg
	c1.WorkerID, c2.WorkerID = "w1", "w2"
	w1, cut := h.startCutOff(c1)
	w2 := h.start(c2)
	waitFor(t, 30*time.Second, "balanced", func() bool { return balanced(h, n, "w1", "w2") })
	waitFor(t, 10*time.Second, "every record checkpointed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, id := range ids {
			if h.checkpoints[id] != fmt.Sprintf("%08d", 5) {
				return false
			}
		}
		return true
	})
	cutAt := time.Now()
	cut.down.Store(true)
	for _, id := range ids {
		for j := 6; j <= 10; j++ {
			h.stream.add(id, "k", j)
		}
	}
	took := waitFor(t, cfg.FailoverTime+2*cfg.TakeInterval+2*time.Second, "w2 holds every lease", func() bool {
		return loads(h.owners())["w2"] == n
	})
	if took < cfg.FailoverTime-cfg.RenewInterval {
		t.Fatalf("w2 took w1's leases %s after the cut: before w1's last heartbeat could be %s old", took, cfg.FailoverTime)
	}
	waitFor(t, 10*time.Second, "every record delivered", func() bool {
		for _, id := range ids {
			if len(h.seqs(id)) < 10 {
				return false
			}
		}
		return true
	})
	t.Logf("w2 held all %d leases %s after w1 was cut off (failover %s)", n, time.Since(cutAt).Round(time.Millisecond), cfg.FailoverTime)
	for _, id := range ids {
		if got := h.seqs(id); len(got) != 10 || got[9] != fmt.Sprintf("%08d", 10) {
			t.Fatalf("%s: delivered %v, want 1..10 once each", id, got)
		}
	}
	if st := w1.c.Stats(); st.LeasesLost == 0 || st.RenewFailures == 0 {
		t.Fatalf("w1: %+v", st)
	}
	cut.down.Store(false)
	waitFor(t, 30*time.Second, "balanced again with w1 back", func() bool { return balanced(h, n, "w1", "w2") })
	for _, w := range []*running{w1, w2} {
		if err := w.stop(); err != nil {
			t.Fatal(err)
		}
	}
	h.noViolations()
}

// TestManyLeasesTakenConcurrently: a worker starting on many free leases takes them several
// at a time (WriteConcurrency), not one round trip after the other.
func TestManyLeasesTakenConcurrently(t *testing.T) {
	h := newHarness(t)
	const n = 120
	for _, id := range openShards(h, n, 0) {
		if _, err := h.table.CreateLease(context.Background(), id, nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
	}
	slow := &slowWrites{DynamoDB: h.calls, delay: 20 * time.Millisecond}
	cfg := fastConfig("w1")
	cfg.WriteConcurrency = 8
	w := h.startOn(cfg, lease.NewTable(slow, h.table.Name()))
	waitFor(t, 30*time.Second, "every lease taken", func() bool { return w.c.Stats().LeasesHeld == n })
	h.mu.Lock()
	var first, last time.Time
	for _, e := range h.events {
		if e.Type == EventTaken {
			if first.IsZero() {
				first = e.Time
			}
			last = e.Time
		}
	}
	h.mu.Unlock()
	t.Logf("%d leases taken in %s, at most %d writes in flight (20 ms each; one after the other: %s)",
		n, last.Sub(first).Round(time.Millisecond), slow.max.Load(), n*slow.delay)
	if m := slow.max.Load(); m < 2 || m > int64(cfg.WriteConcurrency)+1 { // +1: the heartbeat
		t.Fatalf("at most %d writes in flight, want 2..%d", m, cfg.WriteConcurrency+1)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
}

// slowWrites delays every UpdateItem and records how many were in flight at most.
type slowWrites struct {
	lease.DynamoDB
	delay         time.Duration
	inFlight, max atomic.Int64
}

func (d *slowWrites) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	n := d.inFlight.Add(1)
	defer d.inFlight.Add(-1)
	for {
		m := d.max.Load()
		if n <= m || d.max.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(d.delay)
	return d.DynamoDB.UpdateItem(ctx, in, o...)
}

// TestSteadyStateWritesOnlyHeartbeats: once the leases are spread and the processors idle,
// the only writes are the workers' heartbeats, and the only reads those of one another's
// heartbeat (the periodic scan is off in fastConfig): a strongly consistent read of the presence
// items for a large table, a strongly consistent scan for a small one, whichever costs less.
func TestSteadyStateWritesOnlyHeartbeats(t *testing.T) {
	for _, tc := range []struct {
		shards int
		read   string // the read of each take cycle
	}{{20, "Scan"}, {400, "BatchGetItem"}} {
		t.Run(fmt.Sprintf("%d shards", tc.shards), func(t *testing.T) {
			h := newHarness(t)
			openShards(h, tc.shards, 0)
			w1, w2 := h.start(fastConfig("w1")), h.start(fastConfig("w2"))
			waitFor(t, 30*time.Second, "balanced", func() bool { return balanced(h, tc.shards, "w1", "w2") })
			waitFor(t, 10*time.Second, "every processor started", func() bool {
				return w1.c.Stats().LeasesHeld+w2.c.Stats().LeasesHeld == tc.shards
			})
			// The window starts a few take cycles after the last take (a take makes the next
			// cycle read the table).
			settle := time.Now()
			waitFor(t, 5*time.Second, "settled", func() bool { return time.Since(settle) > 3*fastConfig("").TakeInterval })
			h.calls.on.Store(true)
			start := time.Now()
			const window = 3 * time.Second
			waitFor(t, 2*window, "measurement window", func() bool { return time.Since(start) >= window })
			h.calls.on.Store(false)
			got := h.calls.snapshot()
			beats := float64(window) / float64(fastConfig("").RenewInterval) * 2
			t.Logf("calls in %s: %v, %.1f read units (about %.0f heartbeats expected)", window, got.calls, got.rcu, beats)
			for op, k := range got.calls {
				switch op {
				case "UpdateItem(presence)":
					if float64(k) < beats/2 || float64(k) > beats*1.5 {
						t.Errorf("%d heartbeats in %s, want about %.0f", k, window, beats)
					}
				case tc.read:
				default:
					t.Errorf("%d calls of %s in steady state, want none", k, op)
				}
			}
			// Each cycle reads one presence item (one unit), or a scan that costs no more.
			if cycles := got.calls[tc.read]; cycles == 0 || got.rcu > float64(cycles) {
				t.Errorf("%.1f read units in %d reads, want at most one each", got.rcu, cycles)
			}
			for _, w := range []*running{w1, w2} {
				if err := w.stop(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
