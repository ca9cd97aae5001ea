package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/iceberg-go/catalog"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/sink"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The Iceberg part of the fault-injection world (format iceberg): one SQLite catalog file for
// the whole test, a namespace per scenario, the table's metadata in iceberg-go's in-memory file
// IO (registered for s3:// here), and the data files in the world's bucket (uploaded by the
// sink, so S3 faults strike them). Every catalog call a worker makes — LoadTable, Commit — is
// a numbered point of the scenario, where these strike besides the common events:

const (
	commitConflict event = "commit-conflict" // another writer commits to the table just before the next commit
	catalogOutage  event = "catalog-outage"  // the next 3 catalog calls fail and change nothing
	catalogTimeout event = "catalog-timeout" // the next commit is applied, but its caller gets an error
	// staleCommit: another worker takes the lease now, and the owner's next commit stalls
	// until the next owners are done with the shard, then goes on (a zombie's commit).
	staleCommit event = "lease-lost-stale-commit"
)

// Format iceberg's records have a clustering column too (key id, c), so that the mirror
// meets each kind of change under the faults: mirrorDeleteIndex deletes its row, and
// partitionDeleteIndex deletes its partition (every row of its id: those of earlier records,
// which may be in earlier commits or in the same one, depending on the faults), after which
// a later record writes a row of that partition again.
const (
	mirrorDeleteIndex    = 7
	partitionDeleteIndex = 6
)

// mirrorChange makes record i of format iceberg what the mirror needs: its clustering
// column c = i%2 and, at the indexes above, a row delete or a partition delete.
func mirrorChange(r *streams.Record, i int) {
	r.ClusteringKeys = []streams.Column{{Name: "c", Value: recordtest.S(streams.TypeInt, strconv.Itoa(i%2))}}
	switch i {
	case mirrorDeleteIndex:
		r.OldImage, r.NewImage = r.NewImage, nil
	case partitionDeleteIndex:
		r.ClusteringKeys, r.NewImage = nil, nil
	}
}

// catalogOutLen is how many catalog calls a catalog outage fails.
const catalogOutLen = 3

var icebergEvents = append(append([]event(nil), allEvents...), commitConflict, catalogOutage, catalogTimeout, staleCommit)

// stall is a zombie's commit held back until release is closed; done is its owner's end.
type stall struct {
	release chan struct{}
	done    chan error
}

// eventsOf are the events a scenario of the format plays.
func eventsOf(format string) []event {
	if format == encode.FormatIceberg {
		return icebergEvents
	}
	return allEvents
}

var (
	lakeOnce    sync.Once
	lakeCatalog *iceberg.Catalog
	lakeErr     error
	lakeNS      atomic.Int64
)

// lakeWarehouse is where the shared catalog puts its tables (in the bucket "bucket").
const lakeWarehouse = "s3://bucket/warehouse"

// sharedCatalog opens, once per test process, the SQLite catalog the scenarios share, with
// s3:// locations in iceberg-go's in-memory file IO.
func sharedCatalog() (*iceberg.Catalog, error) {
	lakeOnce.Do(func() {
		iceio.Unregister("s3")
		iceio.Register("s3", func(ctx context.Context, u *url.URL, props map[string]string) (iceio.IO, error) {
			return iceio.LoadFS(ctx, props, "mem://"+u.Host+"/")
		})
		dir, err := os.MkdirTemp(fastTempDir(), "cdc-faults-catalog")
		if err != nil {
			lakeErr = err
			return
		}
		lakeCatalog, lakeErr = iceberg.OpenCatalog(context.Background(), iceberg.CatalogConfig{
			Type: iceberg.CatalogSQL, URI: filepath.Join(dir, "catalog.db"), Warehouse: lakeWarehouse,
			AWS: aws.Config{Region: "us-east-1"},
		})
	})
	return lakeCatalog, lakeErr
}

// lakeWorld is a scenario's table.
type lakeWorld struct {
	cat    *iceberg.Catalog // shared; the owners interpose on it
	ns     string
	source tableSource // the table's definition, as GetTable answers it

	// Persistent effects of the catalog events, consumed by the next matching calls (under
	// world.mu).
	conflicts, failing, unknowns int
	staleOwner                   *owner // whose next commit stalls
	stalls                       chan *stall
	zombies                      []*stall
}

