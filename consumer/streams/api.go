package streams

import (
	"encoding/json"
	"fmt"
	"time"
)

// Values of the API's enumerations.
const (
	ShardIteratorTrimHorizon         = "TRIM_HORIZON"
	ShardIteratorLatest              = "LATEST"
	ShardIteratorAtSequenceNumber    = "AT_SEQUENCE_NUMBER"
	ShardIteratorAfterSequenceNumber = "AFTER_SEQUENCE_NUMBER"

	IteratorPositionAtTip     = "AT_TIP"
	IteratorPositionBehindTip = "BEHIND_TIP"

	StreamStatusEnabling  = "ENABLING"
	StreamStatusEnabled   = "ENABLED"
	StreamStatusDisabling = "DISABLING"
	StreamStatusDisabled  = "DISABLED"

	ViewNewImage        = "NEW_IMAGE"
	ViewOldImage        = "OLD_IMAGE"
	ViewNewAndOldImages = "NEW_AND_OLD_IMAGES"
	ViewKeysOnly        = "KEYS_ONLY"

	ShardFilterChildShards = "CHILD_SHARDS"

	OriginUser        = "USER"
	OriginReplication = "REPLICATION"
	OriginTTL         = "TTL"
)

// ListStreamsInput filters and pages ListStreams. Zero values are left out of the request.
type ListStreamsInput struct {
	KeyspaceName string `json:"keyspaceName,omitempty"`
	TableName    string `json:"tableName,omitempty"`
	MaxResults   int    `json:"maxResults,omitempty"`
	NextToken    string `json:"nextToken,omitempty"`
}

// StreamSummary is one entry of ListStreams.
type StreamSummary struct {
	StreamArn    string `json:"streamArn"`
	KeyspaceName string `json:"keyspaceName"`
	TableName    string `json:"tableName"`
	StreamLabel  string `json:"streamLabel"`
}

// ListStreamsOutput is a page of streams; NextToken is empty on the last page.
type ListStreamsOutput struct {
	Streams   []StreamSummary `json:"streams"`
	NextToken string          `json:"nextToken,omitempty"`
}

// GetStreamInput names a stream and pages its shards.
type GetStreamInput struct {
	StreamArn   string       `json:"streamArn"`
	MaxResults  int          `json:"maxResults,omitempty"` // 1..100, service default 100
	NextToken   string       `json:"nextToken,omitempty"`
	ShardFilter *ShardFilter `json:"shardFilter,omitempty"`
}

// ShardFilter restricts GetStream to the children of ShardId (Type CHILD_SHARDS).
type ShardFilter struct {
	Type    string `json:"type"`
	ShardId string `json:"shardId"`
}

// GetStreamOutput describes a stream and a page of its shards.
type GetStreamOutput struct {
	StreamArn               string
	StreamLabel             string
	StreamStatus            string
	StreamViewType          string
	CreationRequestDateTime time.Time
	KeyspaceName            string
	TableName               string
	Shards                  []Shard
	NextToken               string // empty on the last page
}

// getStreamWire is GetStreamOutput as sent: the time is epoch seconds (a JSON number).
type getStreamWire struct {
	StreamArn               string      `json:"streamArn"`
	StreamLabel             string      `json:"streamLabel"`
	StreamStatus            string      `json:"streamStatus"`
	StreamViewType          string      `json:"streamViewType"`
	CreationRequestDateTime json.Number `json:"creationRequestDateTime"`
	KeyspaceName            string      `json:"keyspaceName"`
	TableName               string      `json:"tableName"`
	Shards                  []Shard     `json:"shards"`
	NextToken               string      `json:"nextToken,omitempty"`
}

// MarshalJSON writes the wire form (creationRequestDateTime as epoch seconds).
func (o GetStreamOutput) MarshalJSON() ([]byte, error) {
	w := getStreamWire{
		StreamArn: o.StreamArn, StreamLabel: o.StreamLabel, StreamStatus: o.StreamStatus,
		StreamViewType: o.StreamViewType, KeyspaceName: o.KeyspaceName, TableName: o.TableName,
		Shards: o.Shards, NextToken: o.NextToken,
		CreationRequestDateTime: json.Number(AppendEpochSeconds(nil, o.CreationRequestDateTime)),
	}
	if w.Shards == nil {
		w.Shards = []Shard{}
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the wire form.
func (o *GetStreamOutput) UnmarshalJSON(data []byte) error {
	var w getStreamWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*o = GetStreamOutput{
		StreamArn: w.StreamArn, StreamLabel: w.StreamLabel, StreamStatus: w.StreamStatus,
		StreamViewType: w.StreamViewType, KeyspaceName: w.KeyspaceName, TableName: w.TableName,
		Shards: w.Shards, NextToken: w.NextToken,
	}
	if w.CreationRequestDateTime != "" {
		t, err := ParseEpochSeconds(string(w.CreationRequestDateTime))
		if err != nil {
			return fmt.Errorf("creationRequestDateTime: %w", err)
		}
		o.CreationRequestDateTime = t
	}
	return nil
}

// Shard is one shard of a stream. A shard with an ending sequence number is closed.
type Shard struct {
	ShardId             string              `json:"shardId"`
	ParentShardIds      []string            `json:"parentShardIds,omitempty"`
	SequenceNumberRange SequenceNumberRange `json:"sequenceNumberRange"`
}

// Closed reports whether the shard has ended (no record will be added to it).
func (s Shard) Closed() bool { return s.SequenceNumberRange.EndingSequenceNumber != "" }

// SequenceNumberRange is the range of a shard's sequence numbers; End is empty while open.
type SequenceNumberRange struct {
	StartingSequenceNumber string `json:"startingSequenceNumber"`
	EndingSequenceNumber   string `json:"endingSequenceNumber,omitempty"`
}

// GetShardIteratorInput positions an iterator in a shard. SequenceNumber is required for
// AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER.
type GetShardIteratorInput struct {
	StreamArn         string `json:"streamArn"`
	ShardId           string `json:"shardId"`
	ShardIteratorType string `json:"shardIteratorType"`
	SequenceNumber    string `json:"sequenceNumber,omitempty"`
}

// GetShardIteratorOutput holds the opaque iterator (valid for 15 minutes on the service).
type GetShardIteratorOutput struct {
	ShardIterator string `json:"shardIterator"`
}

// GetRecordsInput reads from an iterator; MaxResults 1..1000 (0: the service default, 100).
type GetRecordsInput struct {
	ShardIterator string `json:"shardIterator"`
	MaxResults    int    `json:"maxResults,omitempty"`
	// EnvelopeOnly decodes only each record's envelope and leaves its keys and images in Raw
	// (Record.Deferred): for a caller that reads them itself, straight into its own form,
	// which saves building and collecting a tree of CellValues per record. Not sent.
	EnvelopeOnly bool `json:"-"`
}

// GetRecordsOutput is one batch of a shard.
type GetRecordsOutput struct {
	ChangeRecords []Record
	// NextShardIterator is nil when the shard is closed and every record of it was read.
	NextShardIterator *string
	// IteratorPosition is AT_TIP or BEHIND_TIP (empty when the service left it out).
	IteratorPosition string
	// DecodeErrors lists the records that arrived but could not be decoded. Such a record
	// keeps its place in ChangeRecords with only Raw (and SequenceNumber when readable) set,
	// so the caller can store it untouched under an error prefix instead of stalling.
	DecodeErrors []RecordDecodeError
}

// RecordDecodeError is a record of a batch that could not be decoded.
type RecordDecodeError struct {
	Index int // in ChangeRecords
	Err   error
}
