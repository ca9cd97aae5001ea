package encode

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/internal/jsonstr"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// jsonLines builds a JSON Lines file: each event is encoded into a line at Add and streamed
// through the compressor, so a buffered file costs its compressed size in memory. The
// output depends only on the events: the gzip header carries no time or name, and zstd
// runs with one goroutine. klauspost/compress's gzip is used for its speed (about 5x the
// standard library's on this data, same format).
type jsonLines struct {
	compression  string
	cellMetadata bool

	buf   *bytes.Buffer
	w     io.Writer // the compressor over buf, or buf itself
	gz    *gzip.Writer
	zs    *zstd.Encoder
	line  []byte
	count int
	size  int
	// next is the room the next file's buffer is given at its first line: the last file's
	// compressed size and an eighth more. Grown by doubling instead, a file's buffer was
	// cleared and copied about twice over (fresh memory each time, as the last file's buffer
	// is being uploaded), and could hold twice its size.
	next int
}

func newJSONLines(compression string, cellMetadata bool) (*jsonLines, error) {
	j := &jsonLines{compression: compression, cellMetadata: cellMetadata}
	switch compression {
	case CompressionGzip:
		j.gz = gzip.NewWriter(io.Discard)
	case CompressionZstd:
		zs, err := zstd.NewWriter(io.Discard, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("create zstd encoder: %w", err)
		}
		j.zs = zs
	case CompressionNone:
	default:
		return nil, fmt.Errorf("json compression %q: want gzip, zstd or none", compression)
	}
	j.reset()
	return j, nil
}

func (j *jsonLines) reset() {
	j.buf = new(bytes.Buffer)
	j.count, j.size = 0, 0
	switch {
	case j.gz != nil:
		j.gz.Reset(j.buf)
		// Epoch 0 is "no time" in the gzip header (the zero time.Time would be written
		// as a meaningless date).
		j.gz.ModTime = time.Unix(0, 0)
		j.w = j.gz
	case j.zs != nil:
		j.zs.Reset(j.buf)
		j.w = j.zs
	default:
		j.w = j.buf
	}
}

func (j *jsonLines) Add(_ context.Context, ev *record.Event) error {
	if j.count == 0 && j.next > 0 {
		j.buf.Grow(j.next)
	}
	j.line = AppendJSON(j.line[:0], ev, j.cellMetadata)
	j.line = append(j.line, '\n')
	if _, err := j.w.Write(j.line); err != nil {
		return fmt.Errorf("compress JSON line: %w", err)
	}
	j.count++
	j.size += len(j.line)
	return nil
}

func (j *jsonLines) Len() int  { return j.count }
func (j *jsonLines) Size() int { return j.size }

func (j *jsonLines) Finish() (*File, error) {
	switch {
	case j.gz != nil:
		if err := j.gz.Close(); err != nil {
			return nil, fmt.Errorf("finish gzip: %w", err)
		}
	case j.zs != nil:
		if err := j.zs.Close(); err != nil {
			return nil, fmt.Errorf("finish zstd: %w", err)
		}
	}
	f := &File{Body: j.buf.Bytes(), Records: j.count, UncompressedBytes: j.size}
	j.next = len(f.Body) + len(f.Body)/8
	f.Ext, f.ContentType = jsonExt(j.compression)
	j.reset()
	return f, nil
}

func jsonExt(compression string) (ext, contentType string) {
	switch compression {
	case CompressionGzip:
		return "jsonl.gz", "application/gzip"
	case CompressionZstd:
		return "jsonl.zst", "application/zstd"
	}
	return "jsonl", "application/x-ndjson"
}

// AppendJSON appends the event as one JSON object (no newline). Field order is fixed:
// keyspace, table, shard_id, sequence_number, created_at, origin, op, keys, new_image,
// old_image, then (cellMetadata) new_image_metadata, old_image_metadata.
func AppendJSON(b []byte, ev *record.Event, cellMetadata bool) []byte {
	b = append(b, `{"keyspace":`...)
	b = jsonstr.Append(b, ev.Keyspace)
	b = append(b, `,"table":`...)
	b = jsonstr.Append(b, ev.Table)
	b = append(b, `,"shard_id":`...)
	b = jsonstr.Append(b, ev.ShardID)
	b = append(b, `,"sequence_number":`...)
	b = jsonstr.Append(b, ev.SequenceNumber)
	b = append(b, `,"created_at":`...)
	b = appendTimestamp(b, ev.CreatedAt)
	b = append(b, `,"origin":`...)
	b = jsonstr.Append(b, ev.Origin)
	b = append(b, `,"op":`...)
	b = jsonstr.Append(b, string(ev.Op))
	b = append(b, `,"keys":`...)
	b = appendFields(b, ev.Keys)
	b = append(b, `,"new_image":`...)
	b = appendImage(b, ev.NewImage)
	b = append(b, `,"old_image":`...)
	b = appendImage(b, ev.OldImage)
	if cellMetadata {
		b = append(b, `,"new_image_metadata":`...)
		b = appendMeta(b, ev.NewImage)
		b = append(b, `,"old_image_metadata":`...)
		b = appendMeta(b, ev.OldImage)
	}
	return append(b, '}')
}

