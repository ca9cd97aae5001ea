// Package bench measures the whole pipeline on this machine with real processes: the
// keyspaces-cdc-s3 binary (one worker) reading the Keyspaces Streams emulator and writing
// to versitygw, with its leases in dynalite (test/harness starts them all).
//
//	go test -run '^$' -bench . -benchtime=1x -timeout 30m ./test/bench
//
// Each benchmark runs a fixed workload once, whatever b.N: a run lasts seconds and needs
// fresh servers, so -benchtime=1x is the intended setting. Every run ends by reading every
// object back and comparing it with what the emulator wrote (harness.Compare), outside the
// timed window.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

const (
	rowBytes = 1024
	prefix   = "cdc/"
	// pollEvery paces the checks of S3 for landed objects: it bounds the resolution of
	// every wall-clock figure (and the extra load a LIST puts on versitygw).
	pollEvery = 100 * time.Millisecond
	// flushBytes is the consumer's default CDC_FLUSH_BYTES: the per-shard bound of a file.
	flushBytes = 64 << 20
)

// binaries are the consumer and the emulator (built as `make build` does) and the
// identity worker (./identityworker), built once per test binary.
type binaries struct {
	harness.Binaries
	Identity string
}

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir) // a temporary directory: the exit code is the tests'
	}
	os.Exit(code)
}

func build(b *testing.B) binaries {
	b.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "cdc-bench-bin"); buildErr != nil {
			return
		}
		ctx := context.Background()
		if built.Binaries, buildErr = harness.Build(ctx, buildDir); buildErr != nil {
			return
		}
		root, err := devservers.RepoRoot()
		if err != nil {
			buildErr = err
			return
		}
		built.Identity = filepath.Join(buildDir, "identityworker")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", built.Identity, "./bench/identityworker")
		cmd.Dir = filepath.Join(root, "test")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build identityworker: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return built
}

// encoder is what a worker writes: the real binary with a format, or the identity worker.
type encoder struct {
	name     string
	env      []string // CDC_FORMAT, CDC_COMPRESSION
	identity bool
}

var (
	jsonGzip    = encoder{name: "json-gzip", env: []string{"CDC_FORMAT=json", "CDC_COMPRESSION=gzip"}}
	avroDeflate = encoder{name: "avro-deflate", env: []string{"CDC_FORMAT=avro", "CDC_COMPRESSION=deflate"}}
	identity    = encoder{name: "identity", identity: true}
)

// commonEnv are the benchmarks' worker settings on top of the harness's: the production
// metrics interval (the harness's 1 s writes EMF lines the service would not).
var commonEnv = []string{"CDC_METRICS_INTERVAL=60s", "CDC_LOG_LEVEL=warn"}

