package iceberg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
)

// ChangesSuffix names the change log: <table>_changes.
const ChangesSuffix = "_changes"

// PartitionField is the change log's partition field: day(created_at).
const PartitionField = "created_at_day"

// changeTableProperties are the change log's table properties. Format version 2 is what
// Athena (engine 3), Spark 3 and Trino write and read. The old metadata files are deleted
// after each commit (a writer commits every flush interval: 1,440 a day). Manifests are
// merged on append (from 100 on), so the manifest list does not grow by one per commit.
var changeTableProperties = ice.Properties{
	table.PropertyFormatVersion:                 "2",
	"write.parquet.compression-codec":           "zstd",
	table.MetadataDeleteAfterCommitEnabledKey:   "true",
	table.MetadataPreviousVersionsMaxKey:        "100",
	table.ManifestMergeEnabledKey:               "true",
	"keyspaces-cdc-s3.table-kind":               "changes",
	"keyspaces-cdc-s3.summary-shard-key-prefix": ShardKeyPrefix,
}

// ChangeTableConfig names a change log. Zero values take the documented defaults.
type ChangeTableConfig struct {
	Namespace string // required
	Table     string // the Keyspaces table: the change log is <Table>_changes
	// MaxBackoff caps the wait between two attempts of a commit (default 10 s).
	MaxBackoff time.Duration
	Logger     *slog.Logger
}

// ChangeTable is a Keyspaces table's change log in the catalog. Safe for concurrent use.
type ChangeTable struct {
	cat    *Catalog
	ident  table.Identifier
	mirror bool // the mirror (NewMirrorTable), not the change log
	// The mirror's key index and the positions of the attempt being committed (under
	// indexMu: one commit at a time).
	indexMu    sync.Mutex
	index      keyIndex
	pending    []position
	maxBackoff time.Duration
	logger     *slog.Logger

	mu  sync.Mutex
	tbl *table.Table // as last loaded or committed by this process
	ids func(path []string) int32
}

// NewChangeTable returns the change log of cfg.Table in cat. It does not call the catalog:
// the namespace and the table are created by the first Prepare that finds them missing.
func NewChangeTable(cat *Catalog, cfg ChangeTableConfig) (*ChangeTable, error) {
	if cfg.Namespace == "" || cfg.Table == "" {
		return nil, errors.New("iceberg change table: Namespace and Table are required")
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &ChangeTable{cat: cat, ident: catalog.ToIdentifier(cfg.Namespace, cfg.Table+ChangesSuffix),
		maxBackoff: cfg.MaxBackoff, logger: cfg.Logger}, nil
}

// EnsureChangeTable is NewChangeTable and Prepare: the table exists, and covers ps.
func EnsureChangeTable(ctx context.Context, cat *Catalog, cfg ChangeTableConfig, ps *encode.ParquetSchema) (*ChangeTable, error) {
	t, err := NewChangeTable(cat, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := t.Prepare(ctx, ps); err != nil {
		return nil, err
	}
	return t, nil
}

// create creates the namespace and the table for events of ps, unless they exist.
func (t *ChangeTable) create(ctx context.Context, ps *encode.ParquetSchema) error {
	if err := ensureNamespace(ctx, t.cat, catalog.NamespaceFromIdent(t.ident)); err != nil {
		return err
	}
	create := createChangeTable
	if t.mirror {
		create = createMirrorTable
	}
	tbl, err := create(ctx, t.cat, t.ident, ps)
	if err != nil {
		return fmt.Errorf("iceberg create table %s: %w", strings.Join(t.ident, "."), err)
	}
	t.logger.Info("iceberg table created", "table", strings.Join(t.ident, "."), "location", tbl.Location())
	return t.setTable(tbl)
}

func ensureNamespace(ctx context.Context, cat *Catalog, ns table.Identifier) error {
	ok, err := cat.CheckNamespaceExists(ctx, ns)
	if err == nil && !ok {
		err = cat.CreateNamespace(ctx, ns, nil)
		if errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
			err = nil // another worker created it meanwhile
		}
	}
	if err != nil {
		return fmt.Errorf("iceberg namespace %s: %w", strings.Join(ns, "."), err)
	}
	return nil
}

func createChangeTable(ctx context.Context, cat *Catalog, ident table.Identifier, ps *encode.ParquetSchema) (*table.Table, error) {
	sc, err := Schema(ps)
	if err != nil {
		return nil, err
	}
	created, ok := sc.FindFieldByName("created_at")
	if !ok {
		return nil, errors.New("schema without created_at")
	}
	spec := ice.NewPartitionSpec(ice.PartitionField{
		SourceIDs: []int{created.ID}, FieldID: 1000, Name: PartitionField, Transform: ice.DayTransform{},
	})
	tbl, err := cat.CreateTable(ctx, ident, sc, catalog.WithPartitionSpec(&spec), catalog.WithProperties(changeTableProperties))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		return cat.LoadTable(ctx, ident) // another worker created it meanwhile
	}
	return tbl, err
}

// Identifier is the table's namespace and name.
func (t *ChangeTable) Identifier() table.Identifier { return t.ident }

// Table is the table as this process last loaded or committed it (nil before it was
// loaded or created).
func (t *ChangeTable) Table() *table.Table {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tbl
}

