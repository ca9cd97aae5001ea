package iceberg

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Snapshot summary keys of a commit.
const (
	// ShardKeyPrefix + shard id: the last sequence number of the shard the commit stores.
	ShardKeyPrefix = "keyspaces-cdc-s3.shard."
	// CommitIDKey: a unique id of the commit, so that a commit whose outcome was unknown (a
	// timeout) is recognised when it did land.
	CommitIDKey = "keyspaces-cdc-s3.commit-id"
	// WriterKey: the worker that committed.
	WriterKey = "keyspaces-cdc-s3.writer"
)

// ShardCommit is one shard's part of a commit: the data files of its records after Prev up
// to and including Last. Prev is the last sequence number of the shard the writer believes
// the table holds ("" when it holds none): the commit stores the shard's files only if the
// table's snapshots say the same, so a writer that lost the shard to another (which committed
// meanwhile) stores nothing.
type ShardCommit struct {
	ShardID    string
	Prev, Last string
	Files      []DataFile
	// Rows are the shard's changes of the mirror (a mirror's commits; Files are the change
	// log's).
	Rows *MirrorRows
	// Mirror is the shard's part of the mirror's commit (a Committer with a Mirror), with
	// the mirror's own Prev and Last: committed after the change log's part, in the same
	// round. nil: nothing for the mirror.
	Mirror *ShardCommit
}

// empty reports whether the shard has nothing for the table.
func (s ShardCommit) empty() bool { return len(s.Files) == 0 && (s.Rows == nil || s.Rows.Keys == 0) }

// CommitResult is what a Commit stored.
type CommitResult struct {
	// SnapshotID is the commit's snapshot (0 when nothing was committed).
	SnapshotID int64
	// Committed are the shards whose files the snapshot holds.
	Committed []string
	// Refused are the shards another writer committed since their Prev: the sequence number
	// the table holds for each ("" if none). Their files were not committed.
	Refused map[string]string
	// Conflicts counts the attempts the catalog refused because another commit came first;
	// Errors the attempts that failed otherwise (outcome unknown, checked on the next).
	Conflicts, Errors int
}

// Commit appends the shards' data files to the table in one snapshot whose summary records,
// per shard, its Last. Shards without files are left out. It retries, against the table
// as the catalog then holds it, until the commit lands or ctx ends: after a conflict (another
// writer committed first: the shards are checked again), and after an error whose outcome is
// unknown (the commit is then looked for in the table's snapshots by its id before it is made
// again, so it is never stored twice).
func (t *ChangeTable) Commit(ctx context.Context, writer string, shards []ShardCommit) (CommitResult, error) {
	ctx = t.cat.withAWS(ctx)
	commitID := uuid.NewString()
	if t.mirror {
		t.indexMu.Lock() // the mirror's key index: one commit at a time
		defer t.indexMu.Unlock()
	}
	var res CommitResult
	var lastErr error
	stale := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := t.wait(ctx, attempt, lastErr); err != nil {
				return res, err
			}
		}
		tbl, fresh := t.Table(), false
		if stale || tbl == nil {
			loaded, err := t.Refresh(ctx)
			if err != nil {
				res.Errors++
				lastErr = err
				continue
			}
			if loaded == nil {
				return res, fmt.Errorf("iceberg commit: table %s does not exist", strings.Join(t.ident, "."))
			}
			tbl, fresh = loaded, true
		}
		if s := findCommit(tbl.Metadata(), commitID); s != nil {
			if t.mirror {
				t.index.markDeleted(t.pending)
			}
			return landed(res, s, shards), nil // an attempt whose answer was lost did land
		}
		ok, refused := t.check(tbl.Metadata(), shards)
		if len(refused) > 0 && !fresh {
			// The table as this process last saw it may be older than its own last commit
			// (a concurrent load finished after it): refuse only on the table as it is.
			stale = true
			continue
		}
		res.Refused = refused
		for id, got := range refused {
			t.logger.Warn("iceberg commit: another writer committed the shard; its files are left out",
				"table", strings.Join(t.ident, "."), "shard_id", id, "table_holds", got)
		}
		if len(ok) == 0 {
			return res, nil
		}
		next, err := t.commitOnce(ctx, tbl, writer, commitID, ok)
		if err == nil {
			if t.mirror {
				t.index.markDeleted(t.pending)
			}
			if err := t.setTable(next); err != nil {
				return res, err
			}
			s := next.CurrentSnapshot()
			res.SnapshotID = s.SnapshotID
			res.Committed = shardIDs(ok)
			return res, nil
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("iceberg commit to %s: %w", strings.Join(t.ident, "."), errors.Join(ctx.Err(), err))
		}
		conflict := isConflict(err)
		if conflict {
			res.Conflicts++
		} else {
			res.Errors++
		}
		t.logger.Warn("iceberg commit failed; retrying", "table", strings.Join(t.ident, "."),
			"attempt", attempt+1, "conflict", conflict, "error", err.Error())
		lastErr, stale = err, true
	}
}

// isConflict reports whether a commit was refused because the table changed since it was
// loaded: ErrCommitFailed, or a requirement the catalog checked against the new metadata
// (iceberg-go v0.7.0's SQL catalog reports those as plain "requirement failed" errors). Either
// way the attempt is made again against the table reloaded; the distinction is for the logs
// and the counters.
func isConflict(err error) bool {
	return errors.Is(err, table.ErrCommitFailed) || strings.Contains(err.Error(), "requirement failed")
}

