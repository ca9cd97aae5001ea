package iceberg

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/catalog"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
)

// TestMirrorRounds: inserts, updates, a delete, a TTL expiry, a key changed twice in a
// round, a static column, a static-only write and a partition delete, committed round by
// round; after each, the mirror read by iceberg-go's scan and by DuckDB (data files less the
// positions of their delete files) is the table's current state.
func TestMirrorRounds(t *testing.T) {
	l := newLake(t)
	w := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: &recordtest.FakeKeyspaces{}, shard: "shard-1", writer: "w1"}
	rounds := []struct {
		changes []change
		want    string
	}{
		{[]change{{i: 1, text: "a", static: "s1"}, {i: 2, text: "b", static: "s2"}, {i: 3, text: "c", static: "s3"}},
			"1 a s1|2 b s2|3 c s3"},
		// An update, a delete, an insert.
		{[]change{{i: 1, text: "a2", static: "s1"}, {i: 2}, {i: 4, text: "d", static: "s4"}},
			"1 a2 s1|3 c s3|4 d s4"},
		// A key changed twice (the last counts), inserted then deleted, deleted then inserted;
		// a TTL expiry.
		{[]change{{i: 1, text: "x", static: "s1"}, {i: 1, text: "y", static: "s1b"}, {i: 5, text: "e", static: "s5"}, {i: 5},
			{i: 2, text: "b2", static: "s2"}, {i: 3, ttl: true}, {i: 2}, {i: 2, text: "b3", static: "s2"}},
			"1 y s1b|2 b3 s2|4 d s4"},
		// A write of the static column only makes no row (the rows keep theirs).
		{[]change{{i: 4, static: "s4b", staticOnly: true}}, "1 y s1b|2 b3 s2|4 d s4"},
		// Deleting what is not there, and re-inserting the same image.
		{[]change{{i: 9}, {i: 4, text: "d", static: "s4"}}, "1 y s1b|2 b3 s2|4 d s4"},
	}
	for n, r := range rounds {
		res := w.commit(r.changes...)
		if len(res.Committed) != 1 {
			t.Fatalf("round %d: %+v", n, res)
		}
		if got := strings.Join(mirrorRows(t, w.mt), "|"); got != r.want {
			t.Fatalf("round %d: iceberg-go reads %s, want %s", n, got, r.want)
		}
		if got := strings.Join(duckRows(t, l, w.mt), "|"); got != r.want {
			t.Fatalf("round %d: DuckDB reads %s, want %s", n, got, r.want)
		}
	}
	sc := w.mt.Table().Schema()
	if len(sc.IdentifierFieldIDs) != 2 {
		t.Errorf("identifier fields %v, want id and ck", sc.IdentifierFieldIDs)
	}
	for _, name := range []string{"id", "ck"} {
		if f, ok := sc.FindFieldByName(name); !ok || !f.Required {
			t.Errorf("key column %s: %+v", name, f)
		}
	}
	if got := w.mt.Table().Properties()["write.delete.mode"]; got != "merge-on-read" {
		t.Errorf("write.delete.mode %q", got)
	}
}

// TestMirrorSchemaAndConflicts: a column added to the table is added to the mirror (null in
// the rows written before); a writer whose Prev is stale is refused (the chain check), and
// writers of two shards committing at once through two catalog clients both land.
func TestMirrorSchemaAndConflicts(t *testing.T) {
	l := newLake(t)
	ks := &recordtest.FakeKeyspaces{}
	a := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: ks, shard: "shard-a", writer: "w1"}
	a.commit(change{i: 1, text: "a", static: "s"})
	ks.AddColumn("c_extra", "text")
	a.commit(change{i: 2, text: "b", static: "s"})
	if got, want := strings.Join(mirrorRows(t, a.mt), "|"), "1 a s (null)|2 b s (null)"; got != want {
		t.Fatalf("after the new column: %s, want %s", got, want)
	}

	// A stale writer of shard-a (it believes the table holds less) is refused.
	stale := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: ks, shard: "shard-a", writer: "w2", seq: 1,
		prev: recordtest.Seq(1)}
	if res := stale.commit(change{i: 2}); len(res.Committed) != 0 || res.Refused["shard-a"] != recordtest.Seq(2) {
		t.Fatalf("stale commit: %+v", res)
	}
	// Two writers (two catalog clients) of other shards at once: both land.
	b := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: ks, shard: "shard-b", writer: "w3", seq: 100}
	c := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: ks, shard: "shard-c", writer: "w4", seq: 200}
	rb, lb := b.rows(change{i: 3, text: "c", static: "s"}, change{i: 1})
	rc, lc := c.rows(change{i: 4, text: "d", static: "s"})
	done := make(chan CommitResult, 2)
	go func() {
		r, _ := b.mt.Commit(t.Context(), "w3", []ShardCommit{{ShardID: "shard-b", Last: lb, Rows: rb}})
		done <- r
	}()
	go func() {
		r, _ := c.mt.Commit(t.Context(), "w4", []ShardCommit{{ShardID: "shard-c", Last: lc, Rows: rc}})
		done <- r
	}()
	for range 2 {
		if r := <-done; len(r.Committed) != 1 {
			t.Fatalf("concurrent commit: %+v", r)
		}
	}
	if got, want := strings.Join(mirrorRows(t, a.mt), "|"), "2 b s (null)|3 c s (null)|4 d s (null)"; got != want {
		t.Fatalf("after the concurrent commits: %s, want %s", got, want)
	}
	held, err := a.mt.Committed(t.Context())
	if err != nil || held["shard-a"] != recordtest.Seq(2) || held["shard-b"] != lb || held["shard-c"] != lc {
		t.Fatalf("committed %v, %v", held, err)
	}
}

