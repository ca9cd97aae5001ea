package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/metrics"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// fakeShard serves one shard of n records, batch records per call, with scripted failures.
type fakeShard struct {
	mu       sync.Mutex
	n, batch int
	closed   bool            // the shard is closed after its n records
	fail     map[int]error   // call number → error returned instead of records
	trimmed  int             // records below this index are trimmed
	iters    map[string]int  // iterator → next record index
	calls    int             // Records calls so far
	asked    []string        // positions asked of Iterator
	expire   map[string]bool // iterators answered with ExpiredIterator
}

func seq(i int) string { return fmt.Sprintf("%06d", i+1) }

func (f *fakeShard) Iterator(_ context.Context, _, position string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, position)
	start := 0
	switch position {
	case checkpoint.TrimHorizon:
		start = f.trimmed
	case checkpoint.Latest:
		start = f.n
	default:
		n, _ := strconv.Atoi(position)
		start = n // after seq(n-1)
		if start < f.trimmed {
			return "", streams.ErrTrimmedDataAccess
		}
	}
	it := fmt.Sprintf("it-%d-%d", len(f.asked), start)
	f.iters[it] = start
	return it, nil
}

func (f *fakeShard) Records(_ context.Context, it string, limit int) (Batch, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if err := f.fail[f.calls]; err != nil {
		return Batch{}, err
	}
	if f.expire[it] {
		return Batch{}, streams.ErrExpiredIterator
	}
	i, ok := f.iters[it]
	if !ok {
		return Batch{}, errors.New("unknown iterator")
	}
	end := min(i+min(limit, f.batch), f.n)
	var b Batch
	for j := i; j < end; j++ {
		b.Records = append(b.Records, streams.Record{SequenceNumber: seq(j), CreatedAt: time.Now()})
	}
	if end == f.n && f.closed {
		b.Closed = true
		return b, nil
	}
	b.AtTip = end == f.n
	b.Next = fmt.Sprintf("%s+%d", it, end)
	f.iters[b.Next] = end
	return b, nil
}

// fakeWriter records what it was given; it checkpoints on Flush like the sink does.
type fakeWriter struct {
	mu      sync.Mutex
	cp      checkpoint.Checkpointer
	got     []string
	flushes int
	addErr  error
	added   chan struct{}
	block   chan struct{} // when set, Add waits on it (a stuck upload)
}

func (w *fakeWriter) Add(ctx context.Context, r *streams.Record) error {
	if w.block != nil {
		select {
		case <-w.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.addErr != nil {
		return w.addErr
	}
	w.got = append(w.got, r.SequenceNumber)
	if w.added != nil {
		select {
		case w.added <- struct{}{}:
		default:
		}
	}
	return nil
}
func (w *fakeWriter) FlushIfDue(context.Context, time.Time) error { return nil }
func (w *fakeWriter) Drain(ctx context.Context) error             { return w.Flush(ctx) }
func (w *fakeWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
	if len(w.got) > 0 {
		return w.cp.Checkpoint(ctx, w.got[len(w.got)-1])
	}
	return nil
}

type fakeCP struct {
	mu       sync.Mutex
	last     string
	shardEnd bool
}

func (c *fakeCP) SaveIntent(context.Context, checkpoint.Intent) error { return nil }
func (c *fakeCP) Checkpoint(_ context.Context, s string) error {
	c.mu.Lock()
	c.last = s
	c.mu.Unlock()
	return nil
}
func (c *fakeCP) ShardEnd(context.Context) error {
	c.mu.Lock()
	c.shardEnd = true
	c.mu.Unlock()
	return nil
}

func newFixture(t *testing.T, f *fakeShard, policy string) (*Processor, *fakeWriter, *fakeCP, *metrics.Registry) {
	t.Helper()
	if f.iters == nil {
		f.iters = map[string]int{}
	}
	w := &fakeWriter{}
	cp := &fakeCP{}
	reg := metrics.NewRegistry("test", "app")
	p, err := NewProcessor(Config{
		PollInterval: time.Millisecond, MaxBackoff: 2 * time.Millisecond, TrimmedPolicy: policy, Metrics: reg,
		OpenShard: func(_ string, c checkpoint.Checkpointer, _ *checkpoint.Intent) ShardWriter { w.cp = c; return w },
	}, f)
	if err != nil {
		t.Fatal(err)
	}
	return p, w, cp, reg
}

func wantSeqs(from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, seq(i))
	}
	return s
}

func TestReadsAClosedShardToTheEnd(t *testing.T) {
	f := &fakeShard{n: 250, batch: 100, closed: true,
		fail: map[int]error{2: streams.ErrThrottling, 3: errors.New("connection reset")}}
	p, w, cp, reg := newFixture(t, f, "")
	if err := p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.got, ",") != strings.Join(wantSeqs(0, 250), ",") {
		t.Fatalf("records out of order or missing: %d got", len(w.got))
	}
	if !cp.shardEnd || cp.last != seq(249) || w.flushes != 1 {
		t.Fatalf("shard end %v checkpoint %s flushes %d", cp.shardEnd, cp.last, w.flushes)
	}
	if reg.Value(metrics.GetRecordsThrottles) != 1 || reg.Value(metrics.Errors, metrics.Dim{Name: metrics.DimKind, Value: "streams"}) != 1 {
		t.Fatalf("throttles %v streams errors %v", reg.Value(metrics.GetRecordsThrottles), reg.Value(metrics.Errors, metrics.Dim{Name: metrics.DimKind, Value: "streams"}))
	}
}

