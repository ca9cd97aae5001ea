package encode

import (
	"fmt"
	"time"
)

// The JSON Lines writer formats a timestamp or two per record (created_at, and the
// timestamp, date and time columns). time.Time.AppendFormat walks its layout string on every
// call and fmt.Appendf parses its format: together about a twentieth of a JSON record's
// CPU. These write the same text from the calendar fields directly; a value outside the
// years 0-9999, or a date in another location than UTC, takes the general formatter
// (TestTimeFormatsMatchTheLayouts).

// appendTimestamp writes RFC 3339 UTC with milliseconds: "2024-03-01T00:00:00.123Z", as
// the layout "2006-01-02T15:04:05.000Z" of t.UTC() (fractions truncated, not rounded).
func appendTimestamp(b []byte, t time.Time) []byte {
	days, secs := floorDiv(t.Unix(), 86400)
	y, m, d := civilDate(days)
	if y < 0 || y > 9999 {
		b = append(b, '"')
		b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
		return append(b, '"')
	}
	b = append(b, '"')
	b = appendYMD(b, y, m, d)
	b = append(b, 'T')
	b = append2(b, int(secs/3600))
	b = append(b, ':')
	b = append2(b, int(secs/60%60))
	b = append(b, ':')
	b = append2(b, int(secs%60))
	b = append(b, '.')
	ms := t.Nanosecond() / int(time.Millisecond)
	b = append(b, byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, 'Z', '"')
}

// appendDate writes a CQL date as "2006-01-02" in t's location (UTC for every date the
// conversion makes).
func appendDate(b []byte, t time.Time) []byte {
	if t.Location() != time.UTC {
		return appendDateLayout(b, t)
	}
	days, _ := floorDiv(t.Unix(), 86400)
	y, m, d := civilDate(days)
	if y < 0 || y > 9999 {
		return appendDateLayout(b, t)
	}
	b = append(b, '"')
	b = appendYMD(b, y, m, d)
	return append(b, '"')
}

func appendDateLayout(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, "2006-01-02")
	return append(b, '"')
}

// appendTimeOfDay writes "HH:MM:SS.fffffffff" (CQL's nanosecond precision), as the format
// `"%02d:%02d:%02d.%09d"` of the hours, minutes, seconds and nanoseconds.
func appendTimeOfDay(b []byte, d time.Duration) []byte {
	ns := int64(d)
	h, m, s, f := ns/int64(time.Hour), ns/int64(time.Minute)%60, ns/int64(time.Second)%60, ns%int64(time.Second)
	if ns < 0 || h > 99 {
		return fmt.Appendf(b, `"%02d:%02d:%02d.%09d"`, h, m, s, f)
	}
	b = append(b, '"')
	b = append2(b, int(h))
	b = append(b, ':')
	b = append2(b, int(m))
	b = append(b, ':')
	b = append2(b, int(s))
	b = append(b, '.')
	var digits [9]byte
	for i := 8; i >= 0; i-- {
		digits[i] = byte('0' + f%10)
		f /= 10
	}
	b = append(b, digits[:]...)
	return append(b, '"')
}

// appendYMD writes "yyyy-mm-dd" for a year of 0-9999.
func appendYMD(b []byte, y, m, d int) []byte {
	b = append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-')
	b = append2(b, m)
	b = append(b, '-')
	return append2(b, d)
}

// append2 writes 0-99 as two digits.
func append2(b []byte, n int) []byte { return append(b, byte('0'+n/10), byte('0'+n%10)) }

// floorDiv is a/n and a mod n rounded toward minus infinity (n > 0): the day of a second
// before 1970 is the one before, not day 0.
func floorDiv(a, n int64) (q, r int64) {
	q, r = a/n, a%n
	if r < 0 {
		q, r = q-1, r+n
	}
	return q, r
}

// civilDate is the proleptic Gregorian year, month and day of a count of days since
// 1970-01-01 (the days_from_civil inverse of H. Hinnant's "chrono-compatible low-level date
// algorithms", in 400-year eras of 146,097 days that start on March 1st).
func civilDate(days int64) (y, m, d int) {
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // [0, 365], from March 1st
	mp := (5*doy + 2) / 153                                // [0, 11], from March
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if m > 12 {
		m -= 12
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}