// TestMirrorKey: the mirror's identifier fields are the table's whole primary key. A schema
// version derived from the records alone (GetTable failing) whose first record is a write of
// the static column only (no clustering key) cannot create the mirror; once GetTable answers,
// the mirror is created keyed by (id, ck). A derived version that lacks the clustering column
// then writes into it like any other. A mirror keyed by the partition key alone (as a
// derived version made it before this check) is refused, naming both keys.
func TestMirrorKey(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	failing := &recordtest.FakeKeyspaces{}
	failing.Fail(errors.New("ThrottlingException"))
	w := &mirrorWriter{t: t, mt: newMirror(t, l.open(t)), ks: failing, shard: "shard-1", writer: "w1"}

	var mc MirrorChanges
	mc.Add(mirrorEvent(t, "shard-1", 1, change{i: 1, static: "s", staticOnly: true}))
	b, err := encode.NewBuilder(encode.Options{Format: encode.FormatIceberg, KeepEvents: true,
		Schemas: encode.NewSchemas(encode.KeyspacesSource{API: failing}, false, nil),
		Parquet: encode.ParquetOptions{Prepare: w.mt.Prepare}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := mc.Rows(ctx, b); !errors.Is(err, ErrMirrorKeyUnknown) || !errors.Is(err, encode.ErrUnavailable) {
		t.Fatalf("a derived schema created the mirror: %v", err)
	}
	if tbl, err := w.mt.Refresh(ctx); tbl != nil || err != nil {
		t.Fatalf("the mirror exists: %v", err)
	}

	w.ks, w.seq = &recordtest.FakeKeyspaces{}, 1
	if res := w.commit(change{i: 1, text: "a", static: "s"}, change{i: 2, text: "b", static: "s"}); len(res.Committed) != 1 {
		t.Fatalf("first round: %+v", res)
	}
	if got := identifierNames(w.mt.Table().Schema()); strings.Join(got, ",") != "id,ck" {
		t.Fatalf("identifier fields %v, want id, ck", got)
	}
	w.ks = failing
	if res := w.commit(change{i: 1, static: "s2", staticOnly: true}, change{i: 1, text: "a2", static: "s2"}); len(res.Committed) != 1 {
		t.Fatalf("derived round: %+v", res)
	}
	if got, want := strings.Join(mirrorRows(t, w.mt), "|"), "1 a2 s2|2 b s"; got != want {
		t.Fatalf("after the derived round: %s, want %s", got, want)
	}

	// A mirror keyed by the partition key alone.
	cat := l.open(t)
	ev := mirrorEvent(t, "shard-1", 1, change{i: 1, static: "s", staticOnly: true})
	a, err := encode.NewSchemas(nil, false, nil).For(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := encode.NewParquetSchemaWith(a, encode.ParquetOptions{TimestampMicros: true})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := MirrorSchema(ps)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cat.CreateTable(cat.withAWS(ctx), catalog.ToIdentifier("ks", "partial"), sc, catalog.WithProperties(mirrorTableProperties)); err != nil {
		t.Fatal(err)
	}
	partial, err := NewMirrorTable(cat, ChangeTableConfig{Namespace: "ks", Table: "partial"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = partial.Prepare(ctx, schemaOf(t, mirrorEvent(t, "shard-1", 2, change{i: 1, text: "a", static: "s"})))
	if err == nil || !strings.Contains(err.Error(), "its identifier fields are (id) but the table's primary key is (id, ck)") {
		t.Fatalf("a mirror keyed by part of the key: %v", err)
	}
}
