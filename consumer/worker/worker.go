// Package worker coordinates the workers (ECS tasks) that consume one CDC stream together: they
// divide its shards through the leases of package lease, KCL-style. A Coordinator lists the
// shards and creates their leases, renews the leases it holds on its own schedule, takes free
// and expired ones, steals (with a graceful handoff) to even the load, holds back a child shard
// until its parents ended, and on shutdown drains its processors and releases its leases.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// Shard is what shard sync needs to know of a stream's shard.
type Shard struct {
	ShardID        string
	ParentShardIDs []string
	Closed         bool
}

// ShardLister lists the stream's shards.
type ShardLister interface {
	ListShards(ctx context.Context) ([]Shard, error)
}

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

// LeaseTable is what the coordinator needs of the lease table (*lease.Table).
type LeaseTable interface {
	List(ctx context.Context) ([]lease.Lease, error)
	Scan(ctx context.Context) (lease.Snapshot, error)
	Heartbeat(ctx context.Context, worker string) error
	DeleteWorker(ctx context.Context, worker string, counter int64) error
	CreateLease(ctx context.Context, key string, parents []string, position string) (bool, error)
	Take(ctx context.Context, l lease.Lease, owner string) (*lease.Held, error)
	RequestHandoff(ctx context.Context, l lease.Lease, to string) error
	WithdrawHandoff(ctx context.Context, key, from string) error
	Evict(ctx context.Context, l lease.Lease) error
	DeleteFinished(ctx context.Context, key string) error
}

// EventType says what happened to a lease or its processor.
type EventType string

// Events, in the order a lease usually sees them.
const (
	EventCreated          EventType = "created"           // shard sync created the lease
	EventTaken            EventType = "taken"             // this worker took it (Peer: the previous owner, if any)
	EventHandoffRequested EventType = "handoff-requested" // this worker asked Peer to hand it over (a steal)
	EventStarted          EventType = "started"           // this worker's processor started on it
	EventStopped          EventType = "stopped"           // this worker's processor returned (Err)
	EventFinished         EventType = "finished"          // the shard ended (SHARD_END written)
	EventHandedOver       EventType = "handed-over"       // given to Peer after a drain
	EventReleased         EventType = "released"          // owner cleared
	EventLost             EventType = "lost"              // another worker owns it now, or it could not be renewed
	EventParentDeleted    EventType = "parent-deleted"    // a finished parent's lease was cleaned up
)

// Event is one lease or processor event of a worker.
type Event struct {
	Time   time.Time
	Type   EventType
	Worker string
	Shard  string
	Peer   string
	Err    error
}

// Stats are the coordinator's counters since it started.
type Stats struct {
	LeasesHeld     int
	Takes          int64 // leases taken: free, expired, adopted after a handoff
	Steals         int64 // handoffs this worker asked for
	RenewFailures  int64 // renewals that failed (lost or errored)
	LeasesLost     int64
	ShardsFinished int64
}

