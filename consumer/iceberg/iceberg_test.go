package iceberg

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	ice "github.com/apache/iceberg-go"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
)

// TestChangeLog: against versitygw and a SQLite catalog, the change log is created (namespace,
// day partitions of created_at, the Parquet format's columns), two shards' files are appended
// in one commit whose summary records each shard's last sequence number, and the table read
// back — by iceberg-go's scan and by DuckDB on the data files — holds every record once.
func TestChangeLog(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	cat := l.open(t)
	a1, b1 := events(t, "shard-a", 1, 3, day1), events(t, "shard-b", 11, 12, day1.Add(2*time.Hour))
	ct := ensure(t, cat, a1)

	tbl := ct.Table()
	if got := strings.Join(tbl.Identifier(), "."); got != "ks.all_types_changes" {
		t.Fatalf("table %s", got)
	}
	spec := tbl.Spec()
	created, _ := tbl.Schema().FindFieldByName("created_at")
	if spec.NumFields() != 1 || spec.Field(0).Name != PartitionField || spec.Field(0).SourceID() != created.ID ||
		spec.Field(0).Transform.String() != "day" || created.Type.String() != "timestamptz" {
		t.Fatalf("partition spec %s over %s", spec, created)
	}
	for _, col := range []string{"keyspace", "table", "shard_id", "sequence_number", "origin", "op", "keys.id",
		"new_image.c_udt.tags.element", "old_image.c_map_int.value.element"} {
		if _, ok := tbl.Schema().FindFieldByName(col); !ok {
			t.Errorf("schema lacks %s", col)
		}
	}
	if got, _ := ct.Committed(ctx); len(got) != 0 {
		t.Fatalf("new table: committed %v", got)
	}

	res, err := ct.Commit(ctx, "w1", []ShardCommit{
		{ShardID: "shard-a", Last: a1[2].SequenceNumber, Files: []DataFile{l.writeFile(t, ct, a1)}},
		{ShardID: "shard-b", Last: b1[1].SequenceNumber, Files: []DataFile{l.writeFile(t, ct, b1)}},
	})
	if err != nil || len(res.Committed) != 2 || res.Refused != nil {
		t.Fatalf("commit: %+v, %v", res, err)
	}
	s := ct.Table().CurrentSnapshot()
	if s.SnapshotID != res.SnapshotID || s.Summary.Properties[WriterKey] != "w1" ||
		s.Summary.Properties[ShardKeyPrefix+"shard-a"] != a1[2].SequenceNumber {
		t.Fatalf("snapshot %d summary %v", s.SnapshotID, s.Summary)
	}
	// A second file of shard-a, on the next day: its partition is that day's.
	a2 := events(t, "shard-a", 4, 5, day1.Add(2*time.Hour))
	if res, err := ct.Commit(ctx, "w1", []ShardCommit{{ShardID: "shard-a", Prev: a1[2].SequenceNumber, Last: a2[1].SequenceNumber,
		Files: []DataFile{l.writeFile(t, ct, a2)}}}); err != nil || len(res.Committed) != 1 {
		t.Fatalf("second commit: %+v, %v", res, err)
	}

	// Another process reads what is committed from the snapshots.
	other := ensure(t, l.open(t), a1)
	got, err := other.Committed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"shard-a": a2[1].SequenceNumber, "shard-b": b1[1].SequenceNumber}; !equalMaps(got, want) {
		t.Fatalf("committed %v, want %v", got, want)
	}

	rows, files := scanned(t, other)
	if want := append(seqs(a1), seqs(a2)...); !slices.Equal(sorted(rows["shard-a"]), want) || !slices.Equal(rows["shard-b"], seqs(b1)) {
		t.Fatalf("scan: %v", rows)
	}
	checkFiles(t, l, other, files)
}

// checkFiles reads the data files the scan planned with DuckDB (not through Iceberg's
// metadata): the same rows, each file within the day of its partition, and each column
// with the table's field id.
func checkFiles(t *testing.T, l *lake, ct *ChangeTable, files []string) {
	t.Helper()
	if len(files) != 3 {
		t.Fatalf("%d data files: %v", len(files), files)
	}
	var local []string
	for _, f := range files {
		local = append(local, "'"+l.local(t, f)+"'")
	}
	list := "[" + strings.Join(local, ",") + "]"
	rows := devservers.DuckDB(t, `SELECT shard_id, count(*) AS n, count(DISTINCT sequence_number) AS d,
		count(DISTINCT CAST(created_at AS DATE)) AS days, min(filename) AS f, max(filename) AS g
		FROM read_parquet(`+list+`, filename = true) GROUP BY shard_id, filename ORDER BY shard_id, f`)
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%v:%v/%v/%v", r["shard_id"], r["n"], r["d"], r["days"]))
		day := strings.Split(strings.Split(fmt.Sprint(r["f"]), PartitionField+"=")[1], "/")[0]
		at := devservers.DuckDB(t, `SELECT DISTINCT CAST(created_at AT TIME ZONE 'UTC' AS DATE)::VARCHAR AS d FROM read_parquet('`+fmt.Sprint(r["f"])+`')`)
		if len(at) != 1 || at[0]["d"] != day {
			t.Errorf("%v: partition %s, rows of %v", r["f"], day, at)
		}
	}
	if want := "shard-a:3/3/1 shard-a:2/2/1 shard-b:2/2/1"; strings.Join(got, " ") != want {
		t.Errorf("DuckDB: %s, want %s", strings.Join(got, " "), want)
	}
	ids := devservers.DuckDB(t, `SELECT name, field_id FROM parquet_schema(`+local[0]+`) WHERE field_id IS NOT NULL`)
	byName, _ := ice.IndexByName(ct.Table().Schema())
	names := map[int]bool{}
	for _, r := range ids {
		n, err := strconv.Atoi(fmt.Sprint(r["field_id"]))
		if err != nil {
			t.Fatalf("field_id %v: %v", r["field_id"], err)
		}
		names[n] = true
		if f, ok := ct.Table().Schema().FindFieldByID(n); !ok || f.Name != r["name"] {
			t.Errorf("file column %v has field id %d, the table's %v", r["name"], n, f)
		}
	}
	if len(names) != len(byName) {
		t.Errorf("%d field ids in the file, %d fields in the table", len(names), len(byName))
	}
}

