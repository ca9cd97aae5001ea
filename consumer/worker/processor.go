package worker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// Assignment is a shard this worker now owns.
type Assignment struct {
	ShardID        string
	ParentShardIDs []string
	Checkpoint     string             // TRIM_HORIZON | LATEST | a sequence number: resume AFTER it
	Pending        *checkpoint.Intent // an intent left by the previous owner, or nil
	Checkpointer   checkpoint.Checkpointer
}

// Processor reads shards.
type Processor interface {
	// ProcessShard reads the shard from a.Checkpoint. It returns nil after the shard ended and
	// a.Checkpointer.ShardEnd succeeded; nil after drain was closed and it stored and
	// checkpointed what it had read (graceful handoff, shutdown), except an unfinished replay
	// of a.Pending, which it leaves with the intent to the next owner; and at once, writing
	// nothing more, when ctx ends (lease lost, or hard stop).
	ProcessShard(ctx context.Context, drain <-chan struct{}, a Assignment) error
}

// ownedShard is a lease this worker holds and the processor reading its shard.
type ownedShard struct {
	held      *lease.Held
	parents   []string
	ctx       context.Context // the processor's: cancelled when the lease is lost
	cancel    context.CancelFunc
	drain     chan struct{}
	drained   bool
	running   bool
	handoffTo string    // the worker to hand the lease to once drained
	retryAt   time.Time // after a processor error
	failures  int
}

type exit struct {
	key string
	sh  *ownedShard
	err error
}

func (sh *ownedShard) closeDrain() {
	if !sh.drained {
		sh.drained = true
		close(sh.drain)
	}
}

// adopt records a lease this worker just took and wires its loss to its processor. A lease
// taken while the watchdog gave the others up (the take raced with it) is given up at once.
func (c *Coordinator) adopt(hard context.Context, h *lease.Held) {
	l := h.Lease()
	ctx, cancel := context.WithCancel(hard)
	sh := &ownedShard{held: h, parents: l.ParentShardIDs, ctx: ctx, cancel: cancel, drain: make(chan struct{})}
	key := h.Key()
	h.OnLost(func() {
		cancel()
		c.lost.Add(1)
		c.emit(EventLost, key, "", nil)
		c.poke()
	})
	c.mu.Lock()
	c.owned[key] = sh
	alive := c.aliveLocked()
	c.mu.Unlock()
	if !alive {
		c.log.Warn("lease taken while the heartbeat is failing: giving it up", "shard", key)
		h.GiveUp()
	}
}

// start launches the processor of a held lease.
func (c *Coordinator) start(sh *ownedShard) {
	l := sh.held.Lease()
	a := Assignment{
		ShardID: l.Key, ParentShardIDs: l.ParentShardIDs, Checkpoint: l.Checkpoint,
		Pending: l.Pending, Checkpointer: sh.held,
	}
	c.mu.Lock()
	sh.running = true
	c.mu.Unlock()
	c.emit(EventStarted, l.Key, "", nil)
	go func() {
		err := c.proc.ProcessShard(sh.ctx, sh.drain, a)
		c.exits <- exit{key: l.Key, sh: sh, err: err}
	}()
}

