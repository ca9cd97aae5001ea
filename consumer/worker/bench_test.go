package worker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// The benchmarks below measure against dynalite with the DEFAULT intervals (renew 3s, take
// cycle 5s, shard sync 60s, failover 10s), so one iteration lasts tens of seconds. Run them with
// -benchtime=1x (see docs/benchmarks.md, section leases).

// defaultConfig is the Config a deployment gets, with a test logger.
func defaultConfig(id string) Config { return Config{WorkerID: id} }

// BenchmarkLeaseCalls counts what a fleet costs DynamoDB in steady state (every lease held,
// processors idle at the tip so they write no checkpoints) over a window of default intervals:
// write units and read units per minute for the whole fleet, as dynalite computes them with
// DynamoDB's rules, and the calls by operation. Reported metrics: WCU/min, RCU/min (fleet)
// and calls/min (fleet).
func BenchmarkLeaseCalls(b *testing.B) {
	const window = time.Minute
	for _, tc := range []struct{ shards, workers int }{{10, 1}, {10, 4}, {1000, 1}, {1000, 4}} {
		b.Run(fmt.Sprintf("shards=%d/workers=%d", tc.shards, tc.workers), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				h := newHarness(b)
				openShards(h, tc.shards, 0)
				var ws []*running
				var names []string
				for w := 1; w <= tc.workers; w++ {
					id := fmt.Sprintf("w%d", w)
					names = append(names, id)
					ws = append(ws, h.start(defaultConfig(id)))
				}
				waitFor(b, 10*time.Minute, "every lease held and balanced", func() bool { return balanced(h, tc.shards, names...) })
				waitFor(b, time.Minute, "every processor started", func() bool {
					held := 0
					for _, w := range ws {
						held += w.c.Stats().LeasesHeld
					}
					return held == tc.shards
				})
				h.calls.on.Store(true)
				start := time.Now()
				// The window is the measurement itself, not a synchronisation.
				waitFor(b, 2*window, "measurement window", func() bool { return time.Since(start) >= window })
				h.calls.on.Store(false)
				elapsed := time.Since(start)
				got := h.calls.snapshot()
				perMin := func(v float64) float64 { return v * float64(time.Minute) / float64(elapsed) }
				var total int64
				var parts []string
				for _, op := range slices.Sorted(maps.Keys(got.calls)) {
					total += got.calls[op]
					parts = append(parts, fmt.Sprintf("%s %.0f", op, perMin(float64(got.calls[op]))))
				}
				b.ReportMetric(perMin(got.wcu), "WCU/min")
				b.ReportMetric(perMin(got.rcu), "RCU/min")
				b.ReportMetric(perMin(float64(total)), "calls/min")
				b.Logf("%d shards, %d worker(s), %s window, whole fleet per minute: %.0f write units, %.1f read units, %.0f calls (%s)",
					tc.shards, tc.workers, elapsed.Round(time.Millisecond), perMin(got.wcu), perMin(got.rcu),
					perMin(float64(total)), strings.Join(parts, ", "))
				for _, w := range ws {
					if st := w.c.Stats(); st.RenewFailures != 0 || st.LeasesLost != 0 {
						b.Fatalf("%s lost leases while measured: %+v", w.id, st)
					}
				}
				for _, w := range ws {
					if err := w.stop(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRebalance measures, with the default intervals, how long the shards take to be
// evenly held and processed again when a worker joins (12 shards, 2 workers to 3; 1,000 shards,
// 3 to 4, with more steals per cycle), and when one of three dies (12 shards).
func BenchmarkRebalance(b *testing.B) {
	const n = 12
	// processing reports whether every shard is being processed by the owner the table names.
	processing := func(h *harness) bool {
		owners := h.owners()
		h.mu.Lock()
		defer h.mu.Unlock()
		for s, o := range owners {
			if o == "" || h.active[s] != o {
				return false
			}
		}
		return true
	}
	// join starts workers together (a new deployment), waits until they are balanced, then
	// starts one more; every worker asks for up to steals leases per take cycle.
	join := func(b *testing.B, shards, workers, steals int) {
		config := func(id string) Config {
			cfg := defaultConfig(id)
			cfg.MaxStealsPerCycle = steals
			return cfg
		}
		for i := 0; i < b.N; i++ {
			h := newHarness(b)
			openShards(h, shards, 3)
			var ws []*running
			var names []string
			started := time.Now()
			for w := 1; w <= workers; w++ {
				id := fmt.Sprintf("w%d", w)
				names = append(names, id)
				ws = append(ws, h.start(config(id)))
			}
			first := waitFor(b, 30*time.Minute, "workers balanced", func() bool { return balanced(h, shards, names...) && processing(h) })
			b.ReportMetric(first.Seconds(), "s-to-balance-at-start")
			b.Logf("%d workers started together on %d shards: balanced and processing after %s", workers, shards, time.Since(started).Round(time.Millisecond))
			joined := time.Now()
			joiner := h.start(config("joiner"))
			took := waitFor(b, 30*time.Minute, "balanced with the joiner", func() bool {
				return balanced(h, shards, append(names, "joiner")...) && processing(h)
			})
			b.ReportMetric(took.Seconds(), "s-to-rebalance")
			b.Logf("a worker joined %d on %d shards, %d steal(s) per cycle: balanced and processing %s after it started (%d steals, %d takes)",
				workers, shards, joiner.c.cfg.MaxStealsPerCycle, time.Since(joined).Round(time.Millisecond), joiner.c.Stats().Steals, joiner.c.Stats().Takes)
			for _, w := range append(ws, joiner) {
				if err := w.stop(); err != nil {
					b.Fatal(err)
				}
			}
			h.noViolations()
		}
	}
	b.Run("join", func(b *testing.B) { join(b, n, 2, 1) })
	b.Run("join-1000-shards-25-steals", func(b *testing.B) { join(b, 1000, 3, 25) })
	b.Run("die", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			h := newHarness(b)
			openShards(h, n, 3)
			ws := []*running{h.start(defaultConfig("w1")), h.start(defaultConfig("w2")), h.start(defaultConfig("w3"))}
			waitFor(b, 5*time.Minute, "three workers balanced", func() bool { return balanced(h, n, "w1", "w2", "w3") && processing(h) })
			killed := time.Now()
			if err := ws[0].kill(); err == nil {
				b.Fatal("killed worker's Run returned nil")
			}
			took := waitFor(b, 5*time.Minute, "the dead worker's shards processed again", func() bool {
				return balanced(h, n, "w2", "w3") && processing(h)
			})
			b.ReportMetric(took.Seconds(), "s-to-rebalance")
			b.Logf("one of three workers died on %d shards: its shards processed again %s later (failover %s)",
				n, time.Since(killed).Round(time.Millisecond), config.Defaults().LeaseFailoverTime)
			for _, w := range ws[1:] {
				if err := w.stop(); err != nil {
					b.Fatal(err)
				}
			}
			h.noViolations()
		}
	})
}