func appendImage(b []byte, img *record.Image) []byte {
	if img == nil {
		return append(b, "null"...)
	}
	return appendFields(b, img.Columns)
}

// appendMeta writes {"column": {"write_time": ..., "expiration_time": ...}} for the cells
// that carry metadata, in column order; null when the image is absent.
func appendMeta(b []byte, img *record.Image) []byte {
	if img == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	for _, c := range img.Columns {
		if c.Meta == nil {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonstr.Append(b, c.Name)
		b = append(b, `:{"write_time":`...)
		b = appendOptString(b, c.Meta.WriteTime)
		b = append(b, `,"expiration_time":`...)
		b = appendOptString(b, c.Meta.ExpirationTime)
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendOptString(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return jsonstr.Append(b, s)
}

func appendFields(b []byte, fs []record.Field) []byte {
	b = append(b, '{')
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonstr.Append(b, f.Name)
		b = append(b, ':')
		b = appendValue(b, f.Value)
	}
	return append(b, '}')
}

// appendValue writes one value; the type table of docs/output.md documents each case.
func appendValue(b []byte, v record.Value) []byte {
	switch v.Type {
	case streams.TypeNull:
		return append(b, "null"...)
	case streams.TypeTinyint, streams.TypeSmallint, streams.TypeInt, streams.TypeBigint, streams.TypeCounter:
		return strconv.AppendInt(b, v.Int, 10)
	case streams.TypeFloat, streams.TypeDouble:
		// JSON has no NaN or infinities: they are written as the strings Spark and
		// Jackson accept for doubles.
		switch {
		case math.IsNaN(v.Float):
			return append(b, `"NaN"`...)
		case math.IsInf(v.Float, 1):
			return append(b, `"Infinity"`...)
		case math.IsInf(v.Float, -1):
			return append(b, `"-Infinity"`...)
		}
		bits := 64
		if v.Type == streams.TypeFloat {
			bits = 32
		}
		return strconv.AppendFloat(b, v.Float, 'g', -1, bits)
	case streams.TypeBool:
		return strconv.AppendBool(b, v.Bool)
	case streams.TypeBlob:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes)
		return append(b, '"')
	case streams.TypeTimestamp:
		return appendTimestamp(b, v.Time)
	case streams.TypeDate:
		return appendDate(b, v.Time)
	case streams.TypeTime:
		return appendTimeOfDay(b, v.TimeOfDay)
	case streams.TypeList, streams.TypeSet, streams.TypeTuple:
		b = append(b, '[')
		for i, e := range v.Elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendValue(b, e)
		}
		return append(b, ']')
	case streams.TypeMap:
		return appendMap(b, v.Entries)
	case streams.TypeUDT:
		return appendFields(b, v.Fields)
	}
	// text, ascii, varchar, inet, uuid, timeuuid, varint, decimal, duration: exact text.
	return jsonstr.Append(b, v.Text)
}

// appendMap writes a map keyed by text as an object and any other map as an array of
// {"key","value"} objects, in wire order. Cassandra does not tell an empty collection from
// null, and an empty map shows no key type, so an empty map is null.
func appendMap(b []byte, entries []record.Entry) []byte {
	if len(entries) == 0 {
		return append(b, "null"...)
	}
	textKeys := true
	for _, e := range entries {
		if !typeOf(e.Key).TextLike() {
			textKeys = false
			break
		}
	}
	if textKeys {
		b = append(b, '{')
		for i, e := range entries {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.Append(b, e.Key.Text)
			b = append(b, ':')
			b = appendValue(b, e.Value)
		}
		return append(b, '}')
	}
	b = append(b, '[')
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = appendValue(b, e.Key)
		b = append(b, `,"value":`...)
		b = appendValue(b, e.Value)
		b = append(b, '}')
	}
	return append(b, ']')
}
