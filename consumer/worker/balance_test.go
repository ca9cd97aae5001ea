package worker

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// The balancing arithmetic alone: no lease table, no clock.

// shardLease is an open lease; owner "" leaves it free.
func shardLease(key, owner string) lease.Lease { return lease.Lease{Key: key, Owner: owner} }

// handingOver is a lease of owner that to asked for.
func handingOver(key, owner, to string) lease.Lease {
	return lease.Lease{Key: key, Owner: owner, HandoffTo: to}
}

// finishedLease is a lease read to SHARD_END.
func finishedLease(key, owner string) lease.Lease {
	return lease.Lease{Key: key, Owner: owner, Checkpoint: checkpoint.ShardEnd}
}

// shardLeases are n open leases of owner, keyed prefix0, prefix1, ...
func shardLeases(prefix, owner string, n int) []lease.Lease {
	out := make([]lease.Lease, n)
	for i := range out {
		out[i] = shardLease(fmt.Sprintf("%s%d", prefix, i), owner)
	}
	return out
}

// presence are the presence items of the workers.
func presence(workers ...string) []lease.Lease {
	out := make([]lease.Lease, len(workers))
	for i, w := range workers {
		out[i] = lease.Lease{Key: lease.WorkerKeyPrefix + w, Owner: w}
	}
	return out
}

func keySet(keys ...string) map[string]bool {
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = true
	}
	return out
}

func keysOf(ls []lease.Lease) []string {
	out := []string{}
	for _, l := range ls {
		out = append(out, l.Key)
	}
	return out
}

