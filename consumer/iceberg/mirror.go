package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
)

// The mirror, <namespace>.<table>: the Keyspaces table's current state. Its columns are the
// table's own (those of the change log's new_image), the primary key columns required and the
// table's identifier fields. Each commit deletes the rows of every key the commit changes
// (a position delete file: merge-on-read, see mirrorTableProperties and mirrordelete.go) and
// appends the keys' new images, in one transaction.

// mirrorTableProperties are the mirror's table properties: the change log's, with deletes
// written as position delete files (merge-on-read). Athena (engine 3) and Spark both read
// position deletes; Athena does not read equality deletes (docs/iceberg.md). Copy-on-write
// would rewrite every data file holding a changed key at every commit.
var mirrorTableProperties = ice.Properties{
	table.PropertyFormatVersion:                 "2",
	"write.parquet.compression-codec":           "zstd",
	table.MetadataDeleteAfterCommitEnabledKey:   "true",
	table.MetadataPreviousVersionsMaxKey:        "100",
	table.ManifestMergeEnabledKey:               "true",
	table.WriteDeleteModeKey:                    table.WriteModeMergeOnRead,
	"keyspaces-cdc-s3.table-kind":               "mirror",
	"keyspaces-cdc-s3.summary-shard-key-prefix": ShardKeyPrefix,
}

// NewMirrorTable returns the mirror of cfg.Table in cat (<namespace>.<table>). Like
// NewChangeTable, it does not call the catalog. Its ShardCommits carry Rows, not Files.
func NewMirrorTable(cat *Catalog, cfg ChangeTableConfig) (*ChangeTable, error) {
	t, err := NewChangeTable(cat, cfg)
	if err != nil {
		return nil, err
	}
	t.ident = catalog.ToIdentifier(cfg.Namespace, cfg.Table)
	t.mirror = true
	return t, nil
}

// Mirror reports whether t is a mirror (NewMirrorTable), not a change log.
func (t *ChangeTable) Mirror() bool { return t.mirror }

// MirrorSchema is the Iceberg schema of the mirror of a table whose change events have the
// Parquet schema ps: the fields of new_image, the key columns required and the identifier
// fields. A key column must be of a primitive type (a frozen collection, tuple or UDT key
// cannot be an identifier field).
func MirrorSchema(ps *encode.ParquetSchema) (*ice.Schema, error) {
	sc, err := Schema(ps)
	if err != nil {
		return nil, err
	}
	img, ok := sc.FindFieldByName("new_image")
	keys, ok2 := sc.FindFieldByName("keys")
	if !ok || !ok2 {
		return nil, errors.New("mirror schema: no new_image or keys")
	}
	isKey := map[string]bool{}
	for _, k := range keys.Type.(*ice.StructType).FieldList {
		isKey[k.Name] = true
	}
	var fields []ice.NestedField
	var ids []int
	for _, f := range img.Type.(*ice.StructType).FieldList {
		if isKey[f.Name] {
			if _, prim := f.Type.(ice.PrimitiveType); !prim {
				return nil, fmt.Errorf("mirror schema: key column %s is a %s: only primitive keys can be identifier fields", f.Name, f.Type)
			}
			f.Required = true
			ids = append(ids, f.ID)
		}
		fields = append(fields, f)
	}
	if len(ids) != len(isKey) {
		return nil, errors.New("mirror schema: a key column is not among the table's columns")
	}
	return ice.NewSchemaWithIdentifiers(0, ids, fields...), nil
}

// ErrMirrorKeyUnknown marks a schema version the mirror cannot be created from: it came from
// the records alone (the table's definition was unavailable), and records do not tell the
// whole primary key (a partition delete shows no clustering column). A mirror created with
// part of the key as its identifier fields would delete every row of a partition at each
// change of one, and append a second row for a key whose first one no commit finds.
var ErrMirrorKeyUnknown = errors.New("the table's primary key is unknown")

