package main

import (
	"context"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// streamShards is the coordinator's worker.ShardLister over the Keyspaces Streams client: it
// lists every shard of one stream, as the keyspaces-cdc-s3 binary's (cmd/keyspaces-cdc-s3/shards.go).
type streamShards struct {
	api interface {
		ListAllShards(ctx context.Context, streamArn string) ([]streams.Shard, error)
	}
	streamARN string
}

// ListShards implements worker.ShardLister.
func (s streamShards) ListShards(ctx context.Context) ([]worker.Shard, error) {
	shards, err := s.api.ListAllShards(ctx, s.streamARN)
	if err != nil {
		return nil, err
	}
	out := make([]worker.Shard, len(shards))
	for i, sh := range shards {
		out[i] = worker.Shard{ShardID: sh.ShardId, ParentShardIDs: sh.ParentShardIds, Closed: sh.Closed()}
	}
	return out, nil
}
