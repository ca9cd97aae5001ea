package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// rec builds a small record for key id.
func rec(id, value string) streams.Record {
	return streams.Record{
		PartitionKeys:  []streams.Column{{Name: "id", Value: streams.CellValue{Type: streams.TypeText, Text: id}}},
		ClusteringKeys: []streams.Column{},
		NewImage: &streams.Row{ValueCells: []streams.NamedCell{
			{Name: "v", Cell: streams.Cell{Value: streams.CellValue{Type: streams.TypeText, Text: value}}},
		}},
	}
}

func firstShard(t *testing.T, c *streams.Client, arn string) string {
	t.Helper()
	shards, err := c.ListAllShards(context.Background(), arn)
	if err != nil || len(shards) == 0 {
		t.Fatalf("shards: %v, %v", shards, err)
	}
	return shards[0].ShardId
}

func iterator(t *testing.T, c *streams.Client, in streams.GetShardIteratorInput) (string, error) {
	t.Helper()
	out, err := c.GetShardIterator(context.Background(), &in)
	if err != nil {
		return "", err
	}
	return out.ShardIterator, nil
}

func TestIteratorAndNextTokenExpire(t *testing.T) {
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	emu, c, _ := start(t, emulator.Config{Now: clk.Now, IteratorTTL: time.Minute}, 1)
	arn, _ := emu.CreateStream(emulator.StreamSpec{Keyspace: "ks", Table: "t", Shards: 3})
	ctx := context.Background()
	it, err := iterator(t, c, streams.GetShardIteratorInput{StreamArn: arn, ShardId: firstShard(t, c, arn), ShardIteratorType: streams.ShardIteratorTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	page, err := c.GetStream(ctx, &streams.GetStreamInput{StreamArn: arn, MaxResults: 1})
	if err != nil || page.NextToken == "" || len(page.Shards) != 1 {
		t.Fatalf("first page %+v, %v", page, err)
	}
	clk.Advance(59 * time.Second)
	if _, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: it}); err != nil {
		t.Fatalf("iterator within its TTL: %v", err)
	}
	clk.Advance(2 * time.Second)
	_, err = c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: it})
	if !errors.Is(err, streams.ErrExpiredIterator) {
		t.Fatalf("expired iterator: got %v", err)
	}
	_, err = c.GetStream(ctx, &streams.GetStreamInput{StreamArn: arn, MaxResults: 1, NextToken: page.NextToken})
	if !errors.Is(err, streams.ErrExpiredNextToken) {
		t.Fatalf("expired next token: got %v", err)
	}
}

func TestRetentionTrimsOldRecords(t *testing.T) {
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	emu, c, _ := start(t, emulator.Config{Now: clk.Now, Retention: time.Hour, IteratorTTL: 24 * time.Hour}, 1)
	arn, _ := emu.CreateStream(emulator.StreamSpec{Keyspace: "ks", Table: "t"})
	ctx := context.Background()
	old, err := emu.PutRecords(arn, []streams.Record{rec("a", "1"), rec("b", "2"), rec("c", "3")})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(30 * time.Minute)
	kept, _ := emu.PutRecords(arn, []streams.Record{rec("a", "4"), rec("b", "5")})
	shard := firstShard(t, c, arn)
	stale, _ := iterator(t, c, streams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: streams.ShardIteratorTrimHorizon})
	clk.Advance(31 * time.Minute) // the first three are now beyond the hour

	if _, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: stale}); !errors.Is(err, streams.ErrTrimmedDataAccess) {
		t.Fatalf("reading trimmed records: got %v", err)
	}
	if _, err := iterator(t, c, streams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: streams.ShardIteratorAtSequenceNumber, SequenceNumber: old[1]}); !errors.Is(err, streams.ErrTrimmedDataAccess) {
		t.Fatalf("AT a trimmed sequence number: got %v", err)
	}
	tests := []struct {
		name string
		in   streams.GetShardIteratorInput
	}{
		{"TRIM_HORIZON starts at the oldest kept record", streams.GetShardIteratorInput{ShardIteratorType: streams.ShardIteratorTrimHorizon}},
		{"AFTER the last trimmed record", streams.GetShardIteratorInput{ShardIteratorType: streams.ShardIteratorAfterSequenceNumber, SequenceNumber: old[2]}},
		{"AT the first kept record", streams.GetShardIteratorInput{ShardIteratorType: streams.ShardIteratorAtSequenceNumber, SequenceNumber: kept[0]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.StreamArn, tt.in.ShardId = arn, shard
			it, err := iterator(t, c, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: it})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.ChangeRecords) != 2 || out.ChangeRecords[0].SequenceNumber != kept[0] || out.ChangeRecords[1].SequenceNumber != kept[1] {
				t.Fatalf("got %d records, want the two kept ones", len(out.ChangeRecords))
			}
			if out.IteratorPosition != streams.IteratorPositionAtTip || out.NextShardIterator == nil {
				t.Fatalf("open shard at its tip: position %q, next %v", out.IteratorPosition, out.NextShardIterator)
			}
		})
	}
}

