// Package worker coordinates the workers (ECS tasks) that consume one CDC stream together: they
// divide its shards through the leases of package lease, KCL-style. A Coordinator lists the
// shards and creates their leases, writes its heartbeat on its own schedule (the leases it
// holds live while it moves), takes free leases and those of workers gone, steals (with a
// graceful handoff) to even the load, holds back a child shard until its parents ended, and on
// shutdown drains its processors and releases its leases.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// LeaseTable is what the coordinator needs of the lease table (*lease.Table).
type LeaseTable interface {
	List(ctx context.Context) ([]lease.Lease, error)
	Scan(ctx context.Context) (lease.Snapshot, error)
	ScanEventually(ctx context.Context) (lease.Snapshot, error)
	Workers(ctx context.Context, ids []string) ([]lease.Lease, error)
	Get(ctx context.Context, key string) (lease.Lease, bool, error)
	Heartbeat(ctx context.Context, worker string) (lease.Lease, error)
	Notify(ctx context.Context, worker string) error
	DeleteWorker(ctx context.Context, worker string, counter int64) error
	CreateLease(ctx context.Context, key string, parents []string, position string) (bool, error)
	Take(ctx context.Context, l lease.Lease, owner string) (*lease.Held, error)
	RequestHandoff(ctx context.Context, l lease.Lease, to string) error
	WithdrawHandoff(ctx context.Context, key, from string) error
	Evict(ctx context.Context, l lease.Lease) error
	DeleteFinished(ctx context.Context, key string) error
}

// Coordinator runs one worker's share of the stream.
type Coordinator struct {
	cfg    Config
	table  LeaseTable
	lister ShardLister
	proc   Processor
	log    *slog.Logger

	mu     sync.Mutex
	owned  map[string]*ownedShard // the leases this worker holds
	shards []Shard                // the last shard listing
	leases []lease.Lease          // the shard leases of the last scan (shard sync reads them too)

	// The heartbeat (under mu): see heartbeat.go.
	beatSentAt  time.Time   // when the last heartbeat that succeeded was sent
	gaveUp      bool        // the watchdog gave the leases up; no heartbeat succeeded since
	notices     int64       // the presence item's notices at the last heartbeat
	noticesSeen bool        // notices was read once
	stopped     bool        // Run returned: the watchdog stays off
	watchdog    *time.Timer // fires giveUpAfter after the last successful heartbeat was sent

	// Used by Run's goroutine only.
	seen         map[string]*observation // by leaseKey: the leases and the presence items
	snap         lease.Snapshot          // the last scan
	byKey        map[string]lease.Lease  // its leases by key
	scannedAt    time.Time               // when it returned
	peers        []lease.Lease           // the presence items of the other workers, as last read (strongly consistent)
	peersReadAt  time.Time               // when that read started
	goneOwners   map[string]bool         // owners judged gone at the last take cycle
	vanished     bool                    // a presence item vanished since the last take cycle
	finishedGone map[string]bool         // parents confirmed gone by a strongly consistent read
	lookUntil    time.Time               // no balancing before: set by the first take cycle
	balanced     bool                    // a take cycle balanced once
	busy         bool                    // something is under way: read the table at the next take cycle
	expiry       *time.Timer             // a take cycle when the next worker would be gone
	shuttingDown bool

	wantScan atomic.Bool // read the whole table at the next take cycle
	wake     chan struct{}
	exits    chan exit

	abortOnce sync.Once
	abort     chan struct{}
	running   atomic.Bool
	soft      context.Context // Run's context: its end asks for a graceful shutdown

	takes, steals, renewFailures, lost, finished atomic.Int64
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
	c := &Coordinator{
		cfg: cfg, table: table, lister: lister, proc: proc,
		log:          cfg.Logger.With("worker", cfg.WorkerID),
		owned:        map[string]*ownedShard{},
		seen:         map[string]*observation{},
		byKey:        map[string]lease.Lease{},
		goneOwners:   map[string]bool{},
		finishedGone: map[string]bool{},
		expiry:       time.NewTimer(time.Hour),
		wake:         make(chan struct{}, 1),
		exits:        make(chan exit),
		abort:        make(chan struct{}),
	}
	c.expiry.Stop()
	c.watchdog = time.AfterFunc(time.Hour, c.heartbeatOverdue)
	c.watchdog.Stop()
	return c, nil
}

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
	defer c.stopWatchdog()
	if err := c.syncShards(hard); err != nil {
		if hard.Err() != nil {
			return ErrAborted
		}
		return fmt.Errorf("worker %s: first shard sync: %w", c.cfg.WorkerID, err)
	}
	// The first heartbeat before the first take cycle: the others count this worker from now.
	c.beat(hard)
	syncCtx, stopSync := context.WithCancel(hard)
	beatCtx, stopBeat := context.WithCancel(hard)
	var syncing, beating sync.WaitGroup
	syncing.Add(1)
	beating.Add(1)
	go func() { defer beating.Done(); c.every(beatCtx, c.cfg.RenewInterval, c.beat) }()
	go func() {
		defer syncing.Done()
		c.every(syncCtx, c.cfg.ShardSyncInterval, func(ctx context.Context) {
			if err := c.syncShards(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("shard sync failed", "err", err)
			}
		})
	}()
	stopSyncing := func() { stopSync(); syncing.Wait() }
	stopBeating := func() { stopBeat(); beating.Wait() }
	defer func() { stopSyncing(); stopBeating() }()

	take := time.NewTicker(c.cfg.TakeInterval)
	defer take.Stop()
	defer c.expiry.Stop()
	c.takeCycle(hard)
	for {
		select {
		case <-ctx.Done():
			return c.shutdown(hard, stopSyncing, stopBeating)
		case <-hard.Done():
			c.waitProcessors(nil)
			return ErrAborted
		case <-take.C:
			c.takeCycle(hard)
		case <-c.wake:
			c.takeCycle(hard)
		case <-c.expiry.C:
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

// poke asks Run's goroutine for a take cycle soon, reading the whole table.
func (c *Coordinator) poke() {
	c.wantScan.Store(true)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
