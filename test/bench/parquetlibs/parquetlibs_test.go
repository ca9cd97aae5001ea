// Package parquetlibs compares Go Parquet writers on the sink's workload: the consumer's own
// writer (arrow-go v18's low-level parquet/file, events shredded straight into column
// values) against parquet-go/parquet-go writing an equivalent file from the same events.
// It is a test-only package of the test module, so parquet-go never enters the consumer
// module or the shipped binary. docs/benchmarks.md (section Parquet) records the figures.
package parquetlibs

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The workload of encode's BenchmarkEncode: 1,000 distinct ~1 KB rows of recordtest.Row's
// table, converted from stream records for every event, one file per 1,000 events.
const fileRecords = 1000

var created = time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)

var src = record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"}

func streamRecords() []*streams.Record {
	out := make([]*streams.Record, fileRecords)
	for i := range out {
		out[i] = recordtest.Row(i, recordtest.Seq(i), created, 1024)
	}
	return out
}

// pqRow is recordtest.Row's table as the consumer writes it (encode.NewParquetSchema):
// the same columns, types, nesting and order. The dictionary tags are the columns the
// consumer's writer gives a dictionary on these events (their values repeat); the test
// below checks both files agree on them.
type pqRow struct {
	Keyspace       string   `parquet:"keyspace,dict"`
	Table          string   `parquet:"table,dict"`
	ShardID        string   `parquet:"shard_id,dict"`
	SequenceNumber string   `parquet:"sequence_number"`
	CreatedAt      int64    `parquet:"created_at,timestamp(millisecond),dict"`
	Origin         string   `parquet:"origin,dict"`
	Op             string   `parquet:"op,dict"`
	Keys           pqKeys   `parquet:"keys"`
	NewImage       *pqImage `parquet:"new_image,optional"`
	OldImage       *pqImage `parquet:"old_image,optional"`

	// storage for the pointers above, so that a row allocates nothing
	newImage, oldImage pqImage
	id                 int32
}

type pqKeys struct {
	ID *int32 `parquet:"id,optional"`
}

type pqImage struct {
	ID    *int32   `parquet:"id,optional"`
	Name  *string  `parquet:"name,optional"`
	Note  *string  `parquet:"note,optional"`
	N     *int64   `parquet:"n,optional"`
	Score *float64 `parquet:"score,optional"`
	At    *int64   `parquet:"at,optional,timestamp(millisecond),dict"`
	Tags  []string `parquet:"tags,optional,list"`

	id          int32
	name, note  string
	n, at       int64
	score       float64
	tagsStorage []string
}

// oldImageAt drops the dictionary of old_image.at: the consumer's writer gives none to a
// column with no values in the file's first batch (this workload's events are inserts).
var oldImageAt = parquet.StructTag(`parquet:"at,optional,timestamp(millisecond)"`, "old_image", "At")

var pqSchema = parquet.NewSchema("t", parquet.SchemaOf(pqRow{}, oldImageAt))

// writerOptions are parquet-go's options for a file like the consumer's: data pages v1 of
// 1 MiB, zstd at its fastest level, page statistics except for the long text (the
// consumer writes no min/max over 64 bytes), a fixed created_by.
func writerOptions(codec parquet.WriterOption) []parquet.WriterOption {
	return []parquet.WriterOption{pqSchema, oldImageAt, codec, parquet.DataPageVersion(1), parquet.PageBufferSize(1 << 20),
		parquet.CreatedBy("keyspaces-cdc-s3", "1.0.0", "bench"),
		parquet.SkipPageStatistics("new_image", "note"), parquet.SkipPageStatistics("old_image", "note")}
}

// stockZstd is parquet-go's own zstd codec at its fastest level (encoders from a pool).
func stockZstd() parquet.WriterOption {
	return parquet.Compression(&pqzstd.Codec{Level: pqzstd.SpeedFastest})
}

// sharedZstd compresses with one process-wide klauspost encoder set up as the consumer's
// (encode/parquetzstd.go: fastest, 1 MiB window, no checksum): parquet-go with the
// consumer's compression, to tell the library's cost from its codec's.
type sharedZstd struct {
	enc   *kzstd.Encoder
	stock pqzstd.Codec
}

