package encode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// ErrTypeConflict marks a value whose type conflicts with its column's declared type.
var ErrTypeConflict = errors.New("value does not match the column type")

// Schemas keeps the current Avro schema of each table and widens it when an event shows a
// column (or a UDT field, or a collection's element type) the schema lacks: first by asking
// the TableSource again (the table was altered), then, for what the source does not know
// or when it is unavailable (no permission, no network), from the values the event carries.
// A new version only ever adds columns and fills unknown types, so it covers every event
// the previous one did. Safe for concurrent use.
//
// Falling back to the event's own values is loud: the schema then lacks the columns no
// event has shown yet and types the values do not tell (a null's), so each fallback is
// logged at ERROR and counted (Fallbacks, the Errors metric of kind schema_fallback).
type Schemas struct {
	src          TableSource
	cellMetadata bool
	logger       *slog.Logger
	fallbacks    atomic.Int64

	now func() time.Time // time.Now; tests move it

	mu      sync.Mutex
	current map[string]*AvroSchema // by keyspace.table
	asked   map[string]time.Time   // when the source was last asked, by keyspace.table
}

// SourceTimeout bounds one question to the TableSource (GetTable and its GetType calls): an
// endpoint that never answers (no route, a VPC endpoint that does not serve the API) must not
// hold every shard's flush for the SDK's retries.
const SourceTimeout = 10 * time.Second

// SourceRetry is how often the TableSource is asked again while the current schema version
// came from the records alone (it failed): a transient failure (a throttle) is then replaced
// by the table's definition, which the Iceberg mirror needs (its key).
const SourceRetry = 30 * time.Second

// Fallbacks is how many schema versions were derived from the events alone because the
// TableSource failed.
func (s *Schemas) Fallbacks() int64 { return s.fallbacks.Load() }

// NewSchemas returns a schema registry. src may be nil: schemas are then derived from the
// records alone.
func NewSchemas(src TableSource, cellMetadata bool, logger *slog.Logger) *Schemas {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Schemas{src: src, cellMetadata: cellMetadata, logger: logger, now: time.Now,
		current: map[string]*AvroSchema{}, asked: map[string]time.Time{}}
}

