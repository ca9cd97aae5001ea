package worker

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

type fakeShardAPI struct {
	arn    string // the stream asked for
	shards []streams.Shard
	err    error
}

func (f *fakeShardAPI) ListAllShards(_ context.Context, arn string) ([]streams.Shard, error) {
	f.arn = arn
	return f.shards, f.err
}

func TestStreamShards(t *testing.T) {
	api := &fakeShardAPI{shards: []streams.Shard{
		{ShardId: "p", SequenceNumberRange: streams.SequenceNumberRange{StartingSequenceNumber: "1", EndingSequenceNumber: "9"}},
		{ShardId: "c", ParentShardIds: []string{"p"}, SequenceNumberRange: streams.SequenceNumberRange{StartingSequenceNumber: "10"}},
	}}
	got, err := StreamShards{API: api, StreamARN: "arn:stream"}.ListShards(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Shard{{ShardID: "p", Closed: true}, {ShardID: "c", ParentShardIDs: []string{"p"}}}
	if !reflect.DeepEqual(got, want) || api.arn != "arn:stream" {
		t.Fatalf("got %+v from %q, want %+v from arn:stream", got, api.arn, want)
	}

	api.err = errors.New("throttled")
	if _, err := (StreamShards{API: api, StreamARN: "arn:stream"}).ListShards(context.Background()); !errors.Is(err, api.err) {
		t.Fatalf("err %v, want the client's", err)
	}
}
