package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hamba/avro/v2/ocf"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/sink"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// This file is the world of the fault-injection test (faults_test.go): one closed shard of the
// stream, its lease item with the fencing of lease.Held, and an S3 bucket, all in memory. Every
// call a worker makes to them is a numbered point where a planned fault can strike. The test
// drives the real pipeline.Processor and sink.ShardWriter; the coordinator's part (restart a
// failed processor from its own view of the lease, release or hand over after a drain) is
// played by owner.run.

// event is what the world can do at a point.
type event string

const (
	crashBefore        event = "crash-before"     // the worker dies: this call and everything after it never happen
	crashAfter         event = "crash-after"      // the call takes effect, the worker dies before it sees the answer
	drain              event = "drain"            // SIGTERM: the shard is drained, then its lease released
	handoff            event = "handoff"          // a steal: the shard is drained, then its lease handed over
	leaseLost          event = "lease-lost"       // another worker takes the lease now (the owner's fenced writes fail)
	leaseLostOld       event = "lease-lost-late"  // the same, and the old owner's uploads land after the new owner is done
	s3Outage           event = "s3-outage"        // the next 3 uploads fail
	ddbError           event = "dynamodb-error"   // the next lease write fails and is not applied
	ddbUnknown         event = "dynamodb-timeout" // the next lease write is applied, but its caller gets an error
	iterExpiry         event = "iterator-expiry"  // the next GetRecords answers ExpiredIteratorException
	throttle           event = "throttle"         // the next Streams call answers ThrottlingException
	s3OutageLen              = 3                  // failed uploads in an outage: more than uploadAttempts
	uploadAttempts           = 2                  // the sink gives an upload up after this many attempts
	maxOwners                = 6                  // owners that may take the lease before the shard must be done
	maxRestarts              = 20                 // restarts of one owner's processor before the test calls it stuck
	shardRecords             = 10                 // records in the shard
	batchSize                = 3                  // records per GetRecords answer
	flushRecords             = 4                  // records per file
	poisonIndex              = 5                  // the record that cannot be decoded (stored under _errors/)
	keysInShard              = 3                  // distinct primary keys, so per-key order is checked
	errDynamoDBTimeout       = "dynamodb: request timed out (the write may have happened)"
)

var allEvents = []event{crashBefore, crashAfter, drain, handoff, leaseLost, leaseLostOld,
	s3Outage, ddbError, ddbUnknown, iterExpiry, throttle}

// fault is an event planned at the n-th point (0-based) of a scenario.
type fault struct {
	at    int
	event event
}

// leaseItem is the lease of the shard as the table holds it.
type leaseItem struct {
	owner      string
	counter    int64
	checkpoint string
	pending    *checkpoint.Intent
}

// world is everything outside the workers.
type world struct {
	format, compression string
	records             []*streams.Record

	mu      sync.Mutex
	lease   leaseItem
	objects map[string][]byte
	late    []func() // uploads of an owner that lost its lease, landing after the next owner is done
	iters   map[string]int
	nIters  int

	faults []fault
	points []string // "w1 SaveIntent" for each point so far
	owners []*owner

	// Persistent effects of events, consumed by the next matching calls.
	s3Failing, ddbFailing, ddbUnknowns, expiring, throttling int

	// lake is the Iceberg table of format iceberg (nil otherwise); lakeErr, a failure to
	// create it.
	lake    *lakeWorld
	lakeErr error
}

func newWorld(format, compression string, faults []fault) *world {
	w := &world{format: format, compression: compression, faults: faults,
		objects: map[string][]byte{}, iters: map[string]int{},
		lease: leaseItem{checkpoint: checkpoint.TrimHorizon}}
	base := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for i := range shardRecords {
		r := recordtest.Row(i, recordtest.Seq(i+1), base.Add(time.Duration(i)*time.Second), 430)
		r.PartitionKeys[0].Value = recordtest.S(streams.TypeInt, strconv.Itoa(i%keysInShard))
		if i == poisonIndex {
			r.DecodeErr = errors.New("unexpected token")
		}
		if format == encode.FormatIceberg {
			mirrorChange(r, i)
		}
		w.records = append(w.records, r)
	}
	if format == encode.FormatIceberg {
		w.lake, w.lakeErr = newLakeWorld(w)
	}
	return w
}