// newLakeWorld creates the scenario's namespace and table (the schema of the shard's records).
func newLakeWorld(w *world) (*lakeWorld, error) {
	cat, err := sharedCatalog()
	if err != nil {
		return nil, err
	}
	l := &lakeWorld{cat: cat, ns: "f" + strconv.FormatInt(lakeNS.Add(1), 10), stalls: make(chan *stall)}
	ev, err := record.FromStream(w.records[0], record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"})
	if err != nil {
		return nil, err
	}
	derived, err := encode.NewSchemas(nil, false, nil).For(context.Background(), ev)
	if err != nil {
		return nil, err
	}
	l.source = tableSource{derived.Def}
	a, err := encode.NewSchemas(l.source, false, nil).For(context.Background(), ev)
	if err != nil {
		return nil, err
	}
	ps, err := encode.NewParquetSchemaWith(a, encode.ParquetOptions{TimestampMicros: true})
	if err != nil {
		return nil, err
	}
	cfg := iceberg.ChangeTableConfig{Namespace: l.ns, Table: "t"}
	if _, err = iceberg.EnsureChangeTable(context.Background(), cat, cfg, ps); err != nil {
		return l, err
	}
	mt, err := iceberg.NewMirrorTable(cat, cfg)
	if err == nil {
		_, err = mt.Prepare(context.Background(), ps)
	}
	return l, err
}

// drop removes the scenario's files from the in-memory file IO, which keeps every file for
// the life of the process: without it, a run of the test with -count=20 held more than 11 GiB.
func (l *lakeWorld) drop() error {
	fsys, err := iceio.LoadFS(context.Background(), nil, "mem://bucket/")
	if err != nil {
		return err
	}
	mem, ok := fsys.(*iceio.MemFS)
	if !ok {
		return fmt.Errorf("the lake's file IO is a %T, not the in-memory one", fsys)
	}
	var names []string
	err = mem.WalkDir(lakeWarehouse+"/"+l.ns+".db", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, name)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := mem.Remove(name); err != nil {
			return err
		}
	}
	return nil
}

// tableSource answers the table's definition: that of the world's records (their key is the
// partition key id).
type tableSource struct{ def *encode.TableDef }

func (s tableSource) Table(context.Context, string, string) (*encode.TableDef, error) {
	return s.def, nil
}

// target is an owner's view of the lake: its own catalog client (numbering its calls) and
// committer, whose commits end with the owner's context.
func (l *lakeWorld) target(o *owner) (sink.IcebergTarget, error) {
	cat := l.cat.Interpose(&worldCatalog{Catalog: l.cat.Catalog, o: o})
	ct, err := iceberg.NewChangeTable(cat, iceberg.ChangeTableConfig{Namespace: l.ns, Table: "t", MaxBackoff: time.Microsecond})
	if err != nil {
		return sink.IcebergTarget{}, err
	}
	mt, err := iceberg.NewMirrorTable(cat, iceberg.ChangeTableConfig{Namespace: l.ns, Table: "t", MaxBackoff: time.Microsecond})
	if err != nil {
		return sink.IcebergTarget{}, err
	}
	// Rounds open only when the world says (every second GetRecords); with one member, a
	// round is committed as soon as it answers, so the linger never runs out.
	c, err := iceberg.NewCommitter(o.ctx, iceberg.CommitterConfig{Table: ct, Mirror: mt, Writer: o.id, Linger: time.Hour})
	if err != nil {
		return sink.IcebergTarget{}, err
	}
	o.committer = c
	return sink.IcebergTarget{Table: ct, Mirror: mt, Committer: c}, nil
}

// worldCatalog is an owner's catalog client: LoadTable and CommitTable are points.
type worldCatalog struct {
	catalog.Catalog
	o *owner
}

var errCatalogDown = errors.New("catalog: service unavailable")

