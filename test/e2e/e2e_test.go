// Package e2e runs the real consumer binary against the real local servers: the Keyspaces
// Streams emulator, dynalite (DynamoDB) and versitygw (S3). Every test proves its claim by
// reading every object back and comparing it with what the emulator says it wrote.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

var bin harness.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cdc-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin, err = harness.Build(context.Background(), dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir) // a temporary directory: the exit code is the tests'
	os.Exit(code)
}

func startStack(t *testing.T, emulatorArgs ...string) *harness.Stack {
	t.Helper()
	return startStackWith(t, harness.StackConfig{EmulatorArgs: emulatorArgs})
}

// startStackWith starts a stack for the test (in its temporary folder, prefix cdc/), and
// stops it when the test ends, printing the logs' tails if it failed.
func startStackWith(t *testing.T, cfg harness.StackConfig) *harness.Stack {
	t.Helper()
	cfg.Dir, cfg.Prefix = t.TempDir(), "cdc/"
	s, err := harness.StartStack(context.Background(), bin, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, s)
		}
		s.Stop()
	})
	return s
}

// dumpLogs prints the tail of each worker's and the emulator's log when a test failed,
// without the metric lines.
func dumpLogs(t *testing.T, s *harness.Stack) {
	entries, _ := os.ReadDir(s.Dir + "/logs")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "versitygw") || strings.HasPrefix(e.Name(), "dynalite") {
			continue
		}
		b, _ := os.ReadFile(s.Dir + "/logs/" + e.Name())
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !strings.Contains(l, `"_aws"`) {
				lines = append(lines, l)
			}
		}
		t.Logf("==== %s (last 40 lines)\n%s", e.Name(), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

func startWorker(t *testing.T, s *harness.Stack, id string, extra ...string) (*harness.Process, int) {
	t.Helper()
	p, port, err := s.StartWorker(id, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return p, port
}

// waitGenerated waits until the emulator's generator has written everything it was asked.
func waitGenerated(t *testing.T, s *harness.Stack, limit time.Duration) {
	t.Helper()
	if err := s.WaitGenerated(context.Background(), limit); err != nil {
		t.Fatal(err)
	}
}

func waitLanded(t *testing.T, s *harness.Stack, limit time.Duration) harness.Report {
	t.Helper()
	r, err := s.WaitLanded(context.Background(), limit, nil)
	if err != nil {
		t.Fatalf("not everything landed: %v; %s", err, r)
	}
	return r
}

// TestEveryChangeLandsExactlyOnce: two workers, four shards, a split midway, each format.
func TestEveryChangeLandsExactlyOnce(t *testing.T) {
	for _, format := range []string{"json", "avro", "parquet"} {
		t.Run(format, func(t *testing.T) {
			s := startStack(t, "-shards", "4", "-records", "4000", "-rate", "4000", "-split-after", "2000", "-seed", "7")
			w1, port := startWorker(t, s, "w1", "CDC_FORMAT="+format, "CDC_FLUSH_RECORDS=500")
			w2, _ := startWorker(t, s, "w2", "CDC_FORMAT="+format, "CDC_FLUSH_RECORDS=500")
			checkHealthz(t, port)
			waitGenerated(t, s, time.Minute)
			r := waitLanded(t, s, 2*time.Minute)
			if !r.OK() {
				t.Fatalf("%s", r)
			}
			if r.Written != 4000 {
				t.Fatalf("written %d, want 4000", r.Written)
			}
			t.Logf("%s", r)
			checkContent(t, s, format)
			checkEMF(t, w1, w2)
		})
	}
}

func checkHealthz(t *testing.T, port int) {
	t.Helper()
	if err := harness.Poll(context.Background(), 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/healthz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("status %d", resp.StatusCode)
	}); err != nil {
		t.Fatalf("/healthz: %v", err)
	}
}

// checkContent compares a sample of landed events with the records the emulator wrote:
// created_at, origin and the partition key values.
func checkContent(t *testing.T, s *harness.Stack, format string) {
	t.Helper()
	ctx := context.Background()
	landed, objs, err := harness.ReadLanded(ctx, s.S3Client, s.Bucket, s.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		wantExt := map[string]string{"json": ".jsonl.gz", "avro": ".avro", "parquet": ".parquet"}[format]
		if !strings.HasSuffix(o.Key, wantExt) || !strings.Contains(o.Key, "cdc/media/media_content/dt=") || !strings.Contains(o.Key, "/hr=") {
			t.Fatalf("object key %q does not follow <prefix><keyspace>/<table>/dt=/hr=/...%s", o.Key, wantExt)
		}
	}
	var page struct {
		Streams []struct {
			Shards []struct {
				ShardID string `json:"shardId"`
				Records []struct {
					SequenceNumber string          `json:"sequenceNumber"`
					Record         json.RawMessage `json:"record"`
				} `json:"records"`
			} `json:"shards"`
		} `json:"streams"`
	}
	if err := s.Admin(ctx, http.MethodGet, "/_admin/written?limit=50", nil, &page); err != nil {
		t.Fatal(err)
	}
	byID := map[string]harness.Landed{}
	for _, l := range landed {
		byID[l.Shard+"/"+l.Seq] = l
	}
	checked := 0
	var sample []wireRecord
	for _, st := range page.Streams {
		for _, sh := range st.Shards {
			for _, rec := range sh.Records {
				w := wireRecord{Shard: sh.ShardID, Seq: rec.SequenceNumber}
				if err := json.Unmarshal(rec.Record, &w.Record); err != nil {
					t.Fatal(err)
				}
				sample = append(sample, w)
				var wire struct {
					CreatedAt     json.Number                `json:"createdAt"`
					Origin        string                     `json:"origin"`
					PartitionKeys map[string]json.RawMessage `json:"partitionKeys"`
				}
				if err := json.Unmarshal(rec.Record, &wire); err != nil {
					t.Fatal(err)
				}
				l, ok := byID[sh.ShardID+"/"+rec.SequenceNumber]
				if !ok {
					t.Fatalf("%s/%s did not land", sh.ShardID, rec.SequenceNumber)
				}
				if l.Event["origin"] != wire.Origin {
					t.Fatalf("%s: origin %v, wrote %s", l.Seq, l.Event["origin"], wire.Origin)
				}
				trunc, round := wireMillis(t, wire.CreatedAt)
				if got := createdAtMillis(t, l.Event["created_at"]); got != trunc && got != round {
					t.Fatalf("%s: created_at %d ms, wrote %s s", l.Seq, got, wire.CreatedAt)
				}
				if len(wire.PartitionKeys) == 0 || l.Event["keys"] == nil {
					t.Fatalf("%s: keys missing: %v", l.Seq, l.Event["keys"])
				}
				checked++
			}
		}
	}
	if checked == 0 {
		t.Fatal("no record compared")
	}
	if format == "parquet" {
		checkDuckDB(t, s, len(landed), sample)
	}
}

// wireMillis is the wire's createdAt (seconds, with a fraction) in milliseconds, truncated and
// rounded, computed exactly: in float64, 1795697503.83899995 s × 1000 rounds up to …839 ms.
func wireMillis(t *testing.T, n json.Number) (trunc, round int64) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		t.Fatalf("createdAt %q is not a number", n)
	}
	r.Mul(r, big.NewRat(1000, 1))
	floor := func(x *big.Rat) int64 {
		q, _ := new(big.Int).DivMod(x.Num(), x.Denom(), new(big.Int)) // Euclidean division: the floor
		return q.Int64()
	}
	return floor(r), floor(new(big.Rat).Add(r, big.NewRat(1, 2)))
}

