package iceberg

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkCommitGrowth commits 200 rounds of 50 shards (a file each) to a change log and
// reports the metadata file's size per snapshot and the last 20 commits' time, without expiry
// (every snapshot stays) and with expiry after each round (one stays): what
// CDC_ICEBERG_SNAPSHOT_RETENTION bounds. Data files are described, not uploaded: a commit
// does not read them.
func BenchmarkCommitGrowth(b *testing.B) {
	const rounds, shards, tail = 200, 50, 20
	for _, expire := range []bool{false, true} {
		b.Run(fmt.Sprintf("expire=%t", expire), func(b *testing.B) {
			for b.Loop() {
				l := newLake(b)
				ctx := context.Background()
				a := events(b, "shard-a", 1, 3, day1)
				ct := ensure(b, l.open(b), a)
				df := l.writeFile(b, ct, a)
				body, err := os.ReadFile(l.local(b, df.Path))
				if err != nil {
					b.Fatal(err)
				}
				prev := map[int]string{}
				var start time.Time
				for r := 1; r <= rounds; r++ {
					if r == rounds-tail+1 {
						start = time.Now()
					}
					var sc []ShardCommit
					for s := range shards {
						f, err := ct.NewDataFile(fmt.Sprintf("%s-r%d-s%d", df.Path, r, s), body, day1)
						if err != nil {
							b.Fatal(err)
						}
						seq := fmt.Sprintf("%020d%020d", r, s)
						sc = append(sc, ShardCommit{ShardID: fmt.Sprintf("shardId-00001732000000000000-%08x", s), Prev: prev[s], Last: seq, Files: []DataFile{f}})
						prev[s] = seq
					}
					if _, err := ct.Commit(ctx, "w1", sc); err != nil {
						b.Fatal(err)
					}
					if expire {
						if _, err := ct.ExpireSnapshots(ctx, time.Nanosecond); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(time.Since(start).Milliseconds())/tail, "ms/commit_at_end")
				meta := ct.Table().Metadata()
				bucket, key, _ := SplitS3(ct.Table().MetadataLocation())
				h, err := l.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(*h.ContentLength), "metadata_bytes")
				b.ReportMetric(float64(len(meta.Snapshots())), "snapshots")
			}
		})
	}
}
