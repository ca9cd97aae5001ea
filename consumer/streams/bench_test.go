package streams_test

import (
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// oneKBRecords returns the wire JSON of n generated media_content records of about 1 KB
// (inserts and updates with a new image; deletes and static updates are left out so every
// record is a full row).
func oneKBRecords(b *testing.B, n int) ([][]byte, int) {
	b.Helper()
	w, err := emulator.NewWorkload(emulator.WorkloadConfig{Seed: 1, RowBytes: 1024, ViewType: streams.ViewNewImage})
	if err != nil {
		b.Fatal(err)
	}
	var out [][]byte
	total := 0
	for now := time.Unix(1700000000, 0); len(out) < n; now = now.Add(time.Millisecond) {
		r := w.Next(now)
		if r.NewImage == nil || len(r.NewImage.ValueCells) == 0 {
			continue
		}
		r.EventVersion, r.SequenceNumber = "1.0", "000000000000000000001"
		wire := streams.EncodeRecord(&r)
		out = append(out, wire)
		total += len(wire)
	}
	return out, total / n
}

// BenchmarkDecodeRecord decodes ~1 KB change records (every CQL type of media_content).
func BenchmarkDecodeRecord(b *testing.B) {
	recs, avg := oneKBRecords(b, 256)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := streams.DecodeRecord(recs[i%len(recs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkEncodeRecord encodes the same records back to wire JSON.
func BenchmarkEncodeRecord(b *testing.B) {
	raws, avg := oneKBRecords(b, 256)
	recs := make([]streams.Record, len(raws))
	for i, raw := range raws {
		var err error
		if recs[i], err = streams.DecodeRecord(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = streams.AppendRecord(buf[:0], &recs[i%len(recs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkDecodeGetRecords decodes GetRecords answers of 1,000 of the same records, as the
// client does: one op is one record, the answer's share of allocations included. "envelope"
// decodes as the pipeline asks (GetRecordsInput.EnvelopeOnly): keys and images stay in Raw.
func BenchmarkDecodeGetRecords(b *testing.B) {
	recs, avg := oneKBRecords(b, 1000)
	body := []byte(`{"changeRecords":[`)
	for i, r := range recs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, r...)
	}
	body = append(body, `],"nextShardIterator":"it"}`...)
	for _, mode := range []struct {
		name         string
		envelopeOnly bool
	}{{"whole", false}, {"envelope", true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(int64(avg))
			b.ReportAllocs()
			for i := 0; i < b.N; i += len(recs) {
				out, err := streams.DecodeGetRecords(body, mode.envelopeOnly)
				if err != nil || len(out.ChangeRecords) != len(recs) {
					b.Fatal(len(out.ChangeRecords), err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
