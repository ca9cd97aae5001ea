package emulator_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"

	"net/http/httptest"
)

// clock is a settable clock for iterator expiry and retention.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func awsConfig(maxAttempts int) aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}
}

// start runs an emulator behind httptest and returns it with a client pointed at it.
func start(t *testing.T, cfg emulator.Config, maxAttempts int) (*emulator.Server, *streams.Client, string) {
	t.Helper()
	emu, err := emulator.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(func() {
		emu.StopGenerator()
		srv.Close()
	})
	c, err := streams.New(streams.Config{AWS: awsConfig(maxAttempts), Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return emu, c, srv.URL
}

// readAll walks every shard of the stream in lineage order from TRIM_HORIZON: a shard is
// read only after all its parents were read to their end. Open shards are read until the
// writer is done and they are at the tip.
func readAll(ctx context.Context, t *testing.T, c *streams.Client, arn string, writerDone func() bool) (map[string][]streams.Record, []streams.Record) {
	t.Helper()
	finished := map[string]bool{}
	got := map[string][]streams.Record{}
	var order []streams.Record
	for {
		shards, err := c.ListAllShards(ctx, arn)
		if err != nil {
			t.Fatalf("list shards: %v", err)
		}
		pending := 0
		for _, sh := range shards {
			if finished[sh.ShardId] {
				continue
			}
			ready := true
			for _, p := range sh.ParentShardIds {
				ready = ready && finished[p]
			}
			if !ready {
				pending++
				continue
			}
			recs, closed := readShard(ctx, t, c, arn, sh.ShardId, writerDone)
			got[sh.ShardId] = recs
			order = append(order, recs...)
			if closed || writerDone() {
				finished[sh.ShardId] = true
			} else {
				pending++
			}
		}
		if pending == 0 && writerDone() {
			// One more listing: the last writes may have split a shard.
			again, err := c.ListAllShards(ctx, arn)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) == len(shards) {
				return got, order
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("reading timed out: %v", ctx.Err())
		}
	}
}

// readShard reads a shard from TRIM_HORIZON to its end (closed: no next iterator) or, for an
// open shard, until it is at the tip after the writer finished.
func readShard(ctx context.Context, t *testing.T, c *streams.Client, arn, shardID string, writerDone func() bool) ([]streams.Record, bool) {
	t.Helper()
	it, err := c.GetShardIterator(ctx, &streams.GetShardIteratorInput{StreamArn: arn, ShardId: shardID, ShardIteratorType: streams.ShardIteratorTrimHorizon})
	if err != nil {
		t.Fatalf("iterator of %s: %v", shardID, err)
	}
	var recs []streams.Record
	iter := &it.ShardIterator
	for {
		done := writerDone() // before the read: whatever was written by now is in this answer or later ones
		out, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: *iter, MaxResults: 37})
		if err != nil {
			t.Fatalf("records of %s: %v", shardID, err)
		}
		if len(out.DecodeErrors) > 0 {
			t.Fatalf("decode errors: %v", out.DecodeErrors[0].Err)
		}
		recs = append(recs, out.ChangeRecords...)
		if out.NextShardIterator == nil {
			return recs, true
		}
		iter = out.NextShardIterator
		if out.IteratorPosition == streams.IteratorPositionAtTip && len(out.ChangeRecords) == 0 && done {
			return recs, false
		}
		if ctx.Err() != nil {
			t.Fatalf("reading %s timed out", shardID)
		}
	}
}

// TestClientReadsEverythingAcrossSplitUnderThrottling is the emulator's "done when": the real
// client lists the stream, walks every shard in lineage order from TRIM_HORIZON while the
// generator writes, and reads back exactly the records written, in order per shard, across
// splits and with 20% of the requests throttled.
func TestClientReadsEverythingAcrossSplitUnderThrottling(t *testing.T) {
	emu, c, _ := start(t, emulator.Config{Faults: emulator.Faults{ThrottleRate: 0.2}, Seed: 42}, 30)
	var retries atomic.Int64
	c2, err := streams.New(streams.Config{AWS: awsConfig(30), Endpoint: c.Endpoint(),
		OnRetry: func(_ string, _ int, err error) {
			if errors.Is(err, streams.ErrThrottling) {
				retries.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	c = c2
	arn, err := emu.CreateStream(emulator.StreamSpec{Keyspace: "media", Table: "media_content", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	found, err := c.FindStream(ctx, "media", "media_content")
	if err != nil || found != arn {
		t.Fatalf("FindStream = %q, %v; want %q", found, err, arn)
	}
	const total = 900
	if err := emu.StartGenerator(emulator.GeneratorConfig{StreamArn: arn, Records: total, Rate: 5000, SplitAfter: 300, Seed: 7, LargeRowRate: 0.01}); err != nil {
		t.Fatal(err)
	}
	writerDone := func() bool { return !emu.GeneratorStatus().Running }
	got, order := readAll(ctx, t, c, arn, writerDone)
	status, err := emu.WaitGenerator(ctx)
	if err != nil || status.Written != total || status.Error != "" {
		t.Fatalf("generator: %+v, %v", status, err)
	}

	written, err := emu.Written(arn)
	if err != nil {
		t.Fatal(err)
	}
	if len(written) != 8 || len(status.Splits) != 6 { // 2 shards at start, 3 splits
		t.Fatalf("%d shards (splits %v), want 8 after 3 splits", len(written), status.Splits)
	}
	n := 0
	for _, ws := range written {
		recs := got[ws.ShardID]
		if len(recs) != ws.Count {
			t.Fatalf("shard %s: read %d records, %d written", ws.ShardID, len(recs), ws.Count)
		}
		for i, w := range ws.Records {
			if recs[i].SequenceNumber != w.SequenceNumber || !bytes.Equal(recs[i].Raw, w.Record) {
				t.Fatalf("shard %s record %d: read %s, written %s", ws.ShardID, i, recs[i].SequenceNumber, w.SequenceNumber)
			}
			if i > 0 && recs[i].SequenceNumber <= recs[i-1].SequenceNumber {
				t.Fatalf("shard %s: sequence numbers out of order at %d", ws.ShardID, i)
			}
		}
		n += len(recs)
	}
	if n != total {
		t.Fatalf("read %d records, want %d", n, total)
	}
	// Per key, the records came in write order across the lineage.
	lastSeq := map[string]string{}
	for _, r := range order {
		k := emulator.KeyText(&r)
		if r.SequenceNumber <= lastSeq[k] {
			t.Fatalf("key %s: %s read after %s", k, r.SequenceNumber, lastSeq[k])
		}
		lastSeq[k] = r.SequenceNumber
	}
	if retries.Load() == 0 {
		t.Fatal("no throttled request was retried: the fault injection did not bite")
	}
	t.Logf("%d records over %d shards, %d throttled requests retried", n, len(written), retries.Load())
}