func TestGetRecordsPagingAndClosedShard(t *testing.T) {
	emu, c, _ := start(t, emulator.Config{}, 1)
	arn, _ := emu.CreateStream(emulator.StreamSpec{Keyspace: "ks", Table: "t", ViewType: streams.ViewKeysOnly})
	ctx := context.Background()
	var recs []streams.Record
	for i := 0; i < 250; i++ {
		recs = append(recs, rec(string(rune('a'+i%26)), "x"))
	}
	seqs, _ := emu.PutRecords(arn, recs)
	parent := firstShard(t, c, arn)
	children, err := emu.Split(arn, parent)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := emu.PutRecords(arn, []streams.Record{rec("a", "late")})

	it, _ := iterator(t, c, streams.GetShardIteratorInput{StreamArn: arn, ShardId: parent, ShardIteratorType: streams.ShardIteratorTrimHorizon})
	var sizes []int
	var positions []string
	var read []string
	next := &it
	for next != nil {
		out, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: *next})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(out.ChangeRecords))
		positions = append(positions, out.IteratorPosition)
		for _, r := range out.ChangeRecords {
			read = append(read, r.SequenceNumber)
		}
		next = out.NextShardIterator
	}
	// Default page of 100; the closed shard's last page ends it (no next iterator).
	if want := []int{100, 100, 50}; !equalInts(sizes, want) {
		t.Fatalf("page sizes %v, want %v", sizes, want)
	}
	if want := []string{"BEHIND_TIP", "BEHIND_TIP", "AT_TIP"}; strings.Join(positions, ",") != strings.Join(want, ",") {
		t.Fatalf("positions %v, want %v", positions, want)
	}
	if strings.Join(read, ",") != strings.Join(seqs, ",") {
		t.Fatal("the parent's records differ from those written before the split")
	}
	// Lineage: both children name the parent; the parent's end lies between its last record
	// and the children's start; the late record went to a child.
	out, err := c.GetStream(ctx, &streams.GetStreamInput{StreamArn: arn, ShardFilter: &streams.ShardFilter{Type: streams.ShardFilterChildShards, ShardId: parent}})
	if err != nil || len(out.Shards) != 2 || out.Shards[0].ShardId != children[0] || out.Shards[1].ShardId != children[1] {
		t.Fatalf("children of %s: %+v, %v", parent, out, err)
	}
	all, _ := c.ListAllShards(ctx, arn)
	end := all[0].SequenceNumberRange.EndingSequenceNumber
	if !all[0].Closed() || end <= seqs[len(seqs)-1] || end >= out.Shards[0].SequenceNumberRange.StartingSequenceNumber || after[0] <= end {
		t.Fatalf("parent range %+v, last record %s, child start %s, late record %s", all[0].SequenceNumberRange, seqs[len(seqs)-1], out.Shards[0].SequenceNumberRange.StartingSequenceNumber, after[0])
	}
	// A KEYS_ONLY record carries no image, whatever was put.
	it2, _ := iterator(t, c, streams.GetShardIteratorInput{StreamArn: arn, ShardId: parent, ShardIteratorType: streams.ShardIteratorAtSequenceNumber, SequenceNumber: seqs[5]})
	one, err := c.GetRecords(ctx, &streams.GetRecordsInput{ShardIterator: it2, MaxResults: 1})
	if err != nil || len(one.ChangeRecords) != 1 || one.ChangeRecords[0].SequenceNumber != seqs[5] {
		t.Fatalf("AT_SEQUENCE_NUMBER read %+v, %v", one, err)
	}
	// Merging the two children gives one shard with two parents.
	child, err := emu.Merge(arn, children[0], children[1])
	if err != nil {
		t.Fatal(err)
	}
	all, _ = c.ListAllShards(ctx, arn)
	last := all[len(all)-1]
	if last.ShardId != child || len(last.ParentShardIds) != 2 {
		t.Fatalf("merged shard %+v", last)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// call sends a raw protocol request and returns the status and the decoded error body.
func call(t *testing.T, url, target, auth, body string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", target)
	if auth != "" {
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Amz-Date", "20250101T000000Z")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestProtocolValidation(t *testing.T) {
	emu, c, url := start(t, emulator.Config{}, 1)
	arn, _ := emu.CreateStream(emulator.StreamSpec{Keyspace: "ks", Table: "t"})
	shard := firstShard(t, c, arn)
	good := "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/cassandra/aws4_request, SignedHeaders=host, Signature=00"
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	tests := []struct {
		name, target, auth, body string
		status                   int
		typ, code, msg           string
	}{
		{"no signature", "KeyspacesStreams.ListStreams", "", `{}`, 403, "AccessDeniedException", "", "SigV4"},
		{"wrong signing name", "KeyspacesStreams.ListStreams", strings.Replace(good, "/cassandra/", "/cassandra-streams/", 1), `{}`, 403, "AccessDeniedException", "", "cassandra/aws4_request"},
		{"bad JSON", "KeyspacesStreams.ListStreams", good, `{"maxResults":`, 400, "ValidationException", "InvalidFormat", "JSON"},
		{"wrong member kind", "KeyspacesStreams.ListStreams", good, `{"maxResults":"ten"}`, 400, "ValidationException", "InvalidFormat", "malformed"},
		{"unknown operation", "KeyspacesStreams.PutRecord", good, `{}`, 400, "UnknownOperationException", "", "PutRecord"},
		{"ListStreams maxResults 0", "KeyspacesStreams.ListStreams", good, `{"maxResults":0}`, 400, "ValidationException", "InvalidFormat", "between 1 and 100"},
		{"GetStream without streamArn", "KeyspacesStreams.GetStream", good, `{}`, 400, "ValidationException", "InvalidFormat", "streamArn is required"},
		{"GetStream maxResults 101", "KeyspacesStreams.GetStream", good, `{"streamArn":` + q(arn) + `,"maxResults":101}`, 400, "ValidationException", "InvalidFormat", "between 1 and 100"},
		{"GetStream unknown stream", "KeyspacesStreams.GetStream", good, `{"streamArn":"arn:nope"}`, 400, "ResourceNotFoundException", "", "arn:nope"},
		{"GetStream bad filter", "KeyspacesStreams.GetStream", good, `{"streamArn":` + q(arn) + `,"shardFilter":{"type":"PARENT","shardId":"x"}}`, 400, "ValidationException", "InvalidFormat", "CHILD_SHARDS"},
		{"GetStream filter on unknown shard", "KeyspacesStreams.GetStream", good, `{"streamArn":` + q(arn) + `,"shardFilter":{"type":"CHILD_SHARDS","shardId":"x"}}`, 400, "ResourceNotFoundException", "", "shard x"},
		{"GetStream bad next token", "KeyspacesStreams.GetStream", good, `{"streamArn":` + q(arn) + `,"nextToken":"garbage"}`, 400, "ValidationException", "InvalidFormat", "next token"},
		{"GetShardIterator without type", "KeyspacesStreams.GetShardIterator", good, `{"streamArn":` + q(arn) + `,"shardId":` + q(shard) + `}`, 400, "ValidationException", "InvalidFormat", "shardIteratorType is required"},
		{"GetShardIterator bad type", "KeyspacesStreams.GetShardIterator", good, `{"streamArn":` + q(arn) + `,"shardId":` + q(shard) + `,"shardIteratorType":"OLDEST"}`, 400, "ValidationException", "InvalidFormat", "OLDEST"},
		{"GetShardIterator AT without sequence", "KeyspacesStreams.GetShardIterator", good, `{"streamArn":` + q(arn) + `,"shardId":` + q(shard) + `,"shardIteratorType":"AT_SEQUENCE_NUMBER"}`, 400, "ValidationException", "InvalidFormat", "sequenceNumber"},
		{"GetShardIterator unknown shard", "KeyspacesStreams.GetShardIterator", good, `{"streamArn":` + q(arn) + `,"shardId":"nope","shardIteratorType":"LATEST"}`, 400, "ResourceNotFoundException", "", "nope"},
		{"GetShardIterator unknown stream", "KeyspacesStreams.GetShardIterator", good, `{"streamArn":"arn:x","shardId":"s","shardIteratorType":"LATEST"}`, 400, "ResourceNotFoundException", "", "arn:x"},
		{"GetRecords without iterator", "KeyspacesStreams.GetRecords", good, `{}`, 400, "ValidationException", "InvalidFormat", "shardIterator is required"},
		{"GetRecords maxResults 1001", "KeyspacesStreams.GetRecords", good, `{"shardIterator":"x","maxResults":1001}`, 400, "ValidationException", "InvalidFormat", "between 1 and 1000"},
		{"GetRecords maxResults 0", "KeyspacesStreams.GetRecords", good, `{"shardIterator":"x","maxResults":0}`, 400, "ValidationException", "InvalidFormat", "between 1 and 1000"},
		{"GetRecords forged iterator", "KeyspacesStreams.GetRecords", good, `{"shardIterator":"eyJrIjoiaXQifQ"}`, 400, "ValidationException", "InvalidFormat", "invalid shard iterator"},
		{"GetTable unknown table", "KeyspacesService.GetTable", good, `{"keyspaceName":"ks","tableName":"t"}`, 400, "ResourceNotFoundException", "", "ks.t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, url, tt.target, tt.auth, tt.body)
			typ := body["__type"][strings.LastIndex(body["__type"], "#")+1:]
			if status != tt.status || typ != tt.typ || body["errorCode"] != tt.code || !strings.Contains(body["message"], tt.msg) {
				t.Fatalf("got %d %v; want %d %s/%s with %q", status, body, tt.status, tt.typ, tt.code, tt.msg)
			}
		})
	}
}

func TestInjectedFaults(t *testing.T) {
	tests := []struct {
		name   string
		faults emulator.Faults
		check  func(t *testing.T, err error)
	}{
		{"throttle", emulator.Faults{ThrottleRate: 1}, func(t *testing.T, err error) {
			if !errors.Is(err, streams.ErrThrottling) {
				t.Fatalf("got %v", err)
			}
		}},
		{"500", emulator.Faults{ErrorRate: 1}, func(t *testing.T, err error) {
			var ae *streams.APIError
			if !errors.Is(err, streams.ErrInternal) || !errors.As(err, &ae) || ae.StatusCode != 500 {
				t.Fatalf("got %v", err)
			}
		}},
		{"dropped connection", emulator.Faults{DropRate: 1}, func(t *testing.T, err error) {
			var ae *streams.APIError
			if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), "send request") {
				t.Fatalf("got %v, want a connection error", err)
			}
		}},
		{"latency", emulator.Faults{Latency: 30 * time.Millisecond}, func(t *testing.T, err error) {
			if err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu, c, _ := start(t, emulator.Config{}, 2)
			if err := emu.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			_, err := c.ListStreams(context.Background(), &streams.ListStreamsInput{})
			tt.check(t, err)
			// Every attempt waits the added latency first: a lower bound, not a timing target.
			if tt.faults.Latency > 0 && time.Since(began) < tt.faults.Latency {
				t.Fatalf("answered in %v, before the added latency %v", time.Since(began), tt.faults.Latency)
			}
		})
	}
	if _, err := emulator.New(emulator.Config{Faults: emulator.Faults{ThrottleRate: 1.5}}); err == nil {
		t.Fatal("a throttle rate above 1 was accepted")
	}
}

