package worker

import (
	"context"
	"errors"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// balanceInput is what balancing needs of one take cycle: the lease table as this worker read
// it, and which items it judges expired on its own clock.
type balanceInput struct {
	me        string
	leases    []lease.Lease   // the shard leases
	workers   []lease.Lease   // the other workers' presence items
	expired   map[string]bool // by key, leases and presence items of workers judged gone (see lastSigns)
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

// balanceInputAt builds the balancing input from the last scan and heartbeat read, judging
// expiry at now: a lease or presence item of another worker of which this worker has seen no
// sign of life (lastSigns) for the failover time, on its own clock. This worker's own leases
// never expire here: it gives them up itself (heartbeat.go).
func (c *Coordinator) balanceInputAt(now time.Time) balanceInput {
	signs := c.lastSigns()
	gone := func(owner string) bool {
		at, ok := signs[owner]
		return ok && now.Sub(at) >= c.cfg.FailoverTime
	}
	expired := map[string]bool{}
	for _, l := range slices.Concat(c.snap.Leases, c.peers) {
		if l.Owner != "" && l.Owner != c.cfg.WorkerID && gone(l.Owner) {
			expired[l.Key] = true
		}
	}
	return balanceInput{
		me: c.cfg.WorkerID, leases: c.snap.Leases, workers: c.peers,
		expired: expired, maxLeases: c.cfg.MaxLeasesPerWorker,
	}
}

// planBalance counts the live workers and their loads, sets the target and lists the leases
// to take. It reads no table and no clock.
func planBalance(in balanceInput) balancePlan {
	// The live workers: this one, those whose presence item is not expired (whether they
	// hold leases or not yet), and the owners of leases not expired.
	live := map[string]bool{in.me: true}
	for _, w := range in.workers {
		if !in.expired[w.Key] {
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

// takeRounds bounds the rounds of takes of one balancing: workers that start together race
// for the same free leases, and one that lost many races reads the table again at once
// instead of a take interval later.
const takeRounds = 3

// balance takes free and expired leases up to this worker's target, several at a time, then,
// if still below it, asks the most loaded workers to hand over up to MaxStealsPerCycle leases
// (see steal). While it has something to do it marks the coordinator busy, so that the next
// take cycle reads the table again. Others are judged gone as of judged.
func (c *Coordinator) balance(hard context.Context, judged time.Time) {
	in := c.balanceInputAt(judged)
	p := planBalance(in)
	mine := p.mine
	for round := 1; ; round++ {
		candidates := append(takeOrder(p.free, p.live, in.me), takeOrder(p.stale, p.live, in.me)...)
		if mine >= p.target || len(candidates) == 0 {
			break
		}
		c.busy = true
		// Past WriteConcurrency conflicts, others are taking the same leases: the free ones
		// left are found faster in a fresh read than by trying every candidate.
		got, conflicts := c.takeAll(hard, candidates, p.target-mine, c.cfg.WriteConcurrency, func(l lease.Lease, err error) {
			if !errors.Is(err, lease.ErrConflict) {
				c.log.Warn("take failed", "shard", l.Key, "err", err)
			}
		}, func(l lease.Lease) {
			c.emit(EventTaken, l.Key, l.Owner, nil)
			if l.Owner != "" {
				c.log.Info("took an expired lease", "shard", l.Key, "from", l.Owner)
			}
		})
		mine += got
		// Others took some of the same leases meanwhile: go on from a fresh read, strongly
		// consistent so that it shows this worker's own takes.
		if mine >= p.target || conflicts == 0 || round == takeRounds || c.stopping() || !c.record(hard, c.table.Scan) {
			break
		}
		in = c.balanceInputAt(judged)
		p = planBalance(in)
		mine = p.mine
	}
	c.takeOverdueHandoffs(hard, in.leases)

	asked := map[string]bool{}
	for range c.cfg.MaxStealsPerCycle {
		if mine >= p.target || c.stopping() || !c.steal(hard, in, p.load, asked, p.target, mine) {
			return
		}
		c.busy = true
		mine++
	}
}

// takeOrder orders leases to take so that workers taking at the same time (started together,
// or the survivors of a worker gone) mostly take different ones instead of racing for the same
// (a lost race is a wasted conditional write and a lease less): first the leases this worker
// ranks highest among the live workers by rendezvous hashing (hash of worker and lease key),
// then the others, each group in random order. Workers that count the same live workers
// agree on who ranks highest, so their first choices do not overlap.
func takeOrder(leases []lease.Lease, live []string, me string) []lease.Lease {
	var first, rest []lease.Lease
	for _, l := range leases {
		if preferred(l.Key, live) == me {
			first = append(first, l)
		} else {
			rest = append(rest, l)
		}
	}
	rand.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	rand.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	return append(first, rest...)
}

// preferred is the live worker that ranks highest for the lease key (rendezvous hashing).
func preferred(key string, live []string) string {
	var best string
	var top uint64
	for _, w := range live {
		h := fnv.New64a()
		h.Write([]byte(w))
		h.Write([]byte{0})
		h.Write([]byte(key))
		if v := mix(h.Sum64()); best == "" || v > top {
			best, top = w, v
		}
	}
	return best
}

// mix spreads FNV's bits (the finalizer of MurmurHash3): keys that differ only in their last
// characters, as shard ids do, otherwise rank the same workers first.
func mix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// takeAll takes up to need of the candidates, in order, WriteConcurrency conditional writes at
// a time (a worker starting on 1,000 free leases does not take them one round trip after the
// other); a candidate that fails is skipped for the next. It stops early after maxConflicts
// candidates were found taken by others (0: never): its view of the table is then too old to
// go on from. It adopts each lease taken, calls taken for it and failed for each failure, and
// returns how many it took and how many conflicts it met. A shutdown stops it.
func (c *Coordinator) takeAll(hard context.Context, candidates []lease.Lease, need, maxConflicts int, failed func(lease.Lease, error), taken func(lease.Lease)) (got, conflicts int) {
	var mu sync.Mutex
	next, inFlight := 0, 0
	claim := func() (lease.Lease, bool) {
		mu.Lock()
		defer mu.Unlock()
		if got+inFlight >= need || next >= len(candidates) || c.stopping() || (maxConflicts > 0 && conflicts >= maxConflicts) {
			return lease.Lease{}, false
		}
		l := candidates[next]
		next++
		inFlight++
		return l, true
	}
	var wg sync.WaitGroup
	for range min(c.cfg.WriteConcurrency, need, len(candidates)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				l, ok := claim()
				if !ok {
					return
				}
				h, err := c.table.Take(hard, l, c.cfg.WorkerID)
				mu.Lock()
				inFlight--
				if err == nil {
					got++
				} else if errors.Is(err, lease.ErrConflict) {
					conflicts++
				}
				mu.Unlock()
				if err != nil {
					failed(l, err)
					continue
				}
				c.takes.Add(1)
				c.adopt(hard, h)
				taken(l)
			}
		}()
	}
	wg.Wait()
	return got, conflicts
}

// takeOverdueHandoffs takes the leases this worker asked for long ago and was not given (the
// owner is alive but stuck), and tells the owner, so that it stops that shard at once.
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
		c.notify(hard, l.Owner)
	}
}

// notify tells another worker to read the table now (see lease.Table.Notify); a failure only
// delays it until its next periodic read.
func (c *Coordinator) notify(hard context.Context, worker string) {
	if worker == "" || worker == c.cfg.WorkerID {
		return
	}
	if err := c.table.Notify(hard, worker); err != nil && hard.Err() == nil {
		c.log.Debug("notifying a worker failed; it reads the table at its next scan", "peer", worker, "err", err)
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
	c.notify(hard, victim)
	c.log.Info("asked for a lease (steal)", "shard", l.Key, "from", victim, "target", target, "held", mine)
	c.emit(EventHandoffRequested, l.Key, victim, nil)
	return true
}
