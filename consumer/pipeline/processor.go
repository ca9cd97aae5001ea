// Package pipeline joins the parts: for each shard the coordinator assigns, it reads the
// shard's records from the stream and hands them to the sink, which writes files and
// checkpoints what is stored. It owns the read loop's policies: polling at the tip,
// back-off on throttling, new iterators when they expire, and what to do when the stream
// has trimmed records that were never read.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/metrics"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// Batch is one GetRecords answer.
type Batch struct {
	Records []streams.Record
	Next    string // the next iterator; empty when Closed
	Closed  bool   // the shard is closed and every record of it was returned
	AtTip   bool
}

// Reader reads shards. StreamsReader implements it over the Keyspaces Streams client.
type Reader interface {
	// Iterator returns an iterator at position: TRIM_HORIZON, LATEST, or after the given
	// sequence number.
	Iterator(ctx context.Context, shardID, position string) (string, error)
	Records(ctx context.Context, iterator string, limit int) (Batch, error)
}

// ShardWriter is what the processor needs of the sink's per-shard writer.
type ShardWriter interface {
	Add(ctx context.Context, rec *streams.Record) error
	FlushIfDue(ctx context.Context, now time.Time) error
	// Flush stores and checkpoints everything consumed (the shard ended).
	Flush(ctx context.Context) error
	// Drain stores and checkpoints what was consumed before the shard is let go (drain
	// closed), except a replay of a pending intent that is not complete: that is left to the
	// next owner, with the intent (see sink.ShardWriter.Drain).
	Drain(ctx context.Context) error
}

// Trimmed-data policies.
const (
	TrimmedResume = "resume"
	TrimmedHalt   = "halt"
)

// DefaultMaxBackoff is Config.MaxBackoff's default (not a consumer setting).
const DefaultMaxBackoff = 30 * time.Second

// DefaultHeldAnswers is Config.HeldAnswers' default: 2 per CPU, at least 4. Decoding and
// writing an answer is CPU work: two per CPU let each CPU write one answer while the next
// is on the network; more would only hold memory (an answer of 1,000 records of 1 KB rows
// is about 2.5 MB decoded).
func DefaultHeldAnswers() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// Config configures a Processor.
type Config struct {
	// PollInterval is the wait between GetRecords calls when a shard is at its tip
	// (default: CDC_POLL_INTERVAL's).
	PollInterval time.Duration
	// Limit is GetRecords' maxResults (default: CDC_GETRECORDS_LIMIT's; above that setting's
	// maximum, the maximum).
	Limit int
	// TrimmedPolicy says what to do when records before the trim horizon were never read:
	// TrimmedResume goes on from the oldest kept record; TrimmedHalt stops reading the shard
	// and keeps retrying, so nothing moves until an operator acts. Both count
	// TrimmedDataAccess and log an error. Default: CDC_TRIMMED_POLICY's.
	TrimmedPolicy string
	// MaxBackoff caps the wait after a failed call (default DefaultMaxBackoff).
	MaxBackoff time.Duration
	// HeldAnswers bounds the GetRecords answers of shards behind their tip that the worker
	// holds at once, read (or being read) and not yet handed to the writers: under a backlog
	// each is a decoded batch of up to Limit records, so this bounds the worker's memory
	// whatever the number of shards. A shard whose last answer was at its tip reads without
	// waiting for the budget (an idle shard's poll is small and must not queue behind
	// others). Default DefaultHeldAnswers.
	HeldAnswers int
	// OpenShard opens the sink's writer of one shard.
	OpenShard func(shardID string, cp checkpoint.Checkpointer, pending *checkpoint.Intent) ShardWriter
	Metrics   *metrics.Registry
	Logger    *slog.Logger
}

// Processor implements worker.Processor.
type Processor struct {
	cfg    Config
	reader Reader

	mu     sync.Mutex
	active map[string]*shardLag // the shards being read, for ReportLag
	// budget holds a token per answer held of a shard behind its tip (Config.HeldAnswers).
	budget chan struct{}
}

