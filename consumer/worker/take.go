package worker

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// observation is what this worker last saw of a lease or a presence item, timed on its own
// monotonic clock.
type observation struct {
	owner         string
	counter       int64
	stamp         string    // a presence item's heartbeatAt: a recreated item differs even at the same counter
	changedAt     time.Time // when owner, counter or stamp last changed (the read that showed it returned)
	gone          bool      // a presence item no longer there; changedAt is kept
	finishedAt    time.Time // when first seen at SHARD_END
	handoffSeenAt time.Time // when first seen with a handoff request to this worker
}

// takeCycle runs every TakeInterval, when poked, and when a worker would be judged gone. It
// reads the other workers' heartbeats (a strongly consistent read of their presence items:
// one read unit each) and restarts the processors due to. It reads the whole table
// (eventually consistent) only when there is a reason: the first cycles, something asked
// for (poke), something under way (busy), a worker found gone or leaving since the last
// cycle, or ScanInterval passed. With that read it reconciles the held leases, takes and
// steals to reach the target (not in the first cycle: workers started together see one
// another's presence first), and cleans up finished parents and workers gone for good.
//
// A small table costs less to scan, strongly consistent, than its presence items cost to read
// one by one (a scan is priced by the 4 KB, a read by the item): then every cycle scans it
// strongly consistent and reads the heartbeats in it.
func (c *Coordinator) takeCycle(hard context.Context) {
	if c.shuttingDown || hard.Err() != nil {
		return
	}
	scan := c.wantScan.Swap(false) || c.scannedAt.IsZero() || c.busy || !c.balanced ||
		time.Since(c.scannedAt) >= c.cfg.ScanInterval
	if c.scanIsCheaper() {
		if !c.scanStrong(hard) {
			return
		}
		scan = true
	} else {
		if scan && !c.scan(hard) {
			return
		}
		if !c.readPeers(hard) {
			return
		}
	}
	// The others are judged as of the start of the read that last saw their heartbeats: a
	// heartbeat that read missed landed after it started (see heartbeat.go).
	judged := c.peersReadAt
	if c.ownersGoneSince(judged) && !scan {
		// A worker gone (its leases are to take) or leaving (it released them): read the
		// table now rather than at the next periodic scan.
		scan = true
		if !c.scan(hard) {
			return
		}
	}
	if scan {
		c.busy = false
		now := time.Now()
		if c.lookUntil.IsZero() {
			// Half a take interval: the next regular cycle balances, a poke before it does not.
			c.lookUntil = now.Add(c.cfg.TakeInterval / 2)
		}
		c.reconcile(hard, c.byKey)
		if !now.Before(c.lookUntil) {
			if c.alive() {
				c.balance(hard, judged)
			}
			c.balanced = true
		}
		c.cleanParents(hard, c.snap.Leases, c.byKey, now)
		c.cleanWorkers(hard, judged)
	}
	c.startReady(hard, c.byKey, time.Now())
	c.scheduleExpiry(time.Now())
}

// scan reads the whole table, eventually consistent, and records what it saw. On failure it
// asks for a scan at the next cycle and reports false.
func (c *Coordinator) scan(hard context.Context) bool {
	return c.record(hard, c.table.ScanEventually)
}

// scanStrong reads the whole table strongly consistent and records what it saw, the other
// workers' heartbeats included (see readPeers).
func (c *Coordinator) scanStrong(hard context.Context) bool {
	start := time.Now()
	if !c.record(hard, c.table.Scan) {
		return false
	}
	c.observePeers(c.peerIDs(), c.snap.Workers, start, c.scannedAt)
	return true
}

// scanIsCheaper reports whether the last scan, made strongly consistent, costs no more read
// units than the strongly consistent read of the presence items the next cycle needs (one
// unit each: they are far below 4 KB).
func (c *Coordinator) scanIsCheaper() bool {
	if c.scannedAt.IsZero() {
		return false
	}
	units := c.snap.ReadUnits
	if !c.snap.Consistent {
		units *= 2
	}
	peers := len(c.peerIDs())
	return peers > 0 && max(units, 1) <= float64(peers)
}

func (c *Coordinator) record(hard context.Context, read func(context.Context) (lease.Snapshot, error)) bool {
	snap, err := read(hard)
	if err != nil {
		if hard.Err() == nil {
			c.log.Warn("reading the lease table failed", "err", err)
		}
		c.wantScan.Store(true)
		return false
	}
	now := time.Now()
	c.snap, c.scannedAt = snap, now
	c.byKey = make(map[string]lease.Lease, len(snap.Leases))
	for _, l := range snap.Leases {
		c.byKey[l.Key] = l
	}
	c.mu.Lock()
	c.leases = snap.Leases
	c.mu.Unlock()
	c.observeLeases(snap.Leases, now)
	return true
}

