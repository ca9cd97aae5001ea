package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// TestIcebergChangeLog: format iceberg with the SQL catalog (one SQLite file the workers
// share) over versitygw. Two workers read four shards (splits, 20 % of the Streams calls
// throttled); one is killed with SIGKILL after it committed, and a third starts. The change
// log table must hold every change the emulator wrote exactly once — read with iceberg-go's
// scan, and with DuckDB from the data files the snapshot lists — and the snapshots must
// record, per shard, its last sequence number.
//
// The load comes in three runs of the generator so that no step depends on timing: the
// second starts once w1 holds open shards (so w1 has records to commit whatever the
// machine's speed), the third after w1 is killed (so w3 takes over shards with records
// after w1's last commit and, maybe, after its lease checkpoint).
func TestIcebergChangeLog(t *testing.T) {
	s := startStack(t, "-shards", "4", "-records", "1500", "-rate", "800", "-split-after", "1000",
		"-throttle-rate", "0.2", "-seed", "13")
	catalogFile := filepath.Join(t.TempDir(), "catalog.db")
	env := append(s.IcebergEnv(catalogFile), "CDC_FLUSH_RECORDS=400")
	w1, _ := startWorker(t, s, "w1", env...)
	w2, _ := startWorker(t, s, "w2", env...)
	ctx := context.Background()
	table := openChangeLog(t, s, catalogFile)
	waitGenerated(t, s, 2*time.Minute)

	poll(t, "w1 holds open shards", 2*time.Minute, func() (bool, error) {
		return holdsOpenShards(ctx, s, "w1")
	})
	generate(t, s, emulator.GeneratorConfig{Rate: 800, Records: 1500, SplitAfter: 1000, Seed: 14, Partitions: 64})
	poll(t, "w1 committed", 2*time.Minute, func() (bool, error) {
		return committedBy(ctx, table, "w1"), nil
	})
	w1.Kill9()
	w3, _ := startWorker(t, s, "w3", env...)
	waitGenerated(t, s, 2*time.Minute)
	generate(t, s, emulator.GeneratorConfig{Rate: 800, Records: 1000, Seed: 15, Partitions: 64})
	waitGenerated(t, s, 2*time.Minute)

	w := waitChangeLog(t, s, table)
	writers := checkSnapshots(t, table, w)
	checkDataFiles(t, s, table, w.Total)
	// The metric, in the log of each live worker that committed (a worker may get no shard
	// with records after the kill, and then commits nothing).
	for _, p := range []*harness.Process{w2, w3} {
		if writers[p.Name] == 0 {
			continue
		}
		if err := harness.Poll(ctx, 10*time.Second, 200*time.Millisecond, func() (bool, error) {
			return strings.Contains(p.Log(), `"IcebergCommits"`), nil
		}); err != nil {
			t.Errorf("%s committed %d snapshots but its EMF metrics lack IcebergCommits", p.Name, writers[p.Name])
		}
	}
}

// waitChangeLog waits until the change log holds every record the emulator wrote, exactly
// once (iceberg-go's scan), and returns what the emulator wrote.
func waitChangeLog(t *testing.T, s *harness.Stack, table *iceberg.ChangeTable) harness.Written {
	t.Helper()
	ctx := context.Background()
	var r harness.Report
	var w harness.Written
	if err := harness.Poll(ctx, 3*time.Minute, time.Second, func() (bool, error) {
		var err error
		if w, err = s.Written(ctx); err != nil {
			return false, err
		}
		landed, _, err := harness.IcebergLanded(ctx, table)
		if err != nil {
			return false, err
		}
		r = harness.Compare(w, landed)
		return r.Landed >= r.Written && len(r.Missing) == 0, nil
	}); err != nil || !r.OK() {
		t.Fatalf("change log: %v; %s", err, r)
	}
	t.Logf("change log: %s", r)
	return w
}

