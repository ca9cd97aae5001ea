package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// ShardWriter turns one shard's records into files. It belongs to the goroutine that
// reads the shard: it is not safe for concurrent use.
//
// The records consumed since the last checkpoint form the current range (first..last
// sequence number). Convertible records go into the file being built; the others are
// stored under _errors/ at once. Cutting the range builds the file, saves the intent,
// uploads, then checkpoints the range's last sequence number.
type ShardWriter struct {
	s       *Sink
	shardID string
	cp      checkpoint.Checkpointer
	logger  *slog.Logger
	src     record.Source
	builder encode.Builder
	// replay builds the pending intent's file: it keeps its events, so that a schema change
	// within the range cannot force a cut before pending.LastSeq.
	replay encode.Builder
	// pending is an intent left by a previous owner: the range up to pending.LastSeq must
	// be cut there, whatever the triggers say, and written to pending.Key.
	pending *checkpoint.Intent

	// The current range.
	count        int // records consumed (converted and poison)
	firstSeq     string
	firstCreated time.Time
	bufferedAt   time.Time // when the range's first record arrived (age trigger)
	lastSeq      string

	// sealed is a cut range whose intent, upload or checkpoint has not completed (an error
	// was returned); the next call resumes it before anything else.
	sealed *sealedFile
	// err is sticky once the lease is lost: the writer does nothing more.
	err error
	// event is reused for each record when the builder does not keep events.
	event record.Event
}

type sealedFile struct {
	intent    checkpoint.Intent
	file      *encode.File // nil when the range held only poison records
	started   time.Time
	intentOK  bool
	uploaded  bool
	uncounted bool
}

// OpenShard returns the writer of a shard. pending is the intent found in the shard's
// lease (nil if none): the writer then replays that file into the same key.
func (s *Sink) OpenShard(shardID string, cp checkpoint.Checkpointer, pending *checkpoint.Intent) *ShardWriter {
	w := &ShardWriter{
		s: s, shardID: shardID, cp: cp,
		logger: s.logger.With("shard_id", shardID),
		src:    record.Source{Keyspace: s.cfg.Keyspace, Table: s.cfg.Table, ShardID: shardID, ViewType: s.cfg.ViewType},
	}
	if pending != nil && pending.Key != "" {
		p := *pending
		w.pending = &p
		w.logger.Info("replaying the intent of an unfinished flush", "key", p.Key,
			"first_seq", p.FirstSeq, "last_seq", p.LastSeq, "records", p.Records)
	}
	opts := encode.Options{Format: s.cfg.Format, Compression: s.cfg.Compression,
		CellMetadata: s.cfg.CellMetadata, Schemas: s.schemas}
	b, err := encode.NewBuilder(opts)
	if err == nil && w.pending != nil {
		opts.KeepEvents = true
		w.replay, err = encode.NewBuilder(opts)
	}
	if err != nil {
		// New validated the format and compression; should the encoder still fail to
		// start, every call reports it.
		w.err = fmt.Errorf("shard %s: %w", shardID, err)
		b, _ = encode.NewBuilder(encode.Options{Format: encode.FormatJSON, Compression: encode.CompressionNone})
		w.pending = nil
	}
	w.builder = b
	return w
}

// cur is the builder of the current range.
func (w *ShardWriter) cur() encode.Builder {
	if w.pending != nil {
		return w.replay
	}
	return w.builder
}

