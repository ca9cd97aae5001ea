package encode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// ParquetCreatedBy is the created_by of every Parquet file: fixed (not the library's
// version string), so a replay writes the same bytes whatever build writes it. It follows
// parquet-java's "<application> version <semver>" form: a created_by that does not parse
// makes parquet-java (Spark, Hive) distrust the files' string statistics.
const ParquetCreatedBy = "keyspaces-cdc-s3 version 1.0.0"

// Row groups and batches. Events are shredded into column buffers; every parquetBatchRows
// events (or parquetBatchBytes of them) the buffers are written to the row group's column
// writers, which encode and compress pages as they fill (arrow-go's buffered row group:
// it holds compressed pages, plus at most one open page and one dictionary per column).
// A row group ends once it holds parquetRowGroupBytes of events, so a file at the default
// flush limits (10,000 records, 64 MiB) has one to four row groups; the memory of a shard
// is its compressed file so far plus one row group's open pages and dictionaries plus one
// batch. Sizes are estimated uncompressed bytes (record.Event.Size).
const (
	parquetBatchRows     = 1000
	parquetBatchBytes    = 1 << 20
	parquetRowGroupBytes = 16 << 20
	parquetMaxStatsBytes = 64
)

// parquetCodecs are the compressions of format parquet.
var parquetCodecs = map[string]compress.Compression{
	CompressionZstd: compress.Codecs.Zstd, CodecSnappy: compress.Codecs.Snappy,
	CompressionGzip: compress.Codecs.Gzip, CompressionNone: compress.Codecs.Uncompressed,
}

// parquetFile builds a Parquet file with arrow-go's low-level writer (parquet/file): the
// events are shredded straight into column values with their definition and repetition
// levels (pqEncoder), with no Arrow arrays in between. Like avroFile, an event that needs a
// newer schema ends a streamed file (ErrSchemaChanged), and with keepEvents (a replay) the
// events are kept and written at Finish with the newest schema.
type parquetFile struct {
	schemas    *Schemas
	baseProps  []parquet.WriterProperty
	keepEvents bool
	opts       ParquetOptions
	// props are the writer properties of the last dictionary choice (dictKey), kept across
	// files: the choice rarely changes from one file to the next.
	props   *parquet.WriterProperties
	dictKey string

	// The encoder of the last schema used, kept across files.
	enc *pqEncoder

	schema *ParquetSchema // of the file being built; nil when empty
	buf    *bytes.Buffer
	w      *file.Writer
	rg     file.BufferedRowGroupWriter
	events []*record.Event // keepEvents mode
	n      int
	size   int
	// batch and row group so far: events and their estimated bytes.
	batchRows, batchBytes, rgBytes int
	lastBody                       int // size of the last file
	// err is a failure of the writer itself (not of an event's values): the file cannot be
	// finished, and Finish returns it.
	err error
}

func newParquetFile(schemas *Schemas, compression string, keepEvents bool, opts ParquetOptions) (*parquetFile, error) {
	if err := CheckFormat(FormatParquet, compression); err != nil {
		return nil, err
	}
	codec, ok := parquetCodecs[compression]
	if !ok { // a test keeps parquetCodecs and config's list the same
		return nil, fmt.Errorf("compression %q has no Parquet codec", compression)
	}
	if err := registerParquetZstd(); err != nil {
		return nil, fmt.Errorf("zstd codec: %w", err)
	}
	base := []parquet.WriterProperty{
		parquet.WithCreatedBy(ParquetCreatedBy),
		parquet.WithVersion(parquet.V2_6),
		parquet.WithDataPageVersion(parquet.DataPageV1),
		parquet.WithCompression(codec),
		parquet.WithDictionaryDefault(false), // per column: parquetFile.start
		parquet.WithStats(true),
		// No min or max longer than this (arrow-go drops one, it does not truncate it): a
		// long text's bounds prune nothing and cost their length twice per page and twice
		// per column chunk. 64 bytes is what parquet-java truncates its column index to.
		parquet.WithMaxStatsSize(parquetMaxStatsBytes),
	}
	if compression == CompressionZstd || compression == CompressionGzip {
		// Level 1 (zstd's fastest, deflate's BestSpeed), the fastest level: CPU is the
		// scarcer resource of a shard worker, and the files stay smaller than Avro +
		// deflate's (BENCHMARKS.md).
		base = append(base, parquet.WithCompressionLevel(1))
	}
	return &parquetFile{schemas: schemas, baseProps: base, keepEvents: keepEvents, opts: opts}, nil
}

func (f *parquetFile) Len() int  { return f.n }
func (f *parquetFile) Size() int { return f.size }

func (f *parquetFile) Add(ctx context.Context, ev *record.Event) error {
	var a *AvroSchema
	if f.schema != nil {
		a = f.schema.Avro
	}
	if a == nil || a.covers(ev) != nil {
		var err error
		if a, err = f.schemas.For(ctx, ev); err != nil {
			return err
		}
	}
	if !f.keepEvents && f.n > 0 && a != f.schema.Avro {
		return ErrSchemaChanged
	}
	enc, err := f.encoder(ctx, a)
	if err != nil {
		return err
	}
	// Check before anything changes, so that an event that cannot be written fails here,
	// alone.
	if err := enc.check(ev); err != nil {
		return err
	}
	f.schema = enc.ps
	size := ev.Size()
	if f.keepEvents {
		f.events = append(f.events, ev)
	} else if f.err == nil {
		f.write(ev, size)
	}
	f.n++
	f.size += size
	return nil
}

