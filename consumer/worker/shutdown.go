package worker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// Abort stops the worker at once, as a crash would: processors' contexts end, the heartbeat
// stops, nothing more is written and no lease is released (others take them once the
// heartbeat has not moved for the failover time). Run returns. Use it when a graceful
// shutdown overran its deadline.
func (c *Coordinator) Abort() { c.abortOnce.Do(func() { close(c.abort) }) }

// ErrAborted is returned by Run after Abort.
var ErrAborted = errors.New("worker aborted")

// shutdown drains every processor, releases the leases still held, then stops the heartbeat,
// deletes this worker's presence item and notifies the others. The heartbeat goes on until
// the leases are released, so they stay this worker's (and nobody else's) until then.
func (c *Coordinator) shutdown(hard context.Context, stopSyncing, stopBeating func()) error {
	c.shuttingDown = true
	c.mu.Lock()
	n := len(c.owned)
	for _, sh := range c.owned {
		sh.closeDrain()
	}
	c.mu.Unlock()
	c.log.Info("shutting down: draining processors", "leases", n)
	if !c.waitProcessors(func(e exit) { c.onExit(hard, e) }) {
		return ErrAborted
	}
	stopSyncing()
	c.mu.Lock()
	var keep []*ownedShard
	for key, sh := range c.owned {
		keep = append(keep, sh)
		delete(c.owned, key)
	}
	c.mu.Unlock()
	var released atomic.Int64
	sem := make(chan struct{}, c.cfg.WriteConcurrency)
	var wg sync.WaitGroup
	for _, sh := range keep {
		if sh.held.Lost() {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := sh.held.Release(hard); err != nil {
				c.log.Warn("release failed; the lease expires after the failover time", "shard", sh.held.Key(), "err", err)
				return
			}
			released.Add(1)
			c.emit(EventReleased, sh.held.Key(), "", nil)
		}()
	}
	wg.Wait()
	stopBeating()
	c.stopWatchdog()
	if err := c.table.DeleteWorker(hard, c.cfg.WorkerID, -1); err != nil {
		c.log.Warn("deleting this worker's presence failed; the others stop counting it after the failover time", "err", err)
	}
	// Tell the others: they read the table at their next heartbeat and take the leases
	// released, rather than when their next take cycle sees this worker's presence gone.
	if released.Load() > 0 {
		for _, w := range c.peers {
			c.notify(hard, w.Owner)
		}
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
		for _, sh := range c.owned {
			if sh.running {
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
		e.sh.running = false
		c.mu.Unlock()
		c.emit(EventStopped, e.key, "", e.err)
	}
}