// checkMirrorKey checks the key of schema version ps against the mirror's identifier fields
// (sc: the mirror's schema; nil: it does not exist yet). A version whose key is the table's
// (encode.TableDef.KeysKnown) must have exactly the mirror's identifier fields as its key; one
// derived from the records alone must have none other (it may lack the clustering columns),
// and cannot create the mirror.
func checkMirrorKey(sc *ice.Schema, ps *encode.ParquetSchema) error {
	def := ps.Avro.Def
	keys := make([]string, len(def.Keys))
	for i, k := range def.Keys {
		keys[i] = k.Name
	}
	if sc == nil {
		if !def.KeysKnown {
			return fmt.Errorf("mirror: %w: the table's definition is unavailable (see the avro schema fallback error) and "+
				"records do not tell it (a partition delete shows no clustering column); the mirror is created once "+
				"GetTable answers (asked again every %s)", ErrMirrorKeyUnknown, encode.SourceRetry)
		}
		return nil
	}
	ids := identifierNames(sc)
	agree := !def.KeysKnown || len(keys) == len(ids)
	for _, k := range keys {
		agree = agree && slices.Contains(ids, k)
	}
	if !agree {
		return fmt.Errorf("mirror: its identifier fields are (%s) but the table's primary key is (%s): the mirror was "+
			"made for another key; drop the mirror table (docs/iceberg.md, \"The mirror's key\")",
			strings.Join(ids, ", "), strings.Join(keys, ", "))
	}
	return nil
}

func createMirrorTable(ctx context.Context, cat *Catalog, ident table.Identifier, ps *encode.ParquetSchema) (*table.Table, error) {
	if err := checkMirrorKey(nil, ps); err != nil {
		return nil, err
	}
	sc, err := MirrorSchema(ps)
	if err != nil {
		return nil, err
	}
	tbl, err := cat.CreateTable(ctx, ident, sc, catalog.WithProperties(mirrorTableProperties))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		return cat.LoadTable(ctx, ident)
	}
	return tbl, err
}

// mirrorMissing lists the columns of ps's new_image the mirror's schema sc lacks.
func mirrorMissing(sc *ice.Schema, ps *encode.ParquetSchema) ([]string, error) {
	want, err := MirrorSchema(ps)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, name := range leafNames(want) {
		if _, ok := sc.FindFieldByName(name); !ok {
			out = append(out, name)
		}
	}
	return out, nil
}

func leafNames(sc *ice.Schema) []string {
	byName, _ := ice.IndexByName(sc)
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	return out
}

// MirrorRows is one shard's part of a mirror commit: the last change of each key the shard
// changed since the mirror's Prev, as Parquet files of change events (those of the change
// log: keys, op, new_image; encode's Iceberg Parquet, any field ids). A row whose op is
// DELETE (a delete or a TTL expiry) removes its key; any other makes the key's row its
// new_image (with the key columns from keys).
type MirrorRows struct {
	Files [][]byte
	Keys  int // how many keys (rows of Files)
}

// mirrorBatch is a commit's rows, read from the shards' MirrorRows.
type mirrorBatch struct {
	// keys are the changed keys: their key columns' values, in the schema's order (nil
	// for a clustering column a partition delete lacks).
	keys   [][]any
	upsert []arrow.RecordBatch // the new rows, with the mirror's columns
	// partial counts writes of static columns only, which make no row.
	partial int
}

func (mb *mirrorBatch) release() {
	for _, r := range mb.upsert {
		r.Release()
	}
}

// readMirrorRows reads the shards' files into the mirror's columns (of schema sc).
func readMirrorRows(ctx context.Context, sc *ice.Schema, parts []*MirrorRows) (*mirrorBatch, error) {
	mb := &mirrorBatch{}
	keyNames := identifierNames(sc)
	for _, p := range parts {
		for _, body := range p.Files {
			if err := mb.read(ctx, sc, keyNames, body); err != nil {
				mb.release()
				return nil, err
			}
		}
	}
	return mb, nil
}

func identifierNames(sc *ice.Schema) []string {
	var out []string
	for _, id := range sc.IdentifierFieldIDs {
		if f, ok := sc.FindFieldByID(id); ok {
			out = append(out, f.Name)
		}
	}
	return out
}

