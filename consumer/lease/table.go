// Package lease keeps the shard leases and checkpoints of a CDC stream in a DynamoDB table laid
// out like the Kinesis Client Library's (leaseKey, leaseOwner, leaseCounter, checkpoint,
// parentShardIds, ownerSwitchesSinceCheckpoint), so operators who know KCL read it at once.
//
// Every state change is a conditional UpdateItem (or a conditional DeleteItem): a write that
// finds the item changed by someone else fails with a *ConflictError instead of overwriting it.
// A lease this worker holds is a *Held: it implements checkpoint.Checkpointer, every write
// fenced on leaseOwner = me AND leaseCounter = the value this worker last wrote. Nothing renews
// a held lease: it is alive while its owner's presence item (its heartbeat) moves.
package lease

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
)

// Attribute names of a lease item (see docs/leases.md, section "The lease item").
const (
	AttrKey            = "leaseKey"
	AttrOwner          = "leaseOwner"
	AttrCounter        = "leaseCounter"
	AttrCheckpoint     = "checkpoint"
	AttrParents        = "parentShardIds"
	AttrOwnerSwitches  = "ownerSwitchesSinceCheckpoint"
	AttrPending        = "pendingFile"
	AttrCheckpointedAt = "checkpointedAt"
	AttrHandoffTo      = "handoffTo"
	AttrCreatedAt      = "createdAt"
	AttrHeartbeatAt    = "heartbeatAt" // of a worker's presence item, for people reading the table
	AttrNotices        = "notices"     // of a worker's presence item: bumped by others (see Notify)
)

// DynamoDB is the part of *dynamodb.Client the lease table uses.
type DynamoDB interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Lease is one lease item as read from the table (or a worker's presence item: see
// WorkerKeyPrefix).
type Lease struct {
	Key                          string // the shard id
	Owner                        string // empty when the lease is free
	Counter                      int64  // bumped by every take, checkpoint, release and handoff
	Checkpoint                   string // a sequence number, or TRIM_HORIZON, LATEST, SHARD_END
	ParentShardIDs               []string
	OwnerSwitchesSinceCheckpoint int64
	Pending                      *checkpoint.Intent // the intent of an unfinished flush, or nil
	CheckpointedAt               string
	HandoffTo                    string // a worker that asked the owner to hand the lease over

	// Of a presence item only.
	HeartbeatAt string // the worker's wall clock at its last heartbeat: for people, and to tell a recreated item from an unchanged one
	Notices     int64  // bumped by Notify
}

// Finished reports whether the shard was read to its end.
func (l Lease) Finished() bool { return l.Checkpoint == checkpoint.ShardEnd }

// ErrConflict is matched (errors.Is) by every *ConflictError.
var ErrConflict = errors.New("lease changed by another worker")

// ConflictError says a conditional write found the lease not as expected: another worker owns
// it, took it, or changed it. For a held lease it also matches checkpoint.ErrLeaseLost.
type ConflictError struct {
	Op, Key string
	Held    bool // the writer believed it held the lease
}

func (e *ConflictError) Error() string {
	if e.Held {
		return fmt.Sprintf("lease %s: %s: %v (%v)", e.Key, e.Op, ErrConflict, checkpoint.ErrLeaseLost)
	}
	return fmt.Sprintf("lease %s: %s: %v", e.Key, e.Op, ErrConflict)
}

// Is makes errors.Is(err, ErrConflict) true, and errors.Is(err, checkpoint.ErrLeaseLost) true
// for a lease the writer held.
func (e *ConflictError) Is(target error) bool {
	return target == ErrConflict || (e.Held && target == checkpoint.ErrLeaseLost)
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Table is the lease table.
type Table struct {
	db   DynamoDB
	name string
	now  func() time.Time // wall clock, only for the human-readable timestamps

	scanLimit int32 // items per Scan page; 0: DynamoDB's 1 MB pages (tests set it to see paging)
}

// NewTable returns the lease table name reached through db.
func NewTable(db DynamoDB, name string) *Table {
	return &Table{db: db, name: name, now: time.Now}
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }

// CreateIfMissing creates the table (on-demand, leaseKey HASH S) for local runs and waits up to
// maxWait until it is ACTIVE. An existing table is left as it is.
func (t *Table) CreateIfMissing(ctx context.Context, maxWait time.Duration) error {
	_, err := t.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(t.name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(AttrKey), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(AttrKey), KeyType: types.KeyTypeHash}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create lease table %s: %w", t.name, err)
	}
	// A new table is CREATING for a moment; writes before ACTIVE fail.
	w := dynamodb.NewTableExistsWaiter(t.db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.name)}, maxWait); err != nil {
		return fmt.Errorf("wait for lease table %s: %w", t.name, err)
	}
	return nil
}