func TestListStreamsPagesAndFilters(t *testing.T) {
	emu, c, _ := start(t, emulator.Config{}, 1)
	for _, spec := range []emulator.StreamSpec{
		{Keyspace: "a", Table: "t1"}, {Keyspace: "a", Table: "t2"}, {Keyspace: "b", Table: "t1"},
	} {
		if _, err := emu.CreateStream(spec); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	in := &streams.ListStreamsInput{KeyspaceName: "a", MaxResults: 1}
	for {
		out, err := c.ListStreams(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range out.Streams {
			got = append(got, s.KeyspaceName+"."+s.TableName)
		}
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if strings.Join(got, ",") != "a.t1,a.t2" {
		t.Fatalf("streams of keyspace a: %v", got)
	}
	if _, err := c.FindStream(context.Background(), "b", "t2"); !errors.Is(err, streams.ErrNotFound) {
		t.Fatalf("FindStream of a table without stream: %v", err)
	}
	arns := emu.StreamARNs()
	if !strings.HasPrefix(arns[0], "arn:aws:cassandra:us-east-1:111122223333:/keyspace/a/table/t1/stream/") {
		t.Fatalf("ARN %s", arns[0])
	}
}

func TestScheduledSplitsAndTimedGenerator(t *testing.T) {
	emu, c, _ := start(t, emulator.Config{}, 1)
	arn, _ := emu.CreateStream(emulator.StreamSpec{Keyspace: "media", Table: "media_content"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := emu.StartGenerator(emulator.GeneratorConfig{StreamArn: arn, Rate: 200, Duration: emulator.Duration(50 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	if err := emu.StartGenerator(emulator.GeneratorConfig{StreamArn: arn}); err == nil {
		t.Fatal("a second run started while one was in progress")
	}
	status, err := emu.WaitGenerator(ctx)
	if err != nil || status.Running || status.Written == 0 || status.FinishedAt.IsZero() {
		t.Fatalf("timed run: %+v, %v", status, err)
	}

	splitCtx, stopSplits := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		emu.RunSplitter(splitCtx, arn, time.Millisecond)
		close(done)
	}()
	for {
		shards, err := c.ListAllShards(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		if len(shards) >= 5 { // two splits at least
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d shards after the deadline", len(shards))
		}
	}
	stopSplits()
	<-done
}
