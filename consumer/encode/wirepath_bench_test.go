package encode

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// BenchmarkWirePath is a shard writer's work on each record of the pipeline benchmarks'
// workload (test/bench: the emulator's ~1.3 KB media_content changes with new and old
// images, its default view), in one goroutine and
// without the process around it: the record's envelope read from its wire JSON, the
// conversion into the writer's reused event, then the format, 10,000 records a file as
// there (a file per schema for Avro, as the sink cuts them). BenchmarkThroughput's records
// per CPU-second add the HTTP reads, the answers' allocation and collection, the leases,
// the uploads and the binary's start to this; this one is steady enough to compare two
// versions of the per-record code, and its instruction count (valgrind's cachegrind, under
// GOMAXPROCS=1) does not depend on what else the machine runs.
func BenchmarkWirePath(b *testing.B) {
	w, err := emulator.NewWorkload(emulator.WorkloadConfig{Seed: 1, RowBytes: 1024, ViewType: streams.ViewNewAndOldImages})
	if err != nil {
		b.Fatal(err)
	}
	raws := make([][]byte, 1000)
	size := 0
	now := time.Unix(1700000000, 0)
	for i := range raws {
		r := w.Next(now.Add(time.Duration(i) * time.Millisecond))
		r.EventVersion, r.SequenceNumber = "1.0", "000000000000000000001"
		raws[i] = streams.EncodeRecord(&r)
		size += len(raws[i])
	}
	src := record.Source{Keyspace: "media", Table: "media_content", ShardID: "shard-1", ViewType: streams.ViewNewAndOldImages}
	for _, tc := range []struct{ name, format, comp string }{
		{"json-gzip", FormatJSON, CompressionGzip},
		{"avro-deflate", FormatAvro, CodecDeflate},
	} {
		b.Run(tc.name, func(b *testing.B) {
			builder, err := NewBuilder(Options{Format: tc.format, Compression: tc.comp, Schemas: NewSchemas(nil, false, nil)})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			var ev record.Event
			b.SetBytes(int64(size / len(raws)))
			cpu0 := cpuTime()
			for i := 0; b.Loop(); i++ {
				rec, err := streams.DecodeRecordEnvelope(raws[i%len(raws)])
				if err != nil {
					b.Fatal(err)
				}
				if err := record.FromStreamInto(&ev, &rec, src); err != nil {
					b.Fatal(err)
				}
				err = builder.Add(ctx, &ev)
				if errors.Is(err, ErrSchemaChanged) { // as the sink does: a file per schema
					if _, err = builder.Finish(); err == nil {
						err = builder.Add(ctx, &ev)
					}
				}
				if err != nil {
					b.Fatal(err)
				}
				ev.Clear()
				if builder.Len() == 10_000 {
					if _, err := builder.Finish(); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
		})
	}
}