func startStack(b *testing.B, bin binaries, emulatorArgs ...string) *harness.Stack {
	b.Helper()
	s, err := harness.StartStack(context.Background(), bin.Binaries, harness.StackConfig{
		Dir: b.TempDir(), EmulatorArgs: emulatorArgs, Prefix: prefix,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Stop)
	return s
}

func startWorker(b *testing.B, s *harness.Stack, bin binaries, enc encoder, id string, extra ...string) *harness.Process {
	b.Helper()
	env := append(append(slices.Clone(commonEnv), enc.env...), extra...)
	if !enc.identity {
		p, _, err := s.StartWorker(id, env...)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	port, err := devservers.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	p, err := harness.Start(id, filepath.Join(s.Dir, "logs"), bin.Identity, s.WorkerEnv(id, port, env...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Stop)
	return p
}

// stopWorker ends the worker with SIGTERM (graceful: its leases are released) and returns
// what it cost over its whole life.
func stopWorker(b *testing.B, p *harness.Process) harness.Usage {
	b.Helper()
	p.Term()
	if !p.Wait(time.Minute) {
		b.Fatalf("%s did not exit within a minute of SIGTERM", p.Name)
	}
	u, ok := p.Usage()
	if !ok {
		b.Fatalf("%s: no resource usage", p.Name)
	}
	if done, code := p.Exited(); !done || code != 0 {
		b.Fatalf("%s exited with %d: %s", p.Name, code, tail(p.Log()))
	}
	return u
}

func peakRSS(b *testing.B, p *harness.Process) int64 {
	b.Helper()
	kib, err := p.PeakRSSKiB()
	if err != nil {
		b.Fatal(err)
	}
	return kib
}

func cpuTime(b *testing.B, p *harness.Process) time.Duration {
	b.Helper()
	d, err := p.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

func tail(s string) string { return s[max(0, len(s)-4000):] }

// waitGenerated waits until the emulator's generator wrote all it was asked.
func waitGenerated(b *testing.B, s *harness.Stack, limit time.Duration) {
	b.Helper()
	if err := s.WaitGenerated(context.Background(), limit); err != nil {
		b.Fatal(err)
	}
}

// lastSeqs is each shard's last written sequence number: when an object ending there exists
// for every shard, everything has landed (the sink cuts files in sequence order).
func lastSeqs(w harness.Written) map[string]string {
	out := map[string]string{}
	for shard, recs := range w.Shards {
		if len(recs) > 0 {
			out[shard] = recs[len(recs)-1].SequenceNumber
		}
	}
	return out
}

// endsAt says whether a data key (sink: <shard>-<first>-<last>.<ext>; identity:
// <shard>/<first>-<last>.jsonl) holds the shard's records up to last.
func endsAt(key, shard, last string) bool {
	return strings.Contains(key, shard) && strings.Contains(key, "-"+last+".")
}

// watch lists the bucket every pollEvery, noting when each object was first seen, until
// done says so. The LIST is the only call in the loop: no object is read.
func watch(b *testing.B, s *harness.Stack, limit time.Duration, done func(seen map[string]time.Time) (bool, error)) map[string]time.Time {
	b.Helper()
	ctx := context.Background()
	seen := map[string]time.Time{}
	if err := harness.Poll(ctx, limit, pollEvery, func() (bool, error) {
		objs, err := harness.ListObjects(ctx, s.S3Client, s.Bucket, prefix)
		if err != nil {
			return false, err
		}
		now := time.Now()
		for _, o := range objs {
			if _, ok := seen[o.Key]; !ok {
				seen[o.Key] = now
			}
		}
		return done(seen)
	}); err != nil {
		b.Fatal(err)
	}
	return seen
}

func allLanded(last map[string]string, seen map[string]time.Time) bool {
	for shard, seq := range last {
		found := false
		for key := range seen {
			if endsAt(key, shard, seq) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// landed reads every object back: the sink's files through the harness, the identity
// worker's wire JSON lines here.
func landed(b *testing.B, s *harness.Stack, enc encoder) []harness.Landed {
	b.Helper()
	ctx := context.Background()
	if !enc.identity {
		l, _, err := harness.ReadLanded(ctx, s.S3Client, s.Bucket, prefix)
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	objs, err := harness.ListObjects(ctx, s.S3Client, s.Bucket, prefix+"_identity/")
	if err != nil {
		b.Fatal(err)
	}
	var out []harness.Landed
	for _, o := range objs {
		body, err := harness.GetObject(ctx, s.S3Client, s.Bucket, o.Key)
		if err != nil {
			b.Fatal(err)
		}
		shard := path.Base(path.Dir(o.Key))
		for _, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
			var rec struct {
				SequenceNumber string `json:"sequenceNumber"`
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				b.Fatalf("%s: %v", o.Key, err)
			}
			out = append(out, harness.Landed{Key: o.Key, Shard: shard, Seq: rec.SequenceNumber})
		}
	}
	return out
}

// wireBytes is the size of the records' wire JSON as the emulator stores them.
func wireBytes(b *testing.B, s *harness.Stack) int64 {
	b.Helper()
	var total int64
	for offset := 0; ; offset += 5000 {
		var page struct {
			Streams []struct {
				Shards []struct {
					Records []struct {
						Record json.RawMessage `json:"record"`
					} `json:"records"`
					NextOffset int `json:"nextOffset"`
				} `json:"shards"`
			} `json:"streams"`
		}
		if err := s.Admin(context.Background(), http.MethodGet, fmt.Sprintf("/_admin/written?offset=%d&limit=5000", offset), nil, &page); err != nil {
			b.Fatal(err)
		}
		more := false
		for _, st := range page.Streams {
			for _, sh := range st.Shards {
				for _, r := range sh.Records {
					total += int64(len(r.Record))
				}
				more = more || sh.NextOffset > 0
			}
		}
		if !more {
			return total
		}
	}
}

// backlogResult is one worker reading a pre-loaded stream to its end.
type backlogResult struct {
	records   int
	wire      int64
	wall      time.Duration // worker start to every record visible in S3
	usage     harness.Usage // the worker's whole life (start to exit after SIGTERM)
	peakKiB   int64         // the worker's peak RSS when everything had landed
	emuCPU    time.Duration // the emulator's CPU time during the timed window
	objects   int
	rssBoundB int64 // shards × the default flush size + 64 MiB: the memory target
}

func (r backlogResult) perCPU() float64 { return float64(r.records) / r.usage.CPU().Seconds() }

func (r backlogResult) report(b *testing.B) {
	sec := r.wall.Seconds()
	b.ReportMetric(float64(r.records)/sec, "records/s")
	b.ReportMetric(float64(r.wire)/sec/1e6, "MB/s")
	b.ReportMetric(r.usage.CPU().Seconds(), "cpu_s")
	b.ReportMetric(r.usage.User.Seconds(), "user_s")
	b.ReportMetric(r.usage.Sys.Seconds(), "sys_s")
	b.ReportMetric(r.perCPU(), "records/cpu_s")
	b.ReportMetric(float64(r.peakKiB)/1024, "peak_rss_MiB")
	b.ReportMetric(float64(r.rssBoundB)/(1<<20), "rss_bound_MiB")
	b.ReportMetric(r.emuCPU.Seconds(), "emulator_cpu_s")
	b.ReportMetric(sec, "wall_s")
	b.ReportMetric(float64(r.objects), "objects")
}

// backlogStack starts a stack whose emulator has written records 1 KB rows over shards, and
// returns it with what the emulator says it wrote.
func backlogStack(b *testing.B, shards, records int) (*harness.Stack, harness.Written) {
	b.Helper()
	bin := build(b)
	s := startStack(b, bin, "-shards", strconv.Itoa(shards), "-records", strconv.Itoa(records), "-rate", "0",
		"-row-bytes", strconv.Itoa(rowBytes), "-large-rate", "0", "-partitions", "4096", "-seed", "1")
	waitGenerated(b, s, 5*time.Minute)
	written, err := s.Written(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return s, written
}

// runBacklog pre-loads records 1 KB rows over shards, then starts one worker and times it
// until every record is visible in S3; then checks every record landed exactly once.
func runBacklog(b *testing.B, enc encoder, shards, records int, extra ...string) backlogResult {
	b.Helper()
	s, written := backlogStack(b, shards, records)
	if written.Total != records {
		b.Fatalf("the emulator wrote %d records, want %d", written.Total, records)
	}
	last := lastSeqs(written)
	res := backlogResult{records: records, wire: wireBytes(b, s), rssBoundB: int64(len(last))*flushBytes + 64<<20}

	emuBefore := cpuTime(b, s.Emulator)
	b.ResetTimer()
	start := time.Now()
	w := startWorker(b, s, build(b), enc, "w1", extra...)
	seen := watch(b, s, 10*time.Minute, func(seen map[string]time.Time) (bool, error) {
		if done, code := w.Exited(); done {
			return false, fmt.Errorf("worker exited with %d: %s", code, tail(w.Log()))
		}
		return allLanded(last, seen), nil
	})
	res.wall = time.Since(start)
	b.StopTimer()
	res.emuCPU = cpuTime(b, s.Emulator) - emuBefore
	res.peakKiB = peakRSS(b, w)
	res.usage = stopWorker(b, w)
	res.objects = len(seen)

	rep := harness.Compare(written, landed(b, s, enc))
	if !rep.OK() {
		b.Fatalf("%s: %s", enc.name, rep)
	}
	b.Logf("%s, %d shards: %s; %.1f s, CPU %.2f s (user %.2f, sys %.2f), peak RSS %d KiB; emulator CPU %.2f s",
		enc.name, len(last), rep, res.wall.Seconds(), res.usage.CPU().Seconds(), res.usage.User.Seconds(),
		res.usage.Sys.Seconds(), res.peakKiB, res.emuCPU.Seconds())
	return res
}

// BenchmarkThroughput: one worker, one shard, a backlog of 100,000 changes of ~1 KB rows,
// for each encoder. The real binary's runs also report their cost against the identity
// worker's (same reading, leasing, uploading, checkpointing; no conversion or encoding).
//
// To see where the CPU goes, build the workers with the profiling hook and name a folder:
// each worker then writes its CPU profile there (cmd/keyspaces-cdc-s3/cpuprofile.go).
//
//	GOFLAGS=-tags=cdcprofile CDC_TEST_CPU_PROFILE_DIR=/tmp/prof make bench-pipeline
func BenchmarkThroughput(b *testing.B) {
	const records = 100_000
	results := map[string]backlogResult{}
	for _, enc := range []encoder{identity, jsonGzip, avroDeflate, parquetZstd} {
		b.Run(enc.name, func(b *testing.B) {
			r := runBacklog(b, enc, 1, records)
			r.report(b)
			if id, ok := results[identity.name]; ok && !enc.identity {
				b.ReportMetric(r.usage.CPU().Seconds()/id.usage.CPU().Seconds(), "cpu_x_identity")
				b.ReportMetric(r.usage.User.Seconds()/id.usage.User.Seconds(), "user_x_identity")
				b.ReportMetric(r.wall.Seconds()/id.wall.Seconds(), "wall_x_identity")
			}
			results[enc.name] = r
		})
	}
}

// BenchmarkSteadyState: what a record costs a worker that is already running.
// BenchmarkThroughput's figure covers the worker's whole life over 100,000 records,
// including its start (0.14-0.18 CPU-seconds, `/usr/bin/time keyspaces-cdc-s3 --version`:
// most of it iceberg-go's substrait package building its function registry at init, in
// every format), the lease table and its exit after SIGTERM. Here each encoder reads
// 100,000 and then 250,000 records; the difference of the two runs' CPU time is the cost
// of 150,000 records alone. One pair of runs: the figure is as noisy as the two runs are.
func BenchmarkSteadyState(b *testing.B) {
	const short, long = 100_000, 250_000
	for _, enc := range []encoder{identity, jsonGzip, avroDeflate} {
		b.Run(enc.name, func(b *testing.B) {
			s := runBacklog(b, enc, 1, short)
			l := runBacklog(b, enc, 1, long)
			extra := l.usage.CPU() - s.usage.CPU()
			if extra <= 0 {
				b.Fatalf("%d records took %s of CPU, %d took %s", long, l.usage.CPU(), short, s.usage.CPU())
			}
			b.ReportMetric(float64(long-short)/extra.Seconds(), "marginal_records/cpu_s")
			b.ReportMetric(s.perCPU(), "records/cpu_s_100k")
			b.ReportMetric(l.perCPU(), "records/cpu_s_250k")
		})
	}
}

// BenchmarkShards: how the cost grows with the shards one worker reads (JSON Lines + gzip,
// 128,000 changes spread over 1 to 64 shards). Each shard's last file is cut by age, not
// size, so the flush interval is 250 ms here: the time it adds at the end stays small
// next to the run's. The last run repeats 64 shards with GetRecords batches of 250
// records instead of 1,000: under a backlog every shard holds one decoded batch, which is
// what a worker's memory grows with.
func BenchmarkShards(b *testing.B) {
	const records = 128_000
	for _, run := range []struct {
		name   string
		shards int
		env    []string
	}{
		{"1", 1, nil}, {"4", 4, nil}, {"16", 16, nil}, {"64", 64, nil},
		{"64-limit250", 64, []string{"CDC_GETRECORDS_LIMIT=250"}},
		{"64-gomemlimit400", 64, []string{"GOMEMLIMIT=400MiB"}},
	} {
		b.Run(run.name, func(b *testing.B) {
			runBacklog(b, jsonGzip, run.shards, records, append(run.env, "CDC_FLUSH_INTERVAL=250ms")...).report(b)
		})
	}
}

// latencyEnv are the latency benchmarks' worker settings: a 2 s flush interval and the
// consumer's default 1 s poll interval at the tip.
var latencyEnv = []string{"CDC_FLUSH_INTERVAL=" + latencyFlush.String(), "CDC_POLL_INTERVAL=1s"}

const latencyFlush = 2 * time.Second

// BenchmarkLatency: a steady 200 changes per second over 4 shards for 30 s with a 2 s flush
// interval, the consumer's default 1 s poll interval at the tip; per record, the time from
// its write in the emulator (createdAt) to the first LIST that shows its object.
func BenchmarkLatency(b *testing.B) {
	const (
		shards  = 4
		rate    = 200
		records = 30 * rate
	)
	bin := build(b)
	s := startStack(b, bin, "-shards", strconv.Itoa(shards))
	w := startWorker(b, s, bin, jsonGzip, "w1", latencyEnv...)
	ctx := context.Background()
	startLoad(b, s, "w1", shards, rate, records)

	var last map[string]string
	var written harness.Written
	seen := watch(b, s, 5*time.Minute, func(seen map[string]time.Time) (bool, error) {
		if last == nil {
			wr, done, err := generated(ctx, s)
			if err != nil || !done {
				return false, err
			}
			written, last = wr, lastSeqs(wr)
		}
		return allLanded(last, seen), nil
	})
	peak := peakRSS(b, w)
	usage := stopWorker(b, w)

	ls := landed(b, s, jsonGzip)
	rep := harness.Compare(written, ls)
	if !rep.OK() || rep.Written != records {
		b.Fatalf("want %d records landed exactly once: %s", records, rep)
	}
	created := map[string]time.Time{}
	for shard, recs := range written.Shards {
		for _, r := range recs {
			created[shard+"/"+r.SequenceNumber] = r.CreatedAt
		}
	}
	lat := make([]time.Duration, 0, len(ls))
	for _, l := range ls {
		lat = append(lat, seen[l.Key].Sub(created[l.Shard+"/"+l.Seq]))
	}
	reportLatency(b, lat)
	b.ReportMetric(usage.CPU().Seconds(), "cpu_s")
	b.ReportMetric(float64(peak)/1024, "peak_rss_MiB")
	b.ReportMetric(float64(rep.Objects), "objects")
	b.Log(rep)
}

// startLoad waits until worker id reads every one of the stack's shards, so that no record
// waits for the worker's start, then starts the generator: rate changes per second of
// ~rowBytes rows over 4096 partitions, records in all.
func startLoad(b *testing.B, s *harness.Stack, id string, shards, rate, records int) {
	b.Helper()
	ctx := context.Background()
	if err := harness.Poll(ctx, time.Minute, 50*time.Millisecond, func() (bool, error) {
		leases, err := s.Leases().List(ctx)
		if err != nil {
			return false, err
		}
		owned := 0
		for _, l := range leases {
			if l.Owner == id {
				owned++
			}
		}
		return owned == shards, nil
	}); err != nil {
		b.Fatal(err)
	}
	if err := s.Admin(ctx, http.MethodPost, "/_admin/generator/start", emulator.GeneratorConfig{
		Rate: float64(rate), Records: records, RowBytes: rowBytes, Partitions: 4096, Seed: 1,
	}, nil); err != nil {
		b.Fatal(err)
	}
}

// generated returns what the emulator wrote once its generator is done (done false before).
func generated(ctx context.Context, s *harness.Stack) (w harness.Written, done bool, err error) {
	st, err := s.Generator(ctx)
	if err != nil || st.Running {
		return w, false, err
	}
	w, err = s.Written(ctx)
	return w, err == nil, err
}

// reportLatency reports the p50, p99 and maximum of lat (sorted in place) and the flush
// interval of latencyEnv.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		b.Fatal("no latency measured")
	}
	b.ReportMetric(quantile(lat, 0.50), "p50_ms")
	b.ReportMetric(quantile(lat, 0.99), "p99_ms")
	b.ReportMetric(quantile(lat, 1), "max_ms")
	b.ReportMetric(float64(latencyFlush.Milliseconds()), "flush_interval_ms")
	b.Logf("%d records; latency p50 %.0f ms, p99 %.0f ms, max %.0f ms", len(lat), quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1))
}

// quantile is the p quantile of lat (sorted in place), in milliseconds.
func quantile(lat []time.Duration, p float64) float64 {
	slices.Sort(lat)
	return float64(lat[int(p*float64(len(lat)-1))].Milliseconds())
}