// For returns a schema that covers the event: the current one, or a new version. While the
// current version's key is not the table's (the source failed: it came from the records
// alone), the source is asked again at most every SourceRetry, outside the lock (the other
// shards go on with the current version meanwhile), and its answer makes a new version.
func (s *Schemas) For(ctx context.Context, ev *record.Event) (*AvroSchema, error) {
	id := ev.Keyspace + "." + ev.Table
	s.mu.Lock()
	cur := s.current[id]
	if cur != nil && cur.covers(ev) == nil {
		if s.src == nil || cur.Def.KeysKnown || s.now().Sub(s.asked[id]) < SourceRetry {
			s.mu.Unlock()
			return cur, nil
		}
		s.asked[id] = s.now()
		s.mu.Unlock()
		fresh, err := s.ask(ctx, ev)
		if err != nil {
			return cur, nil // asked again after SourceRetry
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.nextLocked(id, s.current[id], fresh, ev)
	}
	defer s.mu.Unlock()
	var fresh *TableDef
	if s.src != nil {
		s.asked[id] = s.now()
		fresh, _ = s.ask(ctx, ev) // a failure is a fallback, logged by ask
	}
	return s.nextLocked(id, cur, fresh, ev)
}

// nextLocked makes the version after cur (nil: none yet) that covers ev, from the source's
// answer fresh (nil: the source failed, or there is none) and ev's own values, and makes it
// the current one.
func (s *Schemas) nextLocked(id string, cur *AvroSchema, fresh *TableDef, ev *record.Event) (*AvroSchema, error) {
	def := &TableDef{}
	if cur != nil {
		def = cur.Def
	}
	if fresh != nil {
		def = widen(def, fresh, s.logger)
	}
	def, err := deriveFrom(def, ev)
	if err != nil {
		return nil, err
	}
	next, err := NewAvroSchema(ev.Keyspace, ev.Table, def, s.cellMetadata)
	if err != nil {
		return nil, err
	}
	if err := next.covers(ev); err != nil {
		return nil, err
	}
	if cur == nil || cur.Fingerprint != next.Fingerprint {
		s.logger.Info("avro schema version", "keyspace", ev.Keyspace, "table", ev.Table,
			"fingerprint", next.Fingerprint, "columns", len(next.Def.Columns), "keys_known", next.Def.KeysKnown)
	}
	s.current[id] = next
	return next, nil
}

// ask asks the source for the event's table, within SourceTimeout; a failure is a fallback.
func (s *Schemas) ask(ctx context.Context, ev *record.Event) (*TableDef, error) {
	ctx, cancel := context.WithTimeout(ctx, SourceTimeout)
	defer cancel()
	def, err := s.src.Table(ctx, ev.Keyspace, ev.Table)
	if err != nil {
		n := s.fallbacks.Add(1)
		s.logger.Error("avro schema fallback: the table definition is unavailable, so the schema comes from the records alone "+
			"(columns no record has shown yet are missing; one seen only as null is typed null); check cassandra:Select and the route to the Keyspaces API",
			"keyspace", ev.Keyspace, "table", ev.Table, "error", err.Error(), "fallbacks", n)
	}
	return def, err
}

// widen returns the definition fresh from the source, keeping every column of old that it
// lacks (a dropped column stays readable in older events) and old's knowledge of types it
// leaves unknown.
func widen(old, fresh *TableDef, logger *slog.Logger) *TableDef {
	out := &TableDef{Keys: fresh.Keys, KeysKnown: len(fresh.Keys) > 0}
	if len(out.Keys) == 0 {
		out.Keys, out.KeysKnown = old.Keys, old.KeysKnown
	}
	seen := map[string]bool{}
	for _, c := range fresh.Columns {
		seen[c.Name] = true
		if i := columnIndex(old.Columns, c.Name); i >= 0 {
			m, err := mergeTypes(old.Columns[i].Type, c.Type)
			if err != nil {
				logger.Warn("column type changed; keeping the previous one", "column", c.Name, "error", err.Error())
				m = old.Columns[i].Type
			}
			c.Type = m
		}
		out.Columns = append(out.Columns, c)
	}
	for _, c := range old.Columns {
		if !seen[c.Name] {
			out.Columns = append(out.Columns, c)
		}
	}
	return out
}

// deriveFrom adds the event's columns that def lacks and fills the types def does not know
// from the event's values. A value whose type conflicts with a known type is an error.
func deriveFrom(def *TableDef, ev *record.Event) (*TableDef, error) {
	out := &TableDef{Keys: append([]record.FieldType(nil), def.Keys...), Columns: append([]record.FieldType(nil), def.Columns...),
		KeysKnown: def.KeysKnown}
	add := func(cols *[]record.FieldType, f record.Field) error {
		vt := typeOf(f.Value)
		i := columnIndex(*cols, f.Name)
		if i < 0 {
			*cols = append(*cols, record.FieldType{Name: f.Name, Type: vt})
			return nil
		}
		m, err := mergeTypes((*cols)[i].Type, vt)
		if err != nil {
			return fmt.Errorf("column %s: %w: %w", f.Name, ErrTypeConflict, err)
		}
		(*cols)[i].Type = m
		return nil
	}
	for _, k := range ev.Keys {
		if err := add(&out.Keys, k); err != nil {
			return nil, err
		}
		if err := add(&out.Columns, k); err != nil {
			return nil, err
		}
	}
	for _, img := range []*record.Image{ev.NewImage, ev.OldImage} {
		if img == nil {
			continue
		}
		for _, c := range img.Columns {
			if err := add(&out.Columns, c); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func columnIndex(cols []record.FieldType, name string) int {
	for i, c := range cols {
		if c.Name == name {
			return i
		}
	}
	return -1
}
