package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// TestIcebergMirrorWaitsForTheTableDefinition: the emulator refuses GetTable and GetType (a
// role without cassandra:Select) when the worker starts, so its schema versions come from the
// records alone. The mirror is not created from them (records do not tell the whole primary
// key: a partition delete shows no clustering column), nothing is committed, and the worker
// says why. Once GetTable answers (asked again every encode.SourceRetry), the mirror is
// created with the whole primary key as its identifier fields, and both tables hold every
// record: the mirror exactly the live keys.
func TestIcebergMirrorWaitsForTheTableDefinition(t *testing.T) {
	s := startStack(t, "-shards", "2", "-records", "600", "-rate", "600", "-seed", "23")
	denySchema(t, s, true) // before the worker asks
	catalogFile := filepath.Join(t.TempDir(), "catalog.db")
	w1, _ := startWorker(t, s, "w1", append(s.IcebergEnv(catalogFile), "CDC_FLUSH_RECORDS=200", "CDC_FLUSH_INTERVAL=2s")...)
	ctx := context.Background()
	waitGenerated(t, s, 2*time.Minute)
	poll(t, "the mirror refused for want of the table's key", 2*time.Minute, func() (bool, error) {
		return strings.Contains(w1.Log(), "the table's primary key is unknown"), nil
	})
	if !strings.Contains(w1.Log(), "avro schema fallback") {
		t.Fatal("no schema fallback logged")
	}
	table := openChangeLog(t, s, catalogFile)
	mirror, closeMirror, err := s.OpenMirror(ctx, catalogFile)
	if err != nil {
		t.Fatal(err)
	}
	defer closeMirror()
	if tbl, err := mirror.Refresh(ctx); tbl != nil || err != nil {
		t.Fatalf("the mirror was created from the records alone (%v)", err)
	}
	if held, err := table.Committed(ctx); err != nil || len(held) != 0 {
		t.Fatalf("the change log holds %v (%v) while the mirror waits", held, err)
	}

	denySchema(t, s, false)
	waitChangeLog(t, s, table)
	waitBothTables(t, s, table, mirror)
	checkMirror(t, s, table, mirror)
	var ids []string
	sc := mirror.Table().Schema()
	for _, id := range sc.IdentifierFieldIDs {
		name, _ := sc.FindColumnName(id)
		ids = append(ids, name)
	}
	if got := strings.Join(ids, ","); got != "tenant,content_id,locale,revision" {
		t.Fatalf("the mirror's identifier fields are %s, want the primary key tenant, content_id, locale, revision", got)
	}
}

// denySchema makes the emulator refuse (or answer again) GetTable and GetType.
func denySchema(t *testing.T, s *harness.Stack, deny bool) {
	t.Helper()
	if err := s.Admin(context.Background(), http.MethodPost, "/_admin/faults", emulator.Faults{DenySchema: deny}, nil); err != nil {
		t.Fatal(err)
	}
}