// point numbers a call of o and applies what is planned there. It reports false when the
// call must not happen (the owner is dead, or dies now); crashAfter is left to the caller.
// w.mu is held.
func (w *world) point(o *owner, call string) (ok bool, planned event) {
	if o.dead {
		return false, ""
	}
	n := len(w.points)
	w.points = append(w.points, o.id+" "+call)
	for _, f := range w.faults {
		if f.at == n {
			planned = f.event
		}
	}
	switch planned {
	case crashBefore:
		o.die()
		return false, planned
	case drain, handoff:
		o.handoff = planned == handoff
		o.closeDrain()
	case leaseLost, leaseLostOld:
		w.lease.owner = "thief"
		w.lease.counter++
		o.lateUploads = planned == leaseLostOld
	case s3Outage:
		w.s3Failing = s3OutageLen
	case ddbError:
		w.ddbFailing = 1
	case ddbUnknown:
		w.ddbUnknowns = 1
	case iterExpiry:
		w.expiring = 1
	case throttle:
		w.throttling = 1
	case commitConflict:
		w.lake.conflicts = 1
	case catalogOutage:
		w.lake.failing = catalogOutLen
	case catalogTimeout:
		w.lake.unknowns = 1
	case staleCommit:
		w.lease.owner = "thief"
		w.lease.counter++
		w.lake.staleOwner = o
	}
	return true, planned
}

// owner is one worker process holding (or believing it holds) the lease: the test's
// coordinator and lease.Held in one.
type owner struct {
	w      *world
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	drain  chan struct{}

	dead, drained, handoff, lost, lateUploads bool
	// committer (format iceberg) opens a round at every second GetRecords of the owner.
	committer *iceberg.Committer
	reads     int
	// The lease as this worker last wrote it, and whether the last write's outcome is unknown
	// (then the item is re-read before the next write, as lease.Held does).
	view      leaseItem
	uncertain bool
}

func (o *owner) die() {
	o.dead = true
	o.cancel()
}

func (o *owner) closeDrain() {
	if !o.drained {
		o.drained = true
		close(o.drain)
	}
}

var errLost = fmt.Errorf("lease changed by another worker (%w)", checkpoint.ErrLeaseLost)

// write is a fenced lease write: on owner and counter, re-reading the item first after a write
// whose outcome is unknown.
func (o *owner) write(call string, apply func(*leaseItem)) error {
	w := o.w
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, planned := w.point(o, call)
	if !ok {
		return context.Canceled
	}
	if o.lost {
		return errLost
	}
	if o.uncertain {
		if w.lease.owner != o.id {
			o.lost = true
			return errLost
		}
		o.view, o.uncertain = w.lease, false
	}
	if w.lease.owner != o.id || w.lease.counter != o.view.counter {
		o.lost = true
		return errLost
	}
	if w.ddbFailing > 0 {
		w.ddbFailing--
		o.uncertain = true
		return errors.New("dynamodb: internal server error")
	}
	apply(&w.lease)
	w.lease.counter++
	if planned == crashAfter {
		o.die()
		return context.Canceled
	}
	if w.ddbUnknowns > 0 {
		w.ddbUnknowns--
		o.uncertain = true
		return errors.New(errDynamoDBTimeout)
	}
	o.view = w.lease
	return nil
}

// checkpoint.Checkpointer, as lease.Held implements it.

func (o *owner) SaveIntent(_ context.Context, in checkpoint.Intent) error {
	return o.write("SaveIntent", func(l *leaseItem) { p := in; l.pending = &p })
}

func (o *owner) Checkpoint(_ context.Context, seq string) error {
	return o.write("Checkpoint", func(l *leaseItem) { l.checkpoint, l.pending = seq, nil })
}

func (o *owner) ShardEnd(_ context.Context) error {
	return o.write("ShardEnd", func(l *leaseItem) { l.checkpoint, l.pending = checkpoint.ShardEnd, nil })
}

// Reader, over the world's one closed shard.

func (o *owner) Iterator(_ context.Context, _, position string) (string, error) {
	w := o.w
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, planned := w.point(o, "GetShardIterator")
	if !ok {
		return "", context.Canceled
	}
	if w.throttling > 0 {
		w.throttling--
		return "", streams.ErrThrottling
	}
	start := 0
	if position != checkpoint.TrimHorizon {
		start = -1
		for i, r := range w.records {
			if r.SequenceNumber == position {
				start = i + 1
			}
		}
		if start < 0 {
			return "", fmt.Errorf("no record %s", position)
		}
	}
	w.nIters++
	it := "it-" + strconv.Itoa(w.nIters)
	w.iters[it] = start
	if planned == crashAfter {
		o.die()
		return "", context.Canceled
	}
	return it, nil
}

