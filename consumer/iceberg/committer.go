package iceberg

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CommitterConfig configures a Committer. Zero values take the documented defaults.
type CommitterConfig struct {
	Table *ChangeTable // required
	// Mirror, when set, is the mirror table (NewMirrorTable): each commit of the change log
	// is followed by one of the mirror with the shards' Mirror parts.
	Mirror *ChangeTable
	Writer string // this worker's id, recorded in each snapshot's summary
	// Interval opens a commit round this often (the flush interval): every shard writer
	// answers it, with its files or with nothing, and the answers are committed together, in
	// one snapshot. 0: rounds open only when NextRound is called (tests).
	Interval time.Duration
	// Linger bounds how long a round waits for the writers' answers once it opened (default
	// Interval/4, at most 5 s; 1 s without Interval). A writer answers at its next read, so
	// the answers of a worker's shards come within about a poll interval.
	Linger time.Duration
	// SnapshotRetention, when set, expires the tables' snapshots older than this
	// (ChangeTable.ExpireSnapshots) after a commit, at most once per ExpireEvery (default
	// an hour). 0: snapshots are left to the catalog's maintenance.
	SnapshotRetention time.Duration
	ExpireEvery       time.Duration
	Logger            *slog.Logger
}

// Committer makes one commit per round for the shard writers of one worker (Members), plus
// one for answers that come after their round's commit started and for shards that must be
// stored at once (shard end, drain). Commits run one at a time, with the context given to
// NewCommitter; a writer waits for the commit of its answer with its own context.
type Committer struct {
	cfg   CommitterConfig // NewCommitter's
	ctx   context.Context
	round atomic.Int64

	mu      sync.Mutex
	members map[int]int64 // the open members, with the round open when each joined
	nextID  int
	open    *batch // the answers being collected (nil: none yet)

	commitMu sync.Mutex
	stats    CommitterStats
	expired  time.Time // the last expiry that succeeded (under commitMu)
}

// CommitterStats are a Committer's counters.
type CommitterStats struct {
	Commits, Snapshots, Conflicts, Errors, Refused int64
	// Expired counts the snapshots removed by expiry, ExpireErrors the expiries that failed
	// (tried again after a later commit).
	Expired, ExpireErrors int64
}

// batch is the answers committed together.
type batch struct {
	round    int64 // the round it answers; 0: none (committed at once)
	shards   []ShardCommit
	answered map[int]bool
	urgent   bool
	// linger takes the batch when the first round it answers has waited Linger; stopped
	// once the batch is taken or the committer ends, so that it keeps nothing alive.
	linger *time.Timer
	done   chan struct{}
	res    CommitResult // the change log's
	mirror CommitResult // the mirror's
	err    error
}

// NewCommitter returns a committer whose rounds and commits end with ctx.
func NewCommitter(ctx context.Context, cfg CommitterConfig) (*Committer, error) {
	if cfg.Table == nil {
		return nil, errors.New("iceberg committer: Table is required")
	}
	if cfg.Linger <= 0 {
		cfg.Linger = time.Second
		if cfg.Interval > 0 {
			cfg.Linger = min(cfg.Interval/4, 5*time.Second)
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ExpireEvery <= 0 {
		cfg.ExpireEvery = time.Hour
	}
	c := &Committer{cfg: cfg, ctx: ctx, members: map[int]int64{}}
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.open != nil && c.open.linger != nil {
			c.open.linger.Stop()
		}
	})
	if cfg.Interval > 0 {
		go c.tick()
	}
	return c, nil
}

func (c *Committer) tick() {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			c.NextRound()
		}
	}
}

// NextRound opens a round: every member is due to answer it.
func (c *Committer) NextRound() {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.round.Add(1)
	if c.open == nil {
		c.open = newBatch(r)
	} else {
		c.open.round = r
	}
	b := c.open
	if b.linger == nil { // a batch answering a later round too still waits from its first
		b.linger = time.AfterFunc(c.cfg.Linger, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.open == b {
				c.takeLocked()
			}
		})
	}
	c.takeIfReadyLocked()
}

func newBatch(round int64) *batch {
	return &batch{round: round, answered: map[int]bool{}, done: make(chan struct{})}
}

// Stats returns the counters so far.
func (c *Committer) Stats() CommitterStats {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	return c.stats
}

// Join adds a member (a shard writer).
func (c *Committer) Join() *Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	r := c.round.Load()
	c.members[c.nextID] = r
	return &Member{c: c, id: c.nextID, answered: r}
}

// Member is one shard writer's part in the committer's rounds. It belongs to the writer's
// goroutine.
type Member struct {
	c        *Committer
	id       int
	answered int64 // the last round answered
}

// ShardResult is what a commit did with one shard's answer.
type ShardResult struct {
	Committed bool
	// TableHolds is, for a shard refused because another writer committed it since its
	// Prev, the last sequence number the table holds for it.
	TableHolds string
	// Mirror says the refusal was the mirror's (the change log's part, if any, landed).
	Mirror bool
}

// Due reports whether a round opened that the member has not answered.
func (m *Member) Due() bool { return m.c.round.Load() > m.answered }

