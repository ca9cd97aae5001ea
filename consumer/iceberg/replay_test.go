package iceberg

import (
	"context"
	"strings"
	"testing"

	"github.com/apache/iceberg-go/table"
)

// TestTableThatLetsIcebergGoReplayIsRefused: a table whose commit.retry.num-retries lets
// iceberg-go replay a commit on its own (past the shards' Prev check) is refused at its next
// load, naming the property; 0 is accepted.
func TestTableThatLetsIcebergGoReplayIsRefused(t *testing.T) {
	l := newLake(t)
	ctx := context.Background()
	ct := ensure(t, l.open(t), events(t, "shard-a", 1, 2, day1))
	set := func(v string) {
		t.Helper()
		txn := ct.Table().NewTransaction()
		if err := txn.SetProperties(map[string]string{table.CommitNumRetriesKey: v}); err != nil {
			t.Fatal(err)
		}
		if _, err := txn.Commit(ct.cat.withAWS(ctx)); err != nil {
			t.Fatal(err)
		}
	}
	set("0")
	if _, err := ct.Refresh(ctx); err != nil {
		t.Fatalf("with %s=0: %v", table.CommitNumRetriesKey, err)
	}
	set("4")
	_, err := ct.Refresh(ctx)
	if err == nil || !strings.Contains(err.Error(), "commit.retry.num-retries=4") {
		t.Fatalf("with %s=4: %v", table.CommitNumRetriesKey, err)
	}
}
