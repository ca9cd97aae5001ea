package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

var parquetZstd = encoder{name: "parquet-zstd", env: []string{"CDC_FORMAT=parquet", "CDC_COMPRESSION=zstd"}}

// BenchmarkIceberg: one worker, one shard, the backlog of BenchmarkThroughput (100,000
// changes of ~1 KB rows), written as Parquet objects and as the Iceberg change log (the SQL
// catalog on versitygw), the same Parquet encoder under both. The iceberg run's clock stops
// when the table's snapshots say every shard is committed up to its last record; it also
// reports its commits per minute (one round per flush interval, 1 s here).
func BenchmarkIceberg(b *testing.B) {
	const records = 100_000
	var parquet backlogResult
	b.Run(parquetZstd.name, func(b *testing.B) {
		parquet = runBacklog(b, parquetZstd, 1, records)
		parquet.report(b)
	})
	b.Run("iceberg", func(b *testing.B) {
		r, commits := runIcebergBacklog(b, 1, records)
		r.report(b)
		b.ReportMetric(float64(commits)/r.wall.Minutes(), "commits/min")
		if parquet.records > 0 {
			b.ReportMetric(r.perCPU()/parquet.perCPU(), "per_cpu_x_parquet")
		}
	})
}

// runIcebergBacklog is runBacklog for format iceberg: it returns the result and the number of
// snapshots the worker committed.
func runIcebergBacklog(b *testing.B, shards, records int) (backlogResult, int) {
	b.Helper()
	s, written := backlogStack(b, shards, records)
	ctx := context.Background()
	last := lastSeqs(written)
	res := backlogResult{records: records, wire: wireBytes(b, s), rssBoundB: int64(len(last))*flushBytes + 64<<20}
	catalogFile := filepath.Join(b.TempDir(), "catalog.db")
	table, closeLog, err := s.OpenChangeLog(ctx, catalogFile)
	if err != nil {
		b.Fatal(err)
	}
	defer closeLog()

	emuBefore := cpuTime(b, s.Emulator)
	b.ResetTimer()
	start := time.Now()
	w := startWorker(b, s, build(b), encoder{name: "iceberg", env: s.IcebergEnv(catalogFile)}, "w1")
	if err := harness.Poll(ctx, 10*time.Minute, pollEvery, func() (bool, error) {
		if done, code := w.Exited(); done {
			return false, fmt.Errorf("worker exited with %d: %s", code, tail(w.Log()))
		}
		committed, err := table.Committed(ctx)
		if err != nil {
			return false, err
		}
		for shard, seq := range last {
			if committed[shard] != seq {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		b.Fatal(err)
	}
	res.wall = time.Since(start)
	b.StopTimer()
	res.emuCPU = cpuTime(b, s.Emulator) - emuBefore
	res.peakKiB = peakRSS(b, w)
	res.usage = stopWorker(b, w)

	landed, files, err := harness.IcebergLanded(ctx, table)
	if err != nil {
		b.Fatal(err)
	}
	res.objects = files
	if rep := harness.Compare(written, landed); !rep.OK() {
		b.Fatalf("iceberg: %s", rep)
	}
	commits := len(table.Table().Metadata().Snapshots())
	b.Logf("iceberg, %d shards: %d records in %d data files, %d commits; %.1f s, CPU %.2f s (user %.2f, sys %.2f), peak RSS %d KiB",
		len(last), len(landed), files, commits, res.wall.Seconds(), res.usage.CPU().Seconds(), res.usage.User.Seconds(),
		res.usage.Sys.Seconds(), res.peakKiB)
	return res, commits
}
