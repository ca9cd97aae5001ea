package encode

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestTimeFormatsMatchTheLayouts: the hand-written formatters give the text of the layouts
// they replace, for every instant, date and time of day tried: the edges of months, leap
// days, the years around 0 and 9999, instants before 1970 with fractions, and random ones.
func TestTimeFormatsMatchTheLayouts(t *testing.T) {
	layoutTimestamp := func(t time.Time) string {
		return `"` + t.UTC().Format("2006-01-02T15:04:05.000Z") + `"`
	}
	layoutDate := func(t time.Time) string { return `"` + t.Format("2006-01-02") + `"` }
	layoutTimeOfDay := func(d time.Duration) string {
		ns := int64(d)
		h, m, s, f := ns/int64(time.Hour), ns/int64(time.Minute)%60, ns/int64(time.Second)%60, ns%int64(time.Second)
		return fmt.Sprintf(`"%02d:%02d:%02d.%09d"`, h, m, s, f)
	}
	var instants []time.Time
	for _, y := range []int{-1, 0, 1, 4, 100, 400, 1582, 1600, 1899, 1900, 1969, 1970, 1971, 2000, 2024, 2100, 9999, 10000} {
		for _, md := range [][2]int{{1, 1}, {2, 28}, {2, 29}, {3, 1}, {12, 31}} {
			for _, clock := range []time.Duration{0, time.Millisecond - 1, 23*time.Hour + 59*time.Minute + 59*time.Second + 999999999} {
				instants = append(instants, time.Date(y, time.Month(md[0]), md[1], 0, 0, 0, 0, time.UTC).Add(clock))
			}
		}
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for range 200_000 {
		// Seconds from about the year -3000 to 13000, any nanosecond.
		sec := rng.Int64N(500_000_000_000) - 160_000_000_000
		instants = append(instants, time.Unix(sec, rng.Int64N(1e9)))
	}
	oslo := time.FixedZone("UTC+1", 3600)
	for _, in := range instants {
		if got, want := string(appendTimestamp(nil, in)), layoutTimestamp(in); got != want {
			t.Fatalf("appendTimestamp(%v) = %s, want %s", in, got, want)
		}
		for _, at := range []time.Time{in.UTC(), in.In(oslo)} {
			if got, want := string(appendDate(nil, at)), layoutDate(at); got != want {
				t.Fatalf("appendDate(%v) = %s, want %s", at, got, want)
			}
		}
	}
	durations := []time.Duration{0, 1, time.Second - 1, time.Second, 24*time.Hour - 1, 24 * time.Hour, 99*time.Hour + 59*time.Minute, 100 * time.Hour, -1, -time.Hour - 1}
	for range 100_000 {
		durations = append(durations, time.Duration(rng.Int64N(int64(24*time.Hour))))
	}
	for _, d := range durations {
		if got, want := string(appendTimeOfDay(nil, d)), layoutTimeOfDay(d); got != want {
			t.Fatalf("appendTimeOfDay(%d) = %s, want %s", d, got, want)
		}
	}
}
