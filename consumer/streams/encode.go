package streams

import (
	"encoding/base64"
	"strconv"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/internal/jsonstr"
)

// EncodeRecord writes a record as wire JSON, members in the order the service sends them and
// maps in slice order. Absent parts (nil images, nil key slices, empty strings) are left out;
// empty but present slices are written as {} or []. Raw is not consulted: the record is
// encoded from its fields.
func EncodeRecord(r *Record) []byte {
	return AppendRecord(make([]byte, 0, 512), r)
}

// AppendRecord appends the wire JSON of r to buf (see EncodeRecord).
func AppendRecord(buf []byte, r *Record) []byte {
	e := encoder{buf: append(buf, '{')}
	if r.EventVersion != "" {
		e.key("eventVersion")
		e.str(r.EventVersion)
	}
	if !r.CreatedAt.IsZero() {
		e.key("createdAt")
		e.buf = AppendEpochSeconds(e.buf, r.CreatedAt)
	}
	if r.Origin != "" {
		e.key("origin")
		e.str(r.Origin)
	}
	if r.PartitionKeys != nil {
		e.key("partitionKeys")
		e.columns(r.PartitionKeys)
	}
	if r.ClusteringKeys != nil {
		e.key("clusteringKeys")
		e.columns(r.ClusteringKeys)
	}
	if r.NewImage != nil {
		e.key("newImage")
		e.row(r.NewImage)
	}
	if r.OldImage != nil {
		e.key("oldImage")
		e.row(r.OldImage)
	}
	if r.SequenceNumber != "" {
		e.key("sequenceNumber")
		e.str(r.SequenceNumber)
	}
	return append(e.buf, '}')
}

// MarshalJSON encodes the record (see EncodeRecord).
func (r Record) MarshalJSON() ([]byte, error) { return EncodeRecord(&r), nil }

// MarshalJSON encodes the union object of v.
func (v CellValue) MarshalJSON() ([]byte, error) {
	e := encoder{}
	e.cellValue(&v)
	return e.buf, nil
}

// MarshalJSON encodes {value, metadata}.
func (c Cell) MarshalJSON() ([]byte, error) {
	e := encoder{}
	e.cell(&c)
	return e.buf, nil
}

// MarshalJSON encodes {valueCells, staticCells, rowMetadata}.
func (r Row) MarshalJSON() ([]byte, error) {
	e := encoder{}
	e.row(&r)
	return e.buf, nil
}

// MarshalJSON encodes {writeTime, expirationTime}.
func (m Metadata) MarshalJSON() ([]byte, error) {
	e := encoder{}
	e.metadata(&m)
	return e.buf, nil
}

// AppendEpochSeconds appends t as epoch seconds with a nanosecond fraction (trailing zeros
// dropped), the form of createdAt on the wire.
func AppendEpochSeconds(buf []byte, t time.Time) []byte {
	sec, nsec := t.Unix(), int64(t.Nanosecond())
	if sec < 0 && nsec > 0 {
		// t.Unix floors: -1.5 s is sec -2, nsec 5e8.
		buf = append(buf, '-')
		sec, nsec = -sec-1, 1e9-nsec
	}
	buf = strconv.AppendInt(buf, sec, 10)
	if nsec == 0 {
		return buf
	}
	frac := strconv.AppendInt(make([]byte, 0, 10), 1e9+nsec, 10)[1:] // 9 digits, zero-padded
	for frac[len(frac)-1] == '0' {
		frac = frac[:len(frac)-1]
	}
	buf = append(buf, '.')
	return append(buf, frac...)
}

type encoder struct {
	buf   []byte
	comma bool // a member or element precedes: write ',' first
}

// key writes a member name of the current object.
func (e *encoder) key(name string) {
	if e.comma {
		e.buf = append(e.buf, ',')
	}
	e.comma = true
	e.str(name)
	e.buf = append(e.buf, ':')
}

func (e *encoder) open(c byte) bool {
	e.buf = append(e.buf, c)
	was := e.comma
	e.comma = false
	return was
}

func (e *encoder) close(c byte, was bool) {
	e.buf = append(e.buf, c)
	e.comma = was
}

func (e *encoder) elem() {
	if e.comma {
		e.buf = append(e.buf, ',')
	}
	e.comma = true
}

func (e *encoder) columns(cols []Column) {
	was := e.open('{')
	for i := range cols {
		e.key(cols[i].Name)
		e.cellValue(&cols[i].Value)
	}
	e.close('}', was)
}

func (e *encoder) row(r *Row) {
	was := e.open('{')
	if r.ValueCells != nil {
		e.key("valueCells")
		e.namedCells(r.ValueCells)
	}
	if r.StaticCells != nil {
		e.key("staticCells")
		e.namedCells(r.StaticCells)
	}
	if r.RowMetadata != nil {
		e.key("rowMetadata")
		e.metadata(r.RowMetadata)
	}
	e.close('}', was)
}

func (e *encoder) namedCells(cells []NamedCell) {
	was := e.open('{')
	for i := range cells {
		e.key(cells[i].Name)
		e.cell(&cells[i].Cell)
	}
	e.close('}', was)
}

func (e *encoder) cell(c *Cell) {
	was := e.open('{')
	e.key("value")
	e.cellValue(&c.Value)
	if c.Metadata != nil {
		e.key("metadata")
		e.metadata(c.Metadata)
	}
	e.close('}', was)
}

func (e *encoder) metadata(m *Metadata) {
	was := e.open('{')
	if m.WriteTime != "" {
		e.key("writeTime")
		e.str(m.WriteTime)
	}
	if m.ExpirationTime != "" {
		e.key("expirationTime")
		e.str(m.ExpirationTime)
	}
	e.close('}', was)
}

func (e *encoder) cellValue(v *CellValue) {
	if len(v.Raw) > 0 {
		// A member this code does not know: sent on exactly as received.
		e.buf = append(e.buf, v.Raw...)
		return
	}
	was := e.open('{')
	if v.Type != TypeNull {
		e.key(string(v.Type) + "T")
		switch v.Type {
		case TypeBlob:
			e.buf = append(e.buf, '"')
			e.buf = base64.StdEncoding.AppendEncode(e.buf, v.Blob)
			e.buf = append(e.buf, '"')
		case TypeBool:
			e.buf = strconv.AppendBool(e.buf, v.Bool)
		case TypeList, TypeSet, TypeTuple:
			w := e.open('[')
			for i := range v.Elems {
				e.elem()
				e.cell(&v.Elems[i])
			}
			e.close(']', w)
		case TypeMap:
			w := e.open('[')
			for i := range v.Entries {
				e.elem()
				e.mapEntry(&v.Entries[i])
			}
			e.close(']', w)
		case TypeUDT:
			e.namedCells(v.Fields)
		default:
			e.str(v.Text)
		}
	}
	e.close('}', was)
}

func (e *encoder) mapEntry(m *MapEntry) {
	was := e.open('{')
	e.key("key")
	e.cellValue(&m.Key)
	e.key("value")
	e.cellValue(&m.Value)
	if m.Metadata != nil {
		e.key("metadata")
		e.metadata(m.Metadata)
	}
	e.close('}', was)
}

// str appends s as a JSON string.
func (e *encoder) str(s string) { e.buf = jsonstr.Append(e.buf, s) }
