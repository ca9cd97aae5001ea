package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

type emfLine struct {
	AWS struct {
		Timestamp         int64
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	Fields map[string]any `json:"-"`
}

func parseEMF(t *testing.T, out []byte) []emfLine {
	t.Helper()
	var lines []emfLine
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l emfLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		if err := json.Unmarshal(sc.Bytes(), &l.Fields); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestEMFNamesUnitsValuesAndDeltas(t *testing.T) {
	r := NewRegistry("KeyspacesCdcToS3", "media-cdc")
	shard := Dim{DimShard, "shard-1"}
	r.Add(RecordsRead, Count, 7, shard)
	r.Add(RecordsRead, Count, 3, shard)
	r.Add(BytesWritten, Bytes, 1024)
	r.Set(LeasesHeld, Count, 4, Dim{DimWorker, "w1"})
	r.Observe(FlushLatency, Milliseconds, 12)
	r.Observe(FlushLatency, Milliseconds, 30)
	now := time.UnixMilli(1_700_000_000_123)

	var out bytes.Buffer
	if err := r.WriteEMF(&out, now); err != nil {
		t.Fatal(err)
	}
	lines := parseEMF(t, out.Bytes())
	found := map[string]bool{}
	for _, l := range lines {
		if l.AWS.Timestamp != now.UnixMilli() || len(l.AWS.CloudWatchMetrics) != 1 {
			t.Fatalf("bad _aws: %+v", l.AWS)
		}
		d := l.AWS.CloudWatchMetrics[0]
		if d.Namespace != "KeyspacesCdcToS3" || l.Fields["Application"] != "media-cdc" {
			t.Fatalf("namespace/application: %+v", l.Fields)
		}
		for _, m := range d.Metrics {
			found[m.Name] = true
			switch m.Name {
			case RecordsRead:
				if m.Unit != "Count" || l.Fields[RecordsRead] != 10.0 || l.Fields["ShardId"] != "shard-1" {
					t.Errorf("RecordsRead: %+v %+v", m, l.Fields)
				}
				if len(d.Dimensions) != 2 || strings.Join(d.Dimensions[0], ",") != "Application,ShardId" || strings.Join(d.Dimensions[1], ",") != "Application" {
					t.Errorf("RecordsRead dimensions: %v", d.Dimensions)
				}
			case BytesWritten:
				if m.Unit != "Bytes" || l.Fields[BytesWritten] != 1024.0 {
					t.Errorf("BytesWritten: %+v %+v", m, l.Fields)
				}
			case LeasesHeld:
				if l.Fields[LeasesHeld] != 4.0 || l.Fields["WorkerId"] != "w1" {
					t.Errorf("LeasesHeld: %+v", l.Fields)
				}
			case FlushLatency:
				vals, _ := l.Fields[FlushLatency].([]any)
				if m.Unit != "Milliseconds" || len(vals) != 2 || vals[0] != 12.0 || vals[1] != 30.0 {
					t.Errorf("FlushLatency: %+v %+v", m, l.Fields[FlushLatency])
				}
			}
		}
	}
	for _, n := range []string{RecordsRead, BytesWritten, LeasesHeld, FlushLatency} {
		if !found[n] {
			t.Errorf("%s not emitted", n)
		}
	}

	// Second flush: counters emit only what is new, unchanged counters and empty
	// distributions are skipped, gauges repeat; a counter kept elsewhere is set by its total.
	r.Add(RecordsRead, Count, 5, shard)
	r.SetCounter(FilesWritten, Count, 9)
	out.Reset()
	if err := r.WriteEMF(&out, now); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{}
	for _, l := range parseEMF(t, out.Bytes()) {
		for _, m := range l.AWS.CloudWatchMetrics[0].Metrics {
			got[m.Name] = l.Fields[m.Name]
		}
	}
	if got[RecordsRead] != 5.0 || got[LeasesHeld] != 4.0 || got[BytesWritten] != nil || got[FlushLatency] != nil || got[FilesWritten] != 9.0 {
		t.Fatalf("second flush: %v", got)
	}
	if r.Value(RecordsRead, shard) != 15 || r.Sum(RecordsRead) != 15 {
		t.Fatalf("cumulative value %v", r.Value(RecordsRead, shard))
	}
}

func TestPrometheusText(t *testing.T) {
	r := NewRegistry("ns", "app")
	r.Add(RecordsWritten, Count, 42)
	r.Set(MillisBehindLatest, Milliseconds, 1500, Dim{DimShard, "s-1"})
	r.Observe(FlushLatency, Milliseconds, 10)
	r.Observe(FlushLatency, Milliseconds, 20)
	var b bytes.Buffer
	if err := r.WritePrometheus(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# TYPE cdc_records_written_total counter\ncdc_records_written_total{application=\"app\"} 42\n",
		"cdc_millis_behind_latest{application=\"app\",shard_id=\"s-1\"} 1500\n",
		"cdc_flush_latency_sum{application=\"app\"} 30\ncdc_flush_latency_count{application=\"app\"} 2\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("missing %q in\n%s", want, b.String())
		}
	}
}

func TestDeleteGaugesKeepsCounters(t *testing.T) {
	r := NewRegistry("ns", "app")
	r.Set(MillisBehindLatest, Milliseconds, 5, Dim{DimShard, "a"})
	r.Set(MillisBehindLatest, Milliseconds, 6, Dim{DimShard, "b"})
	r.Add(RecordsRead, Count, 1, Dim{DimShard, "a"})
	r.DeleteGauges(Dim{DimShard, "a"})
	var b bytes.Buffer
	_ = r.WritePrometheus(&b)
	if strings.Contains(b.String(), `cdc_millis_behind_latest{application="app",shard_id="a"}`) ||
		!strings.Contains(b.String(), `shard_id="b"`) || !strings.Contains(b.String(), `cdc_records_read_total{application="app",shard_id="a"} 1`) {
		t.Fatalf("after Delete:\n%s", b.String())
	}
}
