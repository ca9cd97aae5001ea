package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
)

// rec is one record of a fake shard: the version-th change of key.
type rec struct {
	seq     string
	key     string
	version int
}

type fakeShard struct {
	parents []string
	closed  bool
	recs    []rec
}

// fakeStream is an in-process stream: shards of records, appended to and closed by the test.
type fakeStream struct {
	mu      sync.Mutex
	shards  map[string]*fakeShard
	order   []string
	changed chan struct{} // closed and replaced on every change
}

func newStream() *fakeStream {
	return &fakeStream{shards: map[string]*fakeShard{}, changed: make(chan struct{})}
}

func (s *fakeStream) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *fakeStream) addShard(id string, parents ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shards[id] = &fakeShard{parents: parents}
	s.order = append(s.order, id)
	s.notify()
}

// add appends the next change of key to the shard.
func (s *fakeStream) add(id, key string, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shards[id]
	sh.recs = append(sh.recs, rec{seq: fmt.Sprintf("%08d", len(sh.recs)+1), key: key, version: version})
	s.notify()
}

func (s *fakeStream) close(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shards[id].closed = true
	s.notify()
}

func (s *fakeStream) ListShards(context.Context) ([]Shard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Shard
	for _, id := range s.order {
		sh := s.shards[id]
		out = append(out, Shard{ShardID: id, ParentShardIDs: sh.parents, Closed: sh.closed})
	}
	return out, nil
}

// read returns up to n records from index pos, whether the shard is closed, and a channel
// closed on the next change.
func (s *fakeStream) read(id string, pos, n int) ([]rec, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shards[id]
	end := min(pos+n, len(sh.recs))
	return append([]rec(nil), sh.recs[pos:end]...), sh.closed && end == len(sh.recs), s.changed
}

func (s *fakeStream) length(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.shards[id].recs)
}

// delivery is a batch a processor "uploaded".
type delivery struct {
	worker, shard string
	recs          []rec
}

// harness runs workers over one fake stream and one lease table, and records what their
// processors did: which worker processes which shard at every moment, and every delivery.
type harness struct {
	t      testing.TB
	stream *fakeStream
	table  *lease.Table
	calls  *countingDB

	mu          sync.Mutex
	active      map[string]string // shard -> worker whose processor runs on it now
	violations  []string
	deliveries  []delivery
	assignments map[string][]Assignment // shard -> what each processor start got
	endedAt     map[string]time.Time    // shard -> when its ShardEnd succeeded
	startedAt   map[string][]time.Time  // shard -> when processors started on it
	events      []Event
	checkpoints map[string]string // shard -> last checkpoint a processor wrote
	failOnce    map[string]bool   // shard -> its next processor fails after its first batch
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	srv := devservers.Dynalite(t)
	calls := &countingDB{DynamoDB: dynamodb.NewFromConfig(srv.AWSConfig())}
	table := lease.NewTable(calls, "leases")
	if err := table.CreateIfMissing(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	h := &harness{
		t: t, stream: newStream(), table: table, calls: calls,
		active: map[string]string{}, assignments: map[string][]Assignment{},
		endedAt: map[string]time.Time{}, startedAt: map[string][]time.Time{}, checkpoints: map[string]string{},
		failOnce: map[string]bool{},
	}
	begin := time.Now()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range h.events {
			if e.Type != EventCreated {
				t.Logf("%8s %s %-17s %s %s %v", e.Time.Sub(begin).Round(time.Millisecond), e.Worker, e.Type, e.Shard, e.Peer, e.Err)
			}
		}
	})
	return h
}

// fastConfig: intervals short enough for the package's tests to finish in seconds. The
// periodic scan of the whole table is off (an hour): every test works through the reads that
// events ask for (a worker gone or leaving, a notice, a lease created, lost or finished,
// something under way), unless it sets a ScanInterval itself.
func fastConfig(id string) Config {
	return Config{
		WorkerID:           id,
		FailoverTime:       3 * time.Second,
		RenewInterval:      300 * time.Millisecond,
		TakeInterval:       400 * time.Millisecond,
		ScanInterval:       time.Hour,
		ShardSyncInterval:  500 * time.Millisecond,
		ParentCleanupGrace: 300 * time.Millisecond,
		HandoffTimeout:     5 * time.Second,
	}
}

// testLogger keeps the test output quiet unless CDC_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("CDC_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// running is a started worker.
type running struct {
	id     string
	c      *Coordinator
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // Run's result, once done is closed
}

// stop shuts the worker down gracefully and returns Run's error.
func (r *running) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

// kill stops the worker abruptly, as a crash would.
func (r *running) kill() error {
	r.c.Abort()
	<-r.done
	return r.err
}

func (h *harness) start(cfg Config) *running {
	h.t.Helper()
	return h.startOn(cfg, h.table)
}

