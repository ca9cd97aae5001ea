package worker

import (
	"context"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// StreamShards is the coordinator's ShardLister over the Keyspaces Streams client: it lists
// every shard of one stream. It lives here, not in package pipeline, so that the pipeline
// knows the coordinator only through the processor contract.
type StreamShards struct {
	API interface {
		ListAllShards(ctx context.Context, streamArn string) ([]streams.Shard, error)
	}
	StreamARN string
}

// ListShards implements ShardLister.
func (s StreamShards) ListShards(ctx context.Context) ([]Shard, error) {
	shards, err := s.API.ListAllShards(ctx, s.StreamARN)
	if err != nil {
		return nil, err
	}
	out := make([]Shard, len(shards))
	for i, sh := range shards {
		out[i] = Shard{ShardID: sh.ShardId, ParentShardIDs: sh.ParentShardIds, Closed: sh.Closed()}
	}
	return out, nil
}
