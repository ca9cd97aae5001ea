package encode

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// ErrSchemaChanged is returned by an Avro Builder's Add when the event needs a newer schema
// than the file being built was started with: the caller finishes the file and adds the
// event again, to a new file with the new schema.
var ErrSchemaChanged = errors.New("avro schema changed: finish the file first")

// avroFile builds an Avro Object Container File. Normally each event is encoded at Add
// into compressed blocks (memory: the compressed file plus one block), and an event that
// needs a newer schema ends the file (ErrSchemaChanged). With keepEvents (a replay, whose
// file must end at a given record), events are kept and encoded at Finish with the newest
// schema, which covers every event added before it.
type avroFile struct {
	schemas    *Schemas
	codec      string
	keepEvents bool
	zstd       *zstd.Encoder // created on first use, reused for every file of this builder

	schema *AvroSchema
	dw     *datumWriter
	out    *ocfWriter      // streaming mode
	events []*record.Event // keepEvents mode
	n      int
	size   int
	sync   [16]byte
}

func newAvroFile(schemas *Schemas, codec string, keepEvents bool) *avroFile {
	return &avroFile{schemas: schemas, codec: codec, keepEvents: keepEvents}
}

func (f *avroFile) Add(ctx context.Context, ev *record.Event) error {
	s := f.schema
	if s == nil || s.covers(ev) != nil {
		var err error
		if s, err = f.schemas.For(ctx, ev); err != nil {
			return err
		}
	}
	if !f.keepEvents && f.n > 0 && s != f.schema {
		return ErrSchemaChanged
	}
	// Encode before anything changes, so that an event that cannot be written fails here,
	// alone.
	datum, err := f.datum(s).encode(ev)
	if err != nil {
		return err
	}
	if f.n == 0 {
		f.sync = SyncMarker(ev.ShardID, ev.SequenceNumber)
	}
	if f.keepEvents {
		f.events = append(f.events, ev)
	} else {
		if f.n == 0 {
			if f.out, err = f.newOCF(s); err != nil {
				return err
			}
		}
		if err := f.out.write(datum); err != nil {
			return err
		}
	}
	f.schema = s
	f.n++
	f.size += ev.Size()
	return nil
}

// datum returns the datum writer of schema s.
func (f *avroFile) datum(s *AvroSchema) *datumWriter {
	if f.dw == nil || f.dw.s != s {
		f.dw = newDatumWriter(s)
	}
	return f.dw
}

func (f *avroFile) Len() int  { return f.n }
func (f *avroFile) Size() int { return f.size }

func (f *avroFile) newOCF(s *AvroSchema) (*ocfWriter, error) {
	if f.codec == CodecZstandard && f.zstd == nil {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("create zstd encoder: %w", err)
		}
		f.zstd = enc
	}
	return newOCFWriter(s, f.codec, f.sync, f.zstd)
}

func (f *avroFile) Finish() (*File, error) {
	if f.n == 0 {
		return nil, errors.New("finish avro file: no events")
	}
	if f.keepEvents {
		out, err := f.newOCF(f.schema)
		if err != nil {
			return nil, err
		}
		dw := f.datum(f.schema)
		for _, ev := range f.events {
			datum, err := dw.encode(ev)
			if err == nil {
				err = out.write(datum)
			}
			if err != nil {
				return nil, fmt.Errorf("encode event %s: %w", ev.SequenceNumber, err)
			}
		}
		f.out = out
	}
	body, err := f.out.finish()
	if err != nil {
		return nil, err
	}
	file := &File{Body: body, Ext: "avro", ContentType: "application/avro", Records: f.n,
		UncompressedBytes: f.size, Schema: f.schema,
		SchemaFile: &SchemaFile{Name: f.schema.Fingerprint + ".avsc", Body: []byte(f.schema.JSON), ContentType: "application/json"}}
	f.out, f.events, f.schema, f.n, f.size = nil, nil, nil, 0, 0
	return file, nil
}

// SyncMarker derives a file's 16-byte sync marker from its shard and first record, which a
// replay of the file shares: the replay then writes the same bytes (a random marker, the
// usual choice, would not).
func SyncMarker(shardID, firstSeq string) [16]byte {
	sum := sha256.Sum256([]byte("avro-sync:" + shardID + ":" + firstSeq))
	var s [16]byte
	copy(s[:], sum[:16])
	return s
}

// ocfWriter writes an Avro Object Container File. hamba/avro's ocf.Encoder writes the data
// blocks (and compresses them); the header is written here, because ocf writes its
// metadata map in Go's random map order, which would make two runs differ.
type ocfWriter struct {
	schema    *AvroSchema
	codec     string
	sync      [16]byte
	blocks    bytes.Buffer
	enc       *ocf.Encoder
	headerLen int
}

func newOCFWriter(s *AvroSchema, codec string, sync [16]byte, zenc *zstd.Encoder) (*ocfWriter, error) {
	opts := []ocf.EncoderFunc{ocf.WithCodec(ocf.CodecName(codec)), ocf.WithSyncBlock(sync),
		ocf.WithBlockLength(1000), ocf.WithBlockSize(1 << 20)}
	if codec == CodecDeflate {
		// Level 1 encodes twice as fast as the default 6 for files about a quarter larger
		// (see docs/benchmarks.md); CPU is the scarcer resource of a shard worker.
		opts = append(opts, ocf.WithCompressionLevel(flate.BestSpeed))
	}
	if zenc != nil {
		opts = append(opts, ocf.WithZStandardEncoder(zenc))
	}
	w := &ocfWriter{schema: s, codec: codec, sync: sync}
	enc, err := ocf.NewEncoderWithSchema(s.schema, &w.blocks, opts...)
	if err != nil {
		return nil, fmt.Errorf("create ocf encoder: %w", err)
	}
	w.enc, w.headerLen = enc, w.blocks.Len()
	return w, nil
}

// write appends one encoded datum.
func (w *ocfWriter) write(datum []byte) error {
	if _, err := w.enc.Write(datum); err != nil {
		return fmt.Errorf("write ocf block: %w", err)
	}
	return nil
}

func (w *ocfWriter) finish() ([]byte, error) {
	if err := w.enc.Close(); err != nil {
		return nil, fmt.Errorf("close ocf encoder: %w", err)
	}
	blocks := w.blocks.Bytes()[w.headerLen:]
	out := appendOCFHeader(make([]byte, 0, len(blocks)+len(w.schema.JSON)+64), w.schema.JSON, w.codec, w.sync)
	return append(out, blocks...), nil
}

// appendOCFHeader writes the container header with its metadata in sorted key order.
func appendOCFHeader(b []byte, schemaJSON, codec string, sync [16]byte) []byte {
	b = append(b, 'O', 'b', 'j', 1)
	b = binary.AppendVarint(b, 2) // one block of two entries (Avro longs are zig-zag varints)
	b = appendAvroBytes(b, "avro.codec")
	b = appendAvroBytes(b, codec)
	b = appendAvroBytes(b, "avro.schema")
	b = appendAvroBytes(b, schemaJSON)
	b = binary.AppendVarint(b, 0)
	return append(b, sync[:]...)
}

func appendAvroBytes(b []byte, s string) []byte {
	b = binary.AppendVarint(b, int64(len(s)))
	return append(b, s...)
}