// createdAtMillis reads created_at from a JSON event (RFC 3339 text) or an Avro one
// (timestamp-millis, decoded by hamba as time.Time).
func createdAtMillis(t *testing.T, v any) int64 {
	switch x := v.(type) {
	case string:
		ts, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			t.Fatalf("created_at %q: %v", x, err)
		}
		return ts.UnixMilli()
	case time.Time:
		return x.UnixMilli()
	}
	t.Fatalf("created_at of type %T", v)
	return 0
}

// checkEMF reads the EMF lines of the workers' logs: names, units, and the records read
// (summed over the workers: which of them read the shards depends on who took the leases).
func checkEMF(t *testing.T, workers ...*harness.Process) {
	t.Helper()
	units := map[string]string{}
	read := 0.0
	var logs strings.Builder
	for _, w := range workers {
		logs.WriteString(w.Log())
		logs.WriteString("\n")
	}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["_aws"] == nil {
			continue
		}
		aws := line["_aws"].(map[string]any)
		for _, d := range aws["CloudWatchMetrics"].([]any) {
			dir := d.(map[string]any)
			if dir["Namespace"] != "KeyspacesCdcToS3" {
				t.Fatalf("namespace %v", dir["Namespace"])
			}
			for _, m := range dir["Metrics"].([]any) {
				mm := m.(map[string]any)
				name := mm["Name"].(string)
				units[name] = mm["Unit"].(string)
				if name == "RecordsRead" {
					read += line[name].(float64)
				}
			}
		}
	}
	for name, unit := range map[string]string{"RecordsRead": "Count", "RecordsWritten": "Count", "BytesWritten": "Bytes",
		"FilesWritten": "Count", "LeasesHeld": "Count", "MillisBehindLatest": "Milliseconds", "FlushLatency": "Milliseconds"} {
		if units[name] != unit {
			t.Errorf("EMF metric %s: unit %q, want %q", name, units[name], unit)
		}
	}
	if read <= 0 {
		t.Errorf("EMF RecordsRead sums to %v", read)
	}
}

