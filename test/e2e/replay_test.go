package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// TestDrainDuringReplay plays, against the real binaries and servers, the sequence that once
// stored records twice: S3 stops answering, so each shard's flush saves its intent and hangs
// on the upload; DynamoDB goes away; S3 comes back, the uploads complete but their checkpoints
// fail; DynamoDB comes back and the worker takes its shards again and replays the intents;
// then, in the middle of those replays, the worker is told to stop (SIGTERM) or a second
// worker steals a shard (a graceful handoff). The intents must survive the drain, and the
// records must land once each.
func TestDrainDuringReplay(t *testing.T) {
	for _, format := range []string{"json", "avro"} {
		for _, how := range []string{"sigterm", "handoff"} {
			t.Run(format+"/"+how, func(t *testing.T) { drainDuringReplay(t, format, how) })
		}
	}
}

func drainDuringReplay(t *testing.T, format, how string) {
	ctx := context.Background()
	s := startStackWith(t, harness.StackConfig{PersistDynamoDB: true,
		EmulatorArgs: []string{"-shards", "2", "-records", "2000", "-rate", "0", "-seed", "5"}})
	// Files of 300 records read 20 at a time: a replay takes 15 GetRecords calls, and with the
	// latency set below it lasts over 20 s, long enough for a second worker to start and steal
	// a shard in the middle of it.
	env := []string{"CDC_FORMAT=" + format, "CDC_FLUSH_RECORDS=300", "CDC_GETRECORDS_LIMIT=20"}
	waitGenerated(t, s, time.Minute)

	// 1. S3 stops answering: each shard's first file saves its intent, then hangs uploading.
	if err := s.S3.Pause(); err != nil {
		t.Fatal(err)
	}
	w1, _ := startWorker(t, s, "w1", env...)
	var intents []string
	poll(t, "every shard's intent saved", time.Minute, func() (bool, error) {
		leases, err := s.Leases().List(ctx)
		if err != nil {
			return false, err
		}
		intents = intents[:0]
		for _, l := range leases {
			if l.Pending != nil {
				intents = append(intents, l.Pending.Key)
			}
		}
		return len(intents) == 2, nil
	})

	// 2. DynamoDB goes away; its data stays on disk.
	s.DDB.Kill()
	// Slow the stream down, so that the replays to come take seconds.
	setLatency(t, s, "1500ms")

	// 3. S3 comes back: the hung uploads complete; their checkpoints cannot be written.
	if err := s.S3.Resume(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the intents' objects uploaded", time.Minute, func() (bool, error) {
		for _, key := range intents {
			if _, err := s.S3Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)}); err != nil {
				return false, nil
			}
		}
		return true, nil
	})
	poll(t, "w1 giving its leases up", time.Minute, func() (bool, error) {
		return strings.Count(w1.Log(), "giving it up") >= 2, nil
	})

	// 4. DynamoDB comes back: w1 takes its shards again and replays both intents.
	offset := len(w1.Log())
	if err := s.DDB.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	poll(t, "w1 replaying both intents", 2*time.Minute, func() (bool, error) {
		return len(shardsLogging(w1.Log()[offset:], "replay under way")) == 2, nil
	})

	// 5. A drain in the middle of the replays.
	switch how {
	case "sigterm":
		w1.Term()
		if !w1.Wait(40 * time.Second) {
			t.Fatal("w1 did not exit within its shutdown budget")
		}
		if _, code := w1.Exited(); code != 0 {
			t.Fatalf("w1 exited with %d", code)
		}
		setLatency(t, s, "0s")
		startWorker(t, s, "w2", env...)
	case "handoff":
		startWorker(t, s, "w2", env...)
		poll(t, "a shard handed over to w2", time.Minute, func() (bool, error) {
			return strings.Contains(w1.Log(), `"lease handed over"`), nil
		})
		setLatency(t, s, "0s")
	}

	// 6. The rest is finished by w2 (and w1, after a handoff): every record once.
	r := waitLanded(t, s, 2*time.Minute)
	drained := shardsLogging(w1.Log()[offset:], "drained during the replay")
	t.Logf("%s; replays drained: %v", r, drained)
	if !r.OK() || r.Written != 2000 {
		t.Fatalf("%s", r)
	}
	if len(drained) == 0 {
		t.Fatalf("no replay was drained: the scenario did not happen")
	}
}

// poll waits for cond, failing the test with what after limit.
func poll(t *testing.T, what string, limit time.Duration, cond func() (bool, error)) {
	t.Helper()
	if err := harness.Poll(context.Background(), limit, 50*time.Millisecond, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// setLatency sets the latency the emulator adds to every Keyspaces Streams request.
func setLatency(t *testing.T, s *harness.Stack, d string) {
	t.Helper()
	if err := s.Admin(context.Background(), "POST", "/_admin/faults", map[string]any{"latency": d}, nil); err != nil {
		t.Fatal(err)
	}
}

// shardsLogging returns the shards (and how often) of the JSON log lines whose message starts
// with msg.
func shardsLogging(log, msg string) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Msg   string `json:"msg"`
			Shard string `json:"shard_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && strings.HasPrefix(line.Msg, msg) {
			out[line.Shard]++
		}
	}
	return out
}
