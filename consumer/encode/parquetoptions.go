package encode

import (
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
}

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
