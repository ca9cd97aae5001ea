package worker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// memTable is an in-memory lease table for the shard sync rules; only List and CreateLease
// are used by syncShards (CreateLease concurrently).
type memTable struct {
	mu      sync.Mutex
	leases  map[string]lease.Lease
	created []string // in creation order
	lists   int      // List calls
}

func (m *memTable) List(context.Context) ([]lease.Lease, error) {
	m.lists++
	var out []lease.Lease
	for _, l := range m.leases {
		out = append(out, l)
	}
	return out, nil
}

func (m *memTable) CreateLease(_ context.Context, key string, parents []string, position string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.leases[key]; ok {
		return false, nil
	}
	m.leases[key] = lease.Lease{Key: key, ParentShardIDs: parents, Checkpoint: position}
	m.created = append(m.created, key)
	return true, nil
}

var errUnused = errors.New("not used by shard sync")

func (m *memTable) Take(context.Context, lease.Lease, string) (*lease.Held, error) {
	return nil, errUnused
}
func (m *memTable) RequestHandoff(context.Context, lease.Lease, string) error { return errUnused }
func (m *memTable) Evict(context.Context, lease.Lease) error                  { return errUnused }
func (m *memTable) DeleteFinished(context.Context, string) error              { return errUnused }
func (m *memTable) WithdrawHandoff(context.Context, string, string) error     { return errUnused }
func (m *memTable) Scan(context.Context) (lease.Snapshot, error)              { return lease.Snapshot{}, errUnused }
func (m *memTable) ScanEventually(context.Context) (lease.Snapshot, error) {
	return lease.Snapshot{}, errUnused
}
func (m *memTable) Workers(context.Context, []string) ([]lease.Lease, error) { return nil, errUnused }
func (m *memTable) Get(context.Context, string) (lease.Lease, bool, error) {
	return lease.Lease{}, false, errUnused
}
func (m *memTable) Heartbeat(context.Context, string) (lease.Lease, error) {
	return lease.Lease{}, errUnused
}
func (m *memTable) Notify(context.Context, string) error              { return errUnused }
func (m *memTable) DeleteWorker(context.Context, string, int64) error { return errUnused }

type staticLister []Shard

func (s staticLister) ListShards(context.Context) ([]Shard, error) { return s, nil }

type idleProc struct{}

func (idleProc) ProcessShard(ctx context.Context, _ <-chan struct{}, _ Assignment) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestShardSyncRules(t *testing.T) {
	const th, latest, end = checkpoint.TrimHorizon, checkpoint.Latest, checkpoint.ShardEnd
	open := func(id string, parents ...string) Shard { return Shard{ShardID: id, ParentShardIDs: parents} }
	closed := func(id string, parents ...string) Shard {
		return Shard{ShardID: id, ParentShardIDs: parents, Closed: true}
	}
	for _, tc := range []struct {
		name     string
		position string
		shards   []Shard
		existing map[string]string // lease -> checkpoint before the sync
		want     map[string]string // lease -> checkpoint after it
	}{
		{
			name: "fresh, trim horizon: parent and child, listed child first", position: th,
			shards: []Shard{open("c", "p"), closed("p")},
			want:   map[string]string{"p": th, "c": th},
		},
		{
			name: "fresh, latest: closed parent skipped, open child at latest", position: latest,
			shards: []Shard{closed("p"), open("c", "p")},
			want:   map[string]string{"c": latest},
		},
		{
			name: "latest: a child of a known parent starts at trim horizon", position: latest,
			shards:   []Shard{closed("p"), open("c1", "p"), open("c2", "p")},
			existing: map[string]string{"p": "0042"},
			want:     map[string]string{"p": "0042", "c1": th, "c2": th},
		},
		{
			name: "merge: a child of two parents, one known", position: latest,
			shards:   []Shard{closed("a"), closed("b"), open("m", "a", "b")},
			existing: map[string]string{"a": end},
			want:     map[string]string{"a": end, "m": th},
		},
		{
			name: "cleaned-up parent is not recreated", position: th,
			shards:   []Shard{closed("p"), open("c", "p")},
			existing: map[string]string{"c": "0007"},
			want:     map[string]string{"c": "0007"},
		},
		{
			name: "cleaned-up chain is not recreated, new grandchild at trim horizon", position: th,
			shards:   []Shard{closed("p"), closed("c", "p"), open("g", "c"), open("g2", "c")},
			existing: map[string]string{"g": "0003"},
			want:     map[string]string{"g": "0003", "g2": th},
		},
		{
			name: "latest: a late sibling of a cleaned-up parent's child starts at trim horizon", position: latest,
			shards:   []Shard{closed("p"), open("c1", "p"), open("c2", "p")},
			existing: map[string]string{"c1": "0009"},
			want:     map[string]string{"c1": "0009", "c2": th},
		},
		{
			name: "closed shard without children is read from the start", position: th,
			shards: []Shard{closed("x")},
			want:   map[string]string{"x": th},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := &memTable{leases: map[string]lease.Lease{}}
			for k, cp := range tc.existing {
				tbl.leases[k] = lease.Lease{Key: k, Checkpoint: cp}
			}
			c, err := New(Config{WorkerID: "w", InitialPosition: tc.position, Logger: testLogger()}, tbl, staticLister(tc.shards), idleProc{})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.syncShards(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, l := range tbl.leases {
				got[k] = l.Checkpoint
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("leases after sync: %v, want %v", got, tc.want)
			}
			// A child's lease must never exist without its parent's: the lineage check reads a
			// missing parent lease as a finished, cleaned-up parent.
			at := map[string]int{}
			for i, k := range tbl.created {
				at[k] = i
			}
			for _, k := range tbl.created {
				for _, p := range tbl.leases[k].ParentShardIDs {
					if i, ok := at[p]; ok && i > at[k] {
						t.Fatalf("%s created before its parent %s: %v", k, p, tbl.created)
					}
				}
			}
			for _, s := range tc.shards {
				if l, ok := tbl.leases[s.ShardID]; ok && len(l.ParentShardIDs) != len(s.ParentShardIDs) && tc.existing[s.ShardID] == "" {
					t.Fatalf("%s created with parents %v, want %v", s.ShardID, l.ParentShardIDs, s.ParentShardIDs)
				}
			}
		})
	}
}