var sharedZstdCodec = newSharedZstd()

func newSharedZstd() parquet.WriterOption {
	enc, err := kzstd.NewWriter(nil, kzstd.WithEncoderLevel(kzstd.SpeedFastest), kzstd.WithWindowSize(1<<20),
		kzstd.WithZeroFrames(true), kzstd.WithAllLitEntropyCompression(true), kzstd.WithEncoderCRC(false))
	if err != nil {
		panic(err)
	}
	return parquet.Compression(&sharedZstd{enc: enc})
}

func (c *sharedZstd) String() string                            { return "ZSTD" }
func (c *sharedZstd) CompressionCodec() format.CompressionCodec { return format.Zstd }
func (c *sharedZstd) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}
func (c *sharedZstd) Decode(dst, src []byte) ([]byte, error) { return c.stock.Decode(dst, src) }

// A writer turns events into files of fileRecords events, like encode.Builder.
type writer interface {
	add(ctx context.Context, ev *record.Event) error
	finish() ([]byte, error)
}

// arrowWriter is the consumer's own Parquet builder.
type arrowWriter struct{ b encode.Builder }

func newArrowWriter() writer {
	b, err := encode.NewBuilder(encode.Options{Format: encode.FormatParquet, Compression: encode.CompressionZstd,
		Schemas: encode.NewSchemas(nil, false, nil)})
	if err != nil {
		panic(err)
	}
	return &arrowWriter{b}
}

func (w *arrowWriter) add(ctx context.Context, ev *record.Event) error { return w.b.Add(ctx, ev) }

func (w *arrowWriter) finish() ([]byte, error) {
	f, err := w.b.Finish()
	if err != nil {
		return nil, err
	}
	return f.Body, nil
}

// pqGoWriter is parquet-go: events go through the consumer's schema tracking
// (encode.Schemas.For, as the consumer's writers do) and a UTF-8 check of every string
// (Parquet strings must be UTF-8; the consumer checks them too), then either into Go
// structs for GenericWriter[pqRow] (its fastest path, but it needs the table's type at
// compile time) or into parquet.Row values with their levels for GenericWriter[any]'s
// WriteRows (what a sink writing tables known only at run time would use), batched by
// 1,000 rows as the consumer batches. Each file gets a new writer: parquet-go v0.32.0's
// Reset empties path_in_schema in every later file's footer (parquet-go/parquet-go#602;
// Athena and Spark then fail to read it). The codec (and its encoders) is shared by the
// files.
type pqGoWriter struct {
	schemas *encode.Schemas
	structs bool
	codec   parquet.WriterOption
	generic *parquet.GenericWriter[pqRow]
	rows    *parquet.GenericWriter[any]
	out     *bytes.Buffer
	last    int
	batch   []pqRow
	values  []parquet.Row
	n       int
}

func newPQGoWriter(structs bool, codec parquet.WriterOption) writer {
	return &pqGoWriter{schemas: encode.NewSchemas(nil, false, nil), structs: structs, codec: codec,
		batch: make([]pqRow, 0, 1000), values: make([]parquet.Row, 0, 1000)}
}

func (w *pqGoWriter) add(ctx context.Context, ev *record.Event) error {
	if _, err := w.schemas.For(ctx, ev); err != nil {
		return err
	}
	if w.n == 0 {
		w.out = bytes.NewBuffer(make([]byte, 0, w.last+w.last/8))
		if w.structs {
			w.generic = parquet.NewGenericWriter[pqRow](w.out, writerOptions(w.codec)...)
		} else {
			w.rows = parquet.NewGenericWriter[any](w.out, writerOptions(w.codec)...)
		}
	}
	w.n++
	if w.structs {
		w.batch = w.batch[:len(w.batch)+1]
		if err := toStruct(ev, &w.batch[len(w.batch)-1]); err != nil {
			return err
		}
		if len(w.batch) == cap(w.batch) {
			return w.flush()
		}
		return nil
	}
	w.values = w.values[:len(w.values)+1]
	var err error
	if w.values[len(w.values)-1], err = toRow(ev, w.values[len(w.values)-1][:0]); err != nil {
		return err
	}
	if len(w.values) == cap(w.values) {
		return w.flush()
	}
	return nil
}