// TestChaos, in JSON and Parquet: three workers; a random one is killed with SIGKILL and a new one started,
// again and again, with throttling and 500s injected and a shard split. At the end nothing
// is missing, nothing doubled, and each shard's objects hold ordered, disjoint ranges.
func TestChaos(t *testing.T) {
	for _, format := range []string{"json", "parquet"} {
		t.Run(format, func(t *testing.T) { chaos(t, format) })
	}
}

func chaos(t *testing.T, format string) {
	s := startStack(t, "-shards", "4", "-records", "6000", "-rate", "600", "-split-after", "2500",
		"-throttle-rate", "0.2", "-error-rate", "0.05", "-seed", "11")
	env := []string{"CDC_FLUSH_RECORDS=300", "CDC_FORMAT=" + format}
	var workers []*harness.Process
	next := 0
	spawn := func() {
		next++
		p, _ := startWorker(t, s, fmt.Sprintf("w%d", next), env...)
		workers = append(workers, p)
	}
	for range 3 {
		spawn()
	}
	rng := rand.New(rand.NewPCG(11, 12))
	kills := 0
	deadline := time.Now().Add(12 * time.Second)
	for time.Now().Before(deadline) {
		// Let the fleet work a little between crashes (this pacing is the chaos schedule,
		// not a synchronisation).
		time.Sleep(time.Duration(1200+rng.IntN(1200)) * time.Millisecond)
		i := rng.IntN(len(workers))
		workers[i].Kill9()
		kills++
		workers = append(workers[:i], workers[i+1:]...)
		spawn()
	}
	// Faults stay on until the end; the fleet must still finish the job.
	waitGenerated(t, s, 2*time.Minute)
	r := waitLanded(t, s, 3*time.Minute)
	t.Logf("after %d kills: %s", kills, r)
	if !r.OK() {
		t.Fatalf("%s", r)
	}
	if r.Written != 6000 {
		t.Fatalf("written %d, want 6000", r.Written)
	}
}