// commitOnce makes one attempt: one transaction adding every file of ok.
func (t *ChangeTable) commitOnce(ctx context.Context, tbl *table.Table, writer, commitID string, ok []ShardCommit) (*table.Table, error) {
	props := ice.Properties{CommitIDKey: commitID, WriterKey: writer}
	for _, s := range ok {
		props[ShardKeyPrefix+s.ShardID] = s.Last
	}
	if t.mirror {
		return t.commitMirrorOnce(ctx, tbl, props, ok)
	}
	var files []ice.DataFile
	for _, s := range ok {
		for _, f := range s.Files {
			files = append(files, f.File)
		}
	}
	txn := tbl.NewTransaction()
	// No duplicate check (it reads every manifest; the files' names are unique) and no
	// name mapping (the files carry field ids).
	if err := txn.AddDataFiles(ctx, files, props, table.WithoutDuplicateCheck(), table.WithoutAutoNameMapping()); err != nil {
		return nil, err
	}
	return txn.Commit(ctx)
}

// check splits the shards with files into those whose Prev the table agrees with and those
// another writer committed since (with what the table holds).
func (t *ChangeTable) check(meta table.Metadata, shards []ShardCommit) (ok []ShardCommit, refused map[string]string) {
	var ids []string
	for _, s := range shards {
		if !s.empty() {
			ids = append(ids, s.ShardID)
		}
	}
	held := committedIn(meta, ids)
	for _, s := range shards {
		if s.empty() {
			continue
		}
		if got := held[s.ShardID]; got != s.Prev {
			if refused == nil {
				refused = map[string]string{}
			}
			refused[s.ShardID] = got
			continue
		}
		ok = append(ok, s)
	}
	return ok, refused
}

// landed is the result of an earlier attempt found in the table: the shards its summary
// names were committed.
func landed(res CommitResult, s *table.Snapshot, shards []ShardCommit) CommitResult {
	res.SnapshotID, res.Refused = s.SnapshotID, nil
	for _, sh := range shards {
		if _, ok := s.Summary.Properties[ShardKeyPrefix+sh.ShardID]; ok {
			res.Committed = append(res.Committed, sh.ShardID)
		}
	}
	return res
}

// conflictJitter bounds the wait before the retry of a commit refused by a conflict.
const conflictJitter = 250 * time.Millisecond

// backoff is the most the wait before attempt lasts. After a conflict another writer has
// just committed, so the retry comes soon, within a short jitter: an exponential wait would
// let a worker that commits every round keep winning while this one waits longer after each
// loss (a worker's commits starved for minutes at a 1 s flush interval under load, its
// backoff at 10 s). Other failures (the catalog or S3 unreachable) back off exponentially.
func (t *ChangeTable) backoff(attempt int, conflict bool) time.Duration {
	if conflict {
		return min(t.maxBackoff, conflictJitter)
	}
	return min(t.maxBackoff, 50*time.Millisecond<<min(attempt, 12))
}

// wait sleeps before attempt: a random time up to backoff (full jitter).
func (t *ChangeTable) wait(ctx context.Context, attempt int, cause error) error {
	ceiling := t.backoff(attempt, cause != nil && isConflict(cause))
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("iceberg commit to %s: %w", strings.Join(t.ident, "."), errors.Join(ctx.Err(), cause))
	case <-timer.C:
		return nil
	}
}

func shardIDs(shards []ShardCommit) []string {
	out := make([]string, len(shards))
	for i, s := range shards {
		out[i] = s.ShardID
	}
	return out
}

// Committed loads the table and returns, for each shard its retained snapshots mention, the
// last sequence number committed. A shard that no retained snapshot mentions is absent
// (nothing of it was committed, or only in snapshots expired since); so is every shard of a
// table that does not exist yet.
func (t *ChangeTable) Committed(ctx context.Context) (map[string]string, error) {
	tbl, err := t.Refresh(ctx)
	if err != nil || tbl == nil {
		return map[string]string{}, err
	}
	return committedIn(tbl.Metadata(), nil), nil
}

// CommittedShard loads the table and returns the last sequence number of the shard it holds
// ("" when none): what a new owner of the shard must not write again.
func (t *ChangeTable) CommittedShard(ctx context.Context, shardID string) (string, error) {
	tbl, err := t.Refresh(ctx)
	if err != nil || tbl == nil {
		return "", err
	}
	return committedIn(tbl.Metadata(), []string{shardID})[shardID], nil
}

// committedIn walks the current snapshot's ancestry, newest first: the first mention of a
// shard is its last committed sequence number. With shards set, it stops once each is found.
func committedIn(meta table.Metadata, shards []string) map[string]string {
	out := map[string]string{}
	want := map[string]bool{}
	for _, s := range shards {
		want[s] = true
	}
	for s := meta.CurrentSnapshot(); s != nil; s = parent(meta, s) {
		if s.Summary == nil {
			continue
		}
		for k, v := range s.Summary.Properties {
			id, ok := strings.CutPrefix(k, ShardKeyPrefix)
			if !ok || (len(shards) > 0 && !want[id]) {
				continue
			}
			if _, seen := out[id]; !seen {
				out[id] = v
			}
		}
		if len(shards) > 0 && len(out) == len(want) {
			break
		}
	}
	return out
}

// findCommit returns the snapshot of the current ancestry made by commit id, if any.
func findCommit(meta table.Metadata, id string) *table.Snapshot {
	for s := meta.CurrentSnapshot(); s != nil; s = parent(meta, s) {
		if s.Summary != nil && s.Summary.Properties[CommitIDKey] == id {
			return s
		}
	}
	return nil
}

func parent(meta table.Metadata, s *table.Snapshot) *table.Snapshot {
	if s.ParentSnapshotID == nil {
		return nil
	}
	return meta.SnapshotByID(*s.ParentSnapshotID)
}

// Later reports whether sequence number a is after b ("" is before everything).
func Later(a, b string) bool {
	if b == "" {
		return a != ""
	}
	return a != "" && streams.CompareSequenceNumbers(a, b) > 0
}