// cutOff is a DynamoDB that fails every call while down is set: the lease table as one
// worker alone would reach it with its network cut.
type cutOff struct {
	lease.DynamoDB
	down atomic.Bool
}

func (d *cutOff) err() error {
	if d.down.Load() {
		return errUnreachable
	}
	return nil
}

func (d *cutOff) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.DynamoDB.Scan(ctx, in, o...)
}

func (d *cutOff) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.DynamoDB.BatchGetItem(ctx, in, o...)
}

func (d *cutOff) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.DynamoDB.GetItem(ctx, in, o...)
}

func (d *cutOff) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.DynamoDB.UpdateItem(ctx, in, o...)
}

func (d *cutOff) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := d.err(); err != nil {
		return nil, err
	}
	return d.DynamoDB.DeleteItem(ctx, in, o...)
}

// startCutOff starts a worker whose own calls go through a cutOff (the others' do not).
func (h *harness) startCutOff(cfg Config) (*running, *cutOff) {
	h.t.Helper()
	db := &cutOff{DynamoDB: h.calls}
	return h.startOn(cfg, lease.NewTable(db, h.table.Name())), db
}

func (h *harness) startOn(cfg Config, table *lease.Table) *running {
	h.t.Helper()
	cfg.Logger = testLogger()
	cfg.OnEvent = func(e Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	}
	c, err := New(cfg, table, h.stream, &fakeProc{h: h, worker: cfg.WorkerID})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{id: cfg.WorkerID, c: c, cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = c.Run(ctx)
		close(r.done)
	}()
	h.t.Cleanup(func() {
		c.Abort()
		<-r.done
	})
	return r
}

// fakeProc reads a fake shard in batches of 10: intent, "upload", checkpoint; ShardEnd at the
// end of a closed shard; at the tip it waits for records, the drain or the end of ctx.
type fakeProc struct {
	h      *harness
	worker string
}

func (p *fakeProc) ProcessShard(ctx context.Context, drain <-chan struct{}, a Assignment) error {
	h := p.h
	h.begin(p.worker, a)
	defer h.end(p.worker, a.ShardID)
	pos := 0
	switch a.Checkpoint {
	case checkpoint.TrimHorizon:
	case checkpoint.Latest:
		pos = h.stream.length(a.ShardID)
	default:
		n, err := strconv.Atoi(a.Checkpoint)
		if err != nil {
			return fmt.Errorf("bad checkpoint %q", a.Checkpoint)
		}
		pos = n
	}
	for {
		batch, ended, changed := h.stream.read(a.ShardID, pos, 10)
		if len(batch) > 0 {
			last := batch[len(batch)-1].seq
			in := checkpoint.Intent{Key: a.ShardID + "/" + batch[0].seq, FirstSeq: batch[0].seq, LastSeq: last, Records: len(batch)}
			if err := a.Checkpointer.SaveIntent(ctx, in); err != nil {
				return err
			}
			h.deliver(p.worker, a.ShardID, batch)
			if err := a.Checkpointer.Checkpoint(ctx, last); err != nil {
				return err
			}
			h.checkpointed(a.ShardID, last)
			pos += len(batch)
			h.mu.Lock()
			fail := h.failOnce[a.ShardID]
			delete(h.failOnce, a.ShardID)
			h.mu.Unlock()
			if fail {
				return errors.New("injected processor failure")
			}
			continue
		}
		if ended {
			if err := a.Checkpointer.ShardEnd(ctx); err != nil {
				return err
			}
			h.mu.Lock()
			h.endedAt[a.ShardID] = time.Now()
			h.mu.Unlock()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-drain:
			return nil
		case <-changed:
		}
	}
}

func (h *harness) begin(worker string, a Assignment) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if other, busy := h.active[a.ShardID]; busy {
		h.violations = append(h.violations, fmt.Sprintf("%s started on %s while %s processes it", worker, a.ShardID, other))
	}
	h.active[a.ShardID] = worker
	h.assignments[a.ShardID] = append(h.assignments[a.ShardID], a)
	h.startedAt[a.ShardID] = append(h.startedAt[a.ShardID], time.Now())
}

func (h *harness) end(worker, shard string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.active[shard] == worker {
		delete(h.active, shard)
	}
}

func (h *harness) deliver(worker, shard string, recs []rec) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deliveries = append(h.deliveries, delivery{worker: worker, shard: shard, recs: recs})
}

func (h *harness) checkpointed(shard, seq string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checkpoints[shard] = seq
}

// noViolations fails the test if two processors ever ran on one shard at once.
func (h *harness) noViolations() {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.violations {
		h.t.Error(v)
	}
}

