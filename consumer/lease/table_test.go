package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
)

var tableSeq atomic.Int64

// newTable makes a fresh lease table on the dynalite of the test.
func newTable(t *testing.T, srv *devservers.Server) (*Table, *dynamodb.Client) {
	t.Helper()
	db := dynamodb.NewFromConfig(srv.AWSConfig())
	tbl := NewTable(db, fmt.Sprintf("leases-%d", tableSeq.Add(1)))
	if err := tbl.CreateIfMissing(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return tbl, db
}

func mustGet(t *testing.T, tbl *Table, key string) Lease {
	t.Helper()
	l, ok, err := tbl.Get(context.Background(), key)
	if err != nil || !ok {
		t.Fatalf("get %s: ok=%v err=%v", key, ok, err)
	}
	return l
}

func TestLease(t *testing.T) {
	srv := devservers.Dynalite(t)
	ctx := context.Background()

	t.Run("create table twice", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if err := tbl.CreateIfMissing(ctx, 10*time.Second); err != nil {
			t.Fatalf("second CreateIfMissing: %v", err)
		}
	})

	t.Run("worker presence items stay out of the leases", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "shard-1", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, err := tbl.Heartbeat(ctx, "w1"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tbl.Heartbeat(ctx, "w2"); err != nil {
			t.Fatal(err)
		}
		snap, err := tbl.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		workers := map[string]int64{}
		for _, w := range snap.Workers {
			workers[w.Owner] = w.Counter
		}
		if len(snap.Leases) != 1 || snap.Leases[0].Key != "shard-1" || len(workers) != 2 || workers["w1"] != 2 || workers["w2"] != 1 {
			t.Fatalf("scan: leases %+v, workers %v", snap.Leases, workers)
		}
		if leases, err := tbl.List(ctx); err != nil || len(leases) != 1 {
			t.Fatalf("list: %+v, %v", leases, err)
		}
		// A stale counter: w1 beat since; the item stays.
		if err := tbl.DeleteWorker(ctx, "w1", 1); !errors.Is(err, ErrConflict) {
			t.Fatalf("delete with a stale counter: %v, want a conflict", err)
		}
		if err := tbl.DeleteWorker(ctx, "w1", 2); err != nil {
			t.Fatal(err)
		}
		if err := tbl.DeleteWorker(ctx, "w2", -1); err != nil {
			t.Fatal(err)
		}
		if snap, err := tbl.Scan(ctx); err != nil || len(snap.Workers) != 0 || len(snap.Leases) != 1 {
			t.Fatalf("after deletes: %+v, %v", snap, err)
		}
		if err := tbl.DeleteWorker(ctx, "w1", 2); err != nil {
			t.Fatalf("deleting a gone worker: %v", err)
		}
	})

	t.Run("heartbeat, notices and the strongly consistent read of presence items", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		me, err := tbl.Heartbeat(ctx, "w1")
		if err != nil || me.Key != WorkerKeyPrefix+"w1" || me.Owner != "w1" || me.Counter != 1 || me.Notices != 0 || me.HeartbeatAt == "" {
			t.Fatalf("first heartbeat: %+v, %v", me, err)
		}
		for range 2 {
			if err := tbl.Notify(ctx, "w1"); err != nil {
				t.Fatal(err)
			}
		}
		// A worker without a presence item is not created by a notice.
		if err := tbl.Notify(ctx, "nobody"); err != nil {
			t.Fatalf("notify a worker without presence: %v", err)
		}
		me, err = tbl.Heartbeat(ctx, "w1")
		if err != nil || me.Counter != 2 || me.Notices != 2 {
			t.Fatalf("heartbeat after two notices: %+v, %v", me, err)
		}
		// 150 workers asked for, in two batches; only those present come back.
		var ids []string
		for i := range 150 {
			id := fmt.Sprintf("p%03d", i)
			ids = append(ids, id)
			if i%2 == 0 {
				if _, err := tbl.Heartbeat(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
		}
		ws, err := tbl.Workers(ctx, append(ids, "w1", "nobody"))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, w := range ws {
			got[w.Owner] = w.Counter
		}
		if len(got) != 76 || got["w1"] != 2 || got["p000"] != 1 || got["p148"] != 1 {
			t.Fatalf("read %d presence items: %v", len(got), got)
		}
		if _, ok := got["p001"]; ok {
			t.Fatal("a worker without presence item was read")
		}
		if ws, err := tbl.Workers(ctx, nil); err != nil || len(ws) != 0 {
			t.Fatalf("no workers asked: %v, %v", ws, err)
		}
		// The eventually consistent scan reads the same items (dynalite is one node).
		strong, err := tbl.Scan(ctx)
		if err != nil {
			t.Fatal(err)
		}
		eventual, err := tbl.ScanEventually(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(eventual.Workers) != len(strong.Workers) || len(eventual.Workers) != 76 || len(eventual.Leases) != 0 {
			t.Fatalf("eventual scan: %d workers, %d leases; strong: %d workers", len(eventual.Workers), len(eventual.Leases), len(strong.Workers))
		}
	})

	t.Run("giving a lease up does not wait for a write in flight", func(t *testing.T) {
		tbl, db := newTable(t, srv)
		slow := &slowDB{DynamoDB: db, release: make(chan struct{}), entered: make(chan struct{}, 1)}
		tbl.db = slow
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		h, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "w")
		if err != nil {
			t.Fatal(err)
		}
		var lost atomic.Int32
		h.OnLost(func() { lost.Add(1) })
		slow.hold.Store(true)
		done := make(chan error, 1)
		go func() { done <- h.Checkpoint(ctx, "3") }()
		<-slow.entered // the checkpoint holds the lease's write lock, waiting for DynamoDB
		gaveUp := make(chan struct{})
		go func() { h.GiveUp(); close(gaveUp) }()
		select {
		case <-gaveUp:
		case <-time.After(5 * time.Second):
			t.Fatal("GiveUp waited for the write in flight")
		}
		if !h.Lost() || lost.Load() != 1 || h.Counter() != 1 {
			t.Fatalf("after GiveUp: lost %v, OnLost calls %d, counter %d", h.Lost(), lost.Load(), h.Counter())
		}
		close(slow.release)
		if err := <-done; err != nil {
			t.Fatalf("the write in flight: %v (it was fenced and sent before the lease was given up)", err)
		}
		if err := h.Checkpoint(ctx, "4"); !errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("write after GiveUp: %v", err)
		}
	})

	t.Run("create lease only if absent", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		for i, want := range []bool{true, false} {
			created, err := tbl.CreateLease(ctx, "shard-1", []string{"p1", "p2"}, checkpoint.TrimHorizon)
			if err != nil || created != want {
				t.Fatalf("call %d: created=%v err=%v, want %v", i, created, err, want)
			}
		}
		l := mustGet(t, tbl, "shard-1")
		if l.Owner != "" || l.Counter != 0 || l.Checkpoint != checkpoint.TrimHorizon || len(l.ParentShardIDs) != 2 {
			t.Fatalf("new lease = %+v", l)
		}
	})

	t.Run("take checkpoint release", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.Latest); err != nil {
			t.Fatal(err)
		}
		l := mustGet(t, tbl, "s")
		h, err := tbl.Take(ctx, l, "w1")
		if err != nil {
			t.Fatal(err)
		}
		// A second take on the counter seen before the first one must fail, not overwrite.
		if _, err := tbl.Take(ctx, l, "w2"); !errors.Is(err, ErrConflict) || errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("stale take: %v, want ErrConflict only", err)
		}
		in := checkpoint.Intent{Key: "a/b.json.gz", FirstSeq: "10", LastSeq: "19", Records: 10}
		if err := h.SaveIntent(ctx, in); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, tbl, "s")
		if got.Pending == nil || *got.Pending != in || got.Checkpoint != checkpoint.Latest || got.Owner != "w1" || got.Counter != 2 || got.OwnerSwitchesSinceCheckpoint != 1 || h.Counter() != 2 {
			t.Fatalf("after intent: %+v", got)
		}
		if err := h.Checkpoint(ctx, "19"); err != nil {
			t.Fatal(err)
		}
		got = mustGet(t, tbl, "s")
		if got.Pending != nil || got.Checkpoint != "19" || got.OwnerSwitchesSinceCheckpoint != 0 || got.CheckpointedAt == "" {
			t.Fatalf("after checkpoint: %+v", got)
		}
		if _, err := time.Parse(time.RFC3339Nano, got.CheckpointedAt); err != nil {
			t.Fatalf("checkpointedAt: %v", err)
		}
		if err := h.ShardEnd(ctx); err != nil {
			t.Fatal(err)
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		got = mustGet(t, tbl, "s")
		if got.Owner != "" || !got.Finished() || got.Counter != 5 || h.Counter() != 5 {
			t.Fatalf("after release: %+v", got)
		}
		if err := h.Checkpoint(ctx, "20"); !errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("checkpoint after release: %v", err)
		}
	})

	t.Run("zombie cannot checkpoint", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		zombie, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "old")
		if err != nil {
			t.Fatal(err)
		}
		var lostCalls atomic.Int32
		zombie.OnLost(func() { lostCalls.Add(1) })
		if err := zombie.Checkpoint(ctx, "5"); err != nil {
			t.Fatal(err)
		}
		owner, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "new")
		if err != nil {
			t.Fatal(err)
		}
		if err := owner.Checkpoint(ctx, "7"); err != nil {
			t.Fatal(err)
		}
		for _, op := range []func() error{
			func() error { return zombie.Checkpoint(ctx, "9") },
			func() error { return zombie.SaveIntent(ctx, checkpoint.Intent{Key: "k"}) },
			func() error { return zombie.ShardEnd(ctx) },
			func() error { return zombie.Release(ctx) },
		} {
			if err := op(); !errors.Is(err, checkpoint.ErrLeaseLost) || !errors.Is(err, ErrConflict) {
				t.Fatalf("zombie write: %v, want ErrLeaseLost", err)
			}
		}
		if n := lostCalls.Load(); n != 1 {
			t.Fatalf("OnLost called %d times, want 1", n)
		}
		got := mustGet(t, tbl, "s")
		if got.Owner != "new" || got.Checkpoint != "7" || got.Pending != nil || got.OwnerSwitchesSinceCheckpoint != 0 {
			t.Fatalf("new owner's lease changed by the zombie: %+v", got)
		}
	})

	t.Run("concurrent writes of one held lease never fail one another", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		h, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "w")
		if err != nil {
			t.Fatal(err)
		}
		const n = 30
		var wg sync.WaitGroup
		errs := make(chan error, 3*n)
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < n; i++ {
					errs <- h.SaveIntent(ctx, checkpoint.Intent{Key: "other", FirstSeq: "1", LastSeq: "1", Records: 1})
				}
			}()
		}
		for i := 1; i <= n; i++ {
			if err := h.SaveIntent(ctx, checkpoint.Intent{Key: "k", FirstSeq: "1", LastSeq: fmt.Sprint(i), Records: i}); err != nil {
				t.Fatal(err)
			}
			if err := h.Checkpoint(ctx, fmt.Sprint(i)); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		got := mustGet(t, tbl, "s")
		if got.Checkpoint != fmt.Sprint(n) || got.Counter != 1+2*n+2*n {
			t.Fatalf("lease = %+v, want checkpoint %d, counter %d", got, n, 1+4*n)
		}
	})

	t.Run("graceful handoff", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		h, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "busy")
		if err != nil {
			t.Fatal(err)
		}
		l := mustGet(t, tbl, "s")
		if err := tbl.RequestHandoff(ctx, l, "idle"); err != nil {
			t.Fatal(err)
		}
		if err := tbl.RequestHandoff(ctx, l, "other"); !errors.Is(err, ErrConflict) {
			t.Fatalf("second handoff request: %v", err)
		}
		// The owner keeps its fencing while the handoff is pending.
		if err := h.Checkpoint(ctx, "3"); err != nil {
			t.Fatal(err)
		}
		// A transfer to a worker that does not ask releases the lease instead.
		if handed, err := h.Transfer(ctx, "other"); handed || err != nil {
			t.Fatalf("transfer to a worker that did not ask: handed %v, %v", handed, err)
		}
		if got := mustGet(t, tbl, "s"); got.Owner != "" || got.HandoffTo != "" || got.Checkpoint != "3" {
			t.Fatalf("after a transfer nobody asked for: %+v", got)
		}
		if err := h.Checkpoint(ctx, "4"); !errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("checkpoint after the lease was released: %v", err)
		}
		h2, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "busy")
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.RequestHandoff(ctx, mustGet(t, tbl, "s"), "idle"); err != nil {
			t.Fatal(err)
		}
		if handed, err := h2.Transfer(ctx, "idle"); !handed || err != nil {
			t.Fatalf("transfer: handed %v, %v", handed, err)
		}
		got := mustGet(t, tbl, "s")
		if got.Owner != "idle" || got.HandoffTo != "" || got.Checkpoint != "3" {
			t.Fatalf("after handoff: %+v", got)
		}
		switches := got.OwnerSwitchesSinceCheckpoint
		adopted, err := tbl.Take(ctx, got, "idle")
		if err != nil {
			t.Fatal(err)
		}
		if l := adopted.Lease(); l.Owner != "idle" || l.OwnerSwitchesSinceCheckpoint != switches || l.Checkpoint != "3" {
			t.Fatalf("adopted lease: %+v (switches before %d)", l, switches)
		}
	})

	t.Run("withdrawn handoff request", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		h, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "busy")
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.RequestHandoff(ctx, mustGet(t, tbl, "s"), "leaving"); err != nil {
			t.Fatal(err)
		}
		if err := tbl.WithdrawHandoff(ctx, "s", "someone-else"); !errors.Is(err, ErrConflict) {
			t.Fatalf("withdrawing another worker's request: %v", err)
		}
		if err := tbl.WithdrawHandoff(ctx, "s", "leaving"); err != nil {
			t.Fatal(err)
		}
		// The owner drained and hands over to a worker that left: the lease is freed, not
		// stranded under a dead owner until the failover time.
		if handed, err := h.Transfer(ctx, "leaving"); handed || err != nil {
			t.Fatalf("transfer after withdrawal: handed %v, %v", handed, err)
		}
		if got := mustGet(t, tbl, "s"); got.Owner != "" || got.HandoffTo != "" {
			t.Fatalf("after the withdrawn handoff: %+v", got)
		}
	})

	t.Run("evict and delete finished", func(t *testing.T) {
		tbl, _ := newTable(t, srv)
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		h, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "w")
		if err != nil {
			t.Fatal(err)
		}
		if err := tbl.DeleteFinished(ctx, "s"); !errors.Is(err, ErrConflict) {
			t.Fatalf("delete of an unfinished lease: %v", err)
		}
		stale := mustGet(t, tbl, "s")
		if err := h.Checkpoint(ctx, "1"); err != nil {
			t.Fatal(err)
		}
		if err := tbl.Evict(ctx, stale); !errors.Is(err, ErrConflict) {
			t.Fatalf("evict on a stale counter: %v", err)
		}
		if err := tbl.Evict(ctx, mustGet(t, tbl, "s")); err != nil {
			t.Fatal(err)
		}
		if l := mustGet(t, tbl, "s"); l.Owner != "" {
			t.Fatalf("evicted lease still owned: %+v", l)
		}
		h, err = tbl.Take(ctx, mustGet(t, tbl, "s"), "w")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.ShardEnd(ctx); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // the second call finds it gone
			if err := tbl.DeleteFinished(ctx, "s"); err != nil {
				t.Fatalf("delete finished, call %d: %v", i, err)
			}
		}
		if _, ok, err := tbl.Get(ctx, "s"); ok || err != nil {
			t.Fatalf("lease still there: ok=%v err=%v", ok, err)
		}
	})

	t.Run("a write whose answer was lost is re-read, not taken for a loss", func(t *testing.T) {
		tbl, db := newTable(t, srv)
		flaky := &lostAnswerDB{DynamoDB: db}
		tbl.db = flaky
		if _, err := tbl.CreateLease(ctx, "s", nil, checkpoint.TrimHorizon); err != nil {
			t.Fatal(err)
		}
		h, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "w")
		if err != nil {
			t.Fatal(err)
		}
		// The intent reaches the table but its answer is lost: the local counter is stale.
		in := checkpoint.Intent{Key: "k", FirstSeq: "1", LastSeq: "4", Records: 4}
		flaky.loseNext.Store(true)
		if err := h.SaveIntent(ctx, in); err == nil || errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("intent with a lost answer: %v, want a plain error", err)
		}
		if err := h.Checkpoint(ctx, "4"); err != nil {
			t.Fatalf("checkpoint after the lost answer: %v", err)
		}
		if got := mustGet(t, tbl, "s"); got.Checkpoint != "4" || got.Counter != 3 || got.Owner != "w" {
			t.Fatalf("lease = %+v", got)
		}
		// Meanwhile taken by another worker: the re-read finds it and reports the loss.
		flaky.loseNext.Store(true)
		if err := h.SaveIntent(ctx, in); err == nil {
			t.Fatal("intent with a lost answer succeeded")
		}
		if _, err := tbl.Take(ctx, mustGet(t, tbl, "s"), "other"); err != nil {
			t.Fatal(err)
		}
		if err := h.Checkpoint(ctx, "9"); !errors.Is(err, checkpoint.ErrLeaseLost) {
			t.Fatalf("checkpoint after the lease was taken: %v", err)
		}
		if got := mustGet(t, tbl, "s"); got.Checkpoint != "4" || got.Owner != "other" {
			t.Fatalf("lease = %+v", got)
		}
	})

	t.Run("list pages and reads list parents", func(t *testing.T) {
		tbl, db := newTable(t, srv)
		tbl.scanLimit = 3
		for i := 0; i < 10; i++ {
			if _, err := tbl.CreateLease(ctx, fmt.Sprintf("s%02d", i), nil, checkpoint.TrimHorizon); err != nil {
				t.Fatal(err)
			}
		}
		// A lease written by another tool with parentShardIds as a list.
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(tbl.Name()), Item: map[string]types.AttributeValue{
			AttrKey: str("child"), AttrCounter: num(4), AttrCheckpoint: str(checkpoint.TrimHorizon),
			AttrParents: &types.AttributeValueMemberL{Value: []types.AttributeValue{str("s00"), str("s01")}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		all, err := tbl.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 11 {
			t.Fatalf("listed %d leases, want 11", len(all))
		}
		for _, l := range all {
			if l.Key == "child" && (len(l.ParentShardIDs) != 2 || l.ParentShardIDs[1] != "s01" || l.Counter != 4) {
				t.Fatalf("child lease = %+v", l)
			}
		}
	})
}

// lostAnswerDB performs an UpdateItem and, when loseNext is set, answers with an error as if
// the response had been lost on the way back.
type lostAnswerDB struct {
	DynamoDB
	loseNext atomic.Bool
}

func (d *lostAnswerDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := d.DynamoDB.UpdateItem(ctx, in, o...)
	if err == nil && d.loseNext.CompareAndSwap(true, false) {
		return nil, errors.New("connection reset (answer lost)")
	}
	return out, err
}

// slowDB holds an UpdateItem, once hold is set, until release is closed.
type slowDB struct {
	DynamoDB
	hold    atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (d *slowDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, o ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if d.hold.CompareAndSwap(true, false) {
		d.entered <- struct{}{}
		<-d.release
	}
	return d.DynamoDB.UpdateItem(ctx, in, o...)
}
