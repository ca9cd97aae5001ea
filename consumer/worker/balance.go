package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// balance takes free and expired leases up to this worker's target, then, if still below it,
// asks the most loaded workers to hand over up to MaxStealsPerCycle leases (see steal).
func (c *Coordinator) balance(hard context.Context, leases, workers []lease.Lease, expired func(lease.Lease) bool) {
	me := c.cfg.WorkerID
	live := map[string]bool{me: true}
	// A worker that owns leases is judged by them (renewed more often than its heartbeat, so a
	// dead worker's shards are taken as soon as they expire); one that owns none, by its
	// presence item.
	owns := map[string]bool{}
	for _, l := range leases {
		owns[l.Owner] = true
	}
	for _, w := range workers {
		if !owns[w.Owner] && !expired(w) {
			live[w.Owner] = true
		}
	}
	load := map[string]int{}
	open := 0
	for _, l := range leases {
		if l.Finished() {
			continue
		}
		open++
		if l.Owner == "" || expired(l) {
			continue
		}
		live[l.Owner] = true
		// A lease being handed over counts for the worker it goes to.
		if l.HandoffTo != "" {
			load[l.HandoffTo]++
		} else {
			load[l.Owner]++
		}
	}
	target := (open + len(live) - 1) / len(live)
	if c.cfg.MaxLeasesPerWorker > 0 {
		target = min(target, c.cfg.MaxLeasesPerWorker)
	}
	mine := load[me]

	var free, stale []lease.Lease
	for _, l := range leases {
		switch {
		case l.Finished() || l.Owner == me:
		case l.Owner == "":
			free = append(free, l)
		case expired(l):
			stale = append(stale, l)
		}
	}
	// Random order, so that workers starting together do not all race for the same lease.
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	rand.Shuffle(len(stale), func(i, j int) { stale[i], stale[j] = stale[j], stale[i] })
	for _, l := range append(free, stale...) {
		if mine >= target || c.stopping() {
			break // a shutdown does not wait for a long series of takes
		}
		h, err := c.table.Take(hard, l, me)
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

	// A handoff asked for long ago and not given (the owner is alive but stuck): take it.
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

	asked := map[string]bool{}
	for range c.cfg.MaxStealsPerCycle {
		if mine >= target || !c.steal(hard, leases, expired, load, asked, target, mine) {
			return
		}
		mine++
	}
}

// steal asks the most loaded other worker for one of its leases (one not asked for yet) and
// counts that lease for this worker in load. It reports whether it asked. The victim must be
// above the target, or at it while this worker is two or more below (3+3+3 and a joiner at 0:
// the target ceil(9/4) = 3 has nobody above it): either way the victim ends at least one above
// this worker, so no lease moves back.
func (c *Coordinator) steal(hard context.Context, leases []lease.Lease, expired func(lease.Lease) bool,
	load map[string]int, asked map[string]bool, target, mine int) bool {
	me := c.cfg.WorkerID
	victim, most := "", target
	if mine <= target-2 {
		most = target - 1
	}
	owners := make([]string, 0, len(load))
	for w := range load {
		owners = append(owners, w)
	}
	sort.Strings(owners)
	for _, w := range owners {
		if w != me && load[w] > most {
			victim, most = w, load[w]
		}
	}
	if victim == "" {
		return false
	}
	var candidates []lease.Lease
	for _, l := range leases {
		if l.Owner == victim && l.HandoffTo == "" && !asked[l.Key] && !l.Finished() && !expired(l) {
			candidates = append(candidates, l)
		}
	}
	if len(candidates) == 0 {
		return false
	}
	l := candidates[rand.IntN(len(candidates))]
	asked[l.Key] = true
	if err := c.table.RequestHandoff(hard, l, me); err != nil {
		if !errors.Is(err, lease.ErrConflict) {
			c.log.Warn("handoff request failed", "shard", l.Key, "err", err)
		}
		return false
	}
	load[victim]--
	load[me]++
	c.steals.Add(1)
	c.log.Info("asked for a lease (steal)", "shard", l.Key, "from", victim, "target", target, "held", mine)
	c.emit(EventHandoffRequested, l.Key, victim, nil)
	return true
}