func (c *worldCatalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	w := c.o.w
	w.mu.Lock()
	ok, planned := w.point(c.o, "LoadTable")
	if ok && w.lake.failing > 0 {
		w.lake.failing--
		ok = false
	}
	w.mu.Unlock()
	if !ok {
		return nil, errCatalogDown
	}
	tbl, err := c.Catalog.LoadTable(ctx, ident)
	if planned == crashAfter {
		c.o.die()
		return nil, context.Canceled
	}
	if err != nil {
		return nil, err
	}
	return table.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), tbl.FS, c), nil
}

func (c *worldCatalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	w := c.o.w
	w.mu.Lock()
	defer w.mu.Unlock()
	ok, planned := w.point(c.o, "Commit")
	if !ok {
		return nil, "", context.Canceled
	}
	if w.lake.staleOwner == c.o {
		// The zombie's commit waits while the next owners take the shard on.
		w.lake.staleOwner = nil
		z := &stall{release: make(chan struct{})}
		w.mu.Unlock()
		w.lake.stalls <- z
		<-z.release
		w.mu.Lock()
	}
	if w.lake.failing > 0 {
		w.lake.failing--
		return nil, "", errCatalogDown
	}
	if w.lake.conflicts > 0 {
		w.lake.conflicts--
		if err := c.foreignCommit(ctx, ident); err != nil {
			return nil, "", err
		}
	}
	meta, loc, err := c.Catalog.CommitTable(ctx, ident, reqs, updates)
	if err != nil {
		return nil, "", err
	}
	if planned == crashAfter {
		c.o.die()
		return nil, "", context.Canceled
	}
	if w.lake.unknowns > 0 {
		w.lake.unknowns--
		return nil, "", errors.New("catalog: request timed out (the commit may have happened)")
	}
	return meta, loc, nil
}

// runOwner runs an owner until it is done, or until its commit stalls (staleCommit): the
// next owner then goes on, and the stalled one is released at the end (releaseZombies).
func (w *world) runOwner(o *owner, log *slog.Logger) error {
	done := make(chan error, 1)
	go func() { done <- o.run(log) }()
	var stalls chan *stall
	if w.lake != nil {
		stalls = w.lake.stalls
	}
	select {
	case err := <-done:
		return err
	case z := <-stalls:
		z.done = done
		w.lake.zombies = append(w.lake.zombies, z)
		return nil
	}
}

// releaseZombies lets the stalled commits go on, against the table the next owners left,
// and waits for their owners to end.
func (w *world) releaseZombies() error {
	if w.lake == nil {
		return nil
	}
	for _, z := range w.lake.zombies {
		close(z.release)
		if err := <-z.done; err != nil {
			return err
		}
	}
	return nil
}

// foreignCommit is another writer's commit (a property change: another worker's snapshot
// would do the same to this one's optimistic check).
func (c *worldCatalog) foreignCommit(ctx context.Context, ident table.Identifier) error {
	tbl, err := c.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return err
	}
	txn := tbl.NewTransaction()
	if err := txn.SetProperties(map[string]string{"foreign": strconv.FormatInt(time.Now().UnixNano(), 10)}); err != nil {
		return err
	}
	_, err = txn.Commit(ctx)
	return err
}

