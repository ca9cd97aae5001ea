package pipeline

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// heldReader serves shards of n records in batches (never at the tip: the last batch
// closes the shard) and counts the answers held: from the start of a Records call to the
// end of the writer's FlushIfDue for that answer, which the loop calls last in handing it
// over.
type heldReader struct {
	n, batch int
	mu       sync.Mutex
	held     int
	maxHeld  int
	calls    int
	called   chan struct{} // receives after each Records call starts, when set
	// linger keeps each call open that long, so that other shards' calls overlap it if the
	// budget lets them (a load, not a synchronization: nothing waits for it to pass).
	linger time.Duration
}

func (h *heldReader) Iterator(_ context.Context, _, _ string) (string, error) { return "0", nil }

func (h *heldReader) Records(_ context.Context, it string, limit int) (Batch, error) {
	h.mu.Lock()
	h.held++
	h.maxHeld = max(h.maxHeld, h.held)
	h.calls++
	h.mu.Unlock()
	if h.called != nil {
		h.called <- struct{}{}
	}
	if h.linger > 0 {
		time.Sleep(h.linger)
	}
	i, err := strconv.Atoi(it)
	if err != nil {
		return Batch{}, err
	}
	end := min(i+min(limit, h.batch), h.n)
	var b Batch
	for j := i; j < end; j++ {
		b.Records = append(b.Records, streams.Record{SequenceNumber: seq(j)})
	}
	b.Closed = end == h.n
	if !b.Closed {
		b.Next = strconv.Itoa(end)
	}
	return b, nil
}

func (h *heldReader) handed() {
	h.mu.Lock()
	h.held--
	h.mu.Unlock()
}

// heldWriter is one shard's writer over a heldReader.
type heldWriter struct {
	h     *heldReader
	got   []string
	onDue func() error // called by FlushIfDue before the answer counts as handed over
}

func (w *heldWriter) Add(_ context.Context, r *streams.Record) error {
	w.got = append(w.got, r.SequenceNumber)
	return nil
}

func (w *heldWriter) FlushIfDue(context.Context, time.Time) error {
	var err error
	if w.onDue != nil {
		err = w.onDue()
	}
	w.h.handed()
	return err
}
func (w *heldWriter) Drain(context.Context) error { return nil }
func (w *heldWriter) Flush(context.Context) error { return nil }

// Many shards behind their tip, each reading ahead: the worker never holds more answers than
// its budget, and every shard still gets its records whole and in order.
func TestHeldAnswersBoundTheAnswersOfTheWorker(t *testing.T) {
	const shards, budget = 6, 2
	h := &heldReader{n: 500, batch: 10, linger: 2 * time.Millisecond}
	var mu sync.Mutex
	writers := map[string]*heldWriter{}
	p, err := NewProcessor(Config{HeldAnswers: budget, OpenShard: func(id string, _ checkpoint.Checkpointer, _ *checkpoint.Intent) ShardWriter {
		mu.Lock()
		defer mu.Unlock()
		writers[id] = &heldWriter{h: h}
		return writers[id]
	}}, h)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, shards)
	for i := range shards {
		wg.Go(func() {
			errs <- p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s" + strconv.Itoa(i), Checkpoint: checkpoint.TrimHorizon, Checkpointer: &fakeCP{}})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if h.maxHeld > budget || h.maxHeld < 1 {
		t.Fatalf("the worker held %d answers at once; the budget is %d", h.maxHeld, budget)
	}
	want := strings.Join(wantSeqs(0, 500), ",")
	for id, w := range writers {
		if strings.Join(w.got, ",") != want {
			t.Fatalf("%s: %d records, out of order or missing", id, len(w.got))
		}
	}
	if len(p.budget) != 0 {
		t.Fatalf("%d tokens still taken after every shard returned", len(p.budget))
	}
}

// A shard behind its tip reads its next answer while the writer takes the current one: the
// writer of answer k sees call k+1 start before it returns.
func TestReadsTheNextAnswerWhileTheWriterWorks(t *testing.T) {
	h := &heldReader{n: 50, batch: 10, called: make(chan struct{}, 1)}
	w := &heldWriter{h: h}
	w.onDue = func() error {
		if len(w.got) == h.n {
			return nil // the last answer: nothing more to read
		}
		select {
		case <-h.called:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the next GetRecords did not start while the writer held the answer")
		}
	}
	p, err := NewProcessor(Config{OpenShard: func(string, checkpoint.Checkpointer, *checkpoint.Intent) ShardWriter { return w }}, h)
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-h.called }() // the first call, before any writer
	if err := p.ProcessShard(context.Background(), nil, worker.Assignment{ShardID: "s1", Checkpoint: checkpoint.TrimHorizon, Checkpointer: &fakeCP{}}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(w.got, ",") != strings.Join(wantSeqs(0, 50), ",") || h.calls != 5 {
		t.Fatalf("%d records in %d calls", len(w.got), h.calls)
	}
}
