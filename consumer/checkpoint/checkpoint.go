// Package checkpoint holds what the lease coordinator and the sink share: where a shard's
// reading resumes, and the intent a flush records before it writes a file, so that a crash
// between the upload and the checkpoint is replayed into the same object key.
package checkpoint

import (
	"context"
	"errors"
)

// Special checkpoint values (anything else is a sequence number: resume AFTER it).
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
	ShardEnd    = "SHARD_END"
)

// ErrLeaseLost is returned (wrapped) by every Checkpointer call once the worker no longer
// holds the shard's lease. The caller must stop processing the shard at once.
var ErrLeaseLost = errors.New("lease lost")

// Intent is a file the sink is about to write: the records FirstSeq..LastSeq (inclusive,
// Records of them) of the shard go to the object Key. It is stored in the lease item with
// the checkpoint before the upload; the next owner that finds it re-reads exactly that range
// and writes it to the same Key.
type Intent struct {
	Key      string `dynamodbav:"key" json:"key"`
	FirstSeq string `dynamodbav:"firstSeq" json:"firstSeq"`
	LastSeq  string `dynamodbav:"lastSeq" json:"lastSeq"`
	Records  int    `dynamodbav:"records" json:"records"`
}

// Checkpointer writes one shard's progress. Every call is a conditional write fenced by the
// lease (owner and counter): it fails with ErrLeaseLost when someone else owns the shard.
type Checkpointer interface {
	// SaveIntent durably records the intent (the checkpoint itself does not move).
	SaveIntent(ctx context.Context, in Intent) error
	// Checkpoint durably records that every record up to and including seq is stored, and
	// clears any intent.
	Checkpoint(ctx context.Context, seq string) error
	// ShardEnd records that the shard is closed and every record of it is stored.
	ShardEnd(ctx context.Context) error
}
