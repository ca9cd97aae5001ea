package encode

import (
	"context"
	"errors"
	"strconv"

	"github.com/apache/arrow-go/v18/parquet/schema"
)

// ParquetOptions adapt the Parquet files to a table format that reads them through its own
// metadata (Apache Iceberg). The zero value writes the plain Parquet format's files.
type ParquetOptions struct {
	// FieldID returns the field id of the column at path: the names from the root, as a table
	// format names nested fields ("new_image", "tags", "element"; a map's "key" and "value").
	// -1 leaves the column without an id; nil: no column has one.
	FieldID func(path []string) int32
	// TimestampMicros writes created_at and the timestamp columns in microseconds (Iceberg's
	// timestamptz) instead of milliseconds.
	TimestampMicros bool
	// OmitUnknown leaves out of the files the columns and fields whose type no record has
	// told yet (ParquetSchema.Unknown): they hold no value, and a table format that types
	// its columns itself must get neither a placeholder type nor a column it cannot map.
	OmitUnknown bool
	// Prepare, when set, is called once per schema version before a file is written with it
	// (ps has no field ids): it may make the table cover the version (add the columns it
	// lacks) and returns the FieldID of the version's files, replacing FieldID. When it fails,
	// Add fails with an error wrapping ErrUnavailable.
	Prepare func(ctx context.Context, ps *ParquetSchema) (func(path []string) int32, error)
}

// ErrUnavailable marks an event that could not be added because its schema version could
// not be prepared (ParquetOptions.Prepare failed: the table's catalog is unreachable, say):
// the event itself is fine, and the caller tries again later instead of setting it aside.
var ErrUnavailable = errors.New("schema version not prepared")

// id is the field id of the child name of the node being built.
func (b *pqBuilder) id(name string) int32 {
	if b.opts.FieldID == nil {
		return -1
	}
	path := append(append(make([]string, 0, len(b.path)+1), b.path...), name)
	return b.opts.FieldID(path)
}

// enter descends into the child name; the returned function comes back up.
func (b *pqBuilder) enter(name string) func() {
	b.path = append(b.path, name)
	return func() { b.path = b.path[:len(b.path)-1] }
}

// timestamp is the logical type of created_at and of timestamp columns.
func (b *pqBuilder) timestamp() schema.LogicalType {
	if b.opts.TimestampMicros {
		return schema.NewTimestampLogicalType(true, schema.TimeUnitMicros)
	}
	return schema.NewTimestampLogicalType(true, schema.TimeUnitMillis)
}

// fieldIDText is a node's field id as parquet-java prints it (" = 3"); empty without one.
func fieldIDText(n schema.Node) string {
	if id := n.FieldID(); id >= 0 {
		return " = " + strconv.Itoa(int(id))
	}
	return ""
}

// Root is the schema's tree (the message and its fields), for a table format that derives
// its own schema from it.
func (ps *ParquetSchema) Root() *schema.GroupNode { return ps.root }
