package worker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// cleanWorkers deletes the presence items of workers whose heartbeat has not moved for three
// failover times (crashed tasks; every ECS task has a new id), on condition that it still
// has not (the counter this worker read, strongly consistent).
func (c *Coordinator) cleanWorkers(hard context.Context, now time.Time) {
	for _, w := range c.peers {
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
