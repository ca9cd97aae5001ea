package worker

import (
	"context"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// balanceInput is what balancing needs of one take cycle: the lease table as this worker read
// it, and which items it judges expired on its own clock.
type balanceInput struct {
	me        string
	leases    []lease.Lease   // the shard leases
	workers   []lease.Lease   // the presence items
	expired   map[string]bool // by key, leases and presence items: owned, and unchanged for the failover time
	maxLeases int             // MaxLeasesPerWorker; 0: no cap
}

// balancePlan is the arithmetic of one take cycle's balancing (see planBalance).
type balancePlan struct {
	live   []string       // the workers counted, sorted (this one always)
	load   map[string]int // open leases of each live owner; a lease being handed over counts for its receiver
	open   int            // leases not at SHARD_END
	target int            // the share of each live worker: ceil(open / live), capped by maxLeases
	mine   int            // load[me]
	free   []lease.Lease  // owned by nobody: to take first, in table order (the caller shuffles)
	stale  []lease.Lease  // expired leases of other workers: to take after the free ones, in table order
}

// balanceInputAt builds the balancing input from a table scan, judging expiry at now: an owned
// lease or presence item whose owner and counter have not changed, on this worker's clock,
// for the failover time.
func (c *Coordinator) balanceInputAt(snap lease.Snapshot, now time.Time) balanceInput {
	expired := map[string]bool{}
	for _, l := range append(slices.Clone(snap.Leases), snap.Workers...) {
		if l.Owner != "" && now.Sub(c.seen[l.Key].changedAt) >= c.cfg.FailoverTime {
			expired[l.Key] = true
		}
	}
	return balanceInput{
		me: c.cfg.WorkerID, leases: snap.Leases, workers: snap.Workers,
		expired: expired, maxLeases: c.cfg.MaxLeasesPerWorker,
	}
}

// planBalance counts the live workers and their loads, sets the target and lists the leases
// to take. It reads no table and no clock.
func planBalance(in balanceInput) balancePlan {
	live := map[string]bool{in.me: true}
	// A worker that owns leases is judged by them (renewed more often than its heartbeat, so a
	// dead worker's shards are taken as soon as they expire); one that owns none, by its
	// presence item.
	owns := map[string]bool{}
	for _, l := range in.leases {
		owns[l.Owner] = true
	}
	for _, w := range in.workers {
		if !owns[w.Owner] && !in.expired[w.Key] {
			live[w.Owner] = true
		}
	}
	p := balancePlan{load: map[string]int{}}
	for _, l := range in.leases {
		if l.Finished() {
			continue
		}
		p.open++
		if l.Owner == "" || in.expired[l.Key] {
			continue
		}
		live[l.Owner] = true
		// A lease being handed over counts for the worker it goes to.
		if l.HandoffTo != "" {
			p.load[l.HandoffTo]++
		} else {
			p.load[l.Owner]++
		}
	}
	p.live = slices.Sorted(maps.Keys(live))
	p.target = (p.open + len(live) - 1) / len(live)
	if in.maxLeases > 0 {
		p.target = min(p.target, in.maxLeases)
	}
	p.mine = p.load[in.me]
	for _, l := range in.leases {
		switch {
		case l.Finished() || l.Owner == in.me:
		case l.Owner == "":
			p.free = append(p.free, l)
		case in.expired[l.Key]:
			p.stale = append(p.stale, l)
		}
	}
	return p
}

// stealFrom chooses the worker to ask for a lease, and the leases of it that may be asked for
// (not asked for yet, not being handed over, open, not expired); no candidates when nobody
// qualifies. The victim is the most loaded other worker (the first by name among equals), and
// must be above the target, or at it while this worker is two or more below (3+3+3 and a
// joiner at 0: the target ceil(9/4) = 3 has nobody above it): either way the victim ends at
// least one above this worker, so no lease moves back. It reads no table and no clock.
func stealFrom(in balanceInput, load map[string]int, asked map[string]bool, target, mine int) (victim string, candidates []lease.Lease) {
	most := target
	if mine <= target-2 {
		most = target - 1
	}
	owners := make([]string, 0, len(load))
	for w := range load {
		owners = append(owners, w)
	}
	sort.Strings(owners)
	for _, w := range owners {
		if w != in.me && load[w] > most {
			victim, most = w, load[w]
		}
	}
	if victim == "" {
		return "", nil
	}
	for _, l := range in.leases {
		if l.Owner == victim && l.HandoffTo == "" && !asked[l.Key] && !l.Finished() && !in.expired[l.Key] {
			candidates = append(candidates, l)
		}
	}
	return victim, candidates
}

// balance takes free and expired leases up to this worker's target, then, if still below it,
// asks the most loaded workers to hand over up to MaxStealsPerCycle leases (see steal).
func (c *Coordinator) balance(hard context.Context, in balanceInput) {
	p := planBalance(in)
	mine := p.mine
	// Random order, so that workers starting together do not all race for the same lease.
	rand.Shuffle(len(p.free), func(i, j int) { p.free[i], p.free[j] = p.free[j], p.free[i] })
	rand.Shuffle(len(p.stale), func(i, j int) { p.stale[i], p.stale[j] = p.stale[j], p.stale[i] })
	for _, l := range append(p.free, p.stale...) {
		if mine >= p.target || c.stopping() {
			break // a shutdown does not wait for a long series of takes
		}
		h, err := c.table.Take(hard, l, in.me)
		if err != nil {
			if !errors.Is(err, lease.ErrConflict) {
				c.log.Warn("take failed", "shard", l.Key, "err", err)
			}
			continue
		}
		mine++
		c.takes.Add(1)
		c.adopt(hard, h)
		c.emit(EventTaken, l.Key, l.Owner, nil)
		if l.Owner != "" {
			c.log.Info("took an expired lease", "shard", l.Key, "from", l.Owner)
		}
	}
	c.takeOverdueHandoffs(hard, in.leases)

	asked := map[string]bool{}
	for range c.cfg.MaxStealsPerCycle {
		if mine >= p.target || !c.steal(hard, in, p.load, asked, p.target, mine) {
			return
		}
		mine++
	}
}

// takeOverdueHandoffs takes the leases this worker asked for long ago and was not given (the
// owner is alive but stuck).
func (c *Coordinator) takeOverdueHandoffs(hard context.Context, leases []lease.Lease) {
	me := c.cfg.WorkerID
	for _, l := range leases {
		o := c.seen[l.Key]
		if l.HandoffTo != me || l.Owner == me || o.handoffSeenAt.IsZero() || time.Since(o.handoffSeenAt) < c.cfg.HandoffTimeout {
			continue
		}
		h, err := c.table.Take(hard, l, me)
		if err != nil {
			continue
		}
		c.log.Warn("handoff not given in time: lease taken", "shard", l.Key, "from", l.Owner)
		c.takes.Add(1)
		c.adopt(hard, h)
		c.emit(EventTaken, l.Key, l.Owner, nil)
	}
}

// steal asks the worker stealFrom chooses for one of its leases, at random among the
// candidates, and counts that lease for this worker in load. It reports whether it asked.
func (c *Coordinator) steal(hard context.Context, in balanceInput, load map[string]int, asked map[string]bool, target, mine int) bool {
	victim, candidates := stealFrom(in, load, asked, target, mine)
	if len(candidates) == 0 {
		return false
	}
	l := candidates[rand.IntN(len(candidates))]
	asked[l.Key] = true
	if err := c.table.RequestHandoff(hard, l, in.me); err != nil {
		if !errors.Is(err, lease.ErrConflict) {
			c.log.Warn("handoff request failed", "shard", l.Key, "err", err)
		}
		return false
	}
	load[victim]--
	load[in.me]++
	c.steals.Add(1)
	c.log.Info("asked for a lease (steal)", "shard", l.Key, "from", victim, "target", target, "held", mine)
	c.emit(EventHandoffRequested, l.Key, victim, nil)
	return true
}