func (t *ChangeTable) setTable(tbl *table.Table) error {
	// iceberg-go replays a commit itself after a conflict when commit.retry.num-retries is
	// set: the replay would skip the shards' Prev check (Commit) and rebase the mirror's
	// position deletes onto a snapshot they were not computed for. Commit retries itself.
	if n, ok := tbl.Properties()[table.CommitNumRetriesKey]; ok {
		if v, err := strconv.ParseUint(n, 10, 64); err != nil || v != 0 {
			return fmt.Errorf("iceberg %s: the table property %s=%s would let iceberg-go replay a commit without the "+
				"consumer's checks; unset it (ALTER TABLE … UNSET TBLPROPERTIES ('%s'))",
				strings.Join(t.ident, "."), table.CommitNumRetriesKey, n, table.CommitNumRetriesKey)
		}
	}
	ids, err := FieldIDs(tbl.Schema())
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tbl != nil && tbl.Metadata().LastSequenceNumber() < t.tbl.Metadata().LastSequenceNumber() {
		return nil // a load that started before this process's last commit: keep the newer
	}
	t.tbl, t.ids = tbl, ids
	return nil
}

// Refresh loads the table from the catalog; nil (and no error) when it does not exist.
func (t *ChangeTable) Refresh(ctx context.Context) (*table.Table, error) {
	tbl, err := t.cat.LoadTable(t.cat.withAWS(ctx), t.ident)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg load %s: %w", strings.Join(t.ident, "."), err)
	}
	return tbl, t.setTable(tbl)
}

// Prepare makes the table's schema cover ps (it creates the namespace and the table when
// they are missing, and adds the optional columns ps has and the table lacks, in one schema
// update) and returns the field ids of ps's files (encode.ParquetOptions.FieldID).
func (t *ChangeTable) Prepare(ctx context.Context, ps *encode.ParquetSchema) (func(path []string) int32, error) {
	ctx = t.cat.withAWS(ctx)
	for attempt := 1; ; attempt++ {
		tbl := t.Table()
		if tbl == nil {
			var err error
			if tbl, err = t.Refresh(ctx); err != nil {
				return nil, err
			}
		}
		if tbl == nil {
			if err := t.create(ctx, ps); err != nil {
				return nil, err
			}
			continue
		}
		lacks := missing(tbl.Schema(), ps)
		schemaOf := Schema
		if t.mirror {
			if err := checkMirrorKey(tbl.Schema(), ps); err != nil {
				return nil, fmt.Errorf("iceberg %s: %w", strings.Join(t.ident, "."), err)
			}
			var err error
			if lacks, err = mirrorMissing(tbl.Schema(), ps); err != nil {
				return nil, err
			}
			schemaOf = MirrorSchema
		}
		if len(lacks) == 0 {
			bad, err := conflicts(tbl.Schema(), ps, schemaOf)
			if err != nil {
				return nil, err
			}
			if len(bad) > 0 {
				return nil, fmt.Errorf("iceberg %s: the records' schema version %s conflicts with the table's types: %s",
					strings.Join(t.ident, "."), ps.Fingerprint, strings.Join(bad, ", "))
			}
			t.mu.Lock()
			defer t.mu.Unlock()
			return t.ids, nil
		}
		sc, err := schemaOf(ps)
		if err != nil {
			return nil, err
		}
		txn := tbl.NewTransaction()
		if err := txn.UpdateSchema(true, false).UnionByNameWith(sc).Commit(); err != nil {
			return nil, fmt.Errorf("iceberg %s: evolve the schema: %w", strings.Join(t.ident, "."), err)
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			if err := t.setTable(next); err != nil {
				return nil, err
			}
			continue
		}
		if !errors.Is(err, table.ErrCommitFailed) || attempt >= 10 {
			return nil, fmt.Errorf("iceberg %s: commit the schema: %w", strings.Join(t.ident, "."), err)
		}
		if _, err := t.Refresh(ctx); err != nil {
			return nil, err
		}
	}
}

// DataFile describes a Parquet file of the change log, written (to be written) at Path.
type DataFile struct {
	File    ice.DataFile
	Path    string // s3://bucket/key
	Records int64
}

// DataFilePath is where a new data file goes: under the table's data/ folder, in the
// partition of day, named <name>.parquet (name must be unique: a data file is never
// overwritten once a snapshot may list it).
func (t *ChangeTable) DataFilePath(day time.Time, name string) string {
	loc := strings.TrimSuffix(t.Table().Location(), "/")
	return fmt.Sprintf("%s/data/%s=%s/%s.parquet", loc, PartitionField, day.UTC().Format(time.DateOnly), name)
}

// NewDataFile describes the Parquet file body stored at path (DataFilePath), all of whose
// rows were created on day (UTC): its size, row count, column statistics and partition.
func (t *ChangeTable) NewDataFile(path string, body []byte, day time.Time) (DataFile, error) {
	rdr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		return DataFile{}, fmt.Errorf("read parquet footer of %s: %w", path, err)
	}
	defer func() { _ = rdr.Close() }() // a reader over bytes in memory: nothing to lose
	tbl := t.Table()
	spec := tbl.Spec()
	days := int32(day.UTC().Unix() / 86400)
	if day.UTC().Unix() < 0 {
		days = int32((day.UTC().Unix() - 86399) / 86400)
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: tbl.Schema(), Spec: spec, Format: ice.ParquetFile, Metadata: rdr.MetaData(),
		FilePath: path, FileSize: int64(len(body)), Content: ice.EntryContentData,
		PartitionValues: map[int]any{spec.Field(0).FieldID: ice.Date(days)},
		Properties:      tbl.Properties(), FormatVersion: tbl.Metadata().Version(),
	})
	if err != nil {
		return DataFile{}, fmt.Errorf("iceberg data file %s: %w", path, err)
	}
	return DataFile{File: df, Path: path, Records: rdr.NumRows()}, nil
}
