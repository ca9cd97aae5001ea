package emulator_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// admin calls the admin API and decodes the JSON answer into out.
func admin(t *testing.T, method, u, body string, wantStatus int, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: %d %s, want %d", method, u, resp.StatusCode, b, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, u, err, b)
		}
	}
}

func TestAdminAPI(t *testing.T) {
	emu, c, base := start(t, emulator.Config{}, 1)
	a := base + "/_admin"

	var health map[string]string
	admin(t, "GET", a+"/healthz", "", 200, &health)
	if health["status"] != "ok" {
		t.Fatalf("healthz %v", health)
	}
	var created map[string]string
	admin(t, "POST", a+"/streams", `{"keyspace":"media","table":"media_content","viewType":"NEW_AND_OLD_IMAGES","shards":2}`, 200, &created)
	arn := created["streamArn"]
	admin(t, "POST", a+"/streams", `{"keyspace":"media","table":"media_content","viewType":"SOMETIMES"}`, 400, nil)
	admin(t, "POST", a+"/streams", `{"keyspace":"media","tabel":"typo"}`, 400, nil)

	lines := `{"partitionKeys":{"id":{"textT":"a"}},"newImage":{"valueCells":{"v":{"value":{"intT":"1"}}}}}

{"partitionKeys":{"id":{"textT":"b"}},"origin":"TTL","sequenceNumber":"ignored"}
`
	var put struct{ SequenceNumbers []string }
	admin(t, "POST", a+"/records?streamArn="+url.QueryEscape(arn), lines, 200, &put)
	if len(put.SequenceNumbers) != 2 || put.SequenceNumbers[0] >= put.SequenceNumbers[1] || len(put.SequenceNumbers[0]) != 21 {
		t.Fatalf("put: %+v", put)
	}
	admin(t, "POST", a+"/records?streamArn="+url.QueryEscape(arn), `[{"partitionKeys":{"id":{"listT":"x"}}}]`, 400, nil)

	var split struct{ Children []string }
	admin(t, "POST", a+"/split", `{"streamArn":"`+arn+`"}`, 200, &split)
	if len(split.Children) != 2 {
		t.Fatalf("split: %+v", split)
	}
	admin(t, "POST", a+"/records?streamArn="+url.QueryEscape(arn), `[{"partitionKeys":{"id":{"textT":"a"}}},{"partitionKeys":{"id":{"textT":"c"}}}]`, 200, &put)

	var faults map[string]any
	admin(t, "POST", a+"/faults", `{"throttleRate":0.5,"latency":"5ms"}`, 200, &faults)
	admin(t, "GET", a+"/faults", "", 200, &faults)
	if faults["throttleRate"] != 0.5 || faults["latency"] != "5ms" || emu.Faults().Latency != 5*time.Millisecond {
		t.Fatalf("faults %v", faults)
	}
	admin(t, "POST", a+"/faults", `{"errorRate":2}`, 400, nil)
	admin(t, "POST", a+"/faults", `{}`, 200, nil)

	var status emulator.GeneratorStatus
	admin(t, "POST", a+"/generator/start", `{"streamArn":"`+arn+`","records":50,"seed":3}`, 200, &status)
	if _, err := emu.WaitGenerator(context.Background()); err != nil {
		t.Fatal(err)
	}
	admin(t, "GET", a+"/generator/status", "", 200, &status)
	if status.Running || status.Written != 50 {
		t.Fatalf("generator status %+v", status)
	}
	admin(t, "POST", a+"/generator/start", `{"streamArn":"`+arn+`","rate":1}`, 200, &status)
	admin(t, "POST", a+"/generator/stop", "", 200, &status)
	if status.Running || status.Written > 2 {
		t.Fatalf("stopped generator %+v", status)
	}
	totalWritten := 54 + status.Written

	// /written: every record, per shard, with its wire JSON; pages; sequence numbers only.
	type page struct {
		Streams []struct {
			StreamArn string
			Count     int
			Shards    []struct {
				ShardID         string `json:"shardId"`
				Count           int
				NextOffset      int
				SequenceNumbers []string
				Records         []emulator.WrittenRecord
			}
		}
	}
	var all page
	admin(t, "GET", a+"/written", "", 200, &all)
	if len(all.Streams) != 1 || all.Streams[0].Count != totalWritten || len(all.Streams[0].Shards) != 4 {
		t.Fatalf("written: %d streams, count %d (want %d), %d shards", len(all.Streams), all.Streams[0].Count, totalWritten, len(all.Streams[0].Shards))
	}
	var first emulator.WrittenRecord
	for _, sh := range all.Streams[0].Shards {
		for _, r := range sh.Records {
			if r.SequenceNumber == put.SequenceNumbers[0] {
				first = r
			}
		}
	}
	rec, err := streams.DecodeRecord(first.Record)
	if err != nil || rec.SequenceNumber != first.SequenceNumber || first.Key != "a/" || rec.CreatedAt.IsZero() || !first.CreatedAt.Equal(rec.CreatedAt) {
		t.Fatalf("written record %+v: %v", first, err)
	}
	shard := all.Streams[0].Shards[0]
	var seqs page
	admin(t, "GET", a+"/written?only=seq&limit=1&shardId="+shard.ShardID+"&streamArn="+url.QueryEscape(arn), "", 200, &seqs)
	got := seqs.Streams[0].Shards
	if len(got) != 1 || len(got[0].SequenceNumbers) != 1 || got[0].Records != nil || got[0].SequenceNumbers[0] != shard.Records[0].SequenceNumber ||
		(shard.Count > 1 && got[0].NextOffset != 1) {
		t.Fatalf("seq-only page %+v", got)
	}
	admin(t, "GET", a+"/written?offset=-1", "", 400, nil)
	admin(t, "GET", a+"/nothing", "", 404, nil)

	// What the admin API put is what the protocol serves.
	shards, err := c.ListAllShards(context.Background(), arn)
	if err != nil || len(shards) != 4 {
		t.Fatalf("shards %v, %v", shards, err)
	}
	var streamsList []struct{ StreamArn string }
	admin(t, "GET", a+"/streams", "", 200, &streamsList)
	if len(streamsList) != 1 || streamsList[0].StreamArn != arn {
		t.Fatalf("streams %+v", streamsList)
	}
}

func TestParseRecordsLoadsJSONLines(t *testing.T) {
	data := "{\"partitionKeys\":{\"id\":{\"textT\":\"a\"}}}\n\n  {\"partitionKeys\":{\"id\":{\"intT\":\"1\"}},\"createdAt\":1700000000.5}\n"
	recs, err := emulator.ParseRecords([]byte(data))
	if err != nil || len(recs) != 2 || recs[1].PartitionKeys[0].Value.Text != "1" || recs[1].CreatedAt.Unix() != 1700000000 {
		t.Fatalf("got %+v, %v", recs, err)
	}
	if _, err := emulator.ParseRecords([]byte("{\"partitionKeys\":{}}\n{bad")); err == nil || !strings.Contains(err.Error(), "record 2") {
		t.Fatalf("bad line: %v", err)
	}
}