func TestPlanBalance(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   balanceInput
		// want
		live         []string
		load         map[string]int
		open, target int
		mine         int
		free, stale  []string
	}{{
		name: "alone on free leases: take them all",
		in:   balanceInput{me: "w1", leases: shardLeases("s", "", 4)},
		live: []string{"w1"}, load: map[string]int{}, open: 4, target: 4,
		free: []string{"s0", "s1", "s2", "s3"}, stale: []string{},
	}, {
		name: "workers started together count one another by their presence",
		in:   balanceInput{me: "w1", leases: shardLeases("s", "", 30), workers: presence("w1", "w2", "w3")},
		live: []string{"w1", "w2", "w3"}, load: map[string]int{}, open: 30, target: 10,
		free: keysOf(shardLeases("s", "", 30)), stale: []string{},
	}, {
		name: "an expired presence item of a worker without leases does not count",
		in: balanceInput{me: "w1", leases: shardLeases("s", "", 4), workers: presence("w2", "w3"),
			expired: keySet(lease.WorkerKeyPrefix + "w3")},
		live: []string{"w1", "w2"}, load: map[string]int{}, open: 4, target: 2,
		free: []string{"s0", "s1", "s2", "s3"}, stale: []string{},
	}, {
		name: "a gone worker (presence and leases expired) does not count; its leases are stale",
		in: balanceInput{me: "w1", leases: shardLeases("d", "dead", 2), workers: presence("dead"),
			expired: keySet("d0", "d1", lease.WorkerKeyPrefix+"dead")},
		live: []string{"w1"}, load: map[string]int{}, open: 2, target: 2,
		free: []string{}, stale: []string{"d0", "d1"},
	}, {
		name: "a worker whose heartbeat moves counts with its leases, however old their counters",
		in:   balanceInput{me: "w1", leases: shardLeases("s", "w2", 2), workers: presence("w2")},
		live: []string{"w1", "w2"}, load: map[string]int{"w2": 2}, open: 2, target: 1,
		free: []string{}, stale: []string{},
	}, {
		name: "an owner without presence item is judged by its leases",
		in: balanceInput{me: "w1", leases: append(shardLeases("a", "old", 2), shardLeases("b", "left", 2)...),
			expired: keySet("b0", "b1")},
		live: []string{"old", "w1"}, load: map[string]int{"old": 2}, open: 4, target: 2,
		free: []string{}, stale: []string{"b0", "b1"},
	}, {
		name: "finished leases are neither counted nor taken",
		in: balanceInput{me: "w1", leases: []lease.Lease{
			finishedLease("p0", ""), finishedLease("p1", "w1"), shardLease("c0", ""), shardLease("c1", "")}},
		live: []string{"w1"}, load: map[string]int{}, open: 2, target: 2,
		free: []string{"c0", "c1"}, stale: []string{},
	}, {
		name: "a lease being handed over counts for its receiver",
		in: balanceInput{me: "w1", leases: []lease.Lease{
			handingOver("s0", "w2", "w1"), shardLease("s1", "w2"), shardLease("s2", "w2")}},
		live: []string{"w1", "w2"}, load: map[string]int{"w1": 1, "w2": 2}, open: 3, target: 2, mine: 1,
		free: []string{}, stale: []string{},
	}, {
		name: "this worker's own leases are counted, not taken",
		in: balanceInput{me: "w1", leases: []lease.Lease{
			shardLease("s0", "w1"), shardLease("s1", ""), shardLease("s2", "w2")}},
		live: []string{"w1", "w2"}, load: map[string]int{"w1": 1, "w2": 1}, open: 3, target: 2, mine: 1,
		free: []string{"s1"}, stale: []string{},
	}, {
		name: "the target is the ceiling of open leases per live worker",
		in: balanceInput{me: "w1", leases: append(shardLeases("a", "w2", 5), shardLeases("b", "w3", 5)...),
			workers: presence("w1")},
		live: []string{"w1", "w2", "w3"}, load: map[string]int{"w2": 5, "w3": 5}, open: 10, target: 4,
		free: []string{}, stale: []string{},
	}, {
		name: "MaxLeasesPerWorker caps the target",
		in:   balanceInput{me: "w1", leases: shardLeases("s", "", 10), maxLeases: 3},
		live: []string{"w1"}, load: map[string]int{}, open: 10, target: 3,
		free: keysOf(shardLeases("s", "", 10)), stale: []string{},
	}, {
		name: "free leases first, then expired ones, each in table order",
		in: balanceInput{me: "w1", leases: []lease.Lease{
			shardLease("x", "gone"), shardLease("f1", ""), shardLease("y", "gone"), shardLease("f0", "")},
			expired: keySet("x", "y")},
		live: []string{"w1"}, load: map[string]int{}, open: 4, target: 4,
		free: []string{"f1", "f0"}, stale: []string{"x", "y"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := planBalance(tc.in)
			if !slices.Equal(p.live, tc.live) {
				t.Errorf("live %v, want %v", p.live, tc.live)
			}
			if !maps.Equal(p.load, tc.load) {
				t.Errorf("load %v, want %v", p.load, tc.load)
			}
			if p.open != tc.open || p.target != tc.target || p.mine != tc.mine {
				t.Errorf("open %d target %d mine %d, want %d %d %d", p.open, p.target, p.mine, tc.open, tc.target, tc.mine)
			}
			if got := keysOf(p.free); !slices.Equal(got, tc.free) {
				t.Errorf("free %v, want %v", got, tc.free)
			}
			if got := keysOf(p.stale); !slices.Equal(got, tc.stale) {
				t.Errorf("stale %v, want %v", got, tc.stale)
			}
		})
	}
}

