package worker

import (
	"context"
	"errors"
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
	// a.Checkpointer.ShardEnd succeeded; nil after drain was closed and it flushed and
	// checkpointed what it had read (graceful handoff); and at once, writing nothing more, when
	// ctx ends (lease lost, or hard stop).
	ProcessShard(ctx context.Context, drain <-chan struct{}, a Assignment) error
}

// run is a held lease and its processor.
type run struct {
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
	r   *run
	err error
}

func (r *run) closeDrain() {
	if !r.drained {
		r.drained = true
		close(r.drain)
	}
}

// adopt records a lease this worker just took and wires its loss to its processor.
func (c *Coordinator) adopt(hard context.Context, h *lease.Held) {
	l := h.Lease()
	ctx, cancel := context.WithCancel(hard)
	r := &run{held: h, parents: l.ParentShardIDs, ctx: ctx, cancel: cancel, drain: make(chan struct{})}
	key := h.Key()
	h.OnLost(func() {
		cancel()
		c.lost.Add(1)
		c.emit(EventLost, key, "", nil)
		c.poke()
	})
	c.mu.Lock()
	c.runs[key] = r
	c.mu.Unlock()
}

// start launches the processor of a held lease.
func (c *Coordinator) start(r *run) {
	l := r.held.Lease()
	a := Assignment{
		ShardID: l.Key, ParentShardIDs: l.ParentShardIDs, Checkpoint: l.Checkpoint,
		Pending: l.Pending, Checkpointer: r.held,
	}
	c.mu.Lock()
	r.running = true
	c.mu.Unlock()
	c.emit(EventStarted, l.Key, "", nil)
	go func() {
		err := c.proc.ProcessShard(r.ctx, r.drain, a)
		c.exits <- exit{key: l.Key, r: r, err: err}
	}()
}

// onExit decides what follows a processor's return.
func (c *Coordinator) onExit(hard context.Context, e exit) {
	r := e.r
	c.mu.Lock()
	r.running = false
	c.mu.Unlock()
	if e.err != nil && !errors.Is(e.err, context.Canceled) {
		c.log.Warn("processor stopped with an error", "shard", e.key, "err", e.err)
	}
	c.emit(EventStopped, e.key, "", e.err)
	forget := func() {
		c.mu.Lock()
		if c.runs[e.key] == r {
			delete(c.runs, e.key)
		}
		c.mu.Unlock()
		r.cancel()
	}
	switch {
	case hard.Err() != nil:
	case r.held.Lease().Finished():
		c.finished.Add(1)
		c.emit(EventFinished, e.key, "", nil)
		if err := r.held.Release(hard); err != nil {
			c.log.Warn("release of a finished lease failed", "shard", e.key, "err", err)
		}
		forget()
		c.poke() // its children may start now
	case r.held.Lost():
		forget()
	case r.handoffTo != "" && r.drained:
		c.handOver(hard, r)
		forget()
	case c.shuttingDown:
		// Released once every processor has returned.
	default:
		r.failures++
		backoff := min(c.cfg.RenewInterval<<min(r.failures, 10), c.cfg.FailoverTime)
		r.retryAt = time.Now().Add(backoff)
		c.log.Warn("processor will restart from the checkpoint", "shard", e.key, "after", backoff, "failures", r.failures)
	}
}

func (c *Coordinator) handOver(hard context.Context, r *run) {
	handed, err := r.held.Transfer(hard, r.handoffTo)
	if err != nil {
		c.log.Warn("handoff failed", "shard", r.held.Key(), "to", r.handoffTo, "err", err)
		return
	}
	if !handed {
		c.log.Info("handoff withdrawn: lease released", "shard", r.held.Key(), "to", r.handoffTo)
		c.emit(EventReleased, r.held.Key(), "", nil)
		return
	}
	c.log.Info("lease handed over", "shard", r.held.Key(), "to", r.handoffTo)
	c.emit(EventHandedOver, r.held.Key(), r.handoffTo, nil)
}

// startReady starts the processors of held leases whose parents all ended. A parent whose
// lease is gone was finished and cleaned up.
func (c *Coordinator) startReady(byKey map[string]lease.Lease, now time.Time) {
	c.mu.Lock()
	var ready []*run
	for _, r := range c.runs {
		if r.running || r.drained || r.held.Lost() || now.Before(r.retryAt) {
			continue
		}
		ok := true
		for _, p := range r.parents {
			if pl, exists := byKey[p]; exists && !pl.Finished() {
				ok = false
			}
		}
		if ok {
			ready = append(ready, r)
		}
	}
	c.mu.Unlock()
	for _, r := range ready {
		c.start(r)
	}
}
