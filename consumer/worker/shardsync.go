package worker

import (
	"context"
	"fmt"
	"maps"
	"sort"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
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
