package iceberg

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"
)

// Snapshot expiry: every commit adds a snapshot, and every snapshot stays in the table's
// metadata file (with its summary: one entry per shard it stored) until it is expired. A
// worker commits each table once per flush interval, so without expiry the metadata file that
// each commit reads and writes again grows without end (about 6 KB per snapshot with 50 shards
// a round, BenchmarkCommitGrowth). Glue's and S3 Tables' maintenance expire snapshots too, but
// on their own schedule and only where it is turned on; the local SQL catalog has none.

// ExpireSnapshots removes from the table's metadata the snapshots older than olderThan,
// keeping the current one, in one commit; it returns how many it removed. Files are not
// deleted (the catalog's orphan-file cleanup does that, so a reader still planning on an old
// snapshot does not lose its files). A commit of another writer in between fails it: the
// caller tries again later. Expiry may remove the summary entry of a shard that has not
// committed for olderThan; the lease checkpoint then says where the shard stands (see
// docs/iceberg.md, "Snapshot expiry").
func (t *ChangeTable) ExpireSnapshots(ctx context.Context, olderThan time.Duration) (int, error) {
	ctx = t.cat.withAWS(ctx)
	tbl, err := t.Refresh(ctx)
	if err != nil || tbl == nil {
		return 0, err
	}
	if !expirable(tbl.Metadata(), olderThan, time.Now()) {
		return 0, nil
	}
	txn := tbl.NewTransaction()
	if err := txn.ExpireSnapshots(table.WithOlderThan(olderThan), table.WithRetainLast(1), table.WithPostCommit(false)); err != nil {
		return 0, fmt.Errorf("iceberg expire snapshots of %s: %w", strings.Join(t.ident, "."), err)
	}
	next, err := txn.Commit(ctx)
	if err != nil {
		return 0, fmt.Errorf("iceberg expire snapshots of %s: %w", strings.Join(t.ident, "."), err)
	}
	removed := len(tbl.Metadata().Snapshots()) - len(next.Metadata().Snapshots())
	return removed, t.setTable(next)
}

// expirable reports whether any snapshot but the current one is older than olderThan at now:
// without one, expiry would be a commit that changes nothing.
func expirable(meta table.Metadata, olderThan time.Duration, now time.Time) bool {
	current := meta.CurrentSnapshot()
	cutoff := now.Add(-olderThan).UnixMilli()
	for _, s := range meta.Snapshots() {
		if (current == nil || s.SnapshotID != current.SnapshotID) && s.TimestampMs < cutoff {
			return true
		}
	}
	return false
}