// WorkerKeyPrefix starts the leaseKey of a worker's presence item: "worker#<id>", its
// leaseOwner the worker and its leaseCounter bumped by every Heartbeat. Workers count one
// another by these items, so a worker that holds no lease yet still lowers the others' share.
// No shard id starts with it.
const WorkerKeyPrefix = "worker#"

// Snapshot is the lease table as one Scan read it.
type Snapshot struct {
	Leases  []Lease // the shard leases
	Workers []Lease // the presence items: Owner is the worker, Counter its heartbeat count

	Consistent bool    // read strongly consistent
	ReadUnits  float64 // the read capacity units the scan consumed, as DynamoDB reported them
}

// List reads every shard lease (a paged, strongly consistent Scan).
func (t *Table) List(ctx context.Context) ([]Lease, error) {
	s, err := t.Scan(ctx)
	return s.Leases, err
}

// Scan reads every item, strongly consistent: the shard leases and the workers' presence items.
func (t *Table) Scan(ctx context.Context) (Snapshot, error) {
	return t.scan(ctx, true)
}

// ScanEventually reads every item like Scan, eventually consistent: for half the read units,
// it may miss the writes of about the last second (DynamoDB: "usually within one second"),
// item by item. Use it where such a view does no harm: every decision taken from it is
// either checked again by a conditional write or can wait for the next read.
func (t *Table) ScanEventually(ctx context.Context) (Snapshot, error) {
	return t.scan(ctx, false)
}