func TestResumesAfterTheCheckpoint(t *testing.T) {
	f := &fakeShard{n: 30, batch: 7, closed: true}
	p, w, cp, _ := newFixture(t, f, "")
	if err := p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s1", Checkpoint: seq(9), Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.got, ",") != strings.Join(wantSeqs(10, 30), ",") {
		t.Fatalf("got %v", w.got)
	}
}

func TestExpiredIteratorResumesAfterLastRead(t *testing.T) {
	f := &fakeShard{n: 20, batch: 5, closed: true, expire: map[string]bool{"it-1-0+5+10": true}}
	p, w, cp, _ := newFixture(t, f, "")
	if err := p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.got, ",") != strings.Join(wantSeqs(0, 20), ",") {
		t.Fatalf("lost or doubled records across the expiry: %v", w.got)
	}
	if len(f.asked) != 2 || f.asked[1] != seq(9) {
		t.Fatalf("iterator positions asked: %v", f.asked)
	}
}

func TestTrimmedDataIsCountedAndResumed(t *testing.T) {
	f := &fakeShard{n: 20, batch: 5, closed: true, trimmed: 12}
	p, w, cp, reg := newFixture(t, f, TrimmedResume)
	if err := p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s1", Checkpoint: seq(3), Checkpointer: cp}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.got, ",") != strings.Join(wantSeqs(12, 20), ",") {
		t.Fatalf("got %v", w.got)
	}
	if reg.Value(metrics.Errors, metrics.Dim{Name: metrics.DimKind, Value: "trimmed"}) != 1 {
		t.Fatalf("trimmed not counted")
	}
}

func TestTrimmedDataHaltsWhenAsked(t *testing.T) {
	f := &fakeShard{n: 20, batch: 5, closed: true, trimmed: 12}
	p, w, cp, reg := newFixture(t, f, TrimmedHalt)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- p.ProcessShard(ctx, nil, worker.Assignment{ShardID: "s1", Checkpoint: seq(3), Checkpointer: cp})
	}()
	kind := metrics.Dim{Name: metrics.DimKind, Value: "trimmed"}
	for reg.Value(metrics.Errors, kind) < 3 { // it keeps trying, loudly, and reads nothing
		select {
		case err := <-errc:
			t.Fatalf("returned %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(w.got) != 0 || cp.last != "" {
		t.Fatalf("halt read %v, checkpoint %q", w.got, cp.last)
	}
}

func TestDrainFlushesAndCheckpoints(t *testing.T) {
	f := &fakeShard{n: 10, batch: 10} // open shard: at the tip after 10
	p, w, cp, _ := newFixture(t, f, "")
	w.added = make(chan struct{}, 1)
	drain := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- p.ProcessShard(context.Background(), drain, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: cp})
	}()
	<-w.added
	close(drain)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if w.flushes != 1 || cp.last != seq(9) || cp.shardEnd {
		t.Fatalf("flushes %d checkpoint %s shardEnd %v", w.flushes, cp.last, cp.shardEnd)
	}
}

func TestLostLeaseStopsWithoutFlush(t *testing.T) {
	f := &fakeShard{n: 10, batch: 10}
	p, w, cp, reg := newFixture(t, f, "")
	w.addErr = fmt.Errorf("flush: %w", checkpoint.ErrLeaseLost)
	err := p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: cp})
	if !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Fatalf("err = %v", err)
	}
	if w.flushes != 0 || cp.last != "" {
		t.Fatalf("wrote after losing the lease: flushes %d checkpoint %q", w.flushes, cp.last)
	}
	if reg.Value(metrics.Errors, metrics.Dim{Name: metrics.DimKind, Value: "lease_lost"}) != 1 {
		t.Fatal("lease_lost not counted")
	}
}

func TestCancelStopsAtOnce(t *testing.T) {
	f := &fakeShard{n: 5, batch: 5}
	p, w, cp, _ := newFixture(t, f, "")
	w.added = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- p.ProcessShard(ctx, nil, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: cp})
	}()
	<-w.added
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if w.flushes != 0 {
		t.Fatalf("flushed %d times after a hard stop", w.flushes)
	}
}

func TestLagGrowsWhileTheLoopIsBlockedAndIsZeroWhenCaughtUp(t *testing.T) {
	f := &fakeShard{n: 3, batch: 3}
	p, w, cp, reg := newFixture(t, f, "")
	w.block = make(chan struct{})
	w.added = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		errc <- p.ProcessShard(ctx, nil, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: cp})
	}()
	dim := metrics.Dim{Name: metrics.DimShard, Value: "s1"}
	lagAt := func(now time.Time) float64 {
		p.ReportLag(now)
		return reg.Value(metrics.MillisBehindLatest, dim)
	}
	// The first batch is read and its first record is stuck in the writer: the lag, reported
	// on a timer, grows with the clock.
	var lag float64
	for lag < 10_000 {
		lag = lagAt(time.Now().Add(time.Minute))
		select {
		case err := <-errc:
			t.Fatalf("returned %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	if lag > 61_000 {
		t.Fatalf("lag %v ms a minute after the records were read", lag)
	}
	close(w.block)
	<-w.added
	// Unblocked, the loop reaches the tip with nothing new: caught up, lag 0.
	for lagAt(time.Now().Add(time.Minute)) != 0 {
		select {
		case err := <-errc:
			t.Fatalf("returned %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	t.Logf("after cancel, ProcessShard returned %v", <-errc) // this test checks the lag, not the end
	if lagAt(time.Now()) != 0 || reg.Value(metrics.MillisBehindLatest, dim) != 0 {
		t.Fatal("a shard no longer read still reports lag")
	}
}
