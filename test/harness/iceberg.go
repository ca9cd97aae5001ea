package harness

import (
	"context"
	"database/sql"
	"errors"
	"strconv"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/uptrace/bun/driver/sqliteshim"
)

// IcebergEnv is the workers' setting of format iceberg over the stack's bucket, with the SQL
// catalog in catalogFile (a SQLite file the workers share).
func (s *Stack) IcebergEnv(catalogFile string) []string {
	return []string{"CDC_FORMAT=iceberg", "CDC_ICEBERG_CATALOG=sql", "CDC_ICEBERG_CATALOG_URI=" + catalogFile,
		"CDC_ICEBERG_WAREHOUSE=s3://" + s.Bucket + "/warehouse"}
}

// OpenChangeLog opens the change log the workers of IcebergEnv(catalogFile) write; closeFn
// releases the catalog.
func (s *Stack) OpenChangeLog(ctx context.Context, catalogFile string) (table *iceberg.ChangeTable, closeFn func(), err error) {
	cat, err := iceberg.OpenCatalog(ctx, iceberg.CatalogConfig{Type: iceberg.CatalogSQL, URI: catalogFile,
		Warehouse: "s3://" + s.Bucket + "/warehouse", AWS: s.S3.AWSConfig(), S3Endpoint: s.S3.Endpoint})
	if err != nil {
		return nil, nil, err
	}
	table, err = iceberg.NewChangeTable(cat, iceberg.ChangeTableConfig{Namespace: "media", Table: "media_content"})
	if err != nil {
		_ = cat.Close()
		return nil, nil, err
	}
	return table, func() { _ = cat.Close() }, nil
}

// IcebergLanded reads the change log with iceberg-go's scan: one Landed per row, each its own
// "object" (a scan does not keep the files' order), and the data files of the snapshot. A
// table not created yet holds nothing.
func IcebergLanded(ctx context.Context, table *iceberg.ChangeTable) ([]Landed, int, error) {
	if tbl, err := table.Refresh(ctx); err != nil || tbl == nil || tbl.CurrentSnapshot() == nil {
		return nil, 0, err
	}
	files, err := table.DataFiles(ctx)
	if err != nil {
		return nil, 0, err
	}
	at, err := table.Scan(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer at.Release()
	rows, err := iceberg.ShardRows(at)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Landed, len(rows))
	for i, r := range rows {
		out[i] = Landed{Key: strconv.Itoa(i), Shard: r[0], Seq: r[1]}
	}
	return out, len(files), nil
}

// LockCatalog makes the SQL catalog in catalogFile unavailable to writers: it holds an
// exclusive transaction on the SQLite file (readers go on, in WAL mode) until release is
// called. A worker's commit then waits for the file's busy timeout and fails, as a commit to
// an unreachable catalog does.
func LockCatalog(ctx context.Context, catalogFile string) (release func() error, err error) {
	// The busy timeout: the workers may be committing right then (the lock waits for them).
	db, err := sql.Open(sqliteshim.ShimName, "file:"+catalogFile+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, err
	}
	conn, err := db.Conn(ctx)
	if err == nil {
		_, err = conn.ExecContext(ctx, "BEGIN EXCLUSIVE")
	}
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return func() error {
		_, err := conn.ExecContext(context.Background(), "ROLLBACK")
		return errors.Join(err, conn.Close(), db.Close())
	}, nil
}