func (t *Table) scan(ctx context.Context, consistent bool) (Snapshot, error) {
	out := Snapshot{Consistent: consistent}
	var start map[string]types.AttributeValue
	for {
		page, err := t.db.Scan(ctx, &dynamodb.ScanInput{
			TableName:              aws.String(t.name),
			ConsistentRead:         aws.Bool(consistent),
			ExclusiveStartKey:      start,
			Limit:                  limit(t.scanLimit),
			ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
		})
		if err != nil {
			return Snapshot{}, fmt.Errorf("list leases in %s: %w", t.name, err)
		}
		if c := page.ConsumedCapacity; c != nil && c.CapacityUnits != nil {
			out.ReadUnits += *c.CapacityUnits
		}
		for _, item := range page.Items {
			l, err := decode(item)
			if err != nil {
				return Snapshot{}, fmt.Errorf("list leases in %s: %w", t.name, err)
			}
			if strings.HasPrefix(l.Key, WorkerKeyPrefix) {
				out.Workers = append(out.Workers, l)
			} else {
				out.Leases = append(out.Leases, l)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		start = page.LastEvaluatedKey
	}
}

// Get reads one lease (strongly consistent); ok is false when it does not exist.
func (t *Table) Get(ctx context.Context, key string) (l Lease, ok bool, err error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(t.name),
		Key:            keyOf(key),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Lease{}, false, fmt.Errorf("get lease %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return Lease{}, false, nil
	}
	l, err = decode(out.Item)
	if err != nil {
		return Lease{}, false, fmt.Errorf("get lease %s: %w", key, err)
	}
	return l, true, nil
}

// CreateLease creates a free lease for a shard starting at position (TRIM_HORIZON, LATEST or
// a sequence number), unless the lease exists; created says which.
func (t *Table) CreateLease(ctx context.Context, key string, parents []string, position string) (created bool, err error) {
	set := "SET #ctr = :zero, #cp = :cp, #sw = :zero, #ca = :now"
	values := map[string]types.AttributeValue{
		":zero": num(0), ":cp": str(position), ":now": str(t.stamp()),
	}
	names := map[string]string{"#key": AttrKey, "#ctr": AttrCounter, "#cp": AttrCheckpoint, "#sw": AttrOwnerSwitches, "#ca": AttrCreatedAt}
	if len(parents) > 0 {
		set += ", #par = :par"
		values[":par"] = &types.AttributeValueMemberSS{Value: parents}
		names["#par"] = AttrParents
	}
	_, err = t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String(set),
		ConditionExpression:       aws.String("attribute_not_exists(#key)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create lease %s: %w", key, err)
	}
	return true, nil
}

// Take makes owner the owner of the lease l as read by List, on condition that its counter
// has not moved since: it takes a free or expired lease, steals one (hard, without handoff), or
// re-adopts one the table already names owner as the owner of (a handoff to owner, or a lease
// of an earlier run with the same worker id). Any handoff request on it is cleared.
func (t *Table) Take(ctx context.Context, l Lease, owner string) (*Held, error) {
	update := "SET #own = :me, #ctr = :next REMOVE #hand"
	if l.Owner != owner {
		update += " ADD #sw :one"
	}
	names := map[string]string{"#key": AttrKey, "#own": AttrOwner, "#ctr": AttrCounter, "#hand": AttrHandoffTo}
	values := map[string]types.AttributeValue{":me": str(owner), ":cur": num(l.Counter), ":next": num(l.Counter + 1)}
	if l.Owner != owner {
		names["#sw"] = AttrOwnerSwitches
		values[":one"] = num(1)
	}
	out, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(l.Key),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(#key) AND #ctr = :cur"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return nil, &ConflictError{Op: "take", Key: l.Key}
	}
	if err != nil {
		return nil, fmt.Errorf("take lease %s: %w", l.Key, err)
	}
	now, err := decode(out.Attributes)
	if err != nil {
		return nil, fmt.Errorf("take lease %s: %w", l.Key, err)
	}
	h := &Held{table: t, owner: owner, lease: now}
	h.counter.Store(now.Counter)
	return h, nil
}

// RequestHandoff asks the lease's current owner to hand it to `to` once it has flushed and
// checkpointed (a graceful steal). The counter is not bumped, so the owner keeps working until
// it hands over; it fails with a *ConflictError when the owner changed or a handoff is pending.
func (t *Table) RequestHandoff(ctx context.Context, l Lease, to string) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(l.Key),
		UpdateExpression:          aws.String("SET #hand = :to"),
		ConditionExpression:       aws.String("#own = :owner AND attribute_not_exists(#hand)"),
		ExpressionAttributeNames:  map[string]string{"#own": AttrOwner, "#hand": AttrHandoffTo},
		ExpressionAttributeValues: map[string]types.AttributeValue{":to": str(to), ":owner": str(l.Owner)},
	})
	if isConditionFailed(err) {
		return &ConflictError{Op: "request handoff", Key: l.Key}
	}
	if err != nil {
		return fmt.Errorf("request handoff of lease %s: %w", l.Key, err)
	}
	return nil
}

// WithdrawHandoff removes the handoff request that worker from made on lease key, if it is
// still there (condition: handoffTo = from). A worker shutting down withdraws its requests so
// that no lease is handed to it after it stopped: the owner then releases the lease instead.
func (t *Table) WithdrawHandoff(ctx context.Context, key, from string) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(key),
		UpdateExpression:          aws.String("REMOVE #hand"),
		ConditionExpression:       aws.String("#hand = :from"),
		ExpressionAttributeNames:  map[string]string{"#hand": AttrHandoffTo},
		ExpressionAttributeValues: map[string]types.AttributeValue{":from": str(from)},
	})
	if isConditionFailed(err) {
		return &ConflictError{Op: "withdraw handoff", Key: key}
	}
	if err != nil {
		return fmt.Errorf("withdraw handoff of lease %s: %w", key, err)
	}
	return nil
}