// TestShardSyncReadsTheTableOnlyWhenALeaseLooksMissing: shard sync decides from the take
// cycles' last scan; it reads the table (strongly consistent) only when that scan shows a
// lease missing, and then creates from what it read, not from the scan.
func TestShardSyncReadsTheTableOnlyWhenALeaseLooksMissing(t *testing.T) {
	shards := []Shard{{ShardID: "p", Closed: true}, {ShardID: "c", ParentShardIDs: []string{"p"}}}
	for _, tc := range []struct {
		name      string
		scanned   []string // leases in the last scan; nil: no scan yet
		table     []string // leases in the table
		lists     int
		wantTable []string
	}{
		{"no scan yet: read the table", nil, []string{"p", "c"}, 1, []string{"c", "p"}},
		{"the scan shows every lease: no read", []string{"p", "c"}, []string{"p", "c"}, 0, []string{"c", "p"}},
		{"the scan shows the parent cleaned up: no read", []string{"c"}, []string{"c"}, 0, []string{"c"}},
		// A scan that lags shows the child missing; the table has it and the parent is gone
		// (cleaned up): nothing is created, in particular not the parent.
		{"a stale scan: decided again from the table", []string{"p"}, []string{"c"}, 1, []string{"c"}},
		{"a new shard: read, then create", []string{"p"}, []string{"p"}, 1, []string{"c", "p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := &memTable{leases: map[string]lease.Lease{}}
			for _, k := range tc.table {
				tbl.leases[k] = lease.Lease{Key: k, Checkpoint: "0001"}
			}
			c, err := New(Config{WorkerID: "w", Logger: testLogger()}, tbl, staticLister(shards), idleProc{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.scanned != nil {
				c.leases = []lease.Lease{}
				for _, k := range tc.scanned {
					c.leases = append(c.leases, lease.Lease{Key: k, Checkpoint: "0001"})
				}
			}
			if err := c.syncShards(context.Background()); err != nil {
				t.Fatal(err)
			}
			if tbl.lists != tc.lists {
				t.Errorf("%d reads of the table, want %d", tbl.lists, tc.lists)
			}
			if got := slices.Sorted(maps.Keys(tbl.leases)); !slices.Equal(got, tc.wantTable) {
				t.Errorf("leases %v, want %v", got, tc.wantTable)
			}
		})
	}
}

// TestGenerations: the leases of one sync are created generation by generation, each after
// every parent created in the same sync; leases whose parents exist already come first.
func TestGenerations(t *testing.T) {
	m := func(id string, parents ...string) missingLease {
		return missingLease{shard: Shard{ShardID: id, ParentShardIDs: parents}}
	}
	// a and b are new; c's parent a is new, d's parent x exists; e merges c and b.
	got := generations([]missingLease{m("a"), m("b"), m("c", "a"), m("d", "x"), m("e", "c", "b")})
	var ids [][]string
	for _, g := range got {
		var row []string
		for _, l := range g {
			row = append(row, l.shard.ShardID)
		}
		ids = append(ids, row)
	}
	want := [][]string{{"a", "b", "d"}, {"c"}, {"e"}}
	if !slices.EqualFunc(ids, want, slices.Equal) {
		t.Fatalf("generations %v, want %v", ids, want)
	}
}
