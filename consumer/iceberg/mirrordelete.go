package iceberg

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ice "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
)

// The mirror's deletes: position delete files written here rather than by iceberg-go's
// Transaction.Delete, which evaluates the key filter (an OR of one AND per key) row by row
// through Arrow compute kernels, reading every data file at every commit: about 20 s for
// 1,000 keys in 100,000 rows. Here each data file's key columns are read once into an index.

// keyString identifies a key by its columns' values, in the schema's order: each value's Go
// syntax (a string quoted, so a NUL or a type name inside one cannot end it), ending with a
// NUL, so that a partition's key is a prefix of its rows' and of no other key's.
func keyString(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		fmt.Fprintf(&b, "%T:%#v\x00", v, v)
	}
	return b.String()
}

type position struct {
	path string
	pos  int64
}

// keyIndex is, per data file of the mirror, where each key's rows are, read once per file
// (data files never change), and which of those positions this process's commits deleted.
// A commit then reads only the data files committed since its last (its own, another
// worker's, a compaction's) and forgets the files gone from the table. Memory: one entry per
// row of the table. Used by one commit at a time (the committer's).
type keyIndex struct {
	files map[string]*fileKeys
}

type fileKeys struct {
	rows    map[string][]int64 // a full key (keyString) → its positions
	deleted map[int64]bool     // positions this process's committed deletes hold
}

// positionDeletes finds the rows of tbl's current snapshot that hold the keys (not deleted
// by this process already) and writes a position delete file for them; nil when no row
// does. found is what the file holds: markDeleted once it is committed.
func (idx *keyIndex) positionDeletes(ctx context.Context, tbl *table.Table, keys [][]any) (ice.DataFile, []position, error) {
	if idx.files == nil {
		idx.files = map[string]*fileKeys{}
	}
	ids := tbl.Schema().IdentifierFieldIDs
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("plan the data files: %w", err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, nil, err
	}
	live := map[string]bool{}
	var found []position
	for _, task := range tasks {
		path := task.File.FilePath()
		live[path] = true
		fk := idx.files[path]
		if fk == nil {
			if fk, err = readFileKeys(ctx, fs, path, ids); err != nil {
				return nil, nil, err
			}
			idx.files[path] = fk
		}
		for _, k := range keys {
			for _, pos := range fk.lookup(k) {
				if !fk.deleted[pos] {
					found = append(found, position{path, pos})
				}
			}
		}
	}
	for path := range idx.files {
		if !live[path] {
			delete(idx.files, path) // rewritten by a compaction
		}
	}
	if len(found) == 0 {
		return nil, nil, nil
	}
	df, err := writePositionDeletes(tbl, fs, found)
	return df, found, err
}

// markDeleted records the positions of a committed delete file.
func (idx *keyIndex) markDeleted(found []position) {
	for _, p := range found {
		if fk := idx.files[p.path]; fk != nil {
			fk.deleted[p.pos] = true
		}
	}
}

// lookup returns the positions of key k (a partition delete's: of every row of the
// partition) in the file.
func (fk *fileKeys) lookup(k []any) []int64 {
	m := 0
	for m < len(k) && k[m] != nil {
		m++
	}
	if m == len(k) {
		return fk.rows[keyString(k)]
	}
	prefix := keyString(k[:m])
	var out []int64
	for key, pos := range fk.rows {
		if strings.HasPrefix(key, prefix) {
			out = append(out, pos...)
		}
	}
	return out
}

// readFileKeys reads the key columns (field ids) of the data file at path.
func readFileKeys(ctx context.Context, fs iceio.IO, path string, ids []int) (*fileKeys, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	rdr, err := file.NewParquetReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer func() { _ = rdr.Close() }()
	cols := make([]int, len(ids))
	for j, id := range ids {
		cols[j] = -1
		for i := 0; i < rdr.MetaData().Schema.NumColumns(); i++ {
			if int(rdr.MetaData().Schema.Column(i).SchemaNode().FieldID()) == id {
				cols[j] = i
			}
		}
		if cols[j] < 0 {
			return nil, fmt.Errorf("%s: no column of field id %d", path, id)
		}
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 8192}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	rr, err := fr.GetRecordReader(ctx, cols, nil)
	if err != nil {
		return nil, err
	}
	defer rr.Release()
	fk := &fileKeys{rows: map[string][]int64{}, deleted: map[int64]bool{}}
	var pos int64
	k := make([]any, len(ids))
	for rr.Next() {
		rec := rr.RecordBatch()
		for i := 0; i < int(rec.NumRows()); i++ {
			for j := range k {
				if k[j], err = keyValue(rec.Column(j), i); err != nil {
					return nil, err
				}
			}
			key := keyString(k)
			fk.rows[key] = append(fk.rows[key], pos)
			pos++
		}
	}
	return fk, rr.Err()
}

// writePositionDeletes writes the positions (file_path, pos: the spec's field ids, sorted) as
// a Parquet file under the table's data folder.
func writePositionDeletes(tbl *table.Table, fs iceio.IO, found []position) (ice.DataFile, error) {
	wfs, ok := fs.(iceio.WriteFileIO)
	if !ok {
		return nil, fmt.Errorf("the table's file IO cannot write")
	}
	slices.SortFunc(found, func(a, b position) int {
		return cmp.Or(cmp.Compare(a.path, b.path), cmp.Compare(a.pos, b.pos))
	})
	fieldID := func(id int) arrow.Metadata {
		return arrow.NewMetadata([]string{"PARQUET:field_id"}, []string{strconv.Itoa(id)})
	}
	sc := arrow.NewSchema([]arrow.Field{
		{Name: "file_path", Type: arrow.BinaryTypes.String, Metadata: fieldID(2147483546)},
		{Name: "pos", Type: arrow.PrimitiveTypes.Int64, Metadata: fieldID(2147483545)},
	}, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	for _, p := range found {
		b.Field(0).(*array.StringBuilder).Append(p.path)
		b.Field(1).(*array.Int64Builder).Append(p.pos)
	}
	rec := b.NewRecordBatch()
	defer rec.Release()
	var body bytes.Buffer
	w, err := pqarrow.NewFileWriter(sc, &body, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Zstd)),
		pqarrow.NewArrowWriterProperties())
	if err == nil {
		err = w.Write(rec)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("position delete file: %w", err)
	}
	path := fmt.Sprintf("%s/data/deletes-%s.parquet", strings.TrimSuffix(tbl.Location(), "/"), uuid.NewString())
	if err := wfs.WriteFile(path, body.Bytes()); err != nil {
		return nil, fmt.Errorf("upload %s: %w", path, err)
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(body.Bytes()))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rdr.Close() }()
	return table.DataFileFromMetadata(table.DataFileArgs{
		Schema: ice.PositionalDeleteSchema, Spec: tbl.Spec(), Format: ice.ParquetFile, Metadata: rdr.MetaData(),
		FilePath: path, FileSize: int64(body.Len()), Content: ice.EntryContentPosDeletes,
		Properties: tbl.Properties(), FormatVersion: tbl.Metadata().Version(),
	})
}