// Coordinator runs one worker's share of the stream.
type Coordinator struct {
	cfg    Config
	table  LeaseTable
	lister ShardLister
	proc   Processor
	log    *slog.Logger

	mu     sync.Mutex
	runs   map[string]*run // the leases this worker holds
	shards []Shard         // the last shard listing

	// Used by Run's goroutine only.
	seen         map[string]*observation // by leaseKey: the leases and the presence items
	lookUntil    time.Time               // no balancing before: set by the first take cycle
	shuttingDown bool

	wake  chan struct{}
	exits chan exit

	abortOnce sync.Once
	abort     chan struct{}
	running   atomic.Bool
	soft      context.Context // Run's context: its end asks for a graceful shutdown

	takes, steals, renewFailures, lost, finished atomic.Int64
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

// observation is what this worker last saw of a lease, timed on its own monotonic clock.
type observation struct {
	owner         string
	counter       int64
	changedAt     time.Time // when owner or counter last changed
	finishedAt    time.Time // when first seen at SHARD_END
	handoffSeenAt time.Time // when first seen with a handoff request to this worker
}

type exit struct {
	key string
	r   *run
	err error
}

// New returns a coordinator; table is usually a *lease.Table.
func New(cfg Config, table LeaseTable, lister ShardLister, proc Processor) (*Coordinator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if table == nil || lister == nil || proc == nil {
		return nil, errors.New("worker: table, lister and processor are required")
	}
	return &Coordinator{
		cfg: cfg, table: table, lister: lister, proc: proc,
		log:   cfg.Logger.With("worker", cfg.WorkerID),
		runs:  map[string]*run{},
		seen:  map[string]*observation{},
		wake:  make(chan struct{}, 1),
		exits: make(chan exit),
		abort: make(chan struct{}),
	}, nil
}

// Stats returns the counters.
func (c *Coordinator) Stats() Stats {
	c.mu.Lock()
	held := 0
	for _, r := range c.runs {
		if !r.held.Lost() {
			held++
		}
	}
	c.mu.Unlock()
	return Stats{
		LeasesHeld: held, Takes: c.takes.Load(), Steals: c.steals.Load(),
		RenewFailures: c.renewFailures.Load(), LeasesLost: c.lost.Load(), ShardsFinished: c.finished.Load(),
	}
}

// Abort stops the worker at once, as a crash would: processors' contexts end, renewals stop,
// nothing more is written and no lease is released (others take them after the failover
// time). Run returns. Use it when a graceful shutdown overran its deadline.
func (c *Coordinator) Abort() { c.abortOnce.Do(func() { close(c.abort) }) }

// ErrAborted is returned by Run after Abort.
var ErrAborted = errors.New("worker aborted")

// Run works until ctx ends, then shuts down gracefully: it closes every processor's drain,
// waits for them to flush and checkpoint, releases its leases and returns nil. It returns an
// error at once if the first shard listing fails, and ErrAborted after Abort.
func (c *Coordinator) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("worker: Run called twice")
	}
	c.soft = ctx
	hard, hardCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hardCancel()
	go func() {
		select {
		case <-c.abort:
			hardCancel()
		case <-hard.Done():
		}
	}()
	if err := c.syncShards(hard); err != nil {
		if hard.Err() != nil {
			return ErrAborted
		}
		return fmt.Errorf("worker %s: first shard sync: %w", c.cfg.WorkerID, err)
	}
	bgCtx, bgStop := context.WithCancel(hard)
	var bg sync.WaitGroup
	bg.Add(2)
	go func() { defer bg.Done(); c.every(bgCtx, c.cfg.RenewInterval, c.renewAll) }()
	go func() {
		defer bg.Done()
		c.every(bgCtx, c.cfg.ShardSyncInterval, func(ctx context.Context) {
			if err := c.syncShards(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("shard sync failed", "err", err)
			}
		})
	}()
	defer func() { bgStop(); bg.Wait() }()

	take := time.NewTicker(c.cfg.TakeInterval)
	defer take.Stop()
	c.takeCycle(hard)
	for {
		select {
		case <-ctx.Done():
			return c.shutdown(hard, bgStop, &bg)
		case <-hard.Done():
			c.waitProcessors(nil)
			return ErrAborted
		case <-take.C:
			c.takeCycle(hard)
		case <-c.wake:
			c.takeCycle(hard)
		case e := <-c.exits:
			c.onExit(hard, e)
		}
	}
}

// every calls f every d until ctx ends.
func (c *Coordinator) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f(ctx)
		}
	}
}

// stopping reports whether a graceful shutdown was asked for.
func (c *Coordinator) stopping() bool { return c.soft.Err() != nil }

// poke asks Run's goroutine for a take cycle soon.
func (c *Coordinator) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Coordinator) emit(t EventType, shard, peer string, err error) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(Event{Time: time.Now(), Type: t, Worker: c.cfg.WorkerID, Shard: shard, Peer: peer, Err: err})
	}
}