// holdsOpenShards says whether worker owns a lease of a shard that has not ended.
func holdsOpenShards(ctx context.Context, s *harness.Stack, worker string) (bool, error) {
	leases, err := s.Leases().List(ctx)
	if err != nil {
		return false, err
	}
	for _, l := range leases {
		if l.Owner == worker && !l.Finished() {
			return true, nil
		}
	}
	return false, nil
}

// generate starts another run of the emulator's generator on the stack's stream.
func generate(t *testing.T, s *harness.Stack, cfg emulator.GeneratorConfig) {
	t.Helper()
	if err := s.Admin(context.Background(), http.MethodPost, "/_admin/generator/start", cfg, nil); err != nil {
		t.Fatal(err)
	}
}

func openChangeLog(t *testing.T, s *harness.Stack, catalogFile string) *iceberg.ChangeTable {
	t.Helper()
	table, closeLog, err := s.OpenChangeLog(context.Background(), catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeLog)
	return table
}

// committedBy says whether a snapshot of the table was committed by worker.
func committedBy(ctx context.Context, table *iceberg.ChangeTable, worker string) bool {
	tbl, err := table.Refresh(ctx)
	if err != nil || tbl == nil {
		return false
	}
	for _, s := range tbl.Metadata().Snapshots() {
		if s.Summary != nil && s.Summary.Properties[iceberg.WriterKey] == worker {
			return true
		}
	}
	return false
}

// checkSnapshots: the snapshots say each shard is committed up to its last record. It
// returns the number of snapshots each worker committed.
func checkSnapshots(t *testing.T, table *iceberg.ChangeTable, w harness.Written) map[string]int {
	t.Helper()
	committed, err := table.Committed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for shard, recs := range w.Shards {
		if last := recs[len(recs)-1].SequenceNumber; committed[shard] != last {
			t.Errorf("shard %s: the snapshots say %q, its last record is %s", shard, committed[shard], last)
		}
	}
	writers := map[string]int{}
	for _, s := range table.Table().Metadata().Snapshots() {
		writers[s.Summary.Properties[iceberg.WriterKey]]++
	}
	t.Logf("snapshots by writer: %v", writers)
	return writers
}

// checkDataFiles reads the data files the current snapshot lists with DuckDB, straight from
// versitygw's folder: every change once, and each file's records in sequence order.
func checkDataFiles(t *testing.T, s *harness.Stack, table *iceberg.ChangeTable, want int) {
	t.Helper()
	paths, err := table.DataFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var local []string
	for _, p := range paths {
		bucket, key, err := iceberg.SplitS3(p)
		if err != nil {
			t.Fatal(err)
		}
		local = append(local, "'"+filepath.Join(s.Dir, "s3", bucket, key)+"'")
	}
	list := "[" + strings.Join(local, ",") + "]"
	rows := devservers.DuckDB(t, `SELECT count(*) AS n, count(DISTINCT shard_id || '/' || sequence_number) AS d FROM read_parquet(`+list+`)`)
	if fmt.Sprint(rows[0]["n"]) != strconv.Itoa(want) || fmt.Sprint(rows[0]["d"]) != strconv.Itoa(want) {
		t.Fatalf("DuckDB over %d data files: %v rows, want %d distinct", len(paths), rows[0], want)
	}
	seqs := devservers.DuckDB(t, `SELECT filename AS f, sequence_number AS s FROM read_parquet(`+list+`, filename = true, file_row_number = true) ORDER BY filename, file_row_number`)
	last := map[string]string{}
	for _, r := range seqs {
		f, seq := fmt.Sprint(r["f"]), fmt.Sprint(r["s"])
		if prev, ok := last[f]; ok && streams.CompareSequenceNumbers(prev, seq) >= 0 {
			t.Fatalf("%s: %s after %s", f, seq, prev)
		}
		last[f] = seq
	}
	t.Logf("DuckDB: %d changes in %d data files", want, len(paths))
}
