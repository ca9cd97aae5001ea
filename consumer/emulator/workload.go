package emulator

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// WorkloadConfig configures a Workload. Zero values take the documented defaults.
type WorkloadConfig struct {
	Schema     *Table // default MediaContent()
	ViewType   string // default NEW_AND_OLD_IMAGES
	Seed       uint64 // the same seed gives the same records (given the same clock)
	Partitions int    // distinct partition keys, default 64
	// RowBytes sizes inserted and updated rows (dropping columns, then padding the first
	// regular text column) so that a record carrying the new image alone is about this many
	// bytes of wire JSON; 0 leaves rows at their natural size (about 2.5-3.5 KB for
	// media_content).
	RowBytes int
	// LargeRowRate is the fraction of inserts and updates made LargeRowBytes big (0: none).
	LargeRowRate  float64
	LargeRowBytes int // default 40000
}

// Workload generates change records of one table as a stream of the given view type
// would carry them: inserts, updates, static-only updates, deletes and TTL expiries, over
// a set of partitions, with images consistent with the rows' history. It is deterministic
// for a seed and not safe for concurrent use.
type Workload struct {
	cfg     WorkloadConfig
	rng     *rand.Rand
	types   map[string]UserDefinedType
	regular []ColumnDef // regular columns
	static  []ColumnDef
	pad     string // the column padded to reach RowBytes ("" if none)
	pks     [][]streams.Column
	cks     [][]streams.Column // clustering key combinations
	live    map[string]*liveRow
	liveIDs []string // live row keys, for deterministic picks
	statics map[int][]streams.NamedCell
}

type liveRow struct {
	partition, ck int
	cells         []streams.NamedCell
	writeTime     string // of the last write
}

// NewWorkload returns a generator for cfg.
func NewWorkload(cfg WorkloadConfig) (*Workload, error) {
	if cfg.Schema == nil {
		cfg.Schema = MediaContent()
	}
	if err := cfg.Schema.validate(); err != nil {
		return nil, err
	}
	if cfg.ViewType == "" {
		cfg.ViewType = streams.ViewNewAndOldImages
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 64
	}
	if cfg.LargeRowBytes <= 0 {
		cfg.LargeRowBytes = 40000
	}
	w := &Workload{
		cfg:     cfg,
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed+0x5bd1e995)),
		types:   map[string]UserDefinedType{},
		live:    map[string]*liveRow{},
		statics: map[int][]streams.NamedCell{},
	}
	for _, u := range cfg.Schema.Types {
		w.types[u.Name] = u
	}
	for _, c := range cfg.Schema.Columns {
		switch {
		case contains(cfg.Schema.StaticColumns, c.Name):
			w.static = append(w.static, c)
		case !cfg.Schema.isKeyOrStatic(c.Name):
			w.regular = append(w.regular, c)
			if w.pad == "" && (c.Type == "text" || c.Type == "varchar" || c.Type == "ascii") {
				w.pad = c.Name
			}
		}
	}
	for i := 0; i < cfg.Partitions; i++ {
		var pk []streams.Column
		for _, name := range cfg.Schema.PartitionKeys {
			c, _ := cfg.Schema.column(name)
			pk = append(pk, streams.Column{Name: name, Value: w.columnValue(c)})
		}
		w.pks = append(w.pks, pk)
	}
	// Up to 6 distinct clustering keys per partition (fewer when the types allow fewer).
	combos := 1
	if len(cfg.Schema.ClusteringKeys) > 0 {
		combos = 6
	}
	seen := map[string]bool{}
	for tries := 0; len(w.cks) < combos && tries < 100; tries++ {
		ck := []streams.Column{}
		for _, k := range cfg.Schema.ClusteringKeys {
			c, _ := cfg.Schema.column(k.Name)
			ck = append(ck, streams.Column{Name: k.Name, Value: w.columnValue(c)})
		}
		if k := KeyText(&streams.Record{ClusteringKeys: ck}); !seen[k] {
			seen[k] = true
			w.cks = append(w.cks, ck)
		}
	}
	return w, nil
}

