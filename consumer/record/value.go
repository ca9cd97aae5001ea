package record

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Value is one typed CQL value, converted from the wire's CellValue union. Which field is
// meaningful depends on Type:
//
//	tinyint, smallint, int, bigint, counter   Int
//	float, double                             Float (NaN and ±Inf allowed)
//	bool                                      Bool
//	text, ascii, varchar, inet, uuid,         Text (validated; kept exactly as sent)
//	timeuuid, varint, decimal, duration
//	blob                                      Bytes
//	timestamp                                 Time (UTC, millisecond precision)
//	date                                      Time (UTC midnight of the day)
//	time                                      TimeOfDay (since midnight, nanoseconds)
//	list, set, tuple                          Elems (a tuple's null component is a null Value)
//	map                                       Entries
//	udt                                       Fields
//
// The zero Value (Type "") is null.
type Value struct {
	Type      streams.CQLType
	Int       int64
	Float     float64
	Bool      bool
	Text      string
	Bytes     []byte
	Time      time.Time
	TimeOfDay time.Duration
	Elems     []Value
	Entries   []Entry
	Fields    []Field
}

// Entry is one entry of a map value.
type Entry struct {
	Key, Value Value
}

// Field is a named value: a column of a row or key, or a field of a UDT.
type Field struct {
	Name  string
	Value Value
	// Static marks a static column of an image.
	Static bool
	// Meta is the cell's write time / expiration metadata, when the stream sent it.
	Meta *Meta
}

// Meta is a cell's metadata exactly as the stream sent it (its format is not pinned by the
// API documentation, so it is not reinterpreted).
type Meta struct {
	WriteTime      string
	ExpirationTime string
}

// IsNull reports whether the value is null.
func (v Value) IsNull() bool { return v.Type == streams.TypeNull }

// ConvertValue turns a wire CellValue into a typed Value. Anything it cannot convert
// exactly — an unknown union member, a number that does not parse or overflows its CQL
// type, a bad date — is an error, never a guess.
func ConvertValue(c streams.CellValue) (Value, error) {
	// Raw is only kept for an unknown member, so it also catches one named "" (found by
	// FuzzDeferredRecordsConvertAlike: it was taken for a null).
	if c.Unknown != "" || c.Raw != nil {
		return Value{}, fmt.Errorf("unknown CQL value type %q", c.Unknown)
	}
	switch c.Type {
	case streams.TypeBool:
		return Value{Type: c.Type, Bool: c.Bool}, nil
	case streams.TypeBlob:
		v := Value{Type: c.Type, Bytes: c.Blob}
		if v.Bytes == nil {
			v.Bytes = []byte{}
		}
		return v, nil
	case streams.TypeList, streams.TypeSet, streams.TypeTuple:
		return convertElems(c)
	case streams.TypeMap:
		return convertMap(c)
	case streams.TypeUDT:
		return convertUDT(c)
	}
	return convertText(c.Type, c.Text)
}

// convertText converts a value the wire sends as text: every type but bool, blob and the
// collections (null too: its text is ignored).
func convertText(t streams.CQLType, text string) (Value, error) {
	var v Value
	if err := convertTextInto(&v, t, text); err != nil {
		return Value{}, err
	}
	return v, nil
}

// convertTextInto is convertText into *v, which must be the zero Value: a Value is large,
// and the wire reader converts most of a record's values straight into their field rather
// than copy each a few times on its way there. After an error *v holds nothing meaningful.
func convertTextInto(v *Value, t streams.CQLType, text string) error {
	v.Type = t
	var err error
	switch t {
	case streams.TypeNull:
	case streams.TypeTinyint:
		v.Int, err = parseInt(text, 8)
	case streams.TypeSmallint:
		v.Int, err = parseInt(text, 16)
	case streams.TypeInt:
		v.Int, err = parseInt(text, 32)
	case streams.TypeBigint, streams.TypeCounter:
		v.Int, err = parseInt(text, 64)
	case streams.TypeFloat:
		v.Float, err = strconv.ParseFloat(strings.TrimSpace(text), 32)
	case streams.TypeDouble:
		v.Float, err = strconv.ParseFloat(strings.TrimSpace(text), 64)
	case streams.TypeText, streams.TypeASCII, streams.TypeVarchar, streams.TypeInet, streams.TypeUUID,
		streams.TypeTimeuuid, streams.TypeVarint, streams.TypeDecimal, streams.TypeDuration:
		v.Text, err = text, checkText(t, text)
	case streams.TypeTimestamp:
		v.Time, err = ParseTimestamp(text)
	case streams.TypeDate:
		v.Time, err = parseDate(text)
	case streams.TypeTime:
		v.TimeOfDay, err = parseTimeOfDay(text)
	default:
		return fmt.Errorf("unknown CQL value type %q", t)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", t, text, err)
	}
	return nil
}

// checkText validates the text of a value whose type is kept as text (text, ascii and
// varchar take anything).
func checkText(t streams.CQLType, s string) error {
	switch t {
	case streams.TypeInet:
		if _, err := netip.ParseAddr(s); err != nil {
			return err
		}
	case streams.TypeUUID, streams.TypeTimeuuid:
		if !isUUID(s) {
			return fmt.Errorf("not a UUID")
		}
	case streams.TypeVarint:
		if !isInteger(s) { // what big.Int's SetString(s, 10) accepts, without building one
			return fmt.Errorf("not an integer")
		}
	case streams.TypeDecimal:
		if !isDecimal(s) {
			return fmt.Errorf("not a decimal number")
		}
	case streams.TypeDuration:
		if strings.TrimSpace(s) == "" {
			return fmt.Errorf("empty duration")
		}
	}
	return nil
}