// shardLag is where a shard's reading stands, for the lag metric.
type shardLag struct {
	newest   atomic.Int64 // created_at (unix ns) of the newest record read
	caughtUp atomic.Bool  // the last answer was at the tip with no records: nothing to read
}

// NewProcessor checks cfg and applies its defaults.
func NewProcessor(cfg Config, r Reader) (*Processor, error) {
	if cfg.OpenShard == nil || r == nil {
		return nil, errors.New("pipeline: OpenShard and a Reader are required")
	}
	defaults := config.Defaults()
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = defaults.PollInterval
	}
	if limit, _ := config.Lookup("CDC_GETRECORDS_LIMIT"); cfg.Limit > int(limit.Max) {
		cfg.Limit = int(limit.Max)
	}
	if cfg.Limit <= 0 {
		cfg.Limit = defaults.GetRecordsLimit
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.HeldAnswers <= 0 {
		cfg.HeldAnswers = DefaultHeldAnswers()
	}
	if cfg.TrimmedPolicy == "" {
		cfg.TrimmedPolicy = defaults.TrimmedPolicy
	}
	switch cfg.TrimmedPolicy {
	case TrimmedResume, TrimmedHalt:
	default:
		return nil, fmt.Errorf("pipeline: TrimmedPolicy %q is not one of %s, %s", cfg.TrimmedPolicy, TrimmedResume, TrimmedHalt)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.NewRegistry("local", "local")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Processor{cfg: cfg, reader: r, active: map[string]*shardLag{}, budget: make(chan struct{}, cfg.HeldAnswers)}, nil
}

// ReportLag sets each shard's MillisBehindLatest gauge: now − created_at of the newest record
// read, or 0 once the shard is caught up (at its tip with nothing new). It is called on a
// timer, not only when records arrive, so a shard whose loop is blocked (an S3 outage, a
// halted shard) shows a growing lag and trips the lag alarm.
func (p *Processor) ReportLag(now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for shard, l := range p.active {
		dim := metrics.Dim{Name: metrics.DimShard, Value: shard}
		if l.caughtUp.Load() {
			p.cfg.Metrics.Set(metrics.MillisBehindLatest, metrics.Milliseconds, 0, dim)
		} else if ns := l.newest.Load(); ns != 0 {
			p.cfg.Metrics.Set(metrics.MillisBehindLatest, metrics.Milliseconds, float64(max(now.Sub(time.Unix(0, ns)).Milliseconds(), 0)), dim)
		}
	}
}

// errDrained ends a shard's loop when drain was closed during a wait.
var errDrained = errors.New("drained")

// shardRun is the state of one shard's read loop.
type shardRun struct {
	p        *Processor
	a        worker.Assignment
	w        ShardWriter
	drain    <-chan struct{}
	log      *slog.Logger
	shardDim metrics.Dim
	lag      *shardLag
	lastRead string // sequence number of the last record handed to the writer
	failures int    // consecutive failed calls, for the back-off
}

// ProcessShard reads the shard from a.Checkpoint until it ends, drain closes (store and
// checkpoint what was read, or leave an unfinished replay to the next owner; return nil) or
// ctx ends (return at once; the checkpoint stays where the sink
// last put it, so the next owner re-reads what was not stored).
func (p *Processor) ProcessShard(ctx context.Context, drain <-chan struct{}, a worker.Assignment) error {
	r := &shardRun{
		p: p, a: a, drain: drain,
		w:        p.cfg.OpenShard(a.ShardID, a.Checkpointer, a.Pending),
		log:      p.cfg.Logger.With("shard", a.ShardID),
		shardDim: metrics.Dim{Name: metrics.DimShard, Value: a.ShardID},
		lag:      &shardLag{},
	}
	if c, ok := r.w.(interface{ Close() }); ok {
		defer c.Close() // a writer that takes part in something beyond the shard (a committer)
	}
	p.mu.Lock()
	p.active[a.ShardID] = r.lag
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.active, a.ShardID)
		p.cfg.Metrics.DeleteGauges(r.shardDim)
		p.mu.Unlock()
	}()
	r.log.Info("shard started", "checkpoint", a.Checkpoint, "pending", a.Pending != nil)
	err := r.run(ctx)
	switch {
	case errors.Is(err, errDrained):
		if ferr := r.w.Drain(ctx); ferr != nil {
			return fmt.Errorf("pipeline: flush %s on drain: %w", a.ShardID, ferr)
		}
		r.log.Info("shard drained", "last_read", r.lastRead)
		return nil
	case err != nil && errors.Is(err, checkpoint.ErrLeaseLost):
		p.cfg.Metrics.Add(metrics.Errors, metrics.Count, 1, metrics.Dim{Name: metrics.DimKind, Value: "lease_lost"})
		r.log.Warn("lease lost: shard stopped", "last_read", r.lastRead)
	}
	return err
}

