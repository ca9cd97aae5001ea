package lease

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
)

// Held is a lease this worker owns. Its writes (intents, checkpoints, release, handoff) are
// fenced on leaseOwner = me AND leaseCounter = the counter this worker last wrote, and each
// bumps the counter. They are serialised by a mutex so that two writers of one worker (the
// processor's checkpoint, the coordinator's release) never make each other fail: whichever
// runs second uses the counter the first wrote. Nothing renews a held lease: it stays alive
// while its owner's heartbeat moves (see docs/leases.md).
type Held struct {
	table *Table
	owner string

	mu        sync.Mutex // serialises the writes
	lease     Lease      // the item as this worker last wrote it
	uncertain bool       // the last write's outcome is unknown: re-read before the next

	counter  atomic.Int64 // lease.Counter, readable while a write is in flight
	lost     atomic.Bool  // someone else owns it, or it was given up or released: no more writes
	released atomic.Bool  // this worker released it or handed it over

	cbMu   sync.Mutex // guards onLost, apart from mu so that GiveUp never waits for a write
	onLost func()
}

var _ checkpoint.Checkpointer = (*Held)(nil)

// Key is the shard id.
func (h *Held) Key() string { return h.lease.Key }

// Owner is this worker's id.
func (h *Held) Owner() string { return h.owner }

// Lease is the item as this worker last wrote it.
func (h *Held) Lease() Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.lease
	l.ParentShardIDs = append([]string(nil), l.ParentShardIDs...)
	if l.Pending != nil {
		p := *l.Pending
		l.Pending = &p
	}
	return l
}

// Counter is the leaseCounter this worker last wrote (or read back after an uncertain write).
// It does not wait for a write in flight.
func (h *Held) Counter() int64 { return h.counter.Load() }

// Lost reports whether the lease is no longer this worker's (taken, released or given up).
func (h *Held) Lost() bool { return h.lost.Load() }

// Released reports whether this worker released the lease or handed it over.
func (h *Held) Released() bool { return h.released.Load() }

// OnLost sets a function called once, from the writer's goroutine, when a write finds the
// lease owned by someone else (or GiveUp is called).
func (h *Held) OnLost(f func()) {
	h.cbMu.Lock()
	h.onLost = f
	h.cbMu.Unlock()
}

// GiveUp marks the lease lost without writing: its owner's heartbeat could not be written
// for nearly the failover time, so another worker may own it soon, or a read of the table
// showed it owned by another worker. Later writes fail with ErrLeaseLost. It does not wait
// for a write in flight (that write stays fenced).
func (h *Held) GiveUp() {
	if f := h.markLost(); f != nil {
		f()
	}
}

// markLost marks the lease lost and returns the OnLost function to call (nil if it was lost
// already); the caller calls it without holding mu.
func (h *Held) markLost() func() {
	if !h.lost.CompareAndSwap(false, true) {
		return nil
	}
	h.cbMu.Lock()
	f := h.onLost
	h.onLost = nil
	h.cbMu.Unlock()
	return f
}

// SaveIntent stores the intent of a flush; the checkpoint does not move.
func (h *Held) SaveIntent(ctx context.Context, in checkpoint.Intent) error {
	av, err := attributevalue.Marshal(in)
	if err != nil {
		return fmt.Errorf("lease %s: save intent: %w", h.lease.Key, err)
	}
	return h.write(ctx, "save intent", update{
		set:   map[string]types.AttributeValue{AttrPending: av},
		apply: func(l *Lease) { p := in; l.Pending = &p },
	})
}

// Checkpoint records that every record up to and including seq is stored: the checkpoint moves
// to seq, the intent is removed and ownerSwitchesSinceCheckpoint goes back to 0.
func (h *Held) Checkpoint(ctx context.Context, seq string) error {
	return h.checkpointAt(ctx, "checkpoint", seq)
}

// ShardEnd records that the shard is closed and every record of it is stored.
func (h *Held) ShardEnd(ctx context.Context) error {
	return h.checkpointAt(ctx, "shard end", checkpoint.ShardEnd)
}

func (h *Held) checkpointAt(ctx context.Context, op, seq string) error {
	return h.write(ctx, op, update{
		set: map[string]types.AttributeValue{
			AttrCheckpoint:     str(seq),
			AttrOwnerSwitches:  num(0),
			AttrCheckpointedAt: str(h.table.stamp()),
		},
		remove: []string{AttrPending},
		apply: func(l *Lease) {
			l.Checkpoint, l.Pending, l.OwnerSwitchesSinceCheckpoint = seq, nil, 0
		},
	})
}

// Release clears the owner so that any worker may take the lease at once; the lease is no
// longer held afterwards.
func (h *Held) Release(ctx context.Context) error {
	return h.write(ctx, "release", update{remove: []string{AttrOwner, AttrHandoffTo}, final: true})
}

// Transfer hands the lease to the worker that asked for it (condition: handoffTo = to). When
// that worker no longer asks (it withdrew its request as it shut down), the lease is released
// instead, so any worker may take it at once rather than after the failover time. Either way
// the lease is no longer held afterwards; handedOver tells which happened.
func (h *Held) Transfer(ctx context.Context, to string) (handedOver bool, err error) {
	release := update{remove: []string{AttrOwner, AttrHandoffTo}, final: true}
	handedOver = true
	err = h.write(ctx, "hand over", update{
		set:      map[string]types.AttributeValue{AttrOwner: str(to)},
		add:      map[string]types.AttributeValue{AttrOwnerSwitches: num(1)},
		remove:   []string{AttrHandoffTo},
		require:  map[string]types.AttributeValue{AttrHandoffTo: str(to)},
		final:    true,
		fallback: &release,
		onFallback: func() {
			handedOver = false
		},
	})
	return handedOver && err == nil, err
}

