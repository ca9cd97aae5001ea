// Package emulator is a local Amazon Keyspaces Streams service: it speaks the service's
// AWS JSON 1.0 protocol (ListStreams, GetStream, GetShardIterator, GetRecords) and the two
// Keyspaces control-plane calls a consumer needs (GetTable, GetType), so the project's client
// and any AWS SDK can point at it. Streams hold shards with lineage (splits and merges),
// iterators expire, old records are trimmed, faults can be injected, and a workload generator
// writes realistic change records to the sample table media.media_content. An admin API under
// /_admin/ drives it and lists every record written, for end-to-end checks.
//
// Sequence numbers are decimal strings of 21 digits, zero-padded, drawn from one counter per
// emulator: string order equals numeric order, across all shards and streams.
package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	Region  string // default us-east-1
	Account string // default 111122223333
	// IteratorTTL is how long a shard iterator or a next token stays valid (default 15 min,
	// as the service).
	IteratorTTL time.Duration
	// Retention is how long records stay readable (default 24 h, as the service); older
	// records are trimmed and reading them gives TrimmedDataAccess.
	Retention time.Duration
	// MaxResponseBytes caps the records of one GetRecords answer (default 1 MiB, as the
	// service); at least one record is always returned.
	MaxResponseBytes int
	// Faults are injected into protocol requests (not the admin API) from the start.
	Faults Faults
	// Seed seeds the fault dice (0: a fixed default), so a run can be replayed.
	Seed uint64
	// Now is the clock (default time.Now); tests move it to expire iterators and trim.
	Now func() time.Time
	// Logger receives the emulator's logs (default: discarded).
	Logger *slog.Logger
}

// Faults are the failures injected into protocol requests: each request is throttled
// (400 ThrottlingException) with probability ThrottleRate, fails with 500
// InternalServerException with probability ErrorRate, has its connection dropped with
// probability DropRate, and waits Latency first. DenySchema answers the Keyspaces
// control-plane calls (GetTable, GetType) 400 AccessDeniedException, as for a role without
// cassandra:Select: the consumer's schemas then come from the records alone.
type Faults struct {
	ThrottleRate float64       `json:"throttleRate"`
	ErrorRate    float64       `json:"errorRate"`
	DropRate     float64       `json:"dropRate"`
	Latency      time.Duration `json:"-"`
	DenySchema   bool          `json:"denySchema"`
}

func (f Faults) validate() error {
	for _, r := range []float64{f.ThrottleRate, f.ErrorRate, f.DropRate} {
		if r < 0 || r > 1 || math.IsNaN(r) {
			return fmt.Errorf("fault rates must be within 0..1, got %v", r)
		}
	}
	if f.Latency < 0 {
		return fmt.Errorf("latency must not be negative, got %v", f.Latency)
	}
	return nil
}

// Server is the emulator. It is an http.Handler; create it with New.
type Server struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	streams []*stream // creation order
	byARN   map[string]*stream
	tables  map[string]*Table // "ks.table"
	seq     uint64            // last sequence number handed out
	reqID   uint64
	gen     *generatorRun

	fmu    sync.Mutex
	faults Faults
	dice   *rand.Rand
}

type stream struct {
	arn, label, keyspace, table, viewType string
	created                               time.Time
	shards                                []*shard // creation order: parents before children
	byID                                  map[string]*shard
}

type shard struct {
	id      string
	parents []string
	start   string
	end     string // set when closed
	lo, hi  uint64 // the partition-key hash range it owns (inclusive)
	records []stored
	trimmed int // records[:trimmed] are beyond retention
}

// stored is one written record.
type stored struct {
	seq       string
	key       string
	createdAt time.Time
	arrived   time.Time
	wire      []byte
}

// New returns an emulator with no streams.
func New(cfg Config) (*Server, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.Account == "" {
		cfg.Account = "111122223333"
	}
	if cfg.IteratorTTL == 0 {
		cfg.IteratorTTL = 15 * time.Minute
	}
	if cfg.Retention == 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = 1 << 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if cfg.IteratorTTL < 0 || cfg.Retention < 0 || cfg.MaxResponseBytes < 0 {
		return nil, errors.New("emulator: negative iterator TTL, retention or response size")
	}
	if err := cfg.Faults.validate(); err != nil {
		return nil, fmt.Errorf("emulator: %w", err)
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = 1
	}
	return &Server{
		cfg:    cfg,
		log:    cfg.Logger,
		byARN:  map[string]*stream{},
		tables: map[string]*Table{},
		faults: cfg.Faults,
		dice:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}, nil
}