func (r *shardRun) run(ctx context.Context) error {
	position := r.a.Checkpoint
	if position == "" {
		position = checkpoint.TrimHorizon
	}
	iter, err := r.iterator(ctx, position)
	if err != nil {
		return err
	}
	var next *fetch // the answer being read
	defer func() {
		if next != nil {
			r.stop(next)
		}
	}()
	behind := true // the last answer was not at the tip: budget the next one
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.drain:
			return errDrained
		default:
		}
		if next == nil {
			next = r.startFetch(ctx, iter, behind)
		}
		a, err := next.wait(ctx)
		if err != nil {
			return err
		}
		next = nil
		if a.err != nil {
			it, err := r.recover(ctx, a.err, position)
			if err != nil {
				return err
			}
			if it != "" {
				iter = it
			}
			continue
		}
		r.failures = 0
		b := &a.b
		behind = !b.AtTip
		if behind && !b.Closed {
			// Read ahead while the writer takes this answer. Only reads overlap: the
			// writer still gets every answer whole and in order, from this goroutine.
			next = r.startFetch(ctx, b.Next, true)
		}
		err = r.handle(ctx, *b)
		b.Records = nil // the writer has them: the loop holds no more of the answer
		r.release(&a)
		if err != nil {
			return err
		}
		if b.Closed {
			if err := r.w.Flush(ctx); err != nil {
				return fmt.Errorf("pipeline: flush %s at shard end: %w", r.a.ShardID, err)
			}
			if err := r.a.Checkpointer.ShardEnd(ctx); err != nil {
				return fmt.Errorf("pipeline: checkpoint SHARD_END of %s: %w", r.a.ShardID, err)
			}
			r.log.Info("shard ended", "last_read", r.lastRead)
			return nil
		}
		iter = b.Next
		// At the tip, wait before asking again (AWS suggests about one call a second per
		// shard): a steady trickle then costs one call per poll interval, not one per
		// round trip. Behind the tip, read on at once.
		if b.AtTip {
			if err := r.wait(ctx, r.p.cfg.PollInterval); err != nil {
				return err
			}
		}
	}
}

// handle gives a batch to the writer and updates the metrics.
func (r *shardRun) handle(ctx context.Context, b Batch) error {
	m := r.p.cfg.Metrics
	now := time.Now()
	// The metrics first: the records are read now, even if the writer then blocks.
	if n := len(b.Records); n > 0 {
		m.Add(metrics.RecordsRead, metrics.Count, float64(n), r.shardDim)
		newest := b.Records[n-1].CreatedAt
		r.lag.newest.Store(newest.UnixNano())
		r.lag.caughtUp.Store(false)
		m.Set(metrics.MillisBehindLatest, metrics.Milliseconds, float64(max(now.Sub(newest).Milliseconds(), 0)), r.shardDim)
	} else if b.AtTip {
		r.lag.caughtUp.Store(true)
		m.Set(metrics.MillisBehindLatest, metrics.Milliseconds, 0, r.shardDim)
	}
	tip := 0.0
	if b.AtTip {
		tip = 1
	}
	m.Set(metrics.IteratorsAtTip, metrics.Count, tip, r.shardDim)
	for i := range b.Records {
		rec := &b.Records[i]
		if err := r.w.Add(ctx, rec); err != nil {
			return fmt.Errorf("pipeline: add %s/%s: %w", r.a.ShardID, rec.SequenceNumber, err)
		}
		r.lastRead = rec.SequenceNumber
	}
	if err := r.w.FlushIfDue(ctx, time.Now()); err != nil {
		return fmt.Errorf("pipeline: flush %s: %w", r.a.ShardID, err)
	}
	return nil
}