// Add consumes the shard's next record. It may flush synchronously: when the file reaches
// FlushRecords or FlushBytes, or (replay) when the record is the pending intent's last.
// A record that cannot be converted is stored under _errors/ and the shard goes on.
//
// An error (checkpoint.ErrLeaseLost, an ended ctx, a failed intent or checkpoint write, an
// upload that ran out of attempts) means the record may or may not have been taken: the
// caller stops the shard, and whoever reads it next starts from the checkpoint with the
// saved intent, so nothing is lost or stored twice. Do not Add the same record again.
func (w *ShardWriter) Add(ctx context.Context, rec *streams.Record) error {
	if err := w.resume(ctx); err != nil {
		return err
	}
	if w.pending != nil && streams.CompareSequenceNumbers(rec.SequenceNumber, w.pending.LastSeq) > 0 {
		// The intent's last record did not come back (it should have: the range is
		// re-read from the checkpoint). Cut what was re-read; cut decides the key.
		w.logger.Warn("record past the pending intent's range; cutting the replayed file early",
			"sequence_number", rec.SequenceNumber, "intent_last_seq", w.pending.LastSeq, "replayed", w.count)
		if err := w.cut(ctx); err != nil {
			return err
		}
	}

	ev, err := w.convert(rec)
	if err == nil {
		err = w.cur().Add(ctx, ev)
		if errors.Is(err, encode.ErrSchemaChanged) {
			// The Avro schema widened (a column was added): the file so far keeps the
			// old schema, this record starts a file with the new one.
			if err := w.cut(ctx); err != nil {
				return err
			}
			err = w.cur().Add(ctx, ev)
		}
	}
	if ev == &w.event {
		w.event.Clear() // the encoder is done with it: keep no value of the answer alive
	}
	if err != nil {
		if perr := w.s.writePoison(ctx, w.shardID, rec, err); perr != nil {
			return fmt.Errorf("shard %s: store poison record %s: %w", w.shardID, rec.SequenceNumber, perr)
		}
	}
	if w.count == 0 {
		w.firstSeq, w.firstCreated, w.bufferedAt = rec.SequenceNumber, rec.CreatedAt, time.Now()
		if w.pending != nil {
			w.logger.Info("replay under way: the intent's range is being read again",
				"sequence_number", rec.SequenceNumber, "intent_last_seq", w.pending.LastSeq)
			if w.pending.FirstSeq != rec.SequenceNumber {
				w.logger.Warn("replay does not start at the pending intent's first record",
					"sequence_number", rec.SequenceNumber, "intent_first_seq", w.pending.FirstSeq)
			}
		}
	}
	w.count++
	w.lastSeq = rec.SequenceNumber

	if w.pending != nil {
		if streams.CompareSequenceNumbers(rec.SequenceNumber, w.pending.LastSeq) >= 0 {
			return w.cut(ctx)
		}
		return nil
	}
	if w.count >= w.s.cfg.FlushRecords || w.cur().Size() >= w.s.cfg.FlushBytes {
		return w.cut(ctx)
	}
	return nil
}

// convert converts a record into the writer's own event, reused for every record; when the
// builder keeps the events it is given, into a copy of it.
func (w *ShardWriter) convert(rec *streams.Record) (*record.Event, error) {
	err := record.FromStreamInto(&w.event, rec, w.src)
	if err != nil || !encode.RetainsEvents(w.cur()) {
		if err != nil {
			w.event.Clear()
			return nil, err
		}
		return &w.event, nil
	}
	ev := w.event.Clone()
	w.event.Clear()
	return ev, nil
}

// FlushIfDue cuts the file when its first record was buffered FlushInterval or more
// before now. A replay (pending intent) is only cut at the intent's last record.
func (w *ShardWriter) FlushIfDue(ctx context.Context, now time.Time) error {
	if err := w.resume(ctx); err != nil {
		return err
	}
	if w.pending != nil || w.count == 0 || now.Sub(w.bufferedAt) < w.s.cfg.FlushInterval {
		return nil
	}
	return w.cut(ctx)
}

// Drain stores what the writer holds before the shard is let go (SIGTERM, a graceful handoff)
// and checkpoints it, like Flush, with one exception: a replay of a pending intent that has not
// reached the intent's last record is dropped, and the intent stays in the lease for the next
// owner. Cutting it short would write part of the intent's range under a key of its own and
// clear the intent, although the intent's object may already hold the whole range: every
// record of the range would then be stored twice.
//
// The other way out, reading on to the intent's last record, was not chosen: a drain is
// bounded by the shutdown budget, the stream may be throttled or unreachable just then (an
// outage is what leaves intents behind), and a drain killed halfway leaves the intent anyway.
// Leaving it costs the next owner a re-read of one file's records (bounded by the flush
// limits), which it writes to the intent's key, overwriting the object with the same records.
func (w *ShardWriter) Drain(ctx context.Context) error {
	if err := w.resume(ctx); err != nil {
		return err
	}
	if w.pending != nil {
		w.logger.Info("drained during the replay of an intent: left for the next owner",
			"intent_key", w.pending.Key, "intent_last_seq", w.pending.LastSeq, "replayed", w.count)
		w.pending, w.count, w.firstSeq, w.lastSeq = nil, 0, "", ""
		w.replay = nil
		return nil
	}
	return w.cut(ctx)
}

// Flush writes everything buffered and checkpoints it (shard end). After an error other than
// ErrLeaseLost the built file is kept, and calling Flush again resumes it where it failed
// (intent, upload or checkpoint).
func (w *ShardWriter) Flush(ctx context.Context) error {
	if err := w.resume(ctx); err != nil {
		return err
	}
	if w.pending != nil && w.count > 0 {
		w.logger.Warn("flush before the pending intent's last record; writing the replayed part to its key",
			"intent_last_seq", w.pending.LastSeq, "last_seq", w.lastSeq)
	}
	return w.cut(ctx)
}