// seqs lists the sequence numbers delivered for a shard, in delivery order.
func (h *harness) seqs(shard string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, d := range h.deliveries {
		if d.shard == shard {
			for _, r := range d.recs {
				out = append(out, r.seq)
			}
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or limit passes; it returns how long it took.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		<-tick.C
	}
	return time.Since(start)
}

// owners reads the table: shard -> owner.
func (h *harness) owners() map[string]string {
	h.t.Helper()
	all, err := h.table.List(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range all {
		out[l.Key] = l.Owner
	}
	return out
}

// loads counts the leases of each owner ("" for free ones).
func loads(owners map[string]string) map[string]int {
	out := map[string]int{}
	for _, o := range owners {
		out[o]++
	}
	return out
}

// countingDB counts the DynamoDB calls by operation, and the capacity units they consume as
// dynalite computes them (DynamoDB's rules: reads in 4 KB units, halved when eventually
// consistent, a Scan's items summed per page; writes in 1 KB units of the larger of the old
// and new item). Every request asks for ReturnConsumedCapacity TOTAL; a write whose condition
// fails consumes no capacity in dynalite but 1 write unit in DynamoDB, and is counted so.
type countingDB struct {
	lease.DynamoDB
	mu   sync.Mutex
	n    map[string]int64
	rcu  float64
	wcu  float64
	on   atomic.Bool // count calls
	down atomic.Bool // fail every call, as an unreachable DynamoDB would
}

// errUnreachable is what every call answers while countingDB.down is set.
var errUnreachable = errors.New("dial tcp: connection refused (injected)")

func (d *countingDB) reachable() error {
	if d.down.Load() {
		return errUnreachable
	}
	return nil
}

// record counts one call of op that consumed units (reads or writes).
func (d *countingDB) record(op string, read bool, units float64) {
	if !d.on.Load() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.n == nil {
		d.n = map[string]int64{}
	}
	d.n[op]++
	if read {
		d.rcu += units
	} else {
		d.wcu += units
	}
}

func units(c *types.ConsumedCapacity) float64 {
	if c == nil || c.CapacityUnits == nil {
		return 0
	}
	return *c.CapacityUnits
}

// writeUnits is what DynamoDB charges for a write: its consumed capacity, or 1 unit when its
// condition failed (dynalite reports nothing then).
func writeUnits(c *types.ConsumedCapacity, err error) float64 {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return 1
	}
	return units(c)
}

func (d *countingDB) Scan(ctx context.Context, in *dynamodb.ScanInput, o ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if err := d.reachable(); err != nil {
		return nil, err
	}
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := d.DynamoDB.Scan(ctx, &cp, o...)
	if err == nil {
		u := units(out.ConsumedCapacity)
		if aws.ToBool(in.ConsistentRead) {
			// dynalite drops ConsistentRead from a Scan and prices every page as eventually
			// consistent: DynamoDB charges twice that.
			u *= 2
		}
		d.record("Scan", true, u)
	}
	return out, err
}

func (d *countingDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := d.reachable(); err != nil {
		return nil, err
	}
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := d.DynamoDB.BatchGetItem(ctx, &cp, o...)
	if err == nil {
		var u float64
		for i := range out.ConsumedCapacity {
			u += units(&out.ConsumedCapacity[i])
		}
		d.record("BatchGetItem", true, u)
	}
	return out, err
}

func (d *countingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := d.reachable(); err != nil {
		return nil, err
	}
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := d.DynamoDB.GetItem(ctx, &cp, o...)
	if err == nil {
		d.record("GetItem", true, units(out.ConsumedCapacity))
	}
	return out, err
}

func (d *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.reachable(); err != nil {
		return nil, err
	}
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := d.DynamoDB.UpdateItem(ctx, &cp, o...)
	var c *types.ConsumedCapacity
	if err == nil {
		c = out.ConsumedCapacity
	}
	op := "UpdateItem"
	if k, ok := in.Key[lease.AttrKey].(*types.AttributeValueMemberS); ok && strings.HasPrefix(k.Value, lease.WorkerKeyPrefix) {
		op = "UpdateItem(presence)" // heartbeats and notices
	}
	d.record(op, false, writeUnits(c, err))
	return out, err
}

func (d *countingDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if err := d.reachable(); err != nil {
		return nil, err
	}
	cp := *in
	cp.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	out, err := d.DynamoDB.DeleteItem(ctx, &cp, o...)
	var c *types.ConsumedCapacity
	if err == nil {
		c = out.ConsumedCapacity
	}
	d.record("DeleteItem", false, writeUnits(c, err))
	return out, err
}

// usage is what countingDB counted: calls by operation, read and write units.
type usage struct {
	calls    map[string]int64
	rcu, wcu float64
}

func (d *countingDB) snapshot() usage {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := usage{calls: map[string]int64{}, rcu: d.rcu, wcu: d.wcu}
	for k, v := range d.n {
		out.calls[k] = v
	}
	return out
}