// TestSIGTERMDuringLoad: a worker told to stop mid-load exits within its shutdown budget,
// releasing its leases so the other worker takes them at its next take cycle (half the
// failover time), not after the failover time; nothing is lost or doubled.
func TestSIGTERMDuringLoad(t *testing.T) {
	s := startStack(t, "-shards", "4", "-records", "5000", "-rate", "500", "-seed", "3")
	const failover = 20 * time.Second
	env := []string{"CDC_FLUSH_RECORDS=1000", "CDC_FLUSH_INTERVAL=5s",
		"CDC_LEASE_FAILOVER_TIME=" + failover.String(), "CDC_LEASE_RENEW_INTERVAL=1s", "CDC_SHUTDOWN_TIMEOUT=20s"}
	w1, _ := startWorker(t, s, "w1", env...)
	w2, _ := startWorker(t, s, "w2", env...)
	ctx := context.Background()
	// Wait until both hold leases and the load is well under way.
	if err := harness.Poll(ctx, time.Minute, 100*time.Millisecond, func() (bool, error) {
		return strings.Contains(w1.Log(), `"shard started"`) && strings.Contains(w2.Log(), `"shard started"`), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := harness.Poll(ctx, time.Minute, 100*time.Millisecond, func() (bool, error) {
		st, err := s.Generator(ctx)
		return st.Written > 1500, err
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w1.Term()
	if !w1.Wait(25 * time.Second) {
		t.Fatalf("w1 did not exit within its 20 s shutdown budget (+5 s)")
	}
	if _, code := w1.Exited(); code != 0 {
		t.Fatalf("w1 exited with %d", code)
	}
	exited := time.Since(start)
	if !strings.Contains(w1.Log(), `"shard drained"`) || !strings.Contains(w1.Log(), `"released"`) {
		t.Fatalf("w1 did not drain and release its shards")
	}
	// Every unfinished lease passes to w2 well before the failover time.
	table := s.Leases()
	if err := harness.Poll(ctx, failover, 100*time.Millisecond, func() (bool, error) {
		leases, err := table.List(ctx)
		if err != nil {
			return false, err
		}
		for _, l := range leases {
			if !l.Finished() && l.Owner != "w2" {
				return false, fmt.Errorf("lease %s owned by %q", l.Key, l.Owner)
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("w1's leases not taken by w2 within the failover time %s: %v", failover, err)
	}
	t.Logf("w1 exited %s after SIGTERM; w2 held every lease %s after it", exited.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	waitGenerated(t, s, 2*time.Minute)
	r := waitLanded(t, s, time.Minute)
	if !r.OK() {
		t.Fatalf("%s", r)
	}
}

// TestBadConfiguration: each bad value (or unknown variable, contradiction, busy port) stops
// the binary with exit code 2 and a message naming it. Cases of two settings are separated
// by a space.
func TestBadConfiguration(t *testing.T) {
	good := []string{"AWS_REGION=us-east-1", "CDC_KEYSPACE=media", "CDC_TABLE=media_content",
		"CDC_BUCKET=my-bucket", "CDC_LEASE_TABLE=leases"}
	cases := []struct {
		set, want string
	}{
		{"CDC_FORMAT=orc", "CDC_FORMAT"},
		{"CDC_COMPRESSION=lz4", "CDC_COMPRESSION"},
		{"CDC_BUCKET=", "CDC_BUCKET"},
		{"CDC_KEYSPACE=", "CDC_KEYSPACE"},
		{"CDC_TABLE=", "CDC_TABLE"},
		{"CDC_LEASE_TABLE=", "CDC_LEASE_TABLE"},
		{"CDC_START_POSITION=MIDDLE", "CDC_START_POSITION"},
		{"CDC_FLUSH_RECORDS=-1", "CDC_FLUSH_RECORDS"},
		{"CDC_FLUSH_BYTES=1", "CDC_FLUSH_BYTES"},
		{"CDC_FLUSH_INTERVAL=never", "CDC_FLUSH_INTERVAL"},
		{"CDC_LEASE_FAILOVER_TIME=1h", "CDC_LEASE_FAILOVER_TIME"},
		{"CDC_STREAM_ARN=not-an-arn", "CDC_STREAM_ARN"},
		{"CDC_HTTP_PORT=99999", "CDC_HTTP_PORT"},
		{"CDC_S3_REGION=moon-1", "CDC_S3_REGION"},
		{"CDC_FORAMT=avro", "CDC_FORAMT: not a setting of the consumer; did you mean CDC_FORMAT?"},
		{"CDC_FLUSH_INTERVALL=5s", "did you mean CDC_FLUSH_INTERVAL?"},
		{"CDC_PREFIX=../escape/", "CDC_PREFIX"},
		{"CDC_PREFIX=a/../../b/", "CDC_PREFIX"},
		{"CDC_PREFIX=/cdc/", "CDC_PREFIX"},
		{"CDC_STREAM_ARN=arn:aws:cassandra:us-east-1:123456789012:/keyspace/shop/table/orders/stream/x",
			`CDC_KEYSPACE (--keyspace): "media" contradicts CDC_STREAM_ARN`},
		{"CDC_STREAM_ARN=arn:aws:cassandra:eu-west-1:123456789012:/keyspace/media/table/media_content/stream/x CDC_KEYSPACES_REGION=us-east-1",
			`CDC_KEYSPACES_REGION (--keyspaces-region): "us-east-1" contradicts CDC_STREAM_ARN, whose region is "eu-west-1"`},
		{"CDC_HTTP_PORT=" + busyPort(t), "CDC_HTTP_PORT (--http-port): port"},
	}
	for _, tc := range cases {
		t.Run(tc.set, func(t *testing.T) {
			env := append(append(unsetCDC(), good...), strings.Fields(tc.set)...)
			p, err := harness.Start("bad", t.TempDir(), bin.Consumer, env)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Wait(20 * time.Second) {
				p.Stop()
				t.Fatal("did not exit")
			}
			_, code := p.Exited()
			if code != 2 || !strings.Contains(p.Log(), tc.want) {
				t.Fatalf("exit %d, output %q: want exit 2 naming %s", code, p.Log(), tc.want)
			}
		})
	}
}

// busyPort listens on a free port until the test ends, and returns it.
func busyPort(t *testing.T) string {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// TestSIGTERMEndsAHungConsumerWithinItsBudget: whatever the worker is waiting for on an
// endpoint that accepts TCP and never answers (the stream or the lease table at start-up, an
// upload while running), SIGTERM ends the process within CDC_SHUTDOWN_TIMEOUT; start-up says
// what it waits for.
func TestSIGTERMEndsAHungConsumerWithinItsBudget(t *testing.T) {
	s := startStack(t, "-shards", "2", "-records", "2000", "-rate", "500", "-seed", "5")
	const budget = 5 * time.Second
	for _, tc := range []struct {
		name, endpoint, waitFor string
	}{
		{"start-up, Keyspaces Streams silent", "AWS_ENDPOINT_URL_KEYSPACESSTREAMS", `"start-up: waiting for Keyspaces Streams: the newest ENABLED stream of the table"`},
		{"start-up, DynamoDB silent", "AWS_ENDPOINT_URL_DYNAMODB", `"start-up: waiting for DynamoDB: the lease table"`},
		{"uploading, S3 silent", "AWS_ENDPOINT_URL_S3", `"shard started"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hole := devservers.NewBlackHole(t)
			w, _ := startWorker(t, s, "hung-"+strings.Fields(tc.name)[0]+strconv.Itoa(int(time.Now().UnixNano()%1000)),
				tc.endpoint+"="+hole.URL, "CDC_SHUTDOWN_TIMEOUT="+budget.String(), "CDC_FLUSH_INTERVAL=500ms")
			ctx := context.Background()
			if err := harness.Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
				if done, code := w.Exited(); done {
					return false, fmt.Errorf("exited %d: %s", code, w.Log())
				}
				// Hung: the log says what it waits for, and the silent endpoint holds a request.
				return strings.Contains(w.Log(), tc.waitFor) && hole.Accepted.Load() > 0, nil
			}); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			w.Term()
			if !w.Wait(budget + time.Second) {
				t.Fatalf("still running %s after SIGTERM (budget %s):\n%s", time.Since(start), budget, w.Log())
			}
			took := time.Since(start)
			_, code := w.Exited()
			t.Logf("exited %d, %s after SIGTERM (budget %s)", code, took.Round(time.Millisecond), budget)
			if took > budget+500*time.Millisecond {
				t.Errorf("exited %s after SIGTERM: over its budget %s", took, budget)
			}
		})
	}
}

// unsetCDC empties the test process's own CDC_ settings so only a case's values count.
func unsetCDC() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CDC_") && !strings.HasPrefix(kv, "CDC_TEST_") {
			env = append(env, strings.SplitN(kv, "=", 2)[0]+"=")
		}
	}
	return env
}
