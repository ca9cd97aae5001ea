package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// TestIcebergMirror: format iceberg keeps the mirror (the default CDC_ICEBERG_TABLES) with the
// real binaries: the emulator (20 % of the Streams calls throttled), dynalite, versitygw and
// the SQL catalog. Two workers; the emulator's generator writes inserts, updates, static-only
// updates, deletes and TTL expiries over few keys, with a split, in two phases the test starts
// through the admin API. Once phase one is in both tables, phase two starts; w1 is killed
// with SIGKILL as soon as it committed a phase-two change to the mirror, and a third worker
// starts. At the end the mirror holds exactly the live keys of the emulator's records (the
// key's last change an insert or update), each row equal, column by column, to the key and
// new image of its last change (as the change log, checked against the emulator elsewhere,
// stores them).
func TestIcebergMirror(t *testing.T) {
	s := startStack(t, "-shards", "2", "-throttle-rate", "0.2", "-seed", "21")
	catalogFile := filepath.Join(t.TempDir(), "catalog.db")
	env := append(s.IcebergEnv(catalogFile), "CDC_FLUSH_RECORDS=200", "CDC_FLUSH_INTERVAL=2s")
	// w1 first, until it holds a shard (the one killed later must have records to commit;
	// the coordinators do not always rebalance two shards within minutes), then w2.
	w1, _ := startWorker(t, s, "w1", env...)
	waitOwners(t, s, "w1")
	startWorker(t, s, "w2", env...)
	ctx := context.Background()
	cat, err := iceberg.OpenCatalog(ctx, iceberg.CatalogConfig{Type: iceberg.CatalogSQL, URI: catalogFile,
		Warehouse: "s3://" + s.Bucket + "/warehouse", AWS: s.S3.AWSConfig(), S3Endpoint: s.S3.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cat.Close() })
	tcfg := iceberg.ChangeTableConfig{Namespace: "media", Table: "media_content"}
	changes, err := iceberg.NewChangeTable(cat, tcfg)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := iceberg.NewMirrorTable(cat, tcfg)
	if err != nil {
		t.Fatal(err)
	}
	arn := streamARN(t, s)
	generate := func(seed uint64) {
		t.Helper()
		cfg := emulator.GeneratorConfig{StreamArn: arn, Rate: 300, Records: 1200, SplitAfter: 700, Seed: seed, Partitions: 12}
		if err := s.Admin(ctx, http.MethodPost, "/_admin/generator/start", cfg, nil); err != nil {
			t.Fatal(err)
		}
	}

	generate(1)
	waitGenerated(t, s, 2*time.Minute)
	waitBothTables(t, s, changes, mirror)
	if mirrorSnapshotsBy(t, mirror, "w1") == 0 {
		t.Fatal("w1 committed nothing to the mirror in phase one")
	}
	checkMirror(t, s, changes, mirror)

	before := mirrorSnapshotsBy(t, mirror, "w1")
	waitOwners(t, s, "w1") // phase two starts once w1 holds an open shard
	generate(2)
	if err := harness.Poll(ctx, 2*time.Minute, 100*time.Millisecond, func() (bool, error) {
		return mirrorSnapshotsBy(t, mirror, "w1") > before, nil
	}); err != nil {
		t.Fatalf("w1 did not commit to the mirror in phase two: %v", err)
	}
	w1.Kill9()
	startWorker(t, s, "w3", env...)
	waitGenerated(t, s, 2*time.Minute)
	waitBothTables(t, s, changes, mirror)
	checkMirror(t, s, changes, mirror)
}