// shutdown drains every processor, stops renewing, releases the leases still held.
func (c *Coordinator) shutdown(hard context.Context, bgStop context.CancelFunc, bg *sync.WaitGroup) error {
	c.shuttingDown = true
	c.mu.Lock()
	n := len(c.runs)
	for _, r := range c.runs {
		r.closeDrain()
	}
	c.mu.Unlock()
	c.log.Info("shutting down: draining processors", "leases", n)
	if !c.waitProcessors(func(e exit) { c.onExit(hard, e) }) {
		return ErrAborted
	}
	bgStop()
	bg.Wait()
	c.mu.Lock()
	var keep []*run
	for key, r := range c.runs {
		keep = append(keep, r)
		delete(c.runs, key)
	}
	c.mu.Unlock()
	var released atomic.Int64
	sem := make(chan struct{}, c.cfg.RenewConcurrency)
	var wg sync.WaitGroup
	for _, r := range keep {
		if r.held.Lost() {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := r.held.Release(hard); err != nil {
				c.log.Warn("release failed; the lease expires after the failover time", "shard", r.held.Key(), "err", err)
				return
			}
			released.Add(1)
			c.emit(EventReleased, r.held.Key(), "", nil)
		}()
	}
	wg.Wait()
	if err := c.table.DeleteWorker(hard, c.cfg.WorkerID, -1); err != nil {
		c.log.Warn("deleting this worker's presence failed; the others stop counting it after the failover time", "err", err)
	}
	// Withdraw this worker's pending steals, so that no lease is handed to it from now on
	// (the owner releases it instead); then a lease handed to it before that, after its last
	// take cycle, names it the owner but was never adopted: free it too, or it would wait
	// for the failover time.
	if leases, err := c.table.List(hard); err == nil {
		for _, l := range leases {
			if l.HandoffTo == c.cfg.WorkerID && l.Owner != c.cfg.WorkerID {
				if err := c.table.WithdrawHandoff(hard, l.Key, c.cfg.WorkerID); err != nil && !errors.Is(err, lease.ErrConflict) {
					c.log.Warn("withdraw handoff request failed", "shard", l.Key, "err", err)
				}
			}
		}
	}
	if leases, err := c.table.List(hard); err == nil {
		for _, l := range leases {
			if l.Owner != c.cfg.WorkerID || l.Finished() {
				continue
			}
			if err := c.table.Evict(hard, l); err == nil {
				released.Add(1)
				c.emit(EventReleased, l.Key, "", nil)
			}
		}
	}
	c.log.Info("shut down", "released", released.Load())
	if hard.Err() != nil {
		return ErrAborted
	}
	return nil
}

// waitProcessors waits until no processor runs, passing their exits to handle (nil: drop
// them). It reports false when an Abort cut the wait short after every processor returned.
func (c *Coordinator) waitProcessors(handle func(exit)) bool {
	for {
		c.mu.Lock()
		busy := 0
		for _, r := range c.runs {
			if r.running {
				busy++
			}
		}
		c.mu.Unlock()
		if busy == 0 {
			select {
			case <-c.abort:
				return false
			default:
				return true
			}
		}
		e := <-c.exits
		if handle != nil {
			handle(e)
			continue
		}
		c.mu.Lock()
		e.r.running = false
		c.mu.Unlock()
		c.emit(EventStopped, e.key, "", e.err)
	}
}

func (r *run) closeDrain() {
	if !r.drained {
		r.drained = true
		close(r.drain)
	}
}