// StreamSpec describes a stream to create.
type StreamSpec struct {
	Keyspace string `json:"keyspace"`
	Table    string `json:"table"`
	ViewType string `json:"viewType"` // default NEW_AND_OLD_IMAGES
	Shards   int    `json:"shards"`   // open shards at start, default 1
	Label    string `json:"label"`    // default: the creation time, 2006-01-02T15:04:05.000
	// Schema is the table's schema, for GetTable/GetType; media.media_content has one built in.
	Schema *Table `json:"schema,omitempty"`
}

// CreateStream creates an ENABLED stream and returns its ARN.
func (s *Server) CreateStream(spec StreamSpec) (string, error) {
	if spec.Keyspace == "" || spec.Table == "" {
		return "", errors.New("create stream: keyspace and table are required")
	}
	if spec.ViewType == "" {
		spec.ViewType = streams.ViewNewAndOldImages
	}
	switch spec.ViewType {
	case streams.ViewNewImage, streams.ViewOldImage, streams.ViewNewAndOldImages, streams.ViewKeysOnly:
	default:
		return "", fmt.Errorf("create stream: unknown view type %q", spec.ViewType)
	}
	if spec.Shards == 0 {
		spec.Shards = 1
	}
	if spec.Shards < 0 || spec.Shards > 1024 {
		return "", fmt.Errorf("create stream: shards must be 1..1024, got %d", spec.Shards)
	}
	schema := spec.Schema
	if schema == nil && spec.Keyspace == "media" && spec.Table == "media_content" {
		schema = MediaContent()
	}
	if schema != nil {
		if schema.Keyspace != spec.Keyspace || schema.Name != spec.Table {
			return "", fmt.Errorf("create stream: schema is for %s.%s, not %s.%s", schema.Keyspace, schema.Name, spec.Keyspace, spec.Table)
		}
		if err := schema.validate(); err != nil {
			return "", fmt.Errorf("create stream: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now().UTC()
	if spec.Label == "" {
		spec.Label = now.Format("2006-01-02T15:04:05.000")
	}
	arn := fmt.Sprintf("arn:aws:cassandra:%s:%s:/keyspace/%s/table/%s/stream/%s", s.cfg.Region, s.cfg.Account, spec.Keyspace, spec.Table, spec.Label)
	if _, dup := s.byARN[arn]; dup {
		return "", fmt.Errorf("create stream: %s exists", arn)
	}
	st := &stream{arn: arn, label: spec.Label, keyspace: spec.Keyspace, table: spec.Table,
		viewType: spec.ViewType, created: now, byID: map[string]*shard{}}
	width := math.MaxUint64 / uint64(spec.Shards)
	for i := 0; i < spec.Shards; i++ {
		lo := uint64(i) * width
		hi := lo + width - 1
		if i == spec.Shards-1 {
			hi = math.MaxUint64
		}
		s.addShard(st, nil, lo, hi)
	}
	s.streams = append(s.streams, st)
	s.byARN[arn] = st
	if schema != nil {
		s.tables[spec.Keyspace+"."+spec.Table] = schema
	}
	s.log.Info("stream created", "streamArn", arn, "viewType", spec.ViewType, "shards", spec.Shards)
	return arn, nil
}

// addShard opens a shard; the caller holds s.mu.
func (s *Server) addShard(st *stream, parents []string, lo, hi uint64) *shard {
	h := fnv.New32a()
	h.Write([]byte(st.arn))
	sh := &shard{
		id:      fmt.Sprintf("shardId-%05d-%08x", len(st.shards)+1, h.Sum32()),
		parents: parents,
		start:   formatSeq(s.seq + 1),
		lo:      lo, hi: hi,
	}
	st.shards = append(st.shards, sh)
	st.byID[sh.id] = sh
	return sh
}

func formatSeq(n uint64) string { return fmt.Sprintf("%021d", n) }

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	s.fmu.Lock()
	s.faults = f
	s.fmu.Unlock()
	s.log.Info("faults set", "throttleRate", f.ThrottleRate, "errorRate", f.ErrorRate, "dropRate", f.DropRate, "latency", f.Latency.String(),
		"denySchema", f.DenySchema)
	return nil
}

// Faults returns the injected faults.
func (s *Server) Faults() Faults {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.faults
}

// PutRecords appends records to a stream and returns their sequence numbers. Each record
// goes to the open shard owning the hash of its partition key, so a key's records stay in
// order across splits. The emulator assigns sequenceNumber and fills a missing createdAt
// (now), eventVersion ("1.0") and origin (USER).
func (s *Server) PutRecords(streamArn string, recs []streams.Record) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[streamArn]
	if !ok {
		return nil, fmt.Errorf("put records: no stream %s", streamArn)
	}
	now := s.cfg.Now().UTC()
	seqs := make([]string, 0, len(recs))
	for i := range recs {
		r := recs[i] // a copy: the caller's record is left alone
		if len(r.PartitionKeys) == 0 {
			return seqs, fmt.Errorf("put records: record %d has no partition key", i)
		}
		h := hashKey(r.PartitionKeys)
		var sh *shard
		for _, c := range st.shards {
			if c.end == "" && c.lo <= h && h <= c.hi {
				sh = c
				break
			}
		}
		s.seq++
		r.SequenceNumber = formatSeq(s.seq)
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
		if r.EventVersion == "" {
			r.EventVersion = "1.0"
		}
		if r.Origin == "" {
			r.Origin = streams.OriginUser
		}
		sh.records = append(sh.records, stored{
			seq: r.SequenceNumber, key: KeyText(&r), createdAt: r.CreatedAt, arrived: now,
			wire: streams.EncodeRecord(&r),
		})
		seqs = append(seqs, r.SequenceNumber)
	}
	return seqs, nil
}

// hashKey places a partition key on the shards' hash ring.
func hashKey(cols []streams.Column) uint64 {
	h := fnv.New64a()
	h.Write(streams.EncodeRecord(&streams.Record{PartitionKeys: cols}))
	return h.Sum64()
}

// KeyText is the record's primary key as text: partition key values joined by '|', then
// '/' and the clustering values joined by '|' (collections and UDTs as their wire JSON,
// blobs in base64).
func KeyText(r *streams.Record) string {
	var b strings.Builder
	for i, c := range r.PartitionKeys {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(valueText(&c.Value))
	}
	b.WriteByte('/')
	for i, c := range r.ClusteringKeys {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(valueText(&c.Value))
	}
	return b.String()
}

func valueText(v *streams.CellValue) string {
	switch v.Type {
	case streams.TypeBlob:
		return base64.StdEncoding.EncodeToString(v.Blob)
	case streams.TypeBool:
		if v.Bool {
			return "true"
		}
		return "false"
	case streams.TypeList, streams.TypeSet, streams.TypeTuple, streams.TypeMap, streams.TypeUDT:
		b, _ := v.MarshalJSON()
		return string(b)
	}
	return v.Text
}

// Split closes an open shard and opens two children that share its hash range. An empty
// shardID splits the open shard with the most records. It returns the children's IDs.
func (s *Server) Split(streamArn, shardID string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[streamArn]
	if !ok {
		return nil, fmt.Errorf("split: no stream %s", streamArn)
	}
	var p *shard
	if shardID == "" {
		for _, c := range st.shards {
			if c.end == "" && c.hi > c.lo && (p == nil || len(c.records) > len(p.records)) {
				p = c
			}
		}
		if p == nil {
			return nil, errors.New("split: no open shard can be split")
		}
	} else if p = st.byID[shardID]; p == nil {
		return nil, fmt.Errorf("split: no shard %s in %s", shardID, streamArn)
	}
	if p.end != "" {
		return nil, fmt.Errorf("split: shard %s is closed", p.id)
	}
	if p.hi == p.lo {
		return nil, fmt.Errorf("split: shard %s owns a single hash", p.id)
	}
	s.close(p)
	mid := p.lo + (p.hi-p.lo)/2
	a := s.addShard(st, []string{p.id}, p.lo, mid)
	b := s.addShard(st, []string{p.id}, mid+1, p.hi)
	s.log.Info("shard split", "streamArn", streamArn, "parent", p.id, "children", []string{a.id, b.id}, "endingSequenceNumber", p.end)
	return []string{a.id, b.id}, nil
}

// Merge closes two open shards with adjacent hash ranges and opens one child with both as
// parents. It returns the child's ID.
func (s *Server) Merge(streamArn, shardA, shardB string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[streamArn]
	if !ok {
		return "", fmt.Errorf("merge: no stream %s", streamArn)
	}
	a, b := st.byID[shardA], st.byID[shardB]
	if a == nil || b == nil {
		return "", fmt.Errorf("merge: no shard %s or %s in %s", shardA, shardB, streamArn)
	}
	if a.end != "" || b.end != "" {
		return "", errors.New("merge: both shards must be open")
	}
	if b.lo < a.lo {
		a, b = b, a
	}
	if a.hi == math.MaxUint64 || a.hi+1 != b.lo {
		return "", errors.New("merge: the shards' hash ranges are not adjacent")
	}
	s.close(a)
	s.close(b)
	c := s.addShard(st, []string{a.id, b.id}, a.lo, b.hi)
	s.log.Info("shards merged", "streamArn", streamArn, "parents", []string{a.id, b.id}, "child", c.id)
	return c.id, nil
}

// close ends a shard at a sequence number reserved for it: above every record it holds and
// below every record written after. The caller holds s.mu.
func (s *Server) close(sh *shard) {
	s.seq++
	sh.end = formatSeq(s.seq)
}

// trim marks the records beyond retention; the caller holds s.mu.
func (s *Server) trim(sh *shard, now time.Time) {
	horizon := now.Add(-s.cfg.Retention)
	for sh.trimmed < len(sh.records) && sh.records[sh.trimmed].arrived.Before(horizon) {
		sh.trimmed++
	}
}

// WrittenRecord is a record as written to a shard.
type WrittenRecord struct {
	SequenceNumber string          `json:"sequenceNumber"`
	Key            string          `json:"key"`
	CreatedAt      time.Time       `json:"createdAt"`
	Record         json.RawMessage `json:"record,omitempty"`
}

// WrittenShard lists the records written to one shard, in sequence order.
type WrittenShard struct {
	ShardID        string          `json:"shardId"`
	ParentShardIDs []string        `json:"parentShardIds,omitempty"`
	Closed         bool            `json:"closed"`
	Count          int             `json:"count"`
	Trimmed        int             `json:"trimmed"` // records no longer readable
	Records        []WrittenRecord `json:"records,omitempty"`
}

// Written returns every record written to a stream, per shard in lineage order (parents
// first), including records since trimmed.
func (s *Server) Written(streamArn string) ([]WrittenShard, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[streamArn]
	if !ok {
		return nil, fmt.Errorf("written: no stream %s", streamArn)
	}
	s.trimAll(st)
	out := make([]WrittenShard, 0, len(st.shards))
	for _, sh := range st.shards {
		ws := WrittenShard{ShardID: sh.id, ParentShardIDs: sh.parents, Closed: sh.end != "",
			Count: len(sh.records), Trimmed: sh.trimmed, Records: make([]WrittenRecord, len(sh.records))}
		for i, r := range sh.records {
			ws.Records[i] = WrittenRecord{SequenceNumber: r.seq, Key: r.key, CreatedAt: r.createdAt, Record: r.wire}
		}
		out = append(out, ws)
	}
	return out, nil
}

func (s *Server) trimAll(st *stream) {
	now := s.cfg.Now()
	for _, sh := range st.shards {
		s.trim(sh, now)
	}
}

// StreamARNs lists the streams' ARNs in creation order.
func (s *Server) StreamARNs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	arns := make([]string, len(s.streams))
	for i, st := range s.streams {
		arns[i] = st.arn
	}
	return arns
}

// orOnlyStream returns arn, or the ARN of the only stream when arn is empty (admin calls
// may leave it out then).
func (s *Server) orOnlyStream(arn string) string {
	if arns := s.StreamARNs(); arn == "" && len(arns) == 1 {
		return arns[0]
	}
	return arn
}

// streamInfo returns a stream's view type and schema (nil when unknown).
func (s *Server) streamInfo(streamArn string) (viewType string, schema *Table, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[streamArn]
	if !ok {
		return "", nil, fmt.Errorf("no stream %s", streamArn)
	}
	return st.viewType, s.tables[st.keyspace+"."+st.table], nil
}
