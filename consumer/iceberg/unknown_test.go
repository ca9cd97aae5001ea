package iceberg

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"
)

// lossyCatalog applies commits but, for the next lose of them, answers with an error, as a
// timeout after the catalog accepted the commit would.
type lossyCatalog struct {
	catalog.Catalog
	mu   sync.Mutex
	lose int
}

func (c *lossyCatalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	meta, loc, err := c.Catalog.CommitTable(ctx, ident, reqs, updates)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && c.lose > 0 {
		c.lose--
		return nil, "", errors.New("read tcp: i/o timeout (the commit may have happened)")
	}
	return meta, loc, err
}

// LoadTable gives the tables this catalog as their committer.
func (c *lossyCatalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	tbl, err := c.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return table.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), tbl.FS, c), nil
}

// TestCommitWhoseAnswerIsLost: a commit the catalog applied but whose answer was lost is
// found in the table by its id and not made again (twice: each of two commits loses its answer).
func TestCommitWhoseAnswerIsLost(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	a1 := events(t, "shard-a", 1, 2, day1)
	ensure(t, l.open(t), a1) // creates the table
	cat := l.open(t)
	lossy := &lossyCatalog{Catalog: cat.Catalog, lose: 2}
	ct := ensure(t, &Catalog{Catalog: lossy, cfg: cat.cfg}, a1)
	res, err := ct.Commit(ctx, "w1", []ShardCommit{{ShardID: "shard-a", Last: a1[1].SequenceNumber,
		Files: []DataFile{l.writeFile(t, ct, a1)}}})
	if err != nil || !slices.Equal(res.Committed, []string{"shard-a"}) || res.Errors != 1 {
		t.Fatalf("commit: %+v, %v", res, err)
	}
	a2 := events(t, "shard-a", 3, 4, day1)
	res, err = ct.Commit(ctx, "w1", []ShardCommit{{ShardID: "shard-a", Prev: a1[1].SequenceNumber, Last: a2[1].SequenceNumber,
		Files: []DataFile{l.writeFile(t, ct, a2)}}})
	if err != nil || !slices.Equal(res.Committed, []string{"shard-a"}) || res.Errors != 1 {
		t.Fatalf("second commit: %+v, %v", res, err)
	}
	rows, files := scanned(t, ct)
	if !slices.Equal(sorted(rows["shard-a"]), append(seqs(a1), seqs(a2)...)) || len(files) != 2 {
		t.Fatalf("scan: %v in %v", rows, files)
	}
	if n := len(ct.Table().Metadata().Snapshots()); n != 2 {
		t.Fatalf("%d snapshots, want 2", n)
	}
}