// renewAll renews every held lease, a bounded number at a time. A lease that someone else
// took is lost at once (its processor's context is cancelled by the OnLost hook); one that
// could not be renewed for nearly the failover time is given up before others may take it.
func (c *Coordinator) renewAll(ctx context.Context) {
	c.mu.Lock()
	var helds []*lease.Held
	for _, r := range c.runs {
		if !r.held.Lost() {
			helds = append(helds, r.held)
		}
	}
	c.mu.Unlock()
	sem := make(chan struct{}, c.cfg.RenewConcurrency)
	var wg sync.WaitGroup
	for _, h := range helds {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// A hung call must not hold back the next renewals (SDK calls have no deadline of
			// their own); a renewal cut short is re-read before the next write.
			rctx, cancel := context.WithTimeout(ctx, c.cfg.FailoverTime/3)
			err := h.Renew(rctx)
			cancel()
			if err == nil || ctx.Err() != nil || h.Released() {
				return
			}
			c.renewFailures.Add(1)
			if errors.Is(err, checkpoint.ErrLeaseLost) {
				c.log.Warn("lease lost at renewal", "shard", h.Key(), "err", err)
				return
			}
			// Others judge it expired FailoverTime after they last saw it change, which is
			// after this worker's last successful write: give up at the last renewal tick
			// before that (ticks come every interval, a little late: hence the quarter).
			if time.Since(h.RenewedAt())+c.cfg.RenewInterval*5/4 >= c.cfg.FailoverTime {
				c.log.Error("lease not renewed within the failover time: giving it up", "shard", h.Key(), "err", err)
				h.GiveUp()
				return
			}
			c.log.Warn("lease renewal failed; retrying", "shard", h.Key(), "err", err)
		}()
	}
	wg.Wait()
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
	listed := map[string]bool{}
	for _, l := range append(slices.Clone(leases), snap.Workers...) {
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
	expired := func(l lease.Lease) bool {
		return l.Owner != "" && now.Sub(c.seen[l.Key].changedAt) >= c.cfg.FailoverTime
	}

	c.reconcile(hard, byKey)
	if !now.Before(c.lookUntil) {
		c.balance(hard, leases, snap.Workers, expired)
	}
	c.startReady(byKey, now)
	c.cleanParents(hard, leases, byKey, now)
	c.cleanWorkers(hard, snap.Workers, now)
}

// cleanWorkers deletes the presence items of workers whose heartbeat has not moved for three
// failover times (crashed tasks; every ECS task has a new id), on condition that it still
// has not.
func (c *Coordinator) cleanWorkers(hard context.Context, workers []lease.Lease, now time.Time) {
	for _, w := range workers {
		if w.Owner == c.cfg.WorkerID || now.Sub(c.seen[w.Key].changedAt) < 3*c.cfg.FailoverTime {
			continue
		}
		if err := c.table.DeleteWorker(hard, w.Owner, w.Counter); err != nil && !errors.Is(err, lease.ErrConflict) {
			c.log.Warn("deleting a gone worker's presence failed", "peer", w.Owner, "err", err)
			continue
		}
		c.log.Info("a gone worker's presence deleted", "peer", w.Owner)
	}
}