// Buffered is what the writer holds that is not yet checkpointed: records (poison ones
// included) and uncompressed bytes of the file being built.
func (w *ShardWriter) Buffered() (records int, bytes int) {
	records, bytes = w.count, w.cur().Size()
	if w.sealed != nil {
		records += w.sealed.intent.Records
		if w.sealed.file != nil {
			bytes += w.sealed.file.UncompressedBytes
		}
	}
	return records, bytes
}

// cut seals the current range into a file (or, for a range of only poison records, into
// a bare checkpoint) and stores it.
func (w *ShardWriter) cut(ctx context.Context) error {
	if w.count == 0 {
		w.pending = nil
		return nil
	}
	b := w.cur()
	sf := &sealedFile{started: time.Now(), uncounted: true}
	sf.intent = checkpoint.Intent{FirstSeq: w.firstSeq, LastSeq: w.lastSeq, Records: b.Len()}
	if b.Len() > 0 {
		// The key is a function of the range and the configuration, so an exact replay
		// lands on the intent's key and overwrites the stored file with the same records.
		key := w.s.DataKey(w.shardID, w.firstSeq, w.lastSeq, w.firstCreated)
		if p := w.pending; p != nil && p.Key != key {
			// The range differs from the intent (records trimmed away since, say) or the
			// format, compression or prefix changed: the stored file, if any, is kept and
			// this range goes under its own key, so its records may be stored twice.
			w.logger.Warn("replayed range differs from the pending intent; writing it under its own key",
				"intent_key", p.Key, "key", key, "intent_first_seq", p.FirstSeq, "first_seq", w.firstSeq,
				"intent_last_seq", p.LastSeq, "last_seq", w.lastSeq, "intent_records", p.Records, "records", b.Len())
		}
		f, err := b.Finish()
		if err != nil {
			return fmt.Errorf("shard %s: build file %s: %w", w.shardID, key, err)
		}
		sf.intent.Key, sf.file = key, f
	}
	w.pending = nil
	w.count, w.firstSeq, w.lastSeq = 0, "", ""
	w.sealed = sf
	return w.resume(ctx)
}

// resume completes the sealed range, step by step: intent, schema, upload, checkpoint.
func (w *ShardWriter) resume(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	sf := w.sealed
	if sf == nil {
		return nil
	}
	if sf.file != nil {
		if !sf.intentOK {
			if err := w.cp.SaveIntent(ctx, sf.intent); err != nil {
				return w.fail(fmt.Errorf("shard %s: save intent for %s: %w", w.shardID, sf.intent.Key, err))
			}
			sf.intentOK = true
		}
		if !sf.uploaded {
			if sc := sf.file.SchemaFile; sc != nil {
				if err := w.s.writeSchema(ctx, sc); err != nil {
					return w.fail(fmt.Errorf("shard %s: store schema %s: %w", w.shardID, sc.Name, err))
				}
			}
			if err := w.s.put(ctx, sf.intent.Key, sf.file.Body, sf.file.ContentType); err != nil {
				return w.fail(fmt.Errorf("shard %s: %w", w.shardID, err))
			}
			sf.uploaded = true
			if sf.uncounted {
				sf.uncounted = false
				w.s.stats.files.Add(1)
				w.s.stats.records.Add(int64(sf.file.Records))
				w.s.stats.bytes.Add(int64(len(sf.file.Body)))
				w.s.stats.uncompressed.Add(int64(sf.file.UncompressedBytes))
			}
		}
	}
	if err := w.cp.Checkpoint(ctx, sf.intent.LastSeq); err != nil {
		return w.fail(fmt.Errorf("shard %s: checkpoint %s: %w", w.shardID, sf.intent.LastSeq, err))
	}
	w.s.stats.checkpoints.Add(1)
	d := time.Since(sf.started)
	w.s.stats.flushed(d)
	w.logger.Debug("flushed", "key", sf.intent.Key, "first_seq", sf.intent.FirstSeq,
		"last_seq", sf.intent.LastSeq, "records", sf.intent.Records, "latency", d.String())
	w.sealed = nil
	return nil
}

// fail keeps the sealed range for a retry, unless the lease is gone: then the writer
// stops for good and nothing more is written or checkpointed.
func (w *ShardWriter) fail(err error) error {
	if errors.Is(err, checkpoint.ErrLeaseLost) {
		w.err = err
		w.sealed = nil
		w.logger.Warn("lease lost; shard writer stopped", "error", err.Error())
	}
	return err
}
