package iceberg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// TestMirrorChangesAsTheirDefinition holds MirrorChanges to what it is defined as: each
// key's last change, a delete dropping every key it is a prefix of (the comparison of a
// delete with each key held, as it was first written). Random streams of changes of keys
// of one to four columns (partition deletes, clustering-range deletes, static writes, rows),
// whose values repeat often and include NULs, quotes and the text of other types' values.
func TestMirrorChangesAsTheirDefinition(t *testing.T) {
	values := []record.Value{
		{Type: streams.TypeInt, Int: 1}, {Type: streams.TypeBigint, Int: 1}, {Type: streams.TypeInt, Int: -7},
		{Type: streams.TypeText, Text: "1"}, {Type: streams.TypeText, Text: "a\x00b"}, {Type: streams.TypeText, Text: `"=`},
		{Type: streams.TypeText, Text: "a"}, {Type: streams.TypeBlob, Bytes: []byte("a")}, {Type: streams.TypeDouble, Float: math.Copysign(0, -1)},
		{Type: streams.TypeDouble}, {Type: streams.TypeTimestamp, Time: time.UnixMilli(1700000000123).UTC()},
		{Type: streams.TypeDate, Time: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Type: streams.TypeTuple, Elems: []record.Value{{Type: streams.TypeInt, Int: 1}, {}}},
	}
	names := []string{"p1", "p2", "c1", "c2"}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var got MirrorChanges
		want := map[string]*record.Event{}
		for step := range 60 {
			ev := &record.Event{Op: record.OpUpdate}
			if rng.IntN(3) == 0 {
				ev.Op = record.OpDelete
			}
			for _, name := range names[:1+rng.IntN(len(names))] {
				ev.Keys = append(ev.Keys, record.Field{Name: name, Value: values[rng.IntN(3+int(seed%uint64(len(values)-2)))]})
			}
			k, _ := got.keyText(ev)
			if ev.Op == record.OpDelete {
				for other := range want {
					if strings.HasPrefix(other, k) {
						delete(want, other)
					}
				}
			}
			want[k] = ev
			got.Add(ev)
			if got.Len() != len(want) {
				t.Fatalf("seed %d step %d: %d keys, want %d", seed, step, got.Len(), len(want))
			}
			for k, ev := range want {
				if got.byKey[k].ev != ev {
					t.Fatalf("seed %d step %d: key %q holds %v, want %v", seed, step, k, got.byKey[k].ev, ev)
				}
			}
		}
		got.Reset()
		if got.Len() != 0 || got.under != nil {
			t.Fatalf("seed %d: Reset left %d keys, %d indexes", seed, got.Len(), len(got.under))
		}
	}
}

// TestMirrorKeyTextTellsValuesApart: two key values that differ give two key texts (the
// values of the test above, each against each, in one and two columns).
func TestMirrorKeyTextTellsValuesApart(t *testing.T) {
	values := []record.Value{
		{}, {Type: streams.TypeInt, Int: 1}, {Type: streams.TypeBigint, Int: 1}, {Type: streams.TypeText, Text: "1"},
		{Type: streams.TypeText, Text: "1\x00"}, {Type: streams.TypeASCII, Text: "1"}, {Type: streams.TypeBlob, Bytes: []byte("1")},
		{Type: streams.TypeDouble, Float: 1}, {Type: streams.TypeFloat, Float: 1}, {Type: streams.TypeDouble, Float: math.Copysign(0, -1)},
		{Type: streams.TypeDouble}, {Type: streams.TypeBool, Bool: true}, {Type: streams.TypeBool},
		{Type: streams.TypeTimestamp, Time: time.Unix(1, 0).UTC()}, {Type: streams.TypeTimestamp, Time: time.Unix(0, 1e9-1e6).UTC()},
		{Type: streams.TypeDate, Time: time.Unix(1, 0).UTC()}, {Type: streams.TypeTime, TimeOfDay: 1},
		{Type: streams.TypeList, Elems: []record.Value{{Type: streams.TypeInt, Int: 1}}},
		{Type: streams.TypeSet, Elems: []record.Value{{Type: streams.TypeInt, Int: 1}}},
		{Type: streams.TypeTuple, Elems: []record.Value{{Type: streams.TypeText, Text: "1"}}},
	}
	var m MirrorChanges
	seen := map[string]string{}
	for i, a := range values {
		for j := -1; j < len(values); j++ { // -1: a key of one column
			ev := &record.Event{Keys: []record.Field{{Name: "k", Value: a}}}
			if j >= 0 {
				ev.Keys = append(ev.Keys, record.Field{Name: "k2", Value: values[j]})
			}
			k, _ := m.keyText(ev)
			id := fmt.Sprintf("%d/%d", i, j)
			if prev, ok := seen[k]; ok {
				t.Fatalf("values %s and %s have one key text %q", prev, id, k)
			}
			seen[k] = id
		}
	}
}

// BenchmarkMirrorChanges: a commit window of n changes of rows (two partition columns, two
// clustering), one in ten a row delete and one in a thousand a partition delete; ns/op is
// per change, which a window of any size should cost alike.
func BenchmarkMirrorChanges(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			evs := make([]*record.Event, n)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range evs {
				ev := &record.Event{Op: record.OpUpdate, Keys: []record.Field{
					{Name: "tenant", Value: record.Value{Type: streams.TypeText, Text: fmt.Sprint("t", rng.IntN(100))}},
					{Name: "id", Value: record.Value{Type: streams.TypeBigint, Int: int64(rng.IntN(n))}},
					{Name: "locale", Value: record.Value{Type: streams.TypeText, Text: "en-US"}},
					{Name: "rev", Value: record.Value{Type: streams.TypeInt, Int: int64(rng.IntN(4))}},
				}}
				switch r := rng.IntN(1000); {
				case r == 0:
					ev.Op, ev.Keys = record.OpDelete, ev.Keys[:2]
				case r < 100:
					ev.Op = record.OpDelete
				}
				evs[i] = ev
			}
			for i := 0; b.Loop(); i++ {
				var m MirrorChanges
				for _, ev := range evs {
					m.Add(ev)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
		})
	}
}