// Evict clears the owner of the lease l as read by List, on condition that its counter has not
// moved since, so that any worker may take it at once.
func (t *Table) Evict(ctx context.Context, l Lease) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(l.Key),
		UpdateExpression:          aws.String("SET #ctr = :next REMOVE #own, #hand"),
		ConditionExpression:       aws.String("attribute_exists(#key) AND #ctr = :cur"),
		ExpressionAttributeNames:  map[string]string{"#key": AttrKey, "#own": AttrOwner, "#ctr": AttrCounter, "#hand": AttrHandoffTo},
		ExpressionAttributeValues: map[string]types.AttributeValue{":cur": num(l.Counter), ":next": num(l.Counter + 1)},
	})
	if isConditionFailed(err) {
		return &ConflictError{Op: "evict", Key: l.Key}
	}
	if err != nil {
		return fmt.Errorf("evict lease %s: %w", l.Key, err)
	}
	return nil
}

// DeleteFinished deletes the lease of a shard read to its end (condition: checkpoint =
// SHARD_END). A lease already gone is not an error.
func (t *Table) DeleteFinished(ctx context.Context, key string) error {
	_, err := t.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(key),
		ConditionExpression:       aws.String("attribute_not_exists(#key) OR #cp = :end"),
		ExpressionAttributeNames:  map[string]string{"#key": AttrKey, "#cp": AttrCheckpoint},
		ExpressionAttributeValues: map[string]types.AttributeValue{":end": str(checkpoint.ShardEnd)},
	})
	if isConditionFailed(err) {
		return &ConflictError{Op: "delete finished", Key: key}
	}
	if err != nil {
		return fmt.Errorf("delete finished lease %s: %w", key, err)
	}
	return nil
}

// Heartbeat creates or bumps the presence item of worker (see WorkerKeyPrefix) and returns it
// as written (its Notices tell the worker whether others asked it to look at the table).
func (t *Table) Heartbeat(ctx context.Context, worker string) (Lease, error) {
	out, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(WorkerKeyPrefix + worker),
		UpdateExpression:          aws.String("SET #own = :w, #at = :now ADD #ctr :one"),
		ExpressionAttributeNames:  map[string]string{"#own": AttrOwner, "#ctr": AttrCounter, "#at": AttrHeartbeatAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":w": str(worker), ":now": str(t.stamp()), ":one": num(1)},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return Lease{}, fmt.Errorf("heartbeat of worker %s: %w", worker, err)
	}
	item, err := decode(out.Attributes)
	if err != nil {
		return Lease{}, fmt.Errorf("heartbeat of worker %s: %w", worker, err)
	}
	return item, nil
}

// Notify bumps the Notices of a worker's presence item, if the item exists: a worker that
// asked another for one of its leases, or took one from it, tells it so to look at the table
// now rather than at its next periodic read. It is a hint, not part of fencing: a lost notice
// only delays the other worker until it reads the table anyway.
func (t *Table) Notify(ctx context.Context, worker string) error {
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(t.name),
		Key:                       keyOf(WorkerKeyPrefix + worker),
		UpdateExpression:          aws.String("ADD #n :one"),
		ConditionExpression:       aws.String("attribute_exists(#key)"),
		ExpressionAttributeNames:  map[string]string{"#key": AttrKey, "#n": AttrNotices},
		ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1)},
	})
	if isConditionFailed(err) {
		return nil // gone: nobody to tell
	}
	if err != nil {
		return fmt.Errorf("notify worker %s: %w", worker, err)
	}
	return nil
}