// Next returns the next change record, created at now (no sequence number yet).
func (w *Workload) Next(now time.Time) streams.Record {
	now = now.UTC()
	p := w.rng.Float64()
	switch {
	case len(w.liveIDs) == 0 || p < 0.40:
		return w.upsert(now, w.rng.IntN(len(w.pks)), w.rng.IntN(len(w.cks)))
	case p < 0.65:
		r := w.live[w.liveIDs[w.rng.IntN(len(w.liveIDs))]]
		return w.upsert(now, r.partition, r.ck)
	case p < 0.75 && len(w.static) > 0:
		return w.staticUpdate(now, w.rng.IntN(len(w.pks)))
	case p < 0.90:
		return w.delete(now, streams.OriginUser)
	default:
		return w.delete(now, streams.OriginTTL)
	}
}

func rowID(partition int, ck int) string { return strconv.Itoa(partition) + "/" + strconv.Itoa(ck) }

// images applies the view type: which of the new and old images the record carries.
func (w *Workload) images(r *streams.Record, newImg, oldImg *streams.Row) {
	switch w.cfg.ViewType {
	case streams.ViewNewImage:
		r.NewImage = newImg
	case streams.ViewOldImage:
		r.OldImage = oldImg
	case streams.ViewNewAndOldImages:
		r.NewImage, r.OldImage = newImg, oldImg
	}
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// upsert inserts the row, or updates 1-3 of its columns when it is live.
func (w *Workload) upsert(now time.Time, partition, ck int) streams.Record {
	id := rowID(partition, ck)
	md := &streams.Metadata{WriteTime: micros(now)}
	if w.rng.IntN(10) == 0 {
		md.ExpirationTime = strconv.FormatInt(now.Add(time.Duration(1+w.rng.IntN(72))*time.Hour).Unix(), 10)
	}
	old := w.live[id]
	var cells []streams.NamedCell
	if old == nil {
		for _, c := range w.regular {
			if w.rng.IntN(10) < 8 { // rows are sparse: about 80% of the columns set
				cells = append(cells, streams.NamedCell{Name: c.Name, Cell: streams.Cell{Value: w.columnValue(c), Metadata: md}})
			}
		}
	} else {
		cells = append([]streams.NamedCell(nil), old.cells...)
		for n := 1 + w.rng.IntN(3); n > 0; n-- {
			c := w.regular[w.rng.IntN(len(w.regular))]
			nc := streams.NamedCell{Name: c.Name, Cell: streams.Cell{Value: w.columnValue(c), Metadata: md}}
			cells = setCell(cells, nc)
		}
	}
	rec := streams.Record{
		CreatedAt: now, Origin: streams.OriginUser,
		PartitionKeys: w.pks[partition], ClusteringKeys: w.cks[ck],
	}
	target := w.cfg.RowBytes
	if w.cfg.LargeRowRate > 0 && w.rng.Float64() < w.cfg.LargeRowRate {
		target = w.cfg.LargeRowBytes
	}
	rowMD := &streams.Metadata{WriteTime: md.WriteTime}
	if target > 0 {
		cells = w.fit(rec, cells, rowMD, md, target)
	}
	var oldImg *streams.Row
	if old != nil {
		oldImg = &streams.Row{ValueCells: old.cells, RowMetadata: &streams.Metadata{WriteTime: old.writeTime}}
	}
	w.images(&rec, &streams.Row{ValueCells: cells, RowMetadata: rowMD}, oldImg)
	if old == nil {
		w.liveIDs = append(w.liveIDs, id)
		w.live[id] = &liveRow{partition: partition, ck: ck, cells: cells, writeTime: md.WriteTime}
	} else {
		old.cells, old.writeTime = cells, md.WriteTime
	}
	return rec
}

// fit drops random cells, then pads the padding column, until the record carrying only
// this new image is about target bytes of wire JSON. The live row keeps the result, as the
// table would.
func (w *Workload) fit(rec streams.Record, cells []streams.NamedCell, rowMD, md *streams.Metadata, target int) []streams.NamedCell {
	size := func() int {
		rec.NewImage = &streams.Row{ValueCells: cells, RowMetadata: rowMD}
		return len(streams.EncodeRecord(&rec))
	}
	// shrink drops random cells other than the padding column while the row is too big.
	shrink := func() {
		for size() > target {
			var others []int
			for i, c := range cells {
				if c.Name != w.pad {
					others = append(others, i)
				}
			}
			if len(others) == 0 || (w.pad == "" && len(others) == 1) {
				return
			}
			i := others[w.rng.IntN(len(others))]
			cells = append(cells[:i:i], cells[i+1:]...)
		}
	}
	shrink()
	if w.pad == "" || size() == target {
		return cells
	}
	c, _ := w.cfg.Schema.column(w.pad)
	padCell := func(n int) streams.NamedCell {
		return streams.NamedCell{Name: w.pad, Cell: streams.Cell{Value: streams.CellValue{Type: valueType(c.Type), Text: w.filler(n)}, Metadata: md}}
	}
	// Set the padding cell with this write's metadata first (its name, framing and metadata
	// count too), make room for it, then size its text to close the gap.
	cells = setCell(cells, padCell(1))
	shrink()
	return setCell(cells, padCell(max(1, 1+target-size())))
}

// setCell replaces the named cell or appends it, keeping column order stable.
func setCell(cells []streams.NamedCell, nc streams.NamedCell) []streams.NamedCell {
	for i := range cells {
		if cells[i].Name == nc.Name {
			cells[i] = nc
			return cells
		}
	}
	return append(cells, nc)
}

func (w *Workload) staticUpdate(now time.Time, partition int) streams.Record {
	md := &streams.Metadata{WriteTime: micros(now)}
	var cells []streams.NamedCell
	for _, c := range w.static {
		cells = append(cells, streams.NamedCell{Name: c.Name, Cell: streams.Cell{Value: w.columnValue(c), Metadata: md}})
	}
	rec := streams.Record{
		CreatedAt: now, Origin: streams.OriginUser,
		PartitionKeys: w.pks[partition], ClusteringKeys: []streams.Column{},
	}
	var oldImg *streams.Row
	if prev, ok := w.statics[partition]; ok {
		oldImg = &streams.Row{StaticCells: prev}
	}
	w.images(&rec, &streams.Row{StaticCells: cells, RowMetadata: &streams.Metadata{WriteTime: md.WriteTime}}, oldImg)
	w.statics[partition] = cells
	return rec
}

func (w *Workload) delete(now time.Time, origin string) streams.Record {
	i := w.rng.IntN(len(w.liveIDs))
	id := w.liveIDs[i]
	r := w.live[id]
	w.liveIDs[i] = w.liveIDs[len(w.liveIDs)-1]
	w.liveIDs = w.liveIDs[:len(w.liveIDs)-1]
	delete(w.live, id)
	rec := streams.Record{
		CreatedAt: now, Origin: origin,
		PartitionKeys: w.pks[r.partition], ClusteringKeys: w.cks[r.ck],
	}
	w.images(&rec, nil, &streams.Row{ValueCells: r.cells, RowMetadata: &streams.Metadata{WriteTime: r.writeTime}})
	return rec
}

var words = strings.Fields("the quick brown fox jumps over a lazy dog while streaming media content across regions " +
	"episode season trailer premiere studio archive caption subtitle chapter frame codec bitrate")

func (w *Workload) filler(n int) string {
	var b strings.Builder
	for b.Len() < n {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[w.rng.IntN(len(words))])
	}
	return b.String()[:n]
}