// read adds the rows of one file of change events.
func (mb *mirrorBatch) read(ctx context.Context, sc *ice.Schema, keyNames []string, body []byte) error {
	rdr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		return err
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	tbl, err := fr.ReadTable(ctx)
	if err != nil {
		return err
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, tbl.NumRows()+1)
	defer tr.Release()
	for tr.Next() {
		if err := mb.add(sc, keyNames, tr.RecordBatch()); err != nil {
			return err
		}
	}
	return tr.Err()
}

func column[T arrow.Array](rec arrow.RecordBatch, name string) (T, error) {
	var zero T
	idx := rec.Schema().FieldIndices(name)
	if len(idx) != 1 {
		return zero, fmt.Errorf("mirror rows without %s", name)
	}
	c, ok := rec.Column(idx[0]).(T)
	if !ok {
		return zero, fmt.Errorf("mirror rows: %s is %s", name, rec.Column(idx[0]).DataType())
	}
	return c, nil
}

func child(s *array.Struct, name string) arrow.Array {
	st := s.DataType().(*arrow.StructType)
	if i, ok := st.FieldIdx(name); ok {
		return s.Field(i)
	}
	return nil
}

// add takes the rows of one batch of change events.
func (mb *mirrorBatch) add(sc *ice.Schema, keyNames []string, rec arrow.RecordBatch) error {
	keys, err := column[*array.Struct](rec, "keys")
	if err != nil {
		return err
	}
	img, err := column[*array.Struct](rec, "new_image")
	if err != nil {
		return err
	}
	op, err := column[*array.String](rec, "op")
	if err != nil {
		return err
	}
	n := int(rec.NumRows())
	upsert := make([]int, 0, n)
	for i := 0; i < n; i++ {
		k := make([]any, len(keyNames))
		full, some := true, false
		for j, name := range keyNames {
			c := child(keys, name)
			if c == nil || c.IsNull(i) {
				full = false
				continue
			}
			if k[j], err = keyValue(c, i); err != nil {
				return fmt.Errorf("key column %s: %w", name, err)
			}
			some = true
		}
		deleted := op.Value(i) == "DELETE" || !img.IsValid(i)
		switch {
		case full:
			mb.keys = append(mb.keys, k)
			if !deleted {
				upsert = append(upsert, i)
			}
		case some && deleted:
			// A partition delete: its key lacks the clustering columns, and removes every
			// row of the partition.
			mb.keys = append(mb.keys, k)
		default:
			// A write of static columns only (no clustering key): there is no row to
			// make; the rows of the partition take the static values at their next change.
			mb.partial++
		}
	}
	if len(upsert) == 0 {
		return nil
	}
	return mb.addRows(sc, keyNames, keys, img, upsert)
}

// addRows takes the rows upsert of a batch: the key columns from keys, the others from img.
func (mb *mirrorBatch) addRows(sc *ice.Schema, keyNames []string, keys, img *array.Struct, upsert []int) error {
	isKey := map[string]bool{}
	for _, k := range keyNames {
		isKey[k] = true
	}
	fields := make([]arrow.Field, 0, len(sc.Fields()))
	cols := make([]arrow.Array, 0, len(sc.Fields()))
	defer func() {
		for _, c := range cols {
			c.Release()
		}
	}()
	for _, f := range sc.Fields() {
		src := child(img, f.Name)
		if isKey[f.Name] {
			src = child(keys, f.Name)
		}
		if src == nil {
			// A column of the table the events' schema version lacks: null.
			at, err := table.TypeToArrowType(f.Type, false, false)
			if err != nil {
				return err
			}
			nulls := array.MakeArrayOfNull(memory.DefaultAllocator, at, len(upsert))
			fields = append(fields, arrow.Field{Name: f.Name, Type: at, Nullable: true})
			cols = append(cols, nulls)
			continue
		}
		taken, err := take(src, upsert)
		if err != nil {
			return fmt.Errorf("column %s: %w", f.Name, err)
		}
		fields = append(fields, arrow.Field{Name: f.Name, Type: taken.DataType(), Nullable: !isKey[f.Name]})
		cols = append(cols, taken)
	}
	mb.upsert = append(mb.upsert, array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, int64(len(upsert))))
	return nil
}