// waitOwners waits until each worker holds the lease of a shard that has not ended.
func waitOwners(t *testing.T, s *harness.Stack, workers ...string) {
	t.Helper()
	var owners map[string]bool
	err := harness.Poll(context.Background(), 2*time.Minute, 100*time.Millisecond, func() (bool, error) {
		leases, err := s.Leases().List(context.Background())
		if err != nil {
			return false, err
		}
		owners = map[string]bool{}
		for _, l := range leases {
			if !l.Finished() {
				owners[l.Owner] = true
			}
		}
		for _, w := range workers {
			if !owners[w] {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("not every worker of %v holds an open shard (owners %v): %v", workers, owners, err)
	}
}

// streamARN is the emulator's stream.
func streamARN(t *testing.T, s *harness.Stack) string {
	t.Helper()
	var page struct {
		Streams []struct {
			StreamArn string `json:"streamArn"`
		} `json:"streams"`
	}
	if err := s.Admin(context.Background(), http.MethodGet, "/_admin/written?limit=1&only=seq", nil, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Streams) != 1 {
		t.Fatalf("%d streams", len(page.Streams))
	}
	return page.Streams[0].StreamArn
}

// waitBothTables waits until the change log's and the mirror's snapshots both say every
// shard is committed up to its last written record.
func waitBothTables(t *testing.T, s *harness.Stack, changes, mirror *iceberg.ChangeTable) {
	t.Helper()
	var lag []string
	err := harness.Poll(context.Background(), 3*time.Minute, 500*time.Millisecond, func() (bool, error) {
		_, lastSeq, err := s.LiveKeys(context.Background())
		if err != nil {
			return false, err
		}
		lag = nil
		for name, table := range map[string]*iceberg.ChangeTable{"changes": changes, "mirror": mirror} {
			held, err := table.Committed(context.Background())
			if err != nil {
				return false, err
			}
			for shard, last := range lastSeq {
				if held[shard] != last {
					lag = append(lag, fmt.Sprintf("%s %s at %q of %s", name, shard, held[shard], last))
				}
			}
		}
		return len(lag) == 0, nil
	})
	if err != nil {
		t.Fatalf("the tables do not hold every record: %v; %s", err, strings.Join(lag, ", "))
	}
}

// mirrorSnapshotsBy counts the mirror's snapshots committed by worker.
func mirrorSnapshotsBy(t *testing.T, mirror *iceberg.ChangeTable, worker string) int {
	t.Helper()
	tbl, err := mirror.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if tbl == nil {
		return 0
	}
	for _, sn := range tbl.Metadata().Snapshots() {
		if sn.Summary != nil && sn.Summary.Properties[iceberg.WriterKey] == worker {
			n++
		}
	}
	return n
}

// checkMirror: the emulator's records say which keys are live and which change of each is
// the last (harness.LiveKeys); the mirror must hold one row per live key, equal to the key and new image of that
// change as the change log holds it.
func checkMirror(t *testing.T, s *harness.Stack, changes, mirror *iceberg.ChangeTable) {
	t.Helper()
	last, _, err := s.LiveKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	mt, err := mirror.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer mt.Release()
	cols := columnNames(mt.Schema())
	got := rowTexts(t, mt, cols, nil)
	ct, err := changes.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer ct.Release()
	wantSeqs := map[string]bool{}
	for _, v := range last {
		wantSeqs[v] = true
	}
	want := rowTexts(t, ct, cols, wantSeqs)
	if len(want) != len(last) {
		t.Fatalf("the change log holds %d of the %d last changes of live keys", len(want), len(last))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("the mirror holds %d rows, want %d (live keys); first difference:\n got %s\nwant %s", len(got), len(want), got[i], want[i])
			}
		}
		t.Fatalf("the mirror holds %d rows, want %d (live keys)", len(got), len(want))
	}
	t.Logf("mirror: %d rows = the live keys", len(got))
}

func columnNames(sc *arrow.Schema) []string {
	out := make([]string, sc.NumFields())
	for i, f := range sc.Fields() {
		out[i] = f.Name
	}
	return out
}

// rowTexts renders rows as "col=value;..." for cols. Without seqs, the rows are the mirror's
// (top-level columns); with seqs, the change log's rows whose shard/sequence number is in
// seqs, each column taken from keys (a key column) or new_image.
func rowTexts(t *testing.T, at arrow.Table, cols []string, seqs map[string]bool) []string {
	t.Helper()
	var out []string
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		get := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		var shard, seq *array.String
		var keys, img *array.Struct
		if seqs != nil {
			shard, seq = get("shard_id").(*array.String), get("sequence_number").(*array.String)
			keys, img = get("keys").(*array.Struct), get("new_image").(*array.Struct)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			if seqs != nil && !seqs[shard.Value(i)+"/"+seq.Value(i)] {
				continue
			}
			var b strings.Builder
			for _, c := range cols {
				var a arrow.Array
				if seqs == nil {
					a = get(c)
				} else if a = structField(keys, c); a == nil {
					a = structField(img, c)
				}
				if a == nil {
					t.Fatalf("no column %s", c)
				}
				fmt.Fprintf(&b, "%s=%s;", c, a.ValueStr(i))
			}
			out = append(out, b.String())
		}
	}
	return out
}

func structField(s *array.Struct, name string) arrow.Array {
	if i, ok := s.DataType().(*arrow.StructType).FieldIdx(name); ok {
		return s.Field(i)
	}
	return nil
}