// Pass answers the current round with nothing to commit.
func (m *Member) Pass() {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.round.Load()
	m.answered = r
	if b := c.open; b != nil && b.round == r {
		b.answered[m.id] = true
		c.takeIfReadyLocked()
	}
}

// Commit answers the current round with sc and waits until the answer is committed (or
// refused) or ctx ends. now asks for a commit at once (shard end, drain), as does an answer
// that comes after its round's commit started.
func (m *Member) Commit(ctx context.Context, sc ShardCommit, now bool) (ShardResult, error) {
	c := m.c
	c.mu.Lock()
	r := c.round.Load()
	if c.open == nil {
		c.open = newBatch(0)
	}
	b := c.open
	if b.round != r || m.answered >= r {
		now = true // not an answer to the open round
	}
	m.answered = r
	b.shards = append(b.shards, sc)
	b.answered[m.id] = true
	b.urgent = b.urgent || now
	c.takeIfReadyLocked()
	c.mu.Unlock()
	select {
	case <-b.done:
	case <-ctx.Done():
		return ShardResult{}, ctx.Err()
	}
	if b.err != nil {
		return ShardResult{}, b.err
	}
	if !sc.empty() && !slices.Contains(b.res.Committed, sc.ShardID) {
		return ShardResult{TableHolds: b.res.Refused[sc.ShardID]}, nil
	}
	if sc.Mirror != nil && !sc.Mirror.empty() && !slices.Contains(b.mirror.Committed, sc.ShardID) {
		return ShardResult{TableHolds: b.mirror.Refused[sc.ShardID], Mirror: true}, nil
	}
	return ShardResult{Committed: true}, nil
}

// Close leaves the committer: its rounds no longer wait for this member.
func (m *Member) Close() {
	c := m.c
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.members, m.id)
	c.takeIfReadyLocked()
}

// takeIfReadyLocked commits the open batch when it must go at once, or when every member
// that was there when its round opened answered it.
func (c *Committer) takeIfReadyLocked() {
	b := c.open
	if b == nil || (!b.urgent && b.round == 0) {
		return
	}
	if !b.urgent {
		for id, joined := range c.members {
			if joined < b.round && !b.answered[id] {
				return
			}
		}
	}
	c.takeLocked()
}

// takeLocked commits the open batch (in the background) and starts a new one.
func (c *Committer) takeLocked() {
	b := c.open
	c.open = nil
	if b.linger != nil {
		b.linger.Stop()
	}
	if len(b.shards) == 0 {
		close(b.done)
		return
	}
	go c.run(b)
}

func (c *Committer) run(b *batch) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	changes := make([]ShardCommit, len(b.shards))
	var mirror []ShardCommit
	for i, sc := range b.shards {
		changes[i] = sc
		changes[i].Mirror = nil
		if sc.Mirror != nil {
			m := *sc.Mirror
			m.ShardID = sc.ShardID
			mirror = append(mirror, m)
		}
	}
	b.res, b.err = c.cfg.Table.Commit(c.ctx, c.cfg.Writer, changes)
	c.count(b.res)
	if b.err == nil && c.cfg.Mirror != nil && len(mirror) > 0 {
		// After the change log: a new owner that finds the change log ahead of the mirror
		// writes the records in between to the mirror only.
		b.mirror, b.err = c.cfg.Mirror.Commit(c.ctx, c.cfg.Writer, mirror)
		c.count(b.mirror)
	}
	if b.err == nil {
		c.cfg.Logger.Debug("iceberg commit", "snapshot_id", b.res.SnapshotID, "shards", len(b.res.Committed),
			"refused", len(b.res.Refused), "conflicts", b.res.Conflicts, "round", b.round)
	}
	close(b.done)
	if b.err == nil {
		c.expireIfDue()
	}
}

// expireIfDue expires old snapshots of both tables when SnapshotRetention is set and the
// last expiry is ExpireEvery old. It runs after the round's writers were released, under
// commitMu: the next commit waits for it, the writers do not.
func (c *Committer) expireIfDue() {
	if c.cfg.SnapshotRetention <= 0 || time.Since(c.expired) < c.cfg.ExpireEvery {
		return
	}
	failed := false
	for _, t := range []*ChangeTable{c.cfg.Table, c.cfg.Mirror} {
		if t == nil {
			continue
		}
		n, err := t.ExpireSnapshots(c.ctx, c.cfg.SnapshotRetention)
		c.stats.Expired += int64(n)
		if err != nil {
			failed = true
			c.stats.ExpireErrors++
			c.cfg.Logger.Warn("iceberg snapshot expiry failed; tried again after a later commit",
				"table", strings.Join(t.Identifier(), "."), "error", err.Error())
			continue
		}
		if n > 0 {
			c.cfg.Logger.Info("iceberg snapshots expired", "table", strings.Join(t.Identifier(), "."),
				"removed", n, "older_than", c.cfg.SnapshotRetention.String())
		}
	}
	if !failed {
		c.expired = time.Now()
	}
}

func (c *Committer) count(res CommitResult) {
	c.stats.Commits++
	if res.SnapshotID != 0 {
		c.stats.Snapshots++
	}
	c.stats.Conflicts += int64(res.Conflicts)
	c.stats.Errors += int64(res.Errors)
	c.stats.Refused += int64(len(res.Refused))
}