func (o *owner) Records(_ context.Context, it string, limit int) (Batch, error) {
	w := o.w
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, planned := w.point(o, "GetRecords")
	if !ok {
		return Batch{}, context.Canceled
	}
	if w.throttling > 0 {
		w.throttling--
		return Batch{}, streams.ErrThrottling
	}
	if w.expiring > 0 {
		w.expiring--
		return Batch{}, streams.ErrExpiredIterator
	}
	i, known := w.iters[it]
	if !known {
		return Batch{}, fmt.Errorf("unknown iterator %s", it)
	}
	if o.reads++; o.committer != nil && o.reads%2 == 0 {
		o.committer.NextRound()
	}
	end := min(i+min(limit, batchSize), len(w.records))
	var b Batch
	for _, r := range w.records[i:end] {
		b.Records = append(b.Records, *r)
	}
	if end == len(w.records) {
		b.Closed = true
	} else {
		w.nIters++
		b.Next = "it-" + strconv.Itoa(w.nIters)
		w.iters[b.Next] = end
	}
	if planned == crashAfter {
		o.die()
		return Batch{}, context.Canceled
	}
	return b, nil
}

// sink.S3API: single PutObject calls (the files are far below the multipart threshold).

func (o *owner) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	w := o.w
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, planned := w.point(o, "PutObject")
	if !ok {
		return nil, context.Canceled
	}
	if w.s3Failing > 0 {
		w.s3Failing--
		return nil, errors.New("s3: service unavailable")
	}
	body, err := io.ReadAll(in.Body)
	if err != nil {
		return nil, err
	}
	key := aws.ToString(in.Key)
	if o.lateUploads {
		w.late = append(w.late, func() { w.objects[key] = body })
	} else {
		w.objects[key] = body
	}
	if planned == crashAfter {
		o.die()
		return nil, context.Canceled
	}
	return &s3.PutObjectOutput{}, nil
}

func (o *owner) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return nil, errors.New("multipart upload not expected")
}

func (o *owner) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return nil, errors.New("multipart upload not expected")
}

func (o *owner) CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	return nil, errors.New("multipart upload not expected")
}

func (o *owner) AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	return nil, errors.New("multipart upload not expected")
}

// takeOver gives the lease to a new worker, as a take of a free, expired or handed-over lease
// does (the old owner, if any, writes nothing more: it died, drained or was fenced out).
func (w *world) takeOver() *owner {
	w.mu.Lock()
	defer w.mu.Unlock()
	id := "w" + strconv.Itoa(len(w.owners)+1)
	ctx, cancel := context.WithCancel(context.Background())
	o := &owner{w: w, id: id, ctx: ctx, cancel: cancel, drain: make(chan struct{})}
	w.lease.owner = id
	w.lease.counter++
	o.view = w.lease
	w.owners = append(w.owners, o)
	return o
}

// run plays the coordinator for one owner: it starts the processor from the owner's view of
// the lease and restarts it after an error, until the shard ends, the lease is lost, the owner
// dies, or a drain completes (then the lease is released or handed over, as the coordinator
// does whether or not the drain's flush succeeded).
func (o *owner) run(log *slog.Logger) error {
	var lake sink.IcebergTarget
	var tables encode.TableSource // nil: schemas from the records (JSON, Avro)
	if o.w.lake != nil {
		var err error
		if lake, err = o.w.lake.target(o); err != nil {
			return err
		}
		tables = o.w.lake.source // the mirror needs the table's key
	}
	snk, err := sink.New(sink.Config{
		Bucket: "bucket", Prefix: "cdc", Keyspace: "ks", Table: "t",
		Format: o.w.format, Compression: o.w.compression,
		FlushRecords: flushRecords, FlushInterval: time.Hour, Iceberg: lake,
		Upload: sink.RetryPolicy{InitialBackoff: time.Nanosecond, MaxBackoff: time.Nanosecond, MaxAttempts: uploadAttempts},
	}, o, tables, log)
	if err != nil {
		return err
	}
	proc, err := NewProcessor(Config{
		PollInterval: time.Nanosecond, MaxBackoff: time.Nanosecond, Logger: log,
		OpenShard: func(shardID string, cp checkpoint.Checkpointer, pending *checkpoint.Intent) ShardWriter {
			if o.w.lake != nil {
				return snk.OpenIcebergShard(shardID, cp, pending)
			}
			return snk.OpenShard(shardID, cp, pending)
		},
	}, o)
	if err != nil {
		return err
	}
	defer o.cancel()
	for restarts := 0; ; restarts++ {
		if restarts > maxRestarts {
			return fmt.Errorf("%s: processor restarted %d times without finishing", o.id, restarts)
		}
		a := worker.Assignment{ShardID: "shard-1", Checkpoint: o.view.checkpoint, Pending: o.view.pending, Checkpointer: o}
		if a.Checkpoint == checkpoint.ShardEnd {
			return nil
		}
		err := proc.ProcessShard(o.ctx, o.drain, a)
		switch {
		case o.dead || o.lost || errors.Is(err, checkpoint.ErrLeaseLost):
			return nil
		case o.drained:
			if o.handoff {
				// Transfer: the owner becomes the next worker, in one fenced write.
				_ = o.write("Transfer", func(l *leaseItem) { l.owner = "next" })
			} else {
				_ = o.write("Release", func(l *leaseItem) { l.owner = "" })
			}
			return nil
		case err == nil:
			return nil // shard end
		}
		log.Debug("processor restarts from its view of the lease", "owner", o.id, "err", err)
	}
}

