package pipeline

import (
	"context"
	"fmt"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// StreamsAPI is what the pipeline needs of the Keyspaces Streams client.
type StreamsAPI interface {
	GetShardIterator(ctx context.Context, in *streams.GetShardIteratorInput) (*streams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *streams.GetRecordsInput) (*streams.GetRecordsOutput, error)
}

// StreamsReader reads one stream's shards through the Keyspaces Streams API: it is the
// pipeline's Reader.
type StreamsReader struct {
	API       StreamsAPI
	StreamARN string
}

// Iterator implements Reader.
func (s StreamsReader) Iterator(ctx context.Context, shardID, position string) (string, error) {
	in := &streams.GetShardIteratorInput{StreamArn: s.StreamARN, ShardId: shardID}
	switch position {
	case checkpoint.TrimHorizon, checkpoint.Latest:
		in.ShardIteratorType = position
	default:
		in.ShardIteratorType = streams.ShardIteratorAfterSequenceNumber
		in.SequenceNumber = position
	}
	out, err := s.API.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("GetShardIterator %s at %s: %w", shardID, position, err)
	}
	return out.ShardIterator, nil
}

// Records implements Reader. A record that arrived but could not be decoded keeps its place,
// marked with DecodeErr, so the sink stores it under the error prefix.
func (s StreamsReader) Records(ctx context.Context, iterator string, limit int) (Batch, error) {
	// Envelopes only: the sink reads each record's keys and images straight into its event
	// (record.FromStream), without a tree of CellValues per record to build and collect.
	in := &streams.GetRecordsInput{ShardIterator: iterator, MaxResults: limit, EnvelopeOnly: true}
	out, err := s.API.GetRecords(ctx, in)
	if err != nil {
		return Batch{}, fmt.Errorf("GetRecords: %w", err)
	}
	for _, de := range out.DecodeErrors {
		out.ChangeRecords[de.Index].DecodeErr = de.Err
	}
	b := Batch{Records: out.ChangeRecords, AtTip: out.IteratorPosition == streams.IteratorPositionAtTip}
	if out.NextShardIterator == nil {
		b.Closed = true
	} else {
		b.Next = *out.NextShardIterator
	}
	return b, nil
}