// sampleValues gives some columns of the sample table believable values (tenants, locales,
// small revisions, owners); every other column gets a random value of its type.
var sampleValues = map[string][]string{
	"tenant":   {"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell"},
	"locale":   {"en-US", "en-GB", "fr-FR", "de-DE", "ja-JP", "pt-BR"},
	"revision": {"1", "2", "3"},
	"owner":    {"studio-north", "studio-south", "archive-team", "partner-feed"},
}

// columnValue returns a value for a column of the table.
func (w *Workload) columnValue(c ColumnDef) streams.CellValue {
	if vals, ok := sampleValues[c.Name]; ok && w.cfg.Schema.Keyspace == "media" && w.cfg.Schema.Name == "media_content" {
		return streams.CellValue{Type: valueType(c.Type), Text: vals[w.rng.IntN(len(vals))]}
	}
	return w.value(c.Type, 0)
}

// valueType is the union member type of a CQL type string.
func valueType(cql string) streams.CQLType {
	t, err := parseCQLType(cql)
	if err != nil {
		return streams.TypeText
	}
	switch t.name {
	case "boolean":
		return streams.TypeBool
	case "list", "set", "map", "tuple":
		return streams.CQLType(t.name)
	}
	if scalarTypes[t.name] {
		return streams.CQLType(t.name)
	}
	return streams.TypeUDT
}