// finished reports whether the shard was read to its end.
func (w *world) finished() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lease.checkpoint == checkpoint.ShardEnd
}

// play runs owners one after the other until the shard is done, then lands late uploads.
func (w *world) play(log *slog.Logger) error {
	if w.lakeErr != nil {
		return w.lakeErr
	}
	for !w.finished() {
		if len(w.owners) == maxOwners {
			return fmt.Errorf("shard not finished after %d owners (checkpoint %s)", maxOwners, w.lease.checkpoint)
		}
		if err := w.runOwner(w.takeOver(), log); err != nil {
			return err
		}
	}
	if err := w.releaseZombies(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, land := range w.late {
		land()
	}
	return nil
}

// check verifies the bucket: every decodable record stored exactly once, in files of
// consecutive records (so each key's changes keep their order), and the poison record under
// _errors/ only.
func (w *world) check() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lake != nil {
		if err := w.checkLake(); err != nil {
			return err
		}
		return w.checkErrors()
	}
	type file struct {
		key  string
		seqs []string
	}
	var files []file
	for key, body := range w.objects {
		switch {
		case strings.HasPrefix(key, "cdc/_"):
		default:
			seqs, err := seqsIn(key, body)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			files = append(files, file{key, seqs})
		}
	}
	sort.Slice(files, func(i, j int) bool {
		return streams.CompareSequenceNumbers(files[i].seqs[0], files[j].seqs[0]) < 0
	})
	var got []string
	for _, f := range files {
		got = append(got, f.seqs...)
	}
	var want []string
	for i, r := range w.records {
		if i != poisonIndex {
			want = append(want, r.SequenceNumber)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		count := map[string]int{}
		for _, s := range got {
			count[s]++
		}
		var missing, twice []int
		for i, r := range w.records {
			switch n := count[r.SequenceNumber]; {
			case i != poisonIndex && n == 0:
				missing = append(missing, i)
			case n > 1:
				twice = append(twice, i)
			}
		}
		var keys []string
		for _, f := range files {
			keys = append(keys, fmt.Sprint(idx(f.seqs)))
		}
		return fmt.Errorf("records missing %v, stored twice %v; files hold %s",
			missing, twice, strings.Join(keys, " "))
	}
	return w.checkErrors()
}

// checkErrors verifies that _errors/ holds the poison record alone. w.mu is held.
func (w *world) checkErrors() error {
	var errorKeys []string
	for key := range w.objects {
		if strings.HasPrefix(key, "cdc/_errors/") {
			errorKeys = append(errorKeys, key)
		}
	}
	if len(errorKeys) != 1 || !strings.HasSuffix(errorKeys[0], w.records[poisonIndex].SequenceNumber+".json") {
		return fmt.Errorf("_errors/ holds %v, want the poison record alone", errorKeys)
	}
	return nil
}

// idx turns sequence numbers back into record indexes, for messages.
func idx(seqs []string) []int {
	out := make([]int, len(seqs))
	for i, s := range seqs {
		n, _ := strconv.Atoi(s[max(len(s)-8, 0):]) // recordtest.Seq(i+1) ends in i+1 on 8 digits
		out[i] = n - 1
	}
	return out
}

// seqsIn reads the sequence numbers of a data object, in order.
func seqsIn(key string, body []byte) ([]string, error) {
	var seqs []string
	if strings.HasSuffix(key, ".avro") {
		d, err := ocf.NewDecoder(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		for d.HasNext() {
			var v map[string]any
			if err := d.Decode(&v); err != nil {
				return nil, err
			}
			seqs = append(seqs, v["sequence_number"].(string))
		}
		return seqs, d.Error()
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Seq string `json:"sequence_number"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, err
		}
		seqs = append(seqs, ev.Seq)
	}
	return seqs, sc.Err()
}
