package encode

import (
	"bytes"
	"context"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/hamba/avro/v2/ocf"
	"github.com/linkedin/goavro/v2"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// benchRecords are 1,000 distinct ~1 KB rows (as JSON lines).
func benchRecords() []*streams.Record {
	out := make([]*streams.Record, 1000)
	for i := range out {
		out[i] = recordtest.Row(i, recordtest.Seq(i), created, 1024)
	}
	return out
}

const benchFileRecords = 1000

// BenchmarkEncode measures the sink's encode path on one core: record conversion, then
// JSON Lines + gzip or Avro + deflate, one file per 1,000 records. MB/s counts the
// uncompressed JSON text, so both formats are measured against the same bytes.
func BenchmarkEncode(b *testing.B) {
	recs := benchRecords()
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"}
	var lineBytes int
	for _, r := range recs {
		ev, err := record.FromStream(r, src)
		if err != nil {
			b.Fatal(err)
		}
		lineBytes += len(AppendJSON(nil, ev, false)) + 1
	}
	for _, tc := range []struct{ name, format, comp string }{
		{"json-gzip", FormatJSON, CompressionGzip},
		{"json-zstd", FormatJSON, CompressionZstd},
		{"avro-deflate", FormatAvro, CodecDeflate},
		{"avro-snappy", FormatAvro, CodecSnappy},
		{"avro-zstandard", FormatAvro, CodecZstandard},
		{"parquet-zstd", FormatParquet, CompressionZstd},
		{"parquet-snappy", FormatParquet, CodecSnappy},
		{"parquet-gzip", FormatParquet, CompressionGzip},
		{"parquet-none", FormatParquet, CompressionNone},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var builder Builder
			var err error
			if tc.format == FormatParquet {
				builder, err = newParquetFile(NewSchemas(nil, false, nil), tc.comp, false, ParquetOptions{})
			} else {
				builder, err = NewBuilder(Options{Format: tc.format, Compression: tc.comp, Schemas: NewSchemas(nil, false, nil)})
			}
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.SetBytes(int64(lineBytes / len(recs)))
			var out, in int
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				ev, err := record.FromStream(recs[i%len(recs)], src)
				if err != nil {
					b.Fatal(err)
				}
				if err := builder.Add(ctx, ev); err != nil {
					b.Fatal(err)
				}
				if builder.Len() == benchFileRecords || i == b.N-1 {
					in += builder.Size()
					f, err := builder.Finish()
					if err != nil {
						b.Fatal(err)
					}
					out += len(f.Body)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "records/cpu-s")
			b.ReportMetric(float64(in)/float64(out), "json/file-bytes")
			b.ReportMetric(float64(out)/float64(b.N), "file-bytes/record")
		})
	}
}