// Workers reads the presence items of the given workers, strongly consistent, in batches of
// 100 keys (BatchGetItem): one read unit per item, whatever the size of the table. A worker
// without a presence item is left out of the result.
func (t *Table) Workers(ctx context.Context, ids []string) ([]Lease, error) {
	var out []Lease
	for len(ids) > 0 {
		n := min(len(ids), 100)
		keys := make([]map[string]types.AttributeValue, 0, n)
		for _, id := range ids[:n] {
			keys = append(keys, keyOf(WorkerKeyPrefix+id))
		}
		ids = ids[n:]
		pending := map[string]types.KeysAndAttributes{t.name: {Keys: keys, ConsistentRead: aws.Bool(true)}}
		for try := 0; len(pending) > 0; try++ {
			if try > 0 {
				// Unprocessed keys (throttling): back off a little, as the SDK's retries would.
				select {
				case <-ctx.Done():
					return nil, fmt.Errorf("read workers in %s: %w", t.name, ctx.Err())
				case <-time.After(min(time.Duration(try)*50*time.Millisecond, time.Second)):
				}
			}
			res, err := t.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, fmt.Errorf("read workers in %s: %w", t.name, err)
			}
			for _, item := range res.Responses[t.name] {
				w, err := decode(item)
				if err != nil {
					return nil, fmt.Errorf("read workers in %s: %w", t.name, err)
				}
				out = append(out, w)
			}
			pending = res.UnprocessedKeys
		}
	}
	return out, nil
}

// DeleteWorker deletes the presence item of a worker: on condition that its counter is still
// counter (a worker gone for good), or unconditionally when counter is negative (a worker
// leaving). An item already gone is not an error.
func (t *Table) DeleteWorker(ctx context.Context, worker string, counter int64) error {
	in := &dynamodb.DeleteItemInput{TableName: aws.String(t.name), Key: keyOf(WorkerKeyPrefix + worker)}
	if counter >= 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#key) OR #ctr = :cur")
		in.ExpressionAttributeNames = map[string]string{"#key": AttrKey, "#ctr": AttrCounter}
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":cur": num(counter)}
	}
	_, err := t.db.DeleteItem(ctx, in)
	if isConditionFailed(err) {
		return &ConflictError{Op: "delete worker", Key: WorkerKeyPrefix + worker}
	}
	if err != nil {
		return fmt.Errorf("delete presence of worker %s: %w", worker, err)
	}
	return nil
}

func limit(n int32) *int32 {
	if n <= 0 {
		return nil
	}
	return aws.Int32(n)
}

func (t *Table) stamp() string { return t.now().UTC().Format(time.RFC3339Nano) }

func keyOf(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrKey: str(key)}
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// decode reads a lease item; parentShardIds may be a string set (KCL's layout) or a list.
func decode(item map[string]types.AttributeValue) (Lease, error) {
	var l Lease
	var err error
	getS := func(name string) string {
		if v, ok := item[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	getN := func(name string) int64 {
		v, ok := item[name].(*types.AttributeValueMemberN)
		if !ok {
			return 0
		}
		n, perr := strconv.ParseInt(v.Value, 10, 64)
		if perr != nil && err == nil {
			err = fmt.Errorf("attribute %s: %q is not an integer", name, v.Value)
		}
		return n
	}
	l.Key = getS(AttrKey)
	if l.Key == "" {
		return l, fmt.Errorf("item without %s", AttrKey)
	}
	l.Owner = getS(AttrOwner)
	l.Counter = getN(AttrCounter)
	l.Checkpoint = getS(AttrCheckpoint)
	l.OwnerSwitchesSinceCheckpoint = getN(AttrOwnerSwitches)
	l.CheckpointedAt = getS(AttrCheckpointedAt)
	l.HandoffTo = getS(AttrHandoffTo)
	l.HeartbeatAt = getS(AttrHeartbeatAt)
	l.Notices = getN(AttrNotices)
	switch v := item[AttrParents].(type) {
	case *types.AttributeValueMemberSS:
		l.ParentShardIDs = v.Value
	case *types.AttributeValueMemberL:
		for _, e := range v.Value {
			if s, ok := e.(*types.AttributeValueMemberS); ok {
				l.ParentShardIDs = append(l.ParentShardIDs, s.Value)
			}
		}
	}
	if p, ok := item[AttrPending]; ok {
		var in checkpoint.Intent
		if uerr := attributevalue.Unmarshal(p, &in); uerr != nil {
			return l, fmt.Errorf("lease %s: attribute %s: %w", l.Key, AttrPending, uerr)
		}
		l.Pending = &in
	}
	return l, err
}
