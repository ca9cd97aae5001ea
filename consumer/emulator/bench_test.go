package emulator_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// BenchmarkGetRecordsFromEmulator reads ~1 KB records with the client from an in-process
// emulator over loopback HTTP, 1,000 per GetRecords call: SigV4 signing, the transport, the
// emulator and the decoder together.
func BenchmarkGetRecordsFromEmulator(b *testing.B) {
	emu, err := emulator.New(emulator.Config{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := streams.New(streams.Config{AWS: awsConfig(3), Endpoint: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	arn, err := emu.CreateStream(emulator.StreamSpec{Keyspace: "media", Table: "media_content", ViewType: streams.ViewNewImage})
	if err != nil {
		b.Fatal(err)
	}
	w, err := emulator.NewWorkload(emulator.WorkloadConfig{Seed: 1, RowBytes: 1024, ViewType: streams.ViewNewImage})
	if err != nil {
		b.Fatal(err)
	}
	const n = 20000
	recs := make([]streams.Record, n)
	for i := range recs {
		recs[i] = w.Next(time.Now())
	}
	if _, err := emu.PutRecords(arn, recs); err != nil {
		b.Fatal(err)
	}
	ws, _ := emu.Written(arn)
	size := 0
	for _, r := range ws[0].Records {
		size += len(r.Record)
	}
	b.SetBytes(int64(size / n))
	ctx := context.Background()
	shard := ws[0].ShardID
	var iter *string
	read := 0
	b.ResetTimer()
	for read < b.N {
		if iter == nil {
			it, err := c.GetShardIterator(ctx, &streams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: streams.ShardIteratorTrimHorizon})
			if err != nil {
				b.Fatal(err)
			}
			iter = &it.ShardIterator
		}
		out, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: *iter, MaxResults: min(1000, b.N-read)})
		if err != nil {
			b.Fatal(err)
		}
		read += len(out.ChangeRecords)
		iter = out.NextShardIterator
		if out.IteratorPosition == streams.IteratorPositionAtTip {
			iter = nil // start over from the oldest record
		}
	}
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "records/s")
}