// value generates a random value of a CQL type.
func (w *Workload) value(cql string, depth int) streams.CellValue {
	t, err := parseCQLType(cql)
	if err != nil {
		panic(fmt.Sprintf("emulator: schema was validated, yet %v", err))
	}
	return w.valueOf(t, depth)
}

func (w *Workload) valueOf(t *cqlType, depth int) streams.CellValue {
	switch t.name {
	case "list", "set":
		return w.collectionOf(t, depth)
	case "map":
		return w.mapOf(t, depth)
	case "tuple":
		return w.tupleOf(t, depth)
	}
	if v, ok := w.scalarOf(t.name); ok {
		return v
	}
	return w.udtOf(t, depth)
}

// scalarOf generates a random value of a scalar CQL type; ok is false for any other name.
func (w *Workload) scalarOf(name string) (v streams.CellValue, ok bool) {
	r := w.rng
	txt := func(typ streams.CQLType, s string) (streams.CellValue, bool) {
		return streams.CellValue{Type: typ, Text: s}, true
	}
	switch name {
	case "ascii":
		return txt(streams.TypeASCII, fmt.Sprintf("%s-%d", words[r.IntN(len(words))], r.IntN(10000)))
	case "text", "varchar":
		return txt(streams.CQLType(name), w.filler(8+r.IntN(40)))
	case "bigint", "counter":
		return txt(streams.CQLType(name), strconv.FormatInt(int64(r.Uint64()), 10))
	case "int":
		return txt(streams.TypeInt, strconv.FormatInt(int64(int32(r.Uint32())), 10))
	case "smallint":
		return txt(streams.TypeSmallint, strconv.FormatInt(int64(int16(r.Uint32())), 10))
	case "tinyint":
		return txt(streams.TypeTinyint, strconv.FormatInt(int64(int8(r.Uint32())), 10))
	case "float":
		return txt(streams.TypeFloat, strconv.FormatFloat(float64(float32(r.NormFloat64()*100)), 'g', -1, 32))
	case "double":
		return txt(streams.TypeDouble, strconv.FormatFloat(r.NormFloat64()*1e6, 'g', -1, 64))
	case "decimal": // beyond 64 bits, with a scale
		return txt(streams.TypeDecimal, w.sign()+w.digits(20+r.IntN(10))+"."+w.digits(1+r.IntN(8)))
	case "varint": // beyond 64 bits
		return txt(streams.TypeVarint, w.sign()+w.digits(20+r.IntN(20)))
	case "blob":
		b := make([]byte, 8+r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return streams.CellValue{Type: streams.TypeBlob, Blob: b}, true
	case "boolean":
		return streams.CellValue{Type: streams.TypeBool, Bool: r.IntN(2) == 1}, true
	case "date":
		return txt(streams.TypeDate, time.Unix(0, 0).UTC().AddDate(0, 0, r.IntN(25000)).Format("2006-01-02"))
	case "timestamp":
		return txt(streams.TypeTimestamp, strconv.FormatInt(1600000000000+r.Int64N(200000000000), 10))
	case "time":
		return txt(streams.TypeTime, fmt.Sprintf("%02d:%02d:%02d.%09d", r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e9)))
	case "duration":
		return txt(streams.TypeDuration, fmt.Sprintf("%dmo%dd%dh%dm%ds", r.IntN(3), r.IntN(30), r.IntN(24), r.IntN(60), r.IntN(60)))
	case "inet":
		if r.IntN(2) == 0 {
			return txt(streams.TypeInet, fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256)))
		}
		return txt(streams.TypeInet, fmt.Sprintf("2001:db8::%x:%x", r.IntN(65536), r.IntN(65536)))
	case "uuid":
		return txt(streams.TypeUUID, w.uuid(4))
	case "timeuuid":
		return txt(streams.TypeTimeuuid, w.uuid(1))
	}
	return streams.CellValue{}, false
}