// recover decides what a failed GetRecords call means. It returns a new iterator when the
// old one cannot be used again, or an error that ends the shard's loop.
func (r *shardRun) recover(ctx context.Context, err error, position string) (string, error) {
	m := r.p.cfg.Metrics
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	switch {
	case errors.Is(err, streams.ErrExpiredIterator):
		// Iterators live 15 minutes; resume right after the last record read (it is in the
		// writer's buffer, not lost).
		at := position
		if r.lastRead != "" {
			at = r.lastRead
		}
		r.log.Info("iterator expired: getting a new one", "after", at)
		return r.iterator(ctx, at)
	case errors.Is(err, streams.ErrTrimmedDataAccess):
		m.Add(metrics.TrimmedDataAccess, metrics.Count, 1, r.shardDim)
		m.Add(metrics.Errors, metrics.Count, 1, metrics.Dim{Name: metrics.DimKind, Value: "trimmed"})
		r.log.Error("records were trimmed from the stream before they were read: they are lost",
			"last_read", r.lastRead, "checkpoint", r.a.Checkpoint, "policy", r.p.cfg.TrimmedPolicy, "err", err)
		if r.p.cfg.TrimmedPolicy == TrimmedHalt {
			return "", r.backoff(ctx)
		}
		return r.iterator(ctx, checkpoint.TrimHorizon)
	case errors.Is(err, streams.ErrThrottling):
		m.Add(metrics.GetRecordsThrottles, metrics.Count, 1)
		m.Add(metrics.Errors, metrics.Count, 1, metrics.Dim{Name: metrics.DimKind, Value: "throttle"})
		return "", r.backoff(ctx)
	default:
		m.Add(metrics.Errors, metrics.Count, 1, metrics.Dim{Name: metrics.DimKind, Value: "streams"})
		r.log.Warn("GetRecords failed: retrying", "err", err)
		return "", r.backoff(ctx)
	}
}

// iterator gets an iterator at position, retrying until it succeeds or the loop must end.
func (r *shardRun) iterator(ctx context.Context, position string) (string, error) {
	for {
		it, err := r.p.reader.Iterator(ctx, r.a.ShardID, position)
		if err == nil {
			r.failures = 0
			return it, nil
		}
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if errors.Is(err, streams.ErrTrimmedDataAccess) && position != checkpoint.TrimHorizon {
			// Asked for a position that is no longer kept: the same loss as above.
			next, err := r.recover(ctx, err, position)
			if err != nil || next != "" {
				return next, err
			}
			continue
		}
		kind := "streams"
		if errors.Is(err, streams.ErrThrottling) {
			kind = "throttle"
		}
		r.p.cfg.Metrics.Add(metrics.Errors, metrics.Count, 1, metrics.Dim{Name: metrics.DimKind, Value: kind})
		r.log.Warn("GetShardIterator failed: retrying", "position", position, "err", err)
		if err := r.backoff(ctx); err != nil {
			return "", err
		}
	}
}

// backoff waits after a failure: exponential with full jitter, capped by MaxBackoff.
func (r *shardRun) backoff(ctx context.Context) error {
	r.failures++
	ceiling := min(r.p.cfg.MaxBackoff, 100*time.Millisecond<<min(r.failures, 10))
	return r.wait(ctx, time.Duration(rand.Int64N(int64(ceiling))+1))
}

// wait pauses for d, flushing a file that comes due meanwhile; it ends early on drain or ctx.
func (r *shardRun) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.drain:
		return errDrained
	case now := <-t.C:
		if err := r.w.FlushIfDue(ctx, now); err != nil {
			return fmt.Errorf("pipeline: flush %s: %w", r.a.ShardID, err)
		}
		return nil
	}
}