func TestStealFrom(t *testing.T) {
	threeByThree := slices.Concat(shardLeases("a", "w2", 3), shardLeases("b", "w3", 3), shardLeases("c", "w4", 3))
	for _, tc := range []struct {
		name         string
		in           balanceInput
		load         map[string]int
		asked        map[string]bool
		target, mine int
		// want
		victim     string
		candidates []string
	}{{
		name: "a joiner two below the target asks a worker at it (3+3+3, target 3)",
		in:   balanceInput{me: "w1", leases: threeByThree},
		load: map[string]int{"w2": 3, "w3": 3, "w4": 3}, target: 3, mine: 0,
		victim: "w2", candidates: []string{"a0", "a1", "a2"},
	}, {
		name: "one below the target asks only a worker above it",
		in:   balanceInput{me: "w1", leases: threeByThree},
		load: map[string]int{"w1": 2, "w2": 3, "w3": 3, "w4": 3}, target: 3, mine: 2,
		victim: "", candidates: []string{},
	}, {
		name: "the most loaded worker is asked",
		in:   balanceInput{me: "w1", leases: slices.Concat(shardLeases("a", "w2", 4), shardLeases("b", "w3", 5))},
		load: map[string]int{"w2": 4, "w3": 5}, target: 3, mine: 1,
		victim: "w3", candidates: []string{"b0", "b1", "b2", "b3", "b4"},
	}, {
		name: "among equally loaded workers, the first by name",
		in:   balanceInput{me: "w1", leases: slices.Concat(shardLeases("b", "w3", 5), shardLeases("a", "w2", 5))},
		load: map[string]int{"w3": 5, "w2": 5}, target: 4, mine: 2,
		victim: "w2", candidates: []string{"a0", "a1", "a2", "a3", "a4"},
	}, {
		name: "this worker is never its own victim",
		in:   balanceInput{me: "w1", leases: slices.Concat(shardLeases("a", "w1", 5), shardLeases("b", "w2", 1))},
		load: map[string]int{"w1": 5, "w2": 1}, target: 3, mine: 0,
		victim: "", candidates: []string{},
	}, {
		name: "leases asked for, being handed over, finished or expired are not candidates",
		in: balanceInput{me: "w1", leases: []lease.Lease{
			shardLease("asked", "w2"), handingOver("handing", "w2", "w9"), finishedLease("done", "w2"),
			shardLease("expired", "w2"), shardLease("ok", "w2"), shardLease("other", "w3")},
			expired: keySet("expired")},
		load: map[string]int{"w2": 4, "w3": 1}, asked: keySet("asked"), target: 2, mine: 0,
		victim: "w2", candidates: []string{"ok"},
	}, {
		name: "a victim whose leases were all asked for leaves no candidate",
		in:   balanceInput{me: "w1", leases: shardLeases("a", "w2", 3)},
		load: map[string]int{"w2": 3}, asked: keySet("a0", "a1", "a2"), target: 2, mine: 0,
		victim: "w2", candidates: []string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			victim, candidates := stealFrom(tc.in, tc.load, tc.asked, tc.target, tc.mine)
			if victim != tc.victim {
				t.Errorf("victim %q, want %q", victim, tc.victim)
			}
			if got := keysOf(candidates); !slices.Equal(got, tc.candidates) {
				t.Errorf("candidates %v, want %v", got, tc.candidates)
			}
		})
	}
}

// TestTakeOrder: workers that count the same live workers put different leases first, each
// about its share, and every lease is still a candidate.
func TestTakeOrder(t *testing.T) {
	live := []string{"w1", "w2", "w3"}
	leases := shardLeases("s", "", 3000)
	firsts := map[string]string{} // lease -> the worker that put it first
	for _, me := range live {
		order := takeOrder(slices.Clone(leases), live, me)
		if len(order) != len(leases) {
			t.Fatalf("%s: %d candidates, want %d", me, len(order), len(leases))
		}
		n := 0
		for _, l := range order {
			if preferred(l.Key, live) != me {
				break
			}
			if other, ok := firsts[l.Key]; ok {
				t.Fatalf("%s first for %s and for %s", l.Key, other, me)
			}
			firsts[l.Key] = me
			n++
		}
		if n < 900 || n > 1100 {
			t.Errorf("%s puts %d of 3,000 leases first, want about 1,000", me, n)
		}
		if got := slices.Sorted(slices.Values(keysOf(order))); !slices.Equal(got, slices.Sorted(slices.Values(keysOf(leases)))) {
			t.Fatalf("%s: candidates are not the leases", me)
		}
	}
	if len(firsts) != len(leases) {
		t.Fatalf("%d leases ranked first by someone, want all %d", len(firsts), len(leases))
	}
}
