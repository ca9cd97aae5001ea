package worker

import (
	"context"
	"slices"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// observation is what this worker last saw of a lease, timed on its own monotonic clock.
type observation struct {
	owner         string
	counter       int64
	changedAt     time.Time // when owner or counter last changed
	finishedAt    time.Time // when first seen at SHARD_END
	handoffSeenAt time.Time // when first seen with a handoff request to this worker
}

// takeCycle marks this worker present, reads the lease table and acts on it: reconcile held
// leases, start processors whose parents ended, take and steal to reach the target (not
// before half a take interval after the first cycle: workers started together see one
// another's presence first), clean up finished parents and workers gone for good.
func (c *Coordinator) takeCycle(hard context.Context) {
	if c.shuttingDown || hard.Err() != nil {
		return
	}
	if err := c.table.Heartbeat(hard, c.cfg.WorkerID); err != nil {
		c.log.Warn("heartbeat failed", "err", err)
	}
	snap, err := c.table.Scan(hard)
	if err != nil {
		c.log.Warn("list leases failed", "err", err)
		return
	}
	leases := snap.Leases
	now := time.Now()
	if c.lookUntil.IsZero() {
		// Half a take interval: the next regular cycle balances, a poke before it does not.
		c.lookUntil = now.Add(c.cfg.TakeInterval / 2)
	}
	byKey := make(map[string]lease.Lease, len(leases))
	for _, l := range leases {
		byKey[l.Key] = l
	}
	c.observe(append(slices.Clone(leases), snap.Workers...), now)
	c.reconcile(hard, byKey)
	if !now.Before(c.lookUntil) {
		c.balance(hard, c.balanceInputAt(snap, now))
	}
	c.startReady(byKey, now)
	c.cleanParents(hard, leases, byKey, now)
	c.cleanWorkers(hard, snap.Workers, now)
}

// observe records what this take cycle saw of each lease and presence item, on this worker's
// clock, and forgets the items no longer listed.
func (c *Coordinator) observe(items []lease.Lease, now time.Time) {
	listed := map[string]bool{}
	for _, l := range items {
		listed[l.Key] = true
		o := c.seen[l.Key]
		if o == nil || o.owner != l.Owner || o.counter != l.Counter {
			if o == nil {
				o = &observation{}
				c.seen[l.Key] = o
			}
			o.owner, o.counter, o.changedAt = l.Owner, l.Counter, now
		}
		if l.Finished() && o.finishedAt.IsZero() {
			o.finishedAt = now
		}
		if l.HandoffTo != c.cfg.WorkerID {
			o.handoffSeenAt = time.Time{}
		} else if o.handoffSeenAt.IsZero() {
			o.handoffSeenAt = now
		}
	}
	for key := range c.seen {
		if !listed[key] {
			delete(c.seen, key)
		}
	}
}

// reconcile compares the held leases with the table: drops lost ones, notices handoff
// requests, adopts leases the table names this worker the owner of (handed over to it).
func (c *Coordinator) reconcile(hard context.Context, byKey map[string]lease.Lease) {
	me := c.cfg.WorkerID
	c.mu.Lock()
	var handOverNow []*ownedShard
	for key, sh := range c.owned {
		l, ok := byKey[key]
		if !sh.held.Lost() && (!ok || l.Owner != me) {
			sh.held.GiveUp() // taken by someone else; its renewal would fail too
		}
		if sh.held.Lost() {
			if !sh.running {
				delete(c.owned, key)
				sh.cancel()
			}
			continue
		}
		if l.HandoffTo != "" && sh.handoffTo == "" {
			sh.handoffTo = l.HandoffTo
			c.log.Info("handoff requested: draining", "shard", key, "to", l.HandoffTo)
			sh.closeDrain()
			if !sh.running {
				handOverNow = append(handOverNow, sh)
			}
		}
	}
	c.mu.Unlock()
	for _, sh := range handOverNow {
		c.handOver(hard, sh)
		c.mu.Lock()
		delete(c.owned, sh.held.Key())
		c.mu.Unlock()
		sh.cancel()
	}
	for _, l := range byKey {
		if l.Owner != me || l.Finished() || c.holds(l.Key) {
			continue
		}
		h, err := c.table.Take(hard, l, me)
		if err != nil {
			c.log.Warn("adopting a lease handed to this worker failed", "shard", l.Key, "err", err)
			continue
		}
		c.takes.Add(1)
		c.adopt(hard, h)
		c.emit(EventTaken, l.Key, "", nil)
	}
}

func (c *Coordinator) holds(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.owned[key]
	return ok
}
