package encode

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/flate"
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
	flate      *flate.Writer // the same, for deflate

	schema *AvroSchema
	dw     *datumWriter
	out    *ocfWriter      // streaming mode
	last   int             // the length of the last file's body, to size the next one
	events []*record.Event // keepEvents mode
	n      int
	size   int
	sync   [16]byte
}

func newAvroFile(schemas *Schemas, codec string, keepEvents bool) *avroFile {
	return &avroFile{schemas: schemas, codec: codec, keepEvents: keepEvents}
}

func (f *avroFile) Add(ctx context.Context, ev *record.Event) error {
	// Encode before anything changes, so that an event that cannot be written fails here,
	// alone. The file's schema is tried first: writing checks all that covers checks, so
	// covers (which looks up every column again) is asked only when writing fails, to tell
	// an event that needs a newer schema from one the schema covers but cannot hold (a
	// null list element), whose error is the writing's.
	s := f.schema
	var datum []byte
	var err error
	if s != nil {
		datum, err = f.datum(s).encode(ev)
	}
	if s == nil || (err != nil && s.covers(ev) != nil) {
		if s, err = f.schemas.For(ctx, ev); err != nil {
			return err
		}
		if !f.keepEvents && f.n > 0 && s != f.schema {
			return ErrSchemaChanged
		}
		datum, err = f.datum(s).encode(ev)
	}
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
	if f.codec == CodecDeflate && f.flate == nil {
		fw, err := flate.NewWriter(nil, avroDeflateLevel)
		if err != nil {
			return nil, fmt.Errorf("create deflate writer: %w", err)
		}
		f.flate = fw
	}
	// A sixteenth more than the last file: files of a shard are alike, and one that grows
	// past its guess is copied once.
	return newOCFWriter(s, f.codec, f.sync, f.zstd, f.flate, f.last+f.last/16)
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
	f.last = len(body)
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

// ocfWriter writes an Avro Object Container File: the header (its metadata in sorted key
// order, where hamba/avro's ocf.Encoder writes Go's random map order, which would make two
// runs differ), then data blocks of up to ocfBlockRecords datums or ocfBlockBytes bytes, each
// compressed by the file's codec and ended by the sync marker.
//
// The blocks are written here too, not by ocf.Encoder: its deflate codec builds a new
// compress/flate writer (about a megabyte of tables to allocate and clear) for every block;
// here one klauspost/compress flate writer is reset for each, and encodes about twice as fast
// (docs/benchmarks.md, issue 18). Readers see the same format: raw deflate blocks, as the
// Avro specification asks.
// avroDeflateLevel is klauspost's level 2: its level 1 is not the standard library's and made
// files 1 % larger than the standard library's level 1 did; level 2 makes them 1.6 % smaller
// for the same CPU (BenchmarkEncode/avro-deflate: 182.4 against 187.4 bytes per record, both
// 64,000–75,000 records per CPU-second).
const avroDeflateLevel = 2

type ocfWriter struct {
	schema *AvroSchema
	codec  string
	sync   [16]byte
	zstd   *zstd.Encoder
	flate  *flate.Writer // deflate; reused from file to file (see avroFile.newOCF)

	*ocfScratch     // the block being filled, from ocfScratchPool
	count       int // datums in block
	// The header and the finished blocks: the file's body, handed out by finish.
	blocks []byte
}

// ocfScratch holds the buffers an ocfWriter needs only while it writes: the datums of the
// block being filled, and its compressed form. They are reused through ocfScratchPool:
// grown from nothing for every file (a block reaches ocfBlockBytes), they cost more than
// writing the datums did (BenchmarkAvroDatum/*/file, docs/benchmarks.md). A pool, not a
// field of each builder, so that an idle shard's builder holds none.
type ocfScratch struct {
	block  []byte
	packed appendWriter
}

var ocfScratchPool = sync.Pool{New: func() any { return new(ocfScratch) }}

// appendWriter is an io.Writer appending to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// The block limits ocf.Encoder had (WithBlockLength, WithBlockSize).
const (
	ocfBlockRecords = 1000
	ocfBlockBytes   = 1 << 20
)

// newOCFWriter starts a file; bodyHint is the expected size of its body (the last file's
// is a good guess), to allocate it once.
func newOCFWriter(s *AvroSchema, codec string, sync [16]byte, zenc *zstd.Encoder, fw *flate.Writer, bodyHint int) (*ocfWriter, error) {
	switch codec {
	case CodecNull, CodecSnappy:
	case CodecDeflate:
		if fw == nil {
			return nil, errors.New("create ocf encoder: deflate without a writer")
		}
	case CodecZstandard:
		if zenc == nil {
			return nil, errors.New("create ocf encoder: zstandard without an encoder")
		}
	default:
		return nil, fmt.Errorf("create ocf encoder: unknown codec %q", codec)
	}
	w := &ocfWriter{schema: s, codec: codec, sync: sync, zstd: zenc, flate: fw, ocfScratch: ocfScratchPool.Get().(*ocfScratch)}
	w.block, w.packed.b = w.block[:0], w.packed.b[:0]
	w.blocks = appendOCFHeader(make([]byte, 0, max(bodyHint, len(s.JSON)+64)), s.JSON, codec, sync)
	return w, nil
}

// write appends one encoded datum.
func (w *ocfWriter) write(datum []byte) error {
	w.block = append(w.block, datum...)
	w.count++
	if w.count >= ocfBlockRecords || len(w.block) >= ocfBlockBytes {
		return w.flushBlock()
	}
	return nil
}

// flushBlock appends the block being filled, compressed, to the finished ones.
func (w *ocfWriter) flushBlock() error {
	if w.count == 0 {
		return nil
	}
	var packed []byte
	switch w.codec {
	case CodecNull:
		packed = w.block
	case CodecDeflate:
		w.packed.b = w.packed.b[:0]
		w.flate.Reset(&w.packed)
		if _, err := w.flate.Write(w.block); err != nil {
			return fmt.Errorf("write ocf block: %w", err)
		}
		if err := w.flate.Close(); err != nil {
			return fmt.Errorf("write ocf block: %w", err)
		}
		packed = w.packed.b
	case CodecSnappy:
		var err error
		if w.packed.b, err = appendSnappyBlock(w.packed.b[:0], w.block); err != nil {
			return fmt.Errorf("write ocf block: %w", err)
		}
		packed = w.packed.b
	case CodecZstandard:
		w.packed.b = w.zstd.EncodeAll(w.block, w.packed.b[:0])
		packed = w.packed.b
	}
	w.blocks = binary.AppendVarint(w.blocks, int64(w.count))
	w.blocks = binary.AppendVarint(w.blocks, int64(len(packed)))
	w.blocks = append(w.blocks, packed...)
	w.blocks = append(w.blocks, w.sync[:]...)
	w.block, w.count = w.block[:0], 0
	return nil
}

// appendSnappyBlock appends block as an Avro container's snappy codec writes it (what
// ocf.SnappyCodec.Encode returns): the snappy block format, then the CRC-32 (IEEE) of the
// uncompressed bytes, big-endian. Unlike Encode it compresses into dst's room, reused from
// block to block, not into a new slice each time.
func appendSnappyBlock(dst, block []byte) ([]byte, error) {
	n := snappy.MaxEncodedLen(len(block))
	if n < 0 {
		return dst, fmt.Errorf("a block of %d bytes is too large for snappy", len(block))
	}
	if cap(dst)-len(dst) < n+4 {
		dst = slices.Grow(dst, n+4)
	}
	packed := snappy.Encode(dst[len(dst):len(dst)+n], block)
	dst = dst[:len(dst)+len(packed)]
	return binary.BigEndian.AppendUint32(dst, crc32.ChecksumIEEE(block)), nil
}

// finish returns the file's body, and the writer's scratch buffers to the pool: the writer
// is not used again.
func (w *ocfWriter) finish() ([]byte, error) {
	if err := w.flushBlock(); err != nil {
		return nil, err
	}
	ocfScratchPool.Put(w.ocfScratch)
	w.ocfScratch = nil
	return w.blocks, nil
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
