package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// BenchmarkIcebergMirrorLatency: a steady 200 changes per second over 2 shards for 60 s, one
// worker writing format iceberg (the change log and the mirror, the SQL catalog on
// versitygw) with BenchmarkLatency's flush and poll intervals; per record, the time from its
// write in the emulator (createdAt) to the first poll of the mirror whose snapshots hold its
// shard up to its sequence number or later (ChangeTable.Committed: what a reader of the
// mirror's current snapshot sees); the same for the change log, polled alongside, for
// comparison. It also reports the worker's commits per minute over the load (catalog
// commits, from the two tables' snapshots by writer and commit id: a mirror commit may make
// two snapshots, its deletes and its rows), and checks at the end, outside the measure, the
// change log (every record once) and the mirror's row count (the live keys).
func BenchmarkIcebergMirrorLatency(b *testing.B) {
	const (
		shards  = 2
		rate    = 200
		records = 60 * rate
	)
	bin := build(b)
	s := startStack(b, bin, "-shards", strconv.Itoa(shards))
	ctx := context.Background()
	catalogFile := filepath.Join(b.TempDir(), "catalog.db")
	w := startWorker(b, s, bin, encoder{name: "iceberg", env: s.IcebergEnv(catalogFile)}, "w1", latencyEnv...)
	mirror, closeMirror, err := s.OpenMirror(ctx, catalogFile)
	if err != nil {
		b.Fatal(err)
	}
	defer closeMirror()
	startLoad(b, s, "w1", shards, rate, records)
	from := time.Now()

	changes, closeLog, err := s.OpenChangeLog(ctx, catalogFile)
	if err != nil {
		b.Fatal(err)
	}
	defer closeLog()

	// Each poll's view of the tables: per shard, the last sequence number each holds.
	var at []time.Time
	var inMirror, inChanges []map[string]string
	var written harness.Written
	var last map[string]string
	if err := harness.Poll(ctx, 5*time.Minute, pollEvery, func() (bool, error) {
		if done, code := w.Exited(); done {
			return false, fmt.Errorf("worker exited with %d: %s", code, tail(w.Log()))
		}
		logged, err := changes.Committed(ctx)
		if err != nil {
			return false, err
		}
		held, err := mirror.Committed(ctx)
		if err != nil {
			return false, err
		}
		at, inMirror, inChanges = append(at, time.Now()), append(inMirror, held), append(inChanges, logged)
		if last == nil {
			wr, done, err := generated(ctx, s)
			if err != nil || !done {
				return false, err
			}
			written, last = wr, lastSeqs(wr)
		}
		for shard, seq := range last {
			if held[shard] != seq {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		b.Fatal(err)
	}
	to := time.Now()
	peak := peakRSS(b, w)
	usage := stopWorker(b, w)

	mirrorLat, logLat := visible(written, at, inMirror), visible(written, at, inChanges)
	if len(mirrorLat) != records || len(logLat) != records {
		b.Fatalf("%d records visible in the mirror and %d in the change log, want the %d written", len(mirrorLat), len(logLat), records)
	}
	reportLatency(b, mirrorLat)
	b.ReportMetric(quantile(logLat, 0.50), "changes_p50_ms")
	b.ReportMetric(quantile(logLat, 0.99), "changes_p99_ms")

	var commits, snapshots [2]int
	for i, t := range []*iceberg.ChangeTable{changes, mirror} {
		if commits[i], snapshots[i], err = commitsBy(ctx, t, "w1", from, to); err != nil {
			b.Fatal(err)
		}
	}
	minutes := to.Sub(from).Minutes()
	b.ReportMetric(float64(commits[0]+commits[1])/minutes, "commits/min/worker")
	b.ReportMetric(float64(commits[1])/minutes, "mirror_commits/min")
	b.ReportMetric(usage.CPU().Seconds(), "cpu_s")
	b.ReportMetric(float64(peak)/1024, "peak_rss_MiB")

	rows := checkTables(b, s, written, changes, mirror)
	b.Logf("change log latency p50 %.0f ms, p99 %.0f ms; %.1f s from the load's start to the mirror's last commit: "+
		"%d change-log commits (%d snapshots) and %d mirror commits (%d snapshots) by w1; the mirror holds %d rows (%d polls)",
		quantile(logLat, 0.5), quantile(logLat, 0.99), to.Sub(from).Seconds(), commits[0], snapshots[0], commits[1],
		snapshots[1], rows, len(at))
}

// checkTables checks that the change log holds every written record once and that the
// mirror holds a row per live key; it returns the mirror's row count.
func checkTables(b *testing.B, s *harness.Stack, written harness.Written, changes, mirror *iceberg.ChangeTable) int64 {
	b.Helper()
	ctx := context.Background()
	landed, _, err := harness.IcebergLanded(ctx, changes)
	if err != nil {
		b.Fatal(err)
	}
	if rep := harness.Compare(written, landed); !rep.OK() {
		b.Fatalf("change log: %s", rep)
	}
	live, lastSeq, err := s.LiveKeys(ctx)
	if err != nil {
		b.Fatal(err)
	}
	rows, ok, err := harness.MirrorRows(ctx, mirror, lastSeq)
	if err != nil || !ok || rows != int64(len(live)) {
		b.Fatalf("mirror: %d rows (complete %v, error %v), want the %d live keys", rows, ok, err, len(live))
	}
	return rows
}

// visible is, per written record, the time from its createdAt to the first poll (at[i],
// held[i]: per shard, the last sequence number a table holds) that holds it.
func visible(written harness.Written, at []time.Time, held []map[string]string) []time.Duration {
	var lat []time.Duration
	for shard, recs := range written.Shards {
		i := 0 // the polls are in time order, and what a table holds only grows
		for _, r := range recs {
			for i < len(at) && iceberg.Later(r.SequenceNumber, held[i][shard]) {
				i++
			}
			if i == len(at) {
				break // not held by the last poll: not visible (counted out)
			}
			lat = append(lat, at[i].Sub(r.CreatedAt))
		}
	}
	return lat
}

// commitsBy counts the catalog commits (distinct commit ids) and the snapshots of t that
// writer made between from and to.
func commitsBy(ctx context.Context, t *iceberg.ChangeTable, writer string, from, to time.Time) (commits, snapshots int, err error) {
	tbl, err := t.Refresh(ctx)
	if err != nil || tbl == nil {
		return 0, 0, err
	}
	ids := map[string]bool{}
	for _, sn := range tbl.Metadata().Snapshots() {
		at := time.UnixMilli(sn.TimestampMs)
		if sn.Summary != nil && sn.Summary.Properties[iceberg.WriterKey] == writer && !at.Before(from) && !at.After(to) {
			ids[sn.Summary.Properties[iceberg.CommitIDKey]] = true
			snapshots++
		}
	}
	return len(ids), snapshots, nil
}