// take returns the rows idx of a.
func take(a arrow.Array, idx []int) (arrow.Array, error) {
	parts := make([]arrow.Array, 0, len(idx))
	defer func() {
		for _, p := range parts {
			p.Release()
		}
	}()
	for i := 0; i < len(idx); {
		j := i + 1
		for j < len(idx) && idx[j] == idx[j-1]+1 {
			j++
		}
		parts = append(parts, array.NewSlice(a, int64(idx[i]), int64(idx[j-1]+1)))
		i = j
	}
	return array.Concatenate(parts, memory.DefaultAllocator)
}

func keyValue(a arrow.Array, i int) (any, error) {
	switch c := a.(type) {
	case *array.String:
		return c.Value(i), nil
	case *array.Binary:
		return append([]byte(nil), c.Value(i)...), nil
	case *array.Int8:
		return int32(c.Value(i)), nil
	case *array.Int16:
		return int32(c.Value(i)), nil
	case *array.Int32:
		return c.Value(i), nil
	case *array.Int64:
		return c.Value(i), nil
	case *array.Float32:
		return c.Value(i), nil
	case *array.Float64:
		return c.Value(i), nil
	case *array.Boolean:
		return c.Value(i), nil
	case *array.Date32:
		return ice.Date(c.Value(i)), nil
	case *array.Timestamp:
		return ice.Timestamp(c.Value(i)), nil
	}
	return nil, fmt.Errorf("a %s cannot be a mirror key", a.DataType())
}

// commitMirrorOnce makes one attempt of a mirror commit: in one transaction, delete the
// rows of every key the shards changed, then append their new rows.
func (t *ChangeTable) commitMirrorOnce(ctx context.Context, tbl *table.Table, props ice.Properties, ok []ShardCommit) (*table.Table, error) {
	var parts []*MirrorRows
	for _, s := range ok {
		parts = append(parts, s.Rows)
	}
	mb, err := readMirrorRows(ctx, tbl.Schema(), parts)
	if err != nil {
		return nil, fmt.Errorf("mirror rows: %w", err)
	}
	defer mb.release()
	txn := tbl.NewTransaction()
	changed := false
	t.pending = nil
	if len(mb.keys) > 0 {
		del, found, err := t.index.positionDeletes(ctx, tbl, mb.keys)
		t.pending = found
		if err != nil {
			return nil, fmt.Errorf("delete the changed keys: %w", err)
		}
		if del != nil {
			if err := txn.NewRowDelta(props).AddDeletes(del).Commit(ctx); err != nil {
				return nil, fmt.Errorf("delete the changed keys: %w", err)
			}
			changed = true
		}
	}
	// One append per run of batches of the same Arrow schema (shards whose events were
	// of different schema versions).
	for i := 0; i < len(mb.upsert); {
		j := i + 1
		for j < len(mb.upsert) && mb.upsert[j].Schema().Equal(mb.upsert[i].Schema()) {
			j++
		}
		rdr, err := array.NewRecordReader(mb.upsert[i].Schema(), mb.upsert[i:j])
		if err != nil {
			return nil, err
		}
		err = txn.Append(ctx, rdr, props)
		rdr.Release()
		if err != nil {
			return nil, fmt.Errorf("append the new rows: %w", err)
		}
		changed = true
		i = j
	}
	if !changed {
		// Nothing to change (writes of static columns only, deletes of absent keys): a
		// snapshot all the same, to record the shards' sequence numbers.
		as, err := table.SchemaToArrowSchema(tbl.Schema(), nil, false, false)
		if err != nil {
			return nil, err
		}
		rdr, err := array.NewRecordReader(as, nil)
		if err != nil {
			return nil, err
		}
		defer rdr.Release()
		if err := txn.Append(ctx, rdr, props); err != nil {
			return nil, err
		}
	}
	return txn.Commit(ctx)
}