// reconcile compares the held leases with the table: drops lost ones, notices handoff
// requests, adopts leases the table names this worker the owner of (handed over to it).
func (c *Coordinator) reconcile(hard context.Context, byKey map[string]lease.Lease) {
	me := c.cfg.WorkerID
	c.mu.Lock()
	var handOverNow []*run
	for key, r := range c.runs {
		l, ok := byKey[key]
		if !r.held.Lost() && (!ok || l.Owner != me) {
			r.held.GiveUp() // taken by someone else; its renewal would fail too
		}
		if r.held.Lost() {
			if !r.running {
				delete(c.runs, key)
				r.cancel()
			}
			continue
		}
		if l.HandoffTo != "" && r.handoffTo == "" {
			r.handoffTo = l.HandoffTo
			c.log.Info("handoff requested: draining", "shard", key, "to", l.HandoffTo)
			r.closeDrain()
			if !r.running {
				handOverNow = append(handOverNow, r)
			}
		}
	}
	c.mu.Unlock()
	for _, r := range handOverNow {
		c.handOver(hard, r)
		c.mu.Lock()
		delete(c.runs, r.held.Key())
		c.mu.Unlock()
		r.cancel()
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
	_, ok := c.runs[key]
	return ok
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

// cleanParents deletes the leases of finished parents once every child's lease exists and
// has been taken, and the parent has been at SHARD_END for the grace period.
func (c *Coordinator) cleanParents(hard context.Context, leases []lease.Lease, byKey map[string]lease.Lease, now time.Time) {
	children := map[string][]string{}
	c.mu.Lock()
	for _, s := range c.shards {
		for _, p := range s.ParentShardIDs {
			children[p] = append(children[p], s.ShardID)
		}
	}
	c.mu.Unlock()
	for _, l := range leases {
		for _, p := range l.ParentShardIDs {
			if !slices.Contains(children[p], l.Key) {
				children[p] = append(children[p], l.Key)
			}
		}
	}
	for _, l := range leases {
		kids := children[l.Key]
		if !l.Finished() || len(kids) == 0 || now.Sub(c.seen[l.Key].finishedAt) < c.cfg.ParentCleanupGrace {
			continue
		}
		started := true
		for _, k := range kids {
			if kl, ok := byKey[k]; !ok || kl.Counter == 0 {
				started = false
			}
		}
		if !started {
			continue
		}
		if err := c.table.DeleteFinished(hard, l.Key); err != nil {
			c.log.Warn("cleanup of a finished parent failed", "shard", l.Key, "err", err)
			continue
		}
		c.log.Info("finished parent lease deleted", "shard", l.Key, "children", kids)
		c.emit(EventParentDeleted, l.Key, "", nil)
	}
}

// syncShards lists the shards and creates the missing leases, parents before children: a
// child of a shard with a lease (or whose lease was cleaned up after it ended) starts at
// TRIM_HORIZON, other shards at InitialPosition. A
// closed shard without a lease is skipped when a descendant has a lease (it was read and its
// lease cleaned up) or when starting at LATEST (nothing of it is new).
func (c *Coordinator) syncShards(ctx context.Context) error {
	shards, err := c.lister.ListShards(ctx)
	if err != nil {
		return fmt.Errorf("list shards: %w", err)
	}
	leases, err := c.table.List(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.shards = shards
	c.mu.Unlock()

	has := map[string]bool{}
	for _, l := range leases {
		has[l.Key] = true
	}
	had := maps.Clone(has)
	byID := map[string]Shard{}
	kids := map[string][]string{}
	for _, s := range shards {
		byID[s.ShardID] = s
		for _, p := range s.ParentShardIDs {
			kids[p] = append(kids[p], s.ShardID)
		}
	}
	memo := map[string]bool{}
	var descendantHasLease func(id string) bool
	descendantHasLease = func(id string) bool {
		if v, ok := memo[id]; ok {
			return v
		}
		memo[id] = false // cycles cannot happen in a stream; this guards the recursion anyway
		for _, k := range kids[id] {
			if had[k] || descendantHasLease(k) {
				memo[id] = true
				return true
			}
		}
		return false
	}
	created := 0
	for _, s := range parentsFirst(shards, byID) {
		if has[s.ShardID] {
			continue
		}
		// A parent is known when it has a lease, or had one that was cleaned up after it
		// ended (another of its descendants has a lease).
		knownParent := false
		for _, p := range s.ParentShardIDs {
			knownParent = knownParent || has[p] || descendantHasLease(p)
		}
		pos := c.cfg.InitialPosition
		switch {
		case s.Closed && descendantHasLease(s.ShardID):
			continue // read, ended and cleaned up
		case knownParent:
			pos = checkpoint.TrimHorizon
		case s.Closed && c.cfg.InitialPosition == checkpoint.Latest:
			continue // nothing of it is new
		}
		ok, err := c.table.CreateLease(ctx, s.ShardID, s.ParentShardIDs, pos)
		if err != nil {
			return err
		}
		has[s.ShardID] = true
		if ok {
			created++
			c.emit(EventCreated, s.ShardID, "", nil)
		}
	}
	if created > 0 {
		c.log.Info("leases created for new shards", "count", created, "shards", len(shards))
		c.poke()
	}
	return nil
}

// parentsFirst orders the shards so that every listed parent comes before its children.
func parentsFirst(shards []Shard, byID map[string]Shard) []Shard {
	ids := make([]string, 0, len(shards))
	for _, s := range shards {
		ids = append(ids, s.ShardID)
	}
	sort.Strings(ids)
	done := map[string]bool{}
	var out []Shard
	var visit func(id string)
	visit = func(id string) {
		if done[id] {
			return
		}
		done[id] = true
		s := byID[id]
		for _, p := range s.ParentShardIDs {
			if _, listed := byID[p]; listed {
				visit(p)
			}
		}
		out = append(out, s)
	}
	for _, id := range ids {
		visit(id)
	}
	return out
}