// cpuTime is the process's CPU time so far (user + system, every thread: the garbage
// collector's too). Records per CPU-second is steadier than records per second on a shared
// machine, where the benchmark waits for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkParquetColumnBytes encodes 10,000 distinct records like the benchmark's (one file at the
// default flush limit) as Parquet + zstd and reports what a query reading one column reads:
// that column's chunks (compressed, summed over row groups) against the whole file. One op
// is one file.
func BenchmarkParquetColumnBytes(b *testing.B) {
	recs := make([]*streams.Record, 10_000) // distinct: repeats would flatter the dictionaries
	for i := range recs {
		recs[i] = recordtest.Row(i, recordtest.Seq(i), created, 1024)
	}
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"}
	var f *File
	for i := 0; i < b.N; i++ {
		builder, err := newParquetFile(NewSchemas(nil, false, nil), CompressionZstd, false, ParquetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range recs {
			ev, err := record.FromStream(r, src)
			if err != nil {
				b.Fatal(err)
			}
			if err := builder.Add(context.Background(), ev); err != nil {
				b.Fatal(err)
			}
		}
		if f, err = builder.Finish(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rdr, err := file.NewParquetReader(bytes.NewReader(f.Body))
	if err != nil {
		b.Fatal(err)
	}
	meta := rdr.MetaData()
	chunks := map[string]int64{}
	for rg := 0; rg < meta.NumRowGroups(); rg++ {
		rgm := meta.RowGroup(rg)
		for c := 0; c < rgm.NumColumns(); c++ {
			cc, err := rgm.ColumnChunk(c)
			if err != nil {
				b.Fatal(err)
			}
			chunks[cc.PathInSchema().String()] += cc.TotalCompressedSize()
		}
	}
	b.ReportMetric(float64(len(f.Body)), "file-bytes")
	b.ReportMetric(float64(meta.NumRowGroups()), "row-groups")
	for _, col := range []string{"sequence_number", "created_at", "op", "new_image.n", "new_image.name", "new_image.note"} {
		b.ReportMetric(float64(chunks[col]), "bytes-"+col)
	}
	names := make([]string, 0, len(chunks))
	for c := range chunks {
		names = append(names, c)
	}
	slices.Sort(names)
	for _, c := range names {
		b.Logf("%-36s %9d bytes  %5.2f%% of the file", c, chunks[c], 100*float64(chunks[c])/float64(len(f.Body)))
	}
}

// BenchmarkAvroLibraries encodes the same records into an Object Container File three ways,
// side by side: the sink's direct datum writer, hamba/avro's generic path and
// linkedin/goavro (both fed the same map[string]any form); with the null codec (encoding
// alone) and with deflate at the libraries' default level 6. One op is one record.
func BenchmarkAvroLibraries(b *testing.B) {
	recs := benchRecords()
	schemas := NewSchemas(nil, false, nil)
	var natives []map[string]any
	var schema *AvroSchema
	for _, r := range recs {
		ev, err := record.FromStream(r, record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"})
		if err != nil {
			b.Fatal(err)
		}
		if schema, err = schemas.For(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
		n, err := schema.Native(ev)
		if err != nil {
			b.Fatal(err)
		}
		natives = append(natives, n)
	}

	var events []*record.Event
	for _, r := range recs {
		ev, err := record.FromStream(r, record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"})
		if err != nil {
			b.Fatal(err)
		}
		events = append(events, ev)
	}
	for _, codec := range []string{CodecNull, CodecDeflate} {
		// What the sink runs: hamba's Writer primitives straight from the events, into
		// hamba's ocf blocks (deflate at level 1 in the sink; 6 here, like the others).
		b.Run("sink-direct-"+codec, func(b *testing.B) {
			dw := newDatumWriter(schema)
			var buf bytes.Buffer
			for i := 0; i < b.N; i += benchFileRecords {
				buf.Reset()
				enc, err := ocf.NewEncoderWithSchema(schema.Schema(), &buf, ocf.WithCodec(ocf.CodecName(codec)), ocf.WithBlockLength(1000))
				if err != nil {
					b.Fatal(err)
				}
				for j := 0; j < benchFileRecords && i+j < b.N; j++ {
					datum, err := dw.encode(events[j])
					if err != nil {
						b.Fatal(err)
					}
					if _, err := enc.Write(datum); err != nil {
						b.Fatal(err)
					}
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})

		b.Run("hamba-"+codec, func(b *testing.B) {
			var buf bytes.Buffer
			for i := 0; i < b.N; i += benchFileRecords {
				buf.Reset()
				enc, err := ocf.NewEncoderWithSchema(schema.Schema(), &buf, ocf.WithCodec(ocf.CodecName(codec)), ocf.WithBlockLength(1000))
				if err != nil {
					b.Fatal(err)
				}
				for j := 0; j < benchFileRecords && i+j < b.N; j++ {
					if err := enc.Encode(natives[j]); err != nil {
						b.Fatal(err)
					}
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})

		b.Run("goavro-"+codec, func(b *testing.B) {
			avroCodec, err := goavro.NewCodec(schema.JSON)
			if err != nil {
				b.Fatal(err)
			}
			items := make([]any, len(natives))
			for i, n := range natives {
				items[i] = n
			}
			var buf bytes.Buffer
			for i := 0; i < b.N; i += benchFileRecords {
				buf.Reset()
				w, err := goavro.NewOCFWriter(goavro.OCFConfig{W: &buf, Codec: avroCodec, CompressionName: codec})
				if err != nil {
					b.Fatal(err)
				}
				if err := w.Append(items[:min(benchFileRecords, b.N-i)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// TestGoavroReadsOurFiles checks the comparison is fair (goavro accepts the same natives
// and schema) and that a second Avro implementation reads the sink's files.
func TestGoavroReadsOurFiles(t *testing.T) {
	b, err := NewBuilder(Options{Format: FormatAvro, Schemas: NewSchemas(nil, false, nil)})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range benchRecords()[:10] {
		ev, err := record.FromStream(r, record.Source{Keyspace: "ks", Table: "t", ShardID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	f, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	r, err := goavro.NewOCFReader(bytes.NewReader(f.Body))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r.Scan() {
		v, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		m := v.(map[string]any)
		if m["sequence_number"] != recordtest.Seq(n) || !m["created_at"].(time.Time).Equal(created) {
			t.Errorf("record %d: %v %v", n, m["sequence_number"], m["created_at"])
		}
		n++
	}
	if err := r.Err(); err != nil || n != 10 {
		t.Fatalf("goavro read %d records, err %v", n, err)
	}
}

// BenchmarkAvroDatum measures the per-record Avro work of the sink without compression or
// record conversion, on the rows of BenchmarkEncode ("rows") and recordtest.AllTypes
// ("all-types"). "file": an Avro builder with the null codec, Add for every record and
// Finish for every 1,000 (the schema lookups, datums and container file). "datum": the
// datum alone, by the writer the sink uses ("direct") and by the hamba-based one it
// replaced ("hamba-writer", datum_oracle_test.go). One op is one record.
func BenchmarkAvroDatum(b *testing.B) {
	src := record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"}
	sets := map[string][]*record.Event{}
	for i, r := range benchRecords() {
		ev, err := record.FromStream(r, src)
		if err != nil {
			b.Fatal(err)
		}
		sets["rows"] = append(sets["rows"], ev)
		sets["all-types"] = append(sets["all-types"], allTypesEvent(b, i))
	}
	for _, set := range []string{"rows", "all-types"} {
		evs := sets[set]
		schemas := NewSchemas(nil, false, nil)
		var s *AvroSchema
		for _, ev := range evs {
			var err error
			if s, err = schemas.For(context.Background(), ev); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(set+"/file", func(b *testing.B) {
			builder, err := NewBuilder(Options{Format: FormatAvro, Compression: CodecNull, Schemas: schemas})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for i := 0; b.Loop(); i++ {
				if err := builder.Add(ctx, evs[i%len(evs)]); err != nil {
					b.Fatal(err)
				}
				if builder.Len() == benchFileRecords {
					if _, err := builder.Finish(); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
		for _, w := range []struct {
			name   string
			encode func(*record.Event) ([]byte, error)
		}{
			{"direct", newDatumWriter(s).encode},
			{"hamba-writer", newHambaDatumWriter(s).encode},
		} {
			b.Run(set+"/datum-"+w.name, func(b *testing.B) {
				var n int
				for i := 0; b.Loop(); i++ {
					datum, err := w.encode(evs[i%len(evs)])
					if err != nil {
						b.Fatal(err)
					}
					n += len(datum)
				}
				b.SetBytes(int64(n / b.N))
			})
		}
	}
}
