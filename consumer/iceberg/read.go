package iceberg

import (
	"context"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Scan reads the table's current snapshot with iceberg-go's scan (for tests and tools): the
// rows of every data file it lists. The caller releases the table.
func (t *ChangeTable) Scan(ctx context.Context) (arrow.Table, error) {
	ctx = t.cat.withAWS(ctx)
	tbl, err := t.Refresh(ctx)
	if err != nil {
		return nil, err
	}
	if tbl == nil {
		return nil, fmt.Errorf("iceberg scan: table %s does not exist", strings.Join(t.ident, "."))
	}
	return tbl.Scan().ToArrowTable(ctx)
}

// DataFiles lists the data files of the table's current snapshot (s3:// paths).
func (t *ChangeTable) DataFiles(ctx context.Context) ([]string, error) {
	ctx = t.cat.withAWS(ctx)
	tbl, err := t.Refresh(ctx)
	if err != nil || tbl == nil {
		return nil, err
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(tasks))
	for i, task := range tasks {
		out[i] = task.File.FilePath()
	}
	return out, nil
}

// ShardRows returns the (shard_id, sequence_number) of every row of a scanned table, in the
// table's order.
func ShardRows(at arrow.Table) ([][2]string, error) {
	var out [][2]string
	tr := array.NewTableReader(at, 4096)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		cols := [2]*array.String{}
		for i, name := range []string{"shard_id", "sequence_number"} {
			idx := rec.Schema().FieldIndices(name)
			if len(idx) != 1 {
				return nil, fmt.Errorf("scan without a %s column", name)
			}
			c, ok := rec.Column(idx[0]).(*array.String)
			if !ok {
				return nil, fmt.Errorf("column %s is %s", name, rec.Column(idx[0]).DataType())
			}
			cols[i] = c
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			out = append(out, [2]string{cols[0].Value(i), cols[1].Value(i)})
		}
	}
	return out, tr.Err()
}