// onExit decides what follows a processor's return.
func (c *Coordinator) onExit(hard context.Context, e exit) {
	sh := e.sh
	c.mu.Lock()
	sh.running = false
	c.mu.Unlock()
	if e.err != nil && !errors.Is(e.err, context.Canceled) {
		c.log.Warn("processor stopped with an error", "shard", e.key, "err", e.err)
	}
	c.emit(EventStopped, e.key, "", e.err)
	forget := func() {
		c.mu.Lock()
		if c.owned[e.key] == sh {
			delete(c.owned, e.key)
		}
		c.mu.Unlock()
		sh.cancel()
	}
	switch {
	case hard.Err() != nil:
	case sh.held.Lease().Finished():
		c.finished.Add(1)
		c.emit(EventFinished, e.key, "", nil)
		if err := sh.held.Release(hard); err != nil {
			c.log.Warn("release of a finished lease failed", "shard", e.key, "err", err)
		}
		forget()
		c.poke() // its children may start now, here
		for _, owner := range c.childOwners(e.key) {
			c.notify(hard, owner) // or there
		}
	case sh.held.Lost():
		forget()
	case sh.handoffTo != "" && sh.drained:
		c.handOver(hard, sh)
		forget()
	case c.shuttingDown:
		// Released once every processor has returned.
	default:
		sh.failures++
		backoff := min(c.cfg.RenewInterval<<min(sh.failures, 10), c.cfg.FailoverTime)
		sh.retryAt = time.Now().Add(backoff)
		c.log.Warn("processor will restart from the checkpoint", "shard", e.key, "after", backoff, "failures", sh.failures)
	}
}

func (c *Coordinator) handOver(hard context.Context, sh *ownedShard) {
	handed, err := sh.held.Transfer(hard, sh.handoffTo)
	if err != nil {
		c.log.Warn("handoff failed", "shard", sh.held.Key(), "to", sh.handoffTo, "err", err)
		return
	}
	if !handed {
		c.log.Info("handoff withdrawn: lease released", "shard", sh.held.Key(), "to", sh.handoffTo)
		c.emit(EventReleased, sh.held.Key(), "", nil)
		return
	}
	c.log.Info("lease handed over", "shard", sh.held.Key(), "to", sh.handoffTo)
	c.emit(EventHandedOver, sh.held.Key(), sh.handoffTo, nil)
}

// childOwners lists the other workers that own a child of the shard, in the last scan and
// shard listing: they are told when it ends.
func (c *Coordinator) childOwners(parent string) []string {
	kids := map[string]bool{}
	c.mu.Lock()
	for _, s := range c.shards {
		if slices.Contains(s.ParentShardIDs, parent) {
			kids[s.ShardID] = true
		}
	}
	leases := c.leases
	c.mu.Unlock()
	owners := map[string]bool{}
	for _, l := range leases {
		if (kids[l.Key] || slices.Contains(l.ParentShardIDs, parent)) && l.Owner != "" && l.Owner != c.cfg.WorkerID {
			owners[l.Owner] = true
		}
	}
	return slices.Sorted(maps.Keys(owners))
}

// startReady starts the processors of held leases whose parents all ended, as the last scan
// shows them (SHARD_END stays once written, so a scan that lags only delays a start). A parent
// whose lease is gone was finished and cleaned up; since an eventually consistent scan may
// also miss a lease written a moment ago, a missing parent is confirmed by a strongly
// consistent read, once.
func (c *Coordinator) startReady(hard context.Context, byKey map[string]lease.Lease, now time.Time) {
	c.mu.Lock()
	var candidates []*ownedShard
	for _, sh := range c.owned {
		if sh.running || sh.drained || sh.held.Lost() || now.Before(sh.retryAt) {
			continue
		}
		candidates = append(candidates, sh)
	}
	c.mu.Unlock()
	for _, sh := range candidates {
		if c.parentsEnded(hard, sh.parents, byKey) {
			c.start(sh)
		}
	}
}

func (c *Coordinator) parentsEnded(hard context.Context, parents []string, byKey map[string]lease.Lease) bool {
	for _, p := range parents {
		if pl, listed := byKey[p]; listed {
			if !pl.Finished() {
				return false
			}
			continue
		}
		if c.finishedGone[p] {
			continue
		}
		pl, exists, err := c.table.Get(hard, p)
		switch {
		case err != nil:
			if hard.Err() == nil {
				c.log.Warn("reading a parent lease failed", "shard", p, "err", err)
			}
			return false
		case exists && !pl.Finished():
			return false
		case !exists:
			c.finishedGone[p] = true
		}
	}
	return true
}