func (w *pqGoWriter) flush() error {
	var err error
	if w.structs {
		_, err = w.generic.Write(w.batch)
		w.batch = w.batch[:0]
	} else {
		_, err = w.rows.WriteRows(w.values)
		w.values = w.values[:0]
	}
	return err
}

func (w *pqGoWriter) finish() ([]byte, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	var err error
	if w.structs {
		err = w.generic.Close()
	} else {
		err = w.rows.Close()
	}
	w.n, w.last = 0, w.out.Len()
	return w.out.Bytes(), err
}

func validText(ss ...string) error {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return fmt.Errorf("%q is not UTF-8", s)
		}
	}
	return nil
}

// toStruct fills r with the event.
func toStruct(ev *record.Event, r *pqRow) error {
	if err := validText(ev.Keyspace, ev.Table, ev.ShardID, ev.SequenceNumber, ev.Origin, string(ev.Op)); err != nil {
		return err
	}
	r.Keyspace, r.Table, r.ShardID, r.SequenceNumber = ev.Keyspace, ev.Table, ev.ShardID, ev.SequenceNumber
	r.CreatedAt, r.Origin, r.Op = ev.CreatedAt.UnixMilli(), ev.Origin, string(ev.Op)
	r.Keys.ID = nil
	for _, k := range ev.Keys {
		if k.Name == "id" && !k.Value.IsNull() {
			r.id = int32(k.Value.Int)
			r.Keys.ID = &r.id
		}
	}
	var err error
	if r.NewImage, err = r.newImage.fill(ev.NewImage); err != nil {
		return err
	}
	r.OldImage, err = r.oldImage.fill(ev.OldImage)
	return err
}