// checkLake verifies the table: the data files of its current snapshot exist in the bucket
// and hold every decodable record once, in files of consecutive records; the snapshots say
// the shard is committed up to its last record.
func (w *world) checkLake() error {
	ctx := context.Background()
	ct, err := iceberg.NewChangeTable(w.lake.cat, iceberg.ChangeTableConfig{Namespace: w.lake.ns, Table: "t"})
	if err != nil {
		return err
	}
	paths, err := ct.DataFiles(ctx)
	if err != nil {
		return err
	}
	var files [][]string
	for _, p := range paths {
		_, key, err := iceberg.SplitS3(p)
		if err != nil {
			return err
		}
		body, ok := w.objects[key]
		if !ok {
			return fmt.Errorf("the table lists %s, which is not in the bucket", key)
		}
		seqs, err := parquetSeqs(body)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		files = append(files, seqs)
	}
	sort.Slice(files, func(i, j int) bool { return files[i][0] < files[j][0] })
	var got, want []string
	for _, f := range files {
		got = append(got, f...)
	}
	for i, r := range w.records {
		if i != poisonIndex {
			want = append(want, r.SequenceNumber)
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		var held []string
		for _, f := range files {
			held = append(held, fmt.Sprint(idx(f)))
		}
		return fmt.Errorf("the table holds %s, want each of the %d decodable records once", strings.Join(held, " "), len(want))
	}
	committed, err := ct.Committed(ctx)
	if err != nil {
		return err
	}
	if last := w.records[len(w.records)-1].SequenceNumber; committed["shard-1"] != last {
		return fmt.Errorf("the snapshots say shard-1 is committed up to %q, want %q", committed["shard-1"], last)
	}
	return w.checkMirror()
}

// checkMirror verifies the mirror: read by iceberg-go's scan, it holds each key's last image
// (the n of its last decodable record; none for a key whose last change is a delete), and
// its snapshots say the shard is committed up to its last record.
func (w *world) checkMirror() error {
	ctx := context.Background()
	mt, err := iceberg.NewMirrorTable(w.lake.cat, iceberg.ChangeTableConfig{Namespace: w.lake.ns, Table: "t"})
	if err != nil {
		return err
	}
	want := map[string]string{} // "id/c": n
	for i, r := range w.records {
		id := r.PartitionKeys[0].Value.Text
		switch {
		case i == poisonIndex:
		case r.ClusteringKeys == nil:
			for k := range want {
				if strings.HasPrefix(k, id+"/") {
					delete(want, k)
				}
			}
		case r.NewImage == nil:
			delete(want, id+"/"+r.ClusteringKeys[0].Value.Text)
		default:
			want[id+"/"+r.ClusteringKeys[0].Value.Text] = strconv.Itoa(i * 7919) // recordtest.Row's n
		}
	}
	at, err := mt.Scan(ctx)
	if err != nil {
		return err
	}
	defer at.Release()
	got := map[string]string{}
	tr := array.NewTableReader(at, 1024)
	defer tr.Release()
	for tr.Next() {
		rec := tr.RecordBatch()
		col := func(name string) arrow.Array { return rec.Column(rec.Schema().FieldIndices(name)[0]) }
		ids, cs, ns := col("id"), col("c"), col("n")
		for i := 0; i < int(rec.NumRows()); i++ {
			k := ids.ValueStr(i) + "/" + cs.ValueStr(i)
			if _, dup := got[k]; dup {
				return fmt.Errorf("the mirror holds key %s twice", k)
			}
			got[k] = ns.ValueStr(i)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("the mirror holds %v (id/c: n), want %v", got, want)
	}
	committed, err := mt.Committed(ctx)
	if err != nil {
		return err
	}
	if last := w.records[len(w.records)-1].SequenceNumber; committed["shard-1"] != last {
		return fmt.Errorf("the mirror's snapshots say shard-1 is committed up to %q, want %q", committed["shard-1"], last)
	}
	return nil
}

// parquetSeqs reads the sequence numbers of a Parquet data file, in order.
func parquetSeqs(body []byte) ([]string, error) {
	rdr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer func() { _ = rdr.Close() }()
	col := rdr.MetaData().Schema.ColumnIndexByName("sequence_number")
	if col < 0 {
		return nil, errors.New("no sequence_number column")
	}
	var seqs []string
	for g := 0; g < rdr.NumRowGroups(); g++ {
		cr, err := rdr.RowGroup(g).Column(col)
		if err != nil {
			return nil, err
		}
		r := cr.(*file.ByteArrayColumnChunkReader)
		vals := make([]parquet.ByteArray, 1024)
		for r.HasNext() {
			_, n, err := r.ReadBatch(int64(len(vals)), vals, nil, nil)
			if err != nil {
				return nil, err
			}
			for _, v := range vals[:n] {
				seqs = append(seqs, string(v))
			}
		}
	}
	return seqs, nil
}

// fastTempDir is a memory-backed folder when the machine has one (the catalog's SQLite file
// syncs on every commit), else the usual one.
func fastTempDir() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}