// collectionOf generates a list or a set of up to 4 elements (a set's distinct and sorted).
func (w *Workload) collectionOf(t *cqlType, depth int) streams.CellValue {
	n := w.rng.IntN(5)
	elems := []streams.Cell{}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		v := w.valueOf(t.args[0], depth+1)
		if t.name == "set" {
			k := valueText(&v)
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		elems = append(elems, streams.Cell{Value: v})
	}
	if t.name == "set" { // sets come sorted
		sort.Slice(elems, func(i, j int) bool { return valueText(&elems[i].Value) < valueText(&elems[j].Value) })
	}
	return streams.CellValue{Type: streams.CQLType(t.name), Elems: elems}
}

// mapOf generates a map of up to 4 entries with distinct keys.
func (w *Workload) mapOf(t *cqlType, depth int) streams.CellValue {
	n := w.rng.IntN(5)
	entries := []streams.MapEntry{}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		k := w.valueOf(t.args[0], depth+1)
		kt := valueText(&k)
		if seen[kt] {
			continue
		}
		seen[kt] = true
		entries = append(entries, streams.MapEntry{Key: k, Value: w.valueOf(t.args[1], depth+1)})
	}
	return streams.CellValue{Type: streams.TypeMap, Entries: entries}
}

// tupleOf generates a tuple, one value per component.
func (w *Workload) tupleOf(t *cqlType, depth int) streams.CellValue {
	elems := make([]streams.Cell, len(t.args))
	for i, a := range t.args {
		elems[i] = streams.Cell{Value: w.valueOf(a, depth+1)}
	}
	return streams.CellValue{Type: streams.TypeTuple, Elems: elems}
}

// udtOf generates a value of the user-defined type t names: every field set.
func (w *Workload) udtOf(t *cqlType, depth int) streams.CellValue {
	u, ok := w.types[t.name]
	if !ok || depth > 8 {
		return streams.CellValue{} // an unknown type or a runaway UDT: a null
	}
	fields := make([]streams.NamedCell, len(u.Fields))
	for i, f := range u.Fields {
		fields[i] = streams.NamedCell{Name: f.Name, Cell: streams.Cell{Value: w.value(f.Type, depth+1)}}
	}
	return streams.CellValue{Type: streams.TypeUDT, Fields: fields}
}

func (w *Workload) sign() string {
	if w.rng.IntN(2) == 0 {
		return "-"
	}
	return ""
}

func (w *Workload) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + w.rng.IntN(10))
	}
	if n > 1 && b[0] == '0' {
		b[0] = '1'
	}
	return string(b)
}

func (w *Workload) uuid(version byte) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