func (m *pqImage) fill(img *record.Image) (*pqImage, error) {
	if img == nil {
		return nil, nil
	}
	m.ID, m.Name, m.Note, m.N, m.Score, m.At, m.Tags = nil, nil, nil, nil, nil, nil, nil
	for i := range img.Columns {
		c := &img.Columns[i]
		v := &c.Value
		if v.IsNull() {
			continue
		}
		switch c.Name {
		case "id":
			m.id, m.ID = int32(v.Int), &m.id
		case "name":
			m.name, m.Name = v.Text, &m.name
		case "note":
			m.note, m.Note = v.Text, &m.note
		case "n":
			m.n, m.N = v.Int, &m.n
		case "score":
			m.score, m.Score = v.Float, &m.score
		case "at":
			m.at, m.At = v.Time.UnixMilli(), &m.at
		case "tags":
			m.tagsStorage = m.tagsStorage[:0]
			for _, e := range v.Elems {
				m.tagsStorage = append(m.tagsStorage, e.Text)
			}
			m.Tags = m.tagsStorage
		default:
			return nil, fmt.Errorf("column %s not in the table", c.Name)
		}
		if err := validText(v.Text); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// The leaf columns of pqSchema, in order.
const (
	colKeyspace = iota
	colTable
	colShardID
	colSequenceNumber
	colCreatedAt
	colOrigin
	colOp
	colKeysID
	colNewImage // first of the seven image leaves: id, name, note, n, score, at, tags
	colOldImage = colNewImage + 7
)

func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// toRow appends the event's values, with their repetition and definition levels, in column
// order: a row of pqSchema for WriteRows.
func toRow(ev *record.Event, row parquet.Row) (parquet.Row, error) {
	if err := validText(ev.Keyspace, ev.Table, ev.ShardID, ev.SequenceNumber, ev.Origin, string(ev.Op)); err != nil {
		return nil, err
	}
	for i, s := range []string{ev.Keyspace, ev.Table, ev.ShardID, ev.SequenceNumber} {
		row = append(row, parquet.ByteArrayValue(bytesOf(s)).Level(0, 0, colKeyspace+i))
	}
	row = append(row, parquet.Int64Value(ev.CreatedAt.UnixMilli()).Level(0, 0, colCreatedAt),
		parquet.ByteArrayValue(bytesOf(ev.Origin)).Level(0, 0, colOrigin),
		parquet.ByteArrayValue(bytesOf(string(ev.Op))).Level(0, 0, colOp))
	id := parquet.NullValue().Level(0, 0, colKeysID)
	for _, k := range ev.Keys {
		if k.Name == "id" && !k.Value.IsNull() {
			id = parquet.Int32Value(int32(k.Value.Int)).Level(0, 1, colKeysID)
		}
	}
	row = append(row, id)
	var err error
	if row, err = appendImage(row, ev.NewImage, colNewImage); err != nil {
		return nil, err
	}
	return appendImage(row, ev.OldImage, colOldImage)
}

// appendImage appends an image's seven leaves from column first: absent image at
// definition level 0, a null column at 1, a value at 2 (a list element at 3).
func appendImage(row parquet.Row, img *record.Image, first int) (parquet.Row, error) {
	var vals [7]*record.Value
	if img != nil {
		for i := range img.Columns {
			c := &img.Columns[i]
			j := imageColumns[c.Name] - 1
			if j < 0 {
				return nil, fmt.Errorf("column %s not in the table", c.Name)
			}
			if !c.Value.IsNull() {
				vals[j] = &c.Value
			}
		}
	}
	present := 0
	if img != nil {
		present = 1
	}
	for j, v := range vals {
		col := first + j
		if v == nil {
			row = append(row, parquet.NullValue().Level(0, present, col))
			continue
		}
		switch j {
		case 0:
			row = append(row, parquet.Int32Value(int32(v.Int)).Level(0, 2, col))
		case 1, 2:
			if err := validText(v.Text); err != nil {
				return nil, err
			}
			row = append(row, parquet.ByteArrayValue(bytesOf(v.Text)).Level(0, 2, col))
		case 3:
			row = append(row, parquet.Int64Value(v.Int).Level(0, 2, col))
		case 4:
			row = append(row, parquet.DoubleValue(v.Float).Level(0, 2, col))
		case 5:
			row = append(row, parquet.Int64Value(v.Time.UnixMilli()).Level(0, 2, col))
		case 6:
			if len(v.Elems) == 0 {
				row = append(row, parquet.NullValue().Level(0, 2, col))
			}
			for k, e := range v.Elems {
				if err := validText(e.Text); err != nil {
					return nil, err
				}
				row = append(row, parquet.ByteArrayValue(bytesOf(e.Text)).Level(min(k, 1), 3, col))
			}
		}
	}
	return row, nil
}

// imageColumns numbers the image columns from 1 (0: not in the table).
var imageColumns = map[string]int{"id": 1, "name": 2, "note": 3, "n": 4, "score": 5, "at": 6, "tags": 7}

var writers = []struct {
	name string
	make func() writer
}{
	{"arrow-go", newArrowWriter},
	{"parquet-go-rows", func() writer { return newPQGoWriter(false, stockZstd()) }},
	{"parquet-go-structs", func() writer { return newPQGoWriter(true, stockZstd()) }},
	{"parquet-go-rows-sharedzstd", func() writer { return newPQGoWriter(false, sharedZstdCodec) }},
	{"parquet-go-structs-sharedzstd", func() writer { return newPQGoWriter(true, sharedZstdCodec) }},
}

// BenchmarkParquetWriters encodes the same events with each writer, one file per 1,000
// events, record conversion included (as in encode's BenchmarkEncode, whose
// parquet-zstd case arrow-go is).
func BenchmarkParquetWriters(b *testing.B) {
	recs := streamRecords()
	ctx := context.Background()
	for _, wc := range writers {
		b.Run(wc.name, func(b *testing.B) {
			w := wc.make()
			var out int
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				ev, err := record.FromStream(recs[i%len(recs)], src)
				if err != nil {
					b.Fatal(err)
				}
				if err := w.add(ctx, ev); err != nil {
					b.Fatal(err)
				}
				if (i+1)%fileRecords == 0 || i == b.N-1 {
					body, err := w.finish()
					if err != nil {
						b.Fatal(err)
					}
					out += len(body)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
			b.ReportMetric(float64(out)/float64(b.N), "file-bytes/record")
		})
	}
}

// cpuTime is the process's CPU time so far (user + system, every thread).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