// update describes one fenced write besides the counter bump.
type update struct {
	set     map[string]types.AttributeValue
	add     map[string]types.AttributeValue
	remove  []string
	require map[string]types.AttributeValue // extra equality conditions
	apply   func(*Lease)                    // the change, applied to the local copy on success
	final   bool                            // the lease is not ours after this write
	// fallback, when set, is written instead if the require conditions fail while the lease
	// is still ours (owner and counter unchanged); onFallback is then called.
	fallback   *update
	onFallback func()
}

func (h *Held) write(ctx context.Context, op string, u update) error {
	h.mu.Lock()
	lostFn, err := h.writeLocked(ctx, op, u)
	h.mu.Unlock()
	if lostFn != nil {
		lostFn()
	}
	return err
}

// writeLocked returns, besides the error, the OnLost function to call once mu is released.
func (h *Held) writeLocked(ctx context.Context, op string, u update) (func(), error) {
	key := h.lease.Key
	if h.lost.Load() {
		return nil, &ConflictError{Op: op, Key: key, Held: true}
	}
	if h.uncertain {
		if err := h.resyncLocked(ctx); err != nil {
			if _, ok := err.(*ConflictError); ok {
				return h.markLost(), &ConflictError{Op: op, Key: key, Held: true}
			}
			return nil, fmt.Errorf("lease %s: %s: %w", key, op, err)
		}
	}
	_, err := h.table.db.UpdateItem(ctx, h.fencedUpdateLocked(u))
	if isConditionFailed(err) {
		if u.fallback != nil {
			// The lease may still be ours and only a require condition failed: the fallback's
			// own condition (owner and counter) tells.
			if u.onFallback != nil {
				u.onFallback()
			}
			return h.writeLocked(ctx, op+" (fallback)", *u.fallback)
		}
		return h.markLost(), &ConflictError{Op: op, Key: key, Held: true}
	}
	if err != nil {
		// The write may or may not have happened: read the item before the next one.
		h.uncertain = true
		return nil, fmt.Errorf("lease %s: %s: %w", key, op, err)
	}
	h.appliedLocked(u)
	return nil, nil
}

// fencedUpdateLocked builds the UpdateItem of u: its changes plus the counter bump, on
// condition that this worker owns the lease at the counter it last wrote (and u.require).
func (h *Held) fencedUpdateLocked(u update) *dynamodb.UpdateItemInput {
	names := map[string]string{"#own": AttrOwner, "#ctr": AttrCounter}
	values := map[string]types.AttributeValue{
		":me": str(h.owner), ":cur": num(h.lease.Counter), ":next": num(h.lease.Counter + 1),
	}
	alias := func(prefix, attr string, v types.AttributeValue) (string, string) {
		n := fmt.Sprintf("#%s%d", prefix, len(names))
		names[n] = attr
		if v == nil {
			return n, ""
		}
		p := fmt.Sprintf(":%s%d", prefix, len(values))
		values[p] = v
		return n, p
	}
	sets := []string{"#ctr = :next"}
	for attr, v := range u.set {
		if attr == AttrOwner {
			// The owner changes last: the condition still reads the old one.
			values[":newOwner"] = v
			sets = append(sets, "#own = :newOwner")
			continue
		}
		n, p := alias("s", attr, v)
		sets = append(sets, n+" = "+p)
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(u.add) > 0 {
		var adds []string
		for attr, v := range u.add {
			n, p := alias("a", attr, v)
			adds = append(adds, n+" "+p)
		}
		expr += " ADD " + strings.Join(adds, ", ")
	}
	if len(u.remove) > 0 {
		var rems []string
		for _, attr := range u.remove {
			if attr == AttrOwner {
				rems = append(rems, "#own")
				continue
			}
			n, _ := alias("r", attr, nil)
			rems = append(rems, n)
		}
		expr += " REMOVE " + strings.Join(rems, ", ")
	}
	cond := "#own = :me AND #ctr = :cur"
	for attr, v := range u.require {
		n, p := alias("c", attr, v)
		cond += " AND " + n + " = " + p
	}
	return &dynamodb.UpdateItemInput{
		TableName:                 aws.String(h.table.name),
		Key:                       keyOf(h.lease.Key),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	}
}

// appliedLocked records a successful write of u in the local copy: the counter it wrote and
// the change; after a final write the lease is no longer this worker's.
func (h *Held) appliedLocked(u update) {
	h.lease.Counter++
	h.counter.Store(h.lease.Counter)
	if u.apply != nil {
		u.apply(&h.lease)
	}
	if u.final {
		h.released.Store(true)
		h.lost.Store(true)
		h.cbMu.Lock()
		h.onLost = nil
		h.cbMu.Unlock()
	}
}

// resyncLocked re-reads the item after a write whose outcome is unknown. Only this worker
// writes an item naming it the owner, so if it still does, its counter is this worker's.
func (h *Held) resyncLocked(ctx context.Context) error {
	l, ok, err := h.table.Get(ctx, h.lease.Key)
	if err != nil {
		return err
	}
	if !ok || l.Owner != h.owner {
		return &ConflictError{Op: "resync", Key: h.lease.Key, Held: true}
	}
	h.lease = l
	h.counter.Store(l.Counter)
	h.uncertain = false
	return nil
}