// observeLeases records what a scan saw of each lease, on this worker's clock, and forgets
// the leases no longer listed.
func (c *Coordinator) observeLeases(leases []lease.Lease, now time.Time) {
	listed := map[string]bool{}
	for _, l := range leases {
		listed[l.Key] = true
		o := c.seen[l.Key]
		if o == nil {
			o = &observation{}
			c.seen[l.Key] = o
		}
		if o.changedAt.IsZero() || o.owner != l.Owner || o.counter != l.Counter {
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
		if !listed[key] && !strings.HasPrefix(key, lease.WorkerKeyPrefix) {
			delete(c.seen, key)
		}
	}
}

// peerIDs are the other workers whose heartbeat matters: those with a presence item in the
// last scan or read, and the owners of leases in the last scan.
func (c *Coordinator) peerIDs() []string {
	ids := map[string]bool{}
	for _, w := range c.snap.Workers {
		ids[w.Owner] = true
	}
	for _, w := range c.peers {
		ids[w.Owner] = true
	}
	for _, l := range c.snap.Leases {
		if l.Owner != "" {
			ids[l.Owner] = true
		}
	}
	delete(ids, c.cfg.WorkerID)
	delete(ids, "")
	out := make([]string, 0, len(ids))
	for id := range ids {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// readPeers reads the presence items of the other workers, strongly consistent (a stale
// view could hide a heartbeat and make a live worker look gone), and records on this
// worker's clock when each one's heartbeat last moved. A presence item no longer there is
// marked gone, its last change kept. It reports false when the read failed: nobody is then
// judged on this cycle.
func (c *Coordinator) readPeers(hard context.Context) bool {
	start := time.Now()
	ids := c.peerIDs()
	if len(ids) == 0 {
		c.peers, c.peersReadAt = nil, start
		return true
	}
	items, err := c.table.Workers(hard, ids)
	if err != nil {
		if hard.Err() == nil {
			c.log.Warn("reading the other workers' heartbeats failed", "err", err)
		}
		return false
	}
	c.observePeers(ids, items, start, time.Now())
	return true
}

// observePeers records the presence items of the workers ids as a strongly consistent read
// that started at start returned them at now (see readPeers). A change is timed at now (the
// heartbeat landed before the read returned), and the workers are judged at start (one that
// landed after it started is not in it).
func (c *Coordinator) observePeers(ids []string, items []lease.Lease, start, now time.Time) {
	c.peersReadAt = start
	present := map[string]bool{}
	for _, w := range items {
		present[w.Key] = true
		o := c.seen[w.Key]
		if o == nil {
			o = &observation{}
			c.seen[w.Key] = o
		}
		if o.changedAt.IsZero() || o.gone || o.owner != w.Owner || o.counter != w.Counter || o.stamp != w.HeartbeatAt {
			o.owner, o.counter, o.stamp, o.changedAt, o.gone = w.Owner, w.Counter, w.HeartbeatAt, now, false
		}
	}
	for _, id := range ids {
		if o := c.seen[lease.WorkerKeyPrefix+id]; o != nil && !o.gone && !present[lease.WorkerKeyPrefix+id] {
			o.gone = true
			c.vanished = true
		}
	}
	// Forget the presence items gone for long (their leases were judged by them meanwhile).
	for key, o := range c.seen {
		if strings.HasPrefix(key, lease.WorkerKeyPrefix) && o.gone && now.Sub(o.changedAt) >= 3*c.cfg.FailoverTime {
			delete(c.seen, key)
		}
	}
	c.peers = nil
	for _, w := range items {
		if w.Owner != c.cfg.WorkerID {
			c.peers = append(c.peers, w)
		}
	}
}

// lastSigns returns, for every owner of a lease in the last scan and every other worker with a
// presence item, when this worker last saw a sign of life of it: the last change of its
// heartbeat while its presence item exists; once the item is gone (a worker that stopped, or
// one deleted as gone), or for an owner that never had one, the last change of the item or
// of any of its leases. This worker is not in the result.
func (c *Coordinator) lastSigns() map[string]time.Time {
	out := map[string]time.Time{}
	for _, w := range c.peers {
		out[w.Owner] = c.seen[w.Key].changedAt
	}
	for _, l := range c.snap.Leases {
		if l.Owner == "" || l.Owner == c.cfg.WorkerID {
			continue
		}
		if w := c.seen[lease.WorkerKeyPrefix+l.Owner]; w != nil && !w.gone {
			continue // judged by its heartbeat alone
		}
		t := out[l.Owner]
		if w := c.seen[lease.WorkerKeyPrefix+l.Owner]; w != nil && w.changedAt.After(t) {
			t = w.changedAt
		}
		if o := c.seen[l.Key]; o != nil && o.changedAt.After(t) {
			t = o.changedAt
		}
		out[l.Owner] = t
	}
	return out
}

// ownersGoneSince judges every other worker at now and reports whether one of them is gone
// since the last cycle (no sign of life for the failover time), or a presence item vanished
// since (a worker that stops releases its leases, then deletes it).
func (c *Coordinator) ownersGoneSince(now time.Time) bool {
	news := c.vanished
	c.vanished = false
	gone := map[string]bool{}
	for owner, at := range c.lastSigns() {
		if now.Sub(at) >= c.cfg.FailoverTime {
			gone[owner] = true
			news = news || !c.goneOwners[owner]
		}
	}
	c.goneOwners = gone
	return news
}

// scheduleExpiry sets a take cycle at the moment the next worker would be judged gone, if
// that comes before the next regular one: the takeover does not wait up to a take interval
// more. (While its heartbeat moves, every read shows it moved and the moment keeps moving
// away.)
func (c *Coordinator) scheduleExpiry(now time.Time) {
	var next time.Time
	for owner, at := range c.lastSigns() {
		if c.goneOwners[owner] {
			continue
		}
		if due := at.Add(c.cfg.FailoverTime); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	c.expiry.Stop()
	if !next.IsZero() && next.Sub(now) < c.cfg.TakeInterval {
		c.expiry.Reset(max(next.Sub(now), time.Millisecond))
	}
}

// reconcile compares the held leases with the last scan: drops lost ones, notices handoff
// requests, takes back the leases the table names this worker the owner of and it does not
// hold (handed over to it, or given up while its heartbeat failed). The scan is eventually
// consistent, so it may lag this worker's own writes: a held lease's item counts only when
// its counter is at least the one this worker last wrote (a counter never goes back), and a
// lease missing from it is left alone (a write to a lease that was deleted fails anyway).
func (c *Coordinator) reconcile(hard context.Context, byKey map[string]lease.Lease) {
	me := c.cfg.WorkerID
	// Give up, outside c.mu, the leases the table shows owned by another worker (their next
	// write would fail anyway): GiveUp runs the lease's OnLost, which emits an event, and the
	// OnEvent hook is the caller's code: under c.mu, a hook that waits for a caller's lock
	// while the caller, holding it, reads Stats (which takes c.mu) deadlocks both.
	var giveUp []*lease.Held
	c.mu.Lock()
	for key, sh := range c.owned {
		if l, ok := byKey[key]; ok && l.Counter >= sh.held.Counter() && l.Owner != me && !sh.held.Lost() {
			c.log.Warn("the table shows the lease owned by another worker: stopping it", "shard", key, "owner", l.Owner)
			giveUp = append(giveUp, sh.held)
		}
	}
	c.mu.Unlock()
	for _, h := range giveUp {
		h.GiveUp()
	}
	c.mu.Lock()
	var handOverNow []*ownedShard
	for key, sh := range c.owned {
		l, ok := byKey[key]
		current := ok && l.Counter >= sh.held.Counter()
		if sh.held.Lost() {
			if !sh.running {
				delete(c.owned, key)
				sh.cancel()
			}
			continue
		}
		if current && l.HandoffTo != "" && sh.handoffTo == "" {
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
	var mine []lease.Lease
	for _, l := range byKey {
		if l.Owner == me && !l.Finished() && !c.holds(l.Key) {
			mine = append(mine, l)
		}
		if l.HandoffTo == me && l.Owner != me {
			c.busy = true // asked for: adopt it once handed over, or take it after HandoffTimeout
		}
	}
	if len(mine) == 0 || !c.alive() {
		return
	}
	c.busy = true // look again at the next cycle: a lease still held by a stopping processor
	c.takeAll(hard, mine, len(mine), 0, func(l lease.Lease, err error) {
		if !errors.Is(err, lease.ErrConflict) {
			c.log.Warn("taking back a lease named this worker's failed", "shard", l.Key, "err", err)
		}
	}, func(l lease.Lease) {
		c.emit(EventTaken, l.Key, "", nil)
	})
}

func (c *Coordinator) holds(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.owned[key]
	return ok
}