// convertElems converts a list, set or tuple.
func convertElems(c streams.CellValue) (Value, error) {
	v := Value{Type: c.Type, Elems: make([]Value, len(c.Elems))}
	for i, e := range c.Elems {
		var err error
		if v.Elems[i], err = ConvertValue(e.Value); err != nil {
			return Value{}, fmt.Errorf("%s element %d: %w", c.Type, i, err)
		}
	}
	return v, nil
}

// convertMap converts a map, entries in wire order.
func convertMap(c streams.CellValue) (Value, error) {
	v := Value{Type: c.Type, Entries: make([]Entry, len(c.Entries))}
	for i, e := range c.Entries {
		var err error
		if v.Entries[i].Key, err = ConvertValue(e.Key); err != nil {
			return Value{}, fmt.Errorf("map key %d: %w", i, err)
		}
		if v.Entries[i].Value, err = ConvertValue(e.Value); err != nil {
			return Value{}, fmt.Errorf("map value %d: %w", i, err)
		}
	}
	return v, nil
}

// convertUDT converts a user-defined type value, fields in wire order.
func convertUDT(c streams.CellValue) (Value, error) {
	v := Value{Type: c.Type, Fields: make([]Field, len(c.Fields))}
	for i, f := range c.Fields {
		v.Fields[i].Name = f.Name
		var err error
		if v.Fields[i].Value, err = ConvertValue(f.Value); err != nil {
			return Value{}, fmt.Errorf("udt field %s: %w", f.Name, err)
		}
	}
	return v, nil
}

// isUUID says whether s is 8-4-4-4-12 hex digits (either case): every record of a table
// keyed by UUIDs checks several, so it is written out rather than a regular expression, and
// looks each byte up in uuidBytes rather than compare it by position and range.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if uuidBytes[s[i]]&uuidMask[i] == 0 {
			return false
		}
	}
	return true
}

// uuidBytes classes each byte for isUUID (1: a hex digit, 2: the dash), and uuidMask says
// which class each position of a UUID takes.
var uuidBytes, uuidMask = func() (bytes [256]uint8, mask [36]uint8) {
	for _, c := range "0123456789abcdefABCDEF" {
		bytes[c] = 1
	}
	bytes['-'] = 2
	for i := range mask {
		mask[i] = 1
	}
	mask[8], mask[13], mask[18], mask[23] = 2, 2, 2, 2
	return bytes, mask
}()

// isDecimal says whether s is [+-] digits [. digits] [e [+-] digits], with at least one digit
// before the exponent.
func isDecimal(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	n := digits()
	if i < len(s) && s[i] == '.' {
		i++
		n += digits()
	}
	if n == 0 {
		return false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

// isInteger says whether s is [+-] digits: the only text strconv.ParseInt (base 10) and
// big.Int's SetString (base 10) accept. Checked first where a value is often not an
// integer (ISO dates and times), since a failed ParseInt allocates its error.
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func parseInt(s string, bits int) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(s), 10, bits)
}

// ParseTimestamp reads a CQL timestamp as the stream may send it: milliseconds since the
// epoch (an integer string), or ISO-8601 / RFC 3339 text. The result is UTC, truncated to
// milliseconds (CQL's precision).
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if isInteger(s) {
		if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.UnixMilli(ms).UTC(), nil
		}
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Millisecond), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp (epoch milliseconds or ISO-8601)")
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
}

// parseDate reads a CQL date: `yyyy-MM-dd` or days since the epoch (signed).
func parseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if isInteger(s) {
		if days, err := strconv.ParseInt(s, 10, 32); err == nil {
			return time.Unix(0, 0).UTC().AddDate(0, 0, int(days)), nil
		}
	}
	if t, ok := canonicalDate(s); ok {
		return t, nil
	}
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("not a date (yyyy-MM-dd or days since epoch)")
	}
	return t, nil
}

// canonicalDate reads a date written as the stream writes it, "yyyy-mm-dd", as time.Parse
// with the layout "2006-01-02" does, without walking the layout (a date column costs that
// once per value). Anything else, valid or not, is left to time.Parse: ok false.
func canonicalDate(s string) (time.Time, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !allDigits(s[:4]) || !allDigits(s[5:7]) || !allDigits(s[8:]) {
		return time.Time{}, false
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := time.Month(int(s[5]-'0')*10 + int(s[6]-'0'))
	d := int(s[8]-'0')*10 + int(s[9]-'0')
	if m < time.January || m > time.December || d < 1 || d > daysIn(m, y) {
		return time.Time{}, false
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
}

// daysIn is the number of days of month m in year y (proleptic Gregorian).
func daysIn(m time.Month, y int) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseTimeOfDay reads a CQL time: `HH:MM:SS[.fffffffff]` or nanoseconds since midnight.
func parseTimeOfDay(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if isInteger(s) {
		if ns, err := strconv.ParseInt(s, 10, 64); err == nil {
			if ns < 0 || ns >= int64(24*time.Hour) {
				return 0, fmt.Errorf("time of day out of range")
			}
			return time.Duration(ns), nil
		}
	}
	hms, frac, _ := strings.Cut(s, ".")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 || len(frac) > 9 {
		return 0, fmt.Errorf("not a time of day (HH:MM:SS.fffffffff)")
	}
	var d time.Duration
	limits := []int64{23, 59, 59}
	units := []time.Duration{time.Hour, time.Minute, time.Second}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 || n > limits[i] || len(p) != 2 {
			return 0, fmt.Errorf("not a time of day (HH:MM:SS.fffffffff)")
		}
		d += time.Duration(n) * units[i]
	}
	if frac != "" {
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("not a time of day (HH:MM:SS.fffffffff)")
		}
		d += time.Duration(n)
	}
	return d, nil
}
