package worker

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"sync"

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

// syncShards lists the shards and creates the missing leases, parents before children (see
// missingLeases). It decides from the take cycles' last scan of the table when there is one:
// if that shows no lease missing, the table is not read again (a lease deleted since shows
// missing at a later scan). Otherwise it reads the table strongly consistent and decides
// again from that, so no lease is created from a stale view (a cleaned-up parent recreated).
func (c *Coordinator) syncShards(ctx context.Context) error {
	shards, err := c.lister.ListShards(ctx)
	if err != nil {
		return fmt.Errorf("list shards: %w", err)
	}
	c.mu.Lock()
	c.shards = shards
	scanned := c.leases
	c.mu.Unlock()
	if scanned != nil && len(missingLeases(shards, scanned, c.cfg.InitialPosition)) == 0 {
		return nil
	}
	leases, err := c.table.List(ctx)
	if err != nil {
		return err
	}
	created := 0
	for _, generation := range generations(missingLeases(shards, leases, c.cfg.InitialPosition)) {
		n, err := c.createAll(ctx, generation)
		created += n
		if err != nil {
			return err
		}
	}
	if created > 0 {
		c.log.Info("leases created for new shards", "count", created, "shards", len(shards))
		c.poke()
	}
	return nil
}

// createAll creates the leases of one generation, WriteConcurrency at a time (a new stream of
// 1,000 shards does not wait for 1,000 round trips), and returns how many it created (the
// others existed); it stops at the first error.
func (c *Coordinator) createAll(ctx context.Context, ms []missingLease) (int, error) {
	var mu sync.Mutex
	var firstErr error
	created, next := 0, 0
	var wg sync.WaitGroup
	for range min(c.cfg.WriteConcurrency, len(ms)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if firstErr != nil || next >= len(ms) {
					mu.Unlock()
					return
				}
				m := ms[next]
				next++
				mu.Unlock()
				ok, err := c.table.CreateLease(ctx, m.shard.ShardID, m.shard.ParentShardIDs, m.position)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if ok {
					created++
				}
				mu.Unlock()
				if ok {
					c.emit(EventCreated, m.shard.ShardID, "", nil)
				}
			}
		}()
	}
	wg.Wait()
	return created, firstErr
}

// generations splits the leases to create (parents before children, as missingLeases lists
// them) into groups that may be created at the same time: a lease comes in the group after
// every parent of it that is created in this sync, so no worker ever sees a child's lease
// without its parent's.
func generations(ms []missingLease) [][]missingLease {
	depth := map[string]int{}
	var out [][]missingLease
	for _, m := range ms {
		d := 0
		for _, p := range m.shard.ParentShardIDs {
			if pd, ok := depth[p]; ok {
				d = max(d, pd+1)
			}
		}
		depth[m.shard.ShardID] = d
		for len(out) <= d {
			out = append(out, nil)
		}
		out[d] = append(out[d], m)
	}
	return out
}

// missingLease is a lease shard sync creates: the shard, and where it starts.
type missingLease struct {
	shard    Shard
	position string
}

// missingLeases lists the leases to create for the listed shards, given the leases that exist,
// parents before children: a child of a shard with a lease (or whose lease was cleaned up
// after it ended) starts at TRIM_HORIZON, other shards at initial. A closed shard without a
// lease is skipped when a descendant has a lease (it was read and its lease cleaned up) or
// when starting at LATEST (nothing of it is new). It reads no table.
func missingLeases(shards []Shard, leases []lease.Lease, initial string) []missingLease {
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
	var out []missingLease
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
		pos := initial
		switch {
		case s.Closed && descendantHasLease(s.ShardID):
			continue // read, ended and cleaned up
		case knownParent:
			pos = checkpoint.TrimHorizon
		case s.Closed && initial == checkpoint.Latest:
			continue // nothing of it is new
		}
		out = append(out, missingLease{shard: s, position: pos})
		has[s.ShardID] = true
	}
	return out
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