// encoder returns the encoder of schema version a; a new version is first given to
// ParquetOptions.Prepare, when set, for its field ids.
func (f *parquetFile) encoder(ctx context.Context, a *AvroSchema) (*pqEncoder, error) {
	if f.enc != nil && f.enc.ps.Avro == a {
		return f.enc, nil
	}
	opts := f.opts
	if opts.Prepare != nil {
		plain, err := NewParquetSchemaWith(a, ParquetOptions{TimestampMicros: opts.TimestampMicros, OmitUnknown: opts.OmitUnknown})
		if err != nil {
			return nil, err
		}
		if opts.FieldID, err = opts.Prepare(ctx, plain); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	ps, err := NewParquetSchemaWith(a, opts)
	if err != nil {
		return nil, err
	}
	f.enc = newPQEncoder(ps)
	return f.enc, nil
}

// write shreds a checked event of estimated size bytes into the encoder's buffers, starting
// the file with the first, and writes the buffers out when the batch is full. A writer
// failure is kept in f.err for Finish.
func (f *parquetFile) write(ev *record.Event, size int) {
	f.enc.add(ev)
	f.batchRows++
	f.batchBytes += size
	f.rgBytes += size
	if f.batchRows >= parquetBatchRows || f.batchBytes >= parquetBatchBytes {
		f.err = f.flushBatch()
	}
}

// start creates the file's writer once its first batch is shredded, with a dictionary for
// the columns whose values in that batch repeat (pqEncoder.dictionaryLeaves).
func (f *parquetFile) start() error {
	dict := f.enc.dictionaryLeaves()
	if key := strings.Join(dict, "\x00"); f.props == nil || key != f.dictKey {
		opts := append([]parquet.WriterProperty(nil), f.baseProps...)
		for _, path := range dict {
			opts = append(opts, parquet.WithDictionaryFor(path, true))
		}
		f.props, f.dictKey = parquet.NewWriterProperties(opts...), key
	}
	// Sized like the last file, so that the buffer rarely grows (each growth copies it).
	f.buf = bytes.NewBuffer(make([]byte, 0, f.lastBody+f.lastBody/8))
	meta := metadata.KeyValueMetadata{}
	if err := meta.Append("keyspaces_cdc_s3.schema_fingerprint", f.enc.ps.Fingerprint); err != nil {
		return err
	}
	w, err := file.NewParquetWriterWithError(f.buf, f.enc.ps.root, file.WithWriterProps(f.props), file.WithWriteMetadata(meta))
	if err != nil {
		return fmt.Errorf("create parquet writer: %w", err)
	}
	f.w = w
	return nil
}

// flushBatch writes the encoder's buffers into the current row group, and closes the row
// group once it is full.
func (f *parquetFile) flushBatch() error {
	if f.batchRows == 0 {
		return nil
	}
	if f.w == nil {
		if err := f.start(); err != nil {
			return err
		}
	}
	if f.rg == nil {
		rg, err := f.w.AppendBufferedRowGroupChecked()
		if err != nil {
			return fmt.Errorf("start parquet row group: %w", err)
		}
		f.rg = rg
	}
	if err := f.enc.flush(f.rg); err != nil {
		return err
	}
	f.batchRows, f.batchBytes = 0, 0
	if f.rgBytes >= parquetRowGroupBytes {
		if err := f.rg.Close(); err != nil {
			return fmt.Errorf("close parquet row group: %w", err)
		}
		f.rg, f.rgBytes = nil, 0
	}
	return nil
}

func (f *parquetFile) Finish() (*File, error) {
	if f.n == 0 {
		return nil, errors.New("finish parquet file: no events")
	}
	defer f.reset()
	if f.keepEvents && f.err == nil {
		enc, err := f.encoder(context.Background(), f.schema.Avro)
		if err != nil {
			return nil, err
		}
		for _, ev := range f.events {
			if err := enc.check(ev); err != nil {
				return nil, fmt.Errorf("encode event %s: %w", ev.SequenceNumber, err)
			}
			if f.write(ev, ev.Size()); f.err != nil {
				break
			}
		}
	}
	if f.err == nil {
		f.err = f.flushBatch()
	}
	if f.err == nil {
		if err := f.w.Close(); err != nil {
			f.err = fmt.Errorf("close parquet file: %w", err)
		}
	}
	if f.err != nil {
		return nil, f.err
	}
	ps := f.schema
	f.lastBody = f.buf.Len()
	return &File{Body: f.buf.Bytes(), Ext: "parquet", ContentType: "application/vnd.apache.parquet",
		Records: f.n, UncompressedBytes: f.size,
		SchemaFile: &SchemaFile{Name: ps.Fingerprint + ".parquet.json", Body: ps.Doc, ContentType: "application/json"},
	}, nil
}

// reset starts an empty file (the encoder and its buffers are kept).
func (f *parquetFile) reset() {
	if f.enc != nil {
		f.enc.reset()
	}
	f.schema, f.buf, f.w, f.rg, f.events, f.err = nil, nil, nil, nil, nil, nil
	f.n, f.size, f.batchRows, f.batchBytes, f.rgBytes = 0, 0, 0, 0, 0
}
