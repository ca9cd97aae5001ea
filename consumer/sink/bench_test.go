package sink

import (
	"context"
	"io"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// discardS3 accepts every upload and keeps nothing, so the benchmark measures the sink.
type discardS3 struct {
	S3API
	bytes atomic.Int64
}

func (d *discardS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	n, err := io.Copy(io.Discard, in.Body)
	d.bytes.Add(n)
	return &s3.PutObjectOutput{}, err
}

// BenchmarkShardWriterFlood pushes ~1 KB records through one shard writer with the default
// flush limits (10,000 records / 64 MiB) and reports the peak live heap (sampled every 250
// records) and the bytes allocated per flushed file: the per-shard memory bound.
func BenchmarkShardWriterFlood(b *testing.B) {
	recs := make([]*streams.Record, 2000)
	for i := range recs {
		recs[i] = recordtest.Row(i, recordtest.Seq(i), created, 1024)
	}
	for _, format := range []string{encode.FormatJSON, encode.FormatAvro, encode.FormatParquet} {
		b.Run(format, func(b *testing.B) {
			s3api := &discardS3{}
			s, err := New(Config{Bucket: "bench", Keyspace: "ks", Table: "t", Format: format}, s3api, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			w := s.OpenShard("shard-1", &fakeCP{}, nil)
			ctx := context.Background()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			baseHeap, baseAlloc := ms.HeapAlloc, ms.TotalAlloc
			var peak uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := *recs[i%len(recs)]
				r.SequenceNumber = recordtest.Seq(i)
				if err := w.Add(ctx, &r); err != nil {
					b.Fatal(err)
				}
				if i%250 == 0 {
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
				}
			}
			if err := w.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms)
			st := s.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(peak-min(peak, baseHeap))/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(ms.TotalAlloc-baseAlloc)/float64(max(st.FilesWritten, 1))/(1<<20), "alloc-MiB/file")
			b.ReportMetric(float64(st.FilesWritten), "files")
			b.ReportMetric(float64(st.FlushLatencyMax)/float64(time.Millisecond), "max-flush-ms")
		})
	}
}

// BenchmarkShardWriterLiveHeap is the flood of BenchmarkShardWriterFlood measured another
// way: every 500 records a garbage collection runs (outside the timer) and the live heap
// is read, so the peak is what one shard writer holds (its file so far, its encoder's
// buffers), without the garbage that HeapAlloc between collections also counts.
func BenchmarkShardWriterLiveHeap(b *testing.B) {
	recs := make([]*streams.Record, 2000)
	for i := range recs {
		recs[i] = recordtest.Row(i, recordtest.Seq(i), created, 1024)
	}
	for _, format := range []string{encode.FormatJSON, encode.FormatAvro, encode.FormatParquet} {
		b.Run(format, func(b *testing.B) {
			s, err := New(Config{Bucket: "bench", Keyspace: "ks", Table: "t", Format: format}, &discardS3{}, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			w := s.OpenShard("shard-1", &fakeCP{}, nil)
			ctx := context.Background()
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			base := ms.HeapAlloc
			var peak uint64
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := *recs[i%len(recs)]
				r.SequenceNumber = recordtest.Seq(i)
				if err := w.Add(ctx, &r); err != nil {
					b.Fatal(err)
				}
				if i%500 == 499 {
					b.StopTimer()
					runtime.GC()
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapAlloc)
					b.StartTimer()
				}
			}
			if err := w.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(peak-min(peak, base))/(1<<20), "peak-live-MiB")
		})
	}
}
