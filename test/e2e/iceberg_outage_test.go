package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// TestIcebergCatalogOutage: the SQL catalog refuses every commit for a while (the test holds
// an exclusive transaction on its SQLite file, longer than the workers' busy timeout) while
// two workers have files to commit; the commits fail, are retried, and land once the catalog
// is back. The change log then holds every change once and the snapshots each shard's last
// sequence number, and the mirror each live key's last image. After the outage both workers'
// pending commits race, so conflicts are retried too (counted, not required: they depend on
// timing).
func TestIcebergCatalogOutage(t *testing.T) {
	s := startStack(t, "-shards", "2", "-records", "800", "-rate", "800", "-throttle-rate", "0.2", "-seed", "21")
	catalogFile := filepath.Join(t.TempDir(), "catalog.db")
	env := append(s.IcebergEnv(catalogFile), "CDC_FLUSH_RECORDS=200")
	w1, _ := startWorker(t, s, "w1", env...)
	w2, _ := startWorker(t, s, "w2", env...)
	ctx := context.Background()
	table := openChangeLog(t, s, catalogFile)
	waitGenerated(t, s, 2*time.Minute)
	poll(t, "a first commit", 2*time.Minute, func() (bool, error) {
		return committedBy(ctx, table, "w1") || committedBy(ctx, table, "w2"), nil
	})

	release, err := harness.LockCatalog(ctx, catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	generate(t, s, emulator.GeneratorConfig{Rate: 800, Records: 1200, Seed: 22, Partitions: 64})
	poll(t, "a commit failed against the locked catalog", 3*time.Minute, func() (bool, error) {
		return outageFailures(w1.Log()+w2.Log()) > 0, nil
	})
	if err := release(); err != nil {
		t.Fatal(err)
	}
	waitGenerated(t, s, 2*time.Minute)

	w := waitChangeLog(t, s, table)
	checkSnapshots(t, table, w)
	mirror, closeMirror, err := s.OpenMirror(ctx, catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	defer closeMirror()
	waitBothTables(t, s, table, mirror)
	checkMirror(t, s, table, mirror)
	logs := w1.Log() + w2.Log()
	t.Logf("failed commit attempts: %d against the locked catalog, %d conflicts", outageFailures(logs),
		strings.Count(logs, `"conflict":true`))
}

// outageFailures counts the log lines of catalog writes that failed against the locked
// catalog: commit attempts that failed other than by a conflict, and SQLite's busy errors.
func outageFailures(logs string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		commit := strings.Contains(l, `"msg":"iceberg commit failed; retrying"`) && strings.Contains(l, `"conflict":false`)
		// A schema version prepared during the outage (a GetTable fallback) fails at its
		// schema commit instead, and the shard restarts from its checkpoint.
		if commit || strings.Contains(l, "SQLITE_BUSY") {
			n++
		}
	}
	return n
}