// TestCommitRefusesAStaleWriter: a writer whose Prev is not what the table holds for a
// shard (another writer committed it since) stores nothing of that shard; the other shards
// of its commit are stored.
func TestCommitRefusesAStaleWriter(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	a1 := events(t, "shard-a", 1, 2, day1)
	newOwner, zombie := ensure(t, l.open(t), a1), ensure(t, l.open(t), a1)
	if _, err := newOwner.Commit(ctx, "w2", []ShardCommit{{ShardID: "shard-a", Last: a1[1].SequenceNumber,
		Files: []DataFile{l.writeFile(t, newOwner, a1)}}}); err != nil {
		t.Fatal(err)
	}
	b1 := events(t, "shard-b", 5, 6, day1)
	res, err := zombie.Commit(ctx, "w1", []ShardCommit{
		{ShardID: "shard-a", Last: a1[1].SequenceNumber, Files: []DataFile{l.writeFile(t, zombie, a1)}},
		{ShardID: "shard-b", Last: b1[1].SequenceNumber, Files: []DataFile{l.writeFile(t, zombie, b1)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Committed, []string{"shard-b"}) || res.Refused["shard-a"] != a1[1].SequenceNumber || res.Conflicts != 1 {
		t.Fatalf("zombie's commit: %+v", res)
	}
	rows, _ := scanned(t, newOwner)
	if !slices.Equal(rows["shard-a"], seqs(a1)) || !slices.Equal(rows["shard-b"], seqs(b1)) {
		t.Fatalf("scan: %v", rows)
	}
	// Nothing to commit at all: no snapshot.
	before := zombie.Table().CurrentSnapshot().SnapshotID
	res, err = zombie.Commit(ctx, "w1", []ShardCommit{{ShardID: "shard-a", Prev: "", Last: recordtest.Seq(9),
		Files: []DataFile{l.writeFile(t, zombie, events(t, "shard-a", 9, 9, day1))}}})
	if err != nil || res.SnapshotID != 0 || len(res.Committed) != 0 || zombie.Table().CurrentSnapshot().SnapshotID != before {
		t.Fatalf("refused commit: %+v, %v", res, err)
	}
}

// TestConcurrentCommits: writers commit their own shards at the same time through their own
// catalog clients; the conflicts are retried and every commit lands once.
func TestConcurrentCommits(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	const writers, rounds = 3, 4
	tables := make([]*ChangeTable, writers)
	for w := range tables {
		tables[w] = ensure(t, l.open(t), events(t, "s", 1, 1, day1))
	}
	files := make([][]DataFile, writers)
	for w := range tables {
		for r := range rounds {
			files[w] = append(files[w], l.writeFile(t, tables[w], events(t, fmt.Sprintf("shard-%d", w), r*10+1, r*10+2, day1)))
		}
	}
	conflicts := make(chan int, writers*rounds)
	errs := make(chan error, writers)
	for w := range tables {
		go func() {
			prev := ""
			for r := range rounds {
				last := recordtest.Seq(r*10 + 2)
				res, err := tables[w].Commit(ctx, fmt.Sprint("w", w), []ShardCommit{{ShardID: fmt.Sprintf("shard-%d", w),
					Prev: prev, Last: last, Files: files[w][r : r+1]}})
				if err == nil && len(res.Committed) != 1 {
					err = fmt.Errorf("writer %d round %d: %+v", w, r, res)
				}
				if err != nil {
					errs <- err
					return
				}
				conflicts <- res.Conflicts
				prev = last
			}
			errs <- nil
		}()
	}
	for range tables {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(conflicts)
	total := 0
	for c := range conflicts {
		total += c
	}
	rows, _ := scanned(t, tables[0])
	for w := range tables {
		var want []string
		for r := range rounds {
			want = append(want, recordtest.Seq(r*10+1), recordtest.Seq(r*10+2))
		}
		if got := sorted(rows[fmt.Sprintf("shard-%d", w)]); !slices.Equal(got, want) {
			t.Errorf("shard-%d: %v", w, got)
		}
	}
	got, _ := tables[1].Committed(ctx)
	if len(got) != writers {
		t.Errorf("committed %v", got)
	}
	t.Logf("%d commits, %d conflicts retried", writers*rounds, total)
	if total == 0 {
		t.Log("no conflict this time (the writers did not overlap)")
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
