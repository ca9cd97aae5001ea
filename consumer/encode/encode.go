// Package encode writes change events as files: JSON Lines (gzip, zstd or uncompressed),
// Avro Object Container Files (deflate, snappy, zstandard or null codec) or Apache Parquet
// (zstd, snappy, gzip or uncompressed), the last two with a schema derived from the table's
// definition (Amazon Keyspaces GetTable/GetType) or, when that is not available, from the
// values the records carry.
//
// Encoding is deterministic: the same events in the same order give the same bytes, so a
// file replayed after a crash overwrites its object with identical content.
package encode

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// The formats and compressions encode switches on. Which exist, which a format allows and
// which is its default are consumer/config's lists (config.Formats, config.Compressions),
// written there once; CheckFormat and DefaultCompression read them.
const (
	FormatJSON    = "json"
	FormatAvro    = "avro"
	FormatParquet = "parquet"
	// FormatIceberg is Parquet for an Apache Iceberg table: microsecond timestamps, and the
	// table's field ids (Options.Parquet.Prepare or FieldID).
	FormatIceberg = "iceberg"

	CompressionGzip = "gzip"
	CompressionZstd = "zstd"
	CompressionNone = "none"

	CodecDeflate   = "deflate"
	CodecSnappy    = "snappy"
	CodecZstandard = "zstandard"
	CodecNull      = "null"
)

// DefaultCompression is the compression a format uses when none is configured: the first of
// config.Compressions[format] ("" for an unknown format).
func DefaultCompression(format string) string {
	return config.DefaultCompression(format)
}

// CheckFormat validates a format and its compression against config.Formats and
// config.Compressions, naming the allowed values.
func CheckFormat(format, compression string) error {
	if !slices.Contains(config.Formats, format) {
		return fmt.Errorf("Format %q: allowed values are %s", format, strings.Join(config.Formats, ", "))
	}
	if allowed := config.Compressions[format]; !slices.Contains(allowed, compression) {
		return fmt.Errorf("Compression %q: format %s allows %s", compression, format, strings.Join(allowed, ", "))
	}
	return nil
}

// Ext is the file name extension of a format and compression: jsonl.gz, jsonl.zst, jsonl,
// avro, parquet.
func Ext(format, compression string) string {
	switch format {
	case FormatAvro:
		return "avro"
	case FormatParquet, FormatIceberg:
		return "parquet"
	}
	ext, _ := jsonExt(compression)
	return ext
}

// File is an encoded object, ready to upload.
type File struct {
	Body        []byte
	Ext         string // "jsonl.gz", "avro", ...
	ContentType string
	Records     int
	// UncompressedBytes is the JSON text's size, or the Avro events' estimated size.
	UncompressedBytes int
	// Schema is the Avro schema the file embeds (nil for JSON Lines and Parquet).
	Schema *AvroSchema
	// SchemaFile is the file's schema version as stored under _schemas/ (nil for JSON
	// Lines): the .avsc of an Avro file, the .parquet.json of a Parquet file.
	SchemaFile *SchemaFile
}

// SchemaFile is a schema version as stored under _schemas/<keyspace>/<table>/<Name>: the
// name (its fingerprint and extension) identifies the version, so it is written once.
type SchemaFile struct {
	Name        string
	Body        []byte
	ContentType string
}

// Builder accumulates the events of one file. It is not safe for concurrent use.
type Builder interface {
	// Add appends an event. An error means this event cannot be written (its values do
	// not fit its column's type); the builder is unchanged and the caller routes the event
	// to the error prefix.
	Add(ctx context.Context, ev *record.Event) error
	// Len is the number of events added since the last Finish.
	Len() int
	// Size is their uncompressed size in bytes (exact for JSON, estimated for Avro).
	Size() int
	// Finish encodes the events added so far into a file and starts an empty one.
	Finish() (*File, error)
}

// Options choose a Builder.
type Options struct {
	Format       string // json (default) | avro | parquet | iceberg
	Compression  string // default: DefaultCompression(Format)
	CellMetadata bool   // write each image's per-cell write_time / expiration_time
	// Schemas gives Avro and Parquet files their schema; required for avro and parquet.
	Schemas *Schemas
	// KeepEvents (Avro, Parquet) keeps the events and encodes them at Finish, so the schema may
	// widen within the file instead of Add returning ErrSchemaChanged. A replay uses it:
	// its file must end at a given record. Memory: the events, not the compressed file.
	KeepEvents bool
	// Parquet adapts Parquet files to a table format (field ids, microsecond timestamps).
	Parquet ParquetOptions
}

// NewBuilder returns a Builder for the options.
func NewBuilder(opts Options) (Builder, error) {
	if opts.Format == "" {
		opts.Format = config.Defaults().Format
	}
	if opts.Compression == "" {
		opts.Compression = DefaultCompression(opts.Format)
	}
	if err := CheckFormat(opts.Format, opts.Compression); err != nil {
		return nil, err
	}
	if opts.Format == FormatAvro {
		if opts.Schemas == nil {
			return nil, fmt.Errorf("Schemas: required for format avro")
		}
		return newAvroFile(opts.Schemas, opts.Compression, opts.KeepEvents), nil
	}
	if opts.Format == FormatParquet || opts.Format == FormatIceberg {
		if opts.Schemas == nil {
			return nil, fmt.Errorf("Schemas: required for format %s", opts.Format)
		}
		// A column whose type is not known yet stays out of the files: a placeholder type
		// would clash with the real one in the readers' tables (Athena refuses a BINARY
		// column in a file whose table says int; an Iceberg scan cannot promote string to
		// int), and a column a file lacks reads as null everywhere, which is what it holds.
		opts.Parquet.OmitUnknown = true
		if opts.Format == FormatIceberg {
			opts.Parquet.TimestampMicros = true
		}
		return newParquetFile(opts.Schemas, opts.Compression, opts.KeepEvents, opts.Parquet)
	}
	return newJSONLines(opts.Compression, opts.CellMetadata)
}

// RetainsEvents says whether b may keep the events it is given after Add returns (Parquet
// buffers them; an Avro replay encodes them at Finish). JSON Lines and Avro write each
// event at once: their caller may reuse an event for the next record
// (record.FromStreamInto).
func RetainsEvents(b Builder) bool {
	switch b := b.(type) {
	case *jsonLines:
		return false
	case *avroFile:
		return b.keepEvents
	}
	return true
}
