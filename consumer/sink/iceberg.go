package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// ErrShardCommittedElsewhere means another writer committed the shard to the Iceberg table
// since this writer learned what the table holds: it committed nothing, and the shard must
// start again from the table.
var ErrShardCommittedElsewhere = errors.New("another writer committed the shard")

// IcebergWriter appends one shard's records to the change log table (format iceberg). It
// belongs to the goroutine that reads the shard: it is not safe for concurrent use.
//
// The table's snapshots are the truth about what is stored. Before it writes, the writer reads
// from them the last sequence number of the shard the table holds; records up to it are
// skipped (they are in the table: a previous owner committed them and did not checkpoint).
// Records go into Parquet files with the table's field ids, one partition (day of created_at)
// per file, uploaded when they reach the flush limits; at each round of the worker's
// committer the writer cuts its file and answers with every file uploaded since its last
// commit, and waits for the commit. The commit stores them only if the table still holds, for
// the shard, what this writer believes, and records the new last sequence number; the lease
// checkpoint then follows it. A writer that crashes leaves uploaded files no snapshot lists
// (orphans, for the catalog's orphan-file cleanup); the next owner reads the table and
// re-reads the stream from the lease checkpoint, skipping what the table holds.
type IcebergWriter struct {
	s       *Sink
	shardID string
	cp      checkpoint.Checkpointer
	logger  *slog.Logger
	src     record.Source
	table   *iceberg.ChangeTable
	member  *iceberg.Member
	builder encode.Builder
	// event is the one each record is converted into before the copy the builders keep
	// (record.Event.Clone): its decoder keeps the table's column names from record to record.
	event record.Event

	// The mirror (nil when not kept): the changes since the mirror's last commit, and the
	// builder that encodes them at a commit.
	mirror        *iceberg.ChangeTable
	mirrorChanges iceberg.MirrorChanges
	mirrorBuilder encode.Builder

	started bool
	// prev is the shard's last sequence number the change log holds, as far as this writer
	// knows; records up to skipTo are already in it. mirrorPrev and mirrorSkipTo are the
	// same for the mirror. Records both tables hold are skipped, the last of them (skipped)
	// to be checkpointed.
	prev, skipTo, skipped    string
	mirrorPrev, mirrorSkipTo string

	// Records consumed since prev (converted and poison): count, the last one.
	count int
	last  string
	// The file being built: its day and its first and last records.
	fileDay             time.Time
	fileFirst, fileLast string
	// files are uploaded and not yet committed.
	files []iceberg.DataFile

	// err is sticky once the writer must stop (lease lost, shard committed elsewhere).
	err error
}

// OpenIcebergShard returns the writer of a shard for format iceberg. An intent left in the
// lease by a run in another format is not replayed: the range is re-read from the checkpoint
// and committed to the table (its file in the other format stays where it is).
func (s *Sink) OpenIcebergShard(shardID string, cp checkpoint.Checkpointer, pending *checkpoint.Intent) *IcebergWriter {
	w := &IcebergWriter{
		s: s, shardID: shardID, cp: cp, table: s.cfg.Iceberg.Table,
		logger: s.logger.With("shard_id", shardID),
		src:    record.Source{Keyspace: s.cfg.Keyspace, Table: s.cfg.Table, ShardID: shardID, ViewType: s.cfg.ViewType},
	}
	if pending != nil && pending.Key != "" {
		w.logger.Warn("format iceberg does not replay the intent of another format; the range is read again",
			"key", pending.Key, "first_seq", pending.FirstSeq, "last_seq", pending.LastSeq)
	}
	b, err := encode.NewBuilder(encode.Options{Format: encode.FormatIceberg, Compression: s.cfg.Compression,
		CellMetadata: s.cfg.CellMetadata, Schemas: s.schemas, Parquet: encode.ParquetOptions{Prepare: w.table.Prepare}})
	if err != nil {
		w.err = fmt.Errorf("shard %s: %w", shardID, err)
	}
	w.builder = b
	if m := s.cfg.Iceberg.Mirror; m != nil && w.err == nil {
		w.mirror = m
		w.mirrorBuilder, w.err = encode.NewBuilder(encode.Options{Format: encode.FormatIceberg, Compression: s.cfg.Compression,
			Schemas: s.schemas, KeepEvents: true, Parquet: encode.ParquetOptions{Prepare: m.Prepare}})
	}
	return w
}

// start reads, once, what the table holds of the shard, and joins the committer's rounds.
func (w *IcebergWriter) start(ctx context.Context) error {
	if w.err != nil || w.started {
		return w.err
	}
	held, err := w.table.CommittedShard(ctx, w.shardID)
	if err != nil {
		return fmt.Errorf("shard %s: read what the iceberg table holds: %w", w.shardID, err)
	}
	w.prev, w.skipTo = held, held
	if w.mirror != nil {
		m, err := w.mirror.CommittedShard(ctx, w.shardID)
		if err != nil {
			return fmt.Errorf("shard %s: read what the iceberg mirror holds: %w", w.shardID, err)
		}
		w.mirrorPrev, w.mirrorSkipTo = m, m
		w.logger.Info("iceberg: the mirror holds the shard up to", "sequence_number", m)
	}
	w.started = true
	w.member = w.s.cfg.Iceberg.Committer.Join()
	w.logger.Info("iceberg: the table holds the shard up to", "sequence_number", held)
	return nil
}

// Close leaves the committer's rounds (the shard's reading ended).
func (w *IcebergWriter) Close() {
	if w.member != nil {
		w.member.Close()
		w.member = nil
	}
}

// Add consumes the shard's next record. It may upload a file (flush limits, a new day, a new
// schema version) and, when a round of the committer is due, commit and checkpoint. An
// error means the record may or may not have been taken: the caller stops the shard, and the
// next writer starts from what the table and the lease say.
func (w *IcebergWriter) Add(ctx context.Context, rec *streams.Record) error {
	if err := w.start(ctx); err != nil {
		return err
	}
	toChanges := iceberg.Later(rec.SequenceNumber, w.skipTo)
	toMirror := w.mirror != nil && iceberg.Later(rec.SequenceNumber, w.mirrorSkipTo)
	if !toChanges && !toMirror {
		w.skipped = rec.SequenceNumber // committed by a previous owner
		return nil
	}
	if w.skipped != "" {
		// The lease follows the table.
		if err := w.checkpoint(ctx, w.skipped); err != nil {
			return err
		}
		w.skipped = ""
	}
	if err := w.add(ctx, rec, toChanges, toMirror); err != nil {
		return err
	}
	w.count++
	w.last = rec.SequenceNumber
	if w.builder.Len() >= w.s.cfg.FlushRecords || w.builder.Size() >= w.s.cfg.FlushBytes {
		if err := w.cutFile(ctx); err != nil {
			return err
		}
	}
	return w.commitIfDue(ctx)
}

// add puts the record into the file (cutting it first at a new day or schema version) if
// toChanges, among the mirror's changes if toMirror, or under _errors/ when it cannot be
// converted (unless the change log holds it: it was stored then).
func (w *IcebergWriter) add(ctx context.Context, rec *streams.Record, toChanges, toMirror bool) error {
	var ev *record.Event
	err := record.FromStreamInto(&w.event, rec, w.src)
	if err == nil {
		ev = w.event.Clone()
	}
	w.event.Clear()
	if err == nil && toMirror {
		w.mirrorChanges.Add(ev)
	}
	if err == nil && !toChanges {
		return nil // only for the mirror: the change log holds it
	}
	if err == nil {
		day := ev.CreatedAt.UTC().Truncate(24 * time.Hour)
		if w.builder.Len() > 0 && !day.Equal(w.fileDay) {
			if err := w.cutFile(ctx); err != nil {
				return err
			}
		}
		err = w.builder.Add(ctx, ev)
		if errors.Is(err, encode.ErrSchemaChanged) {
			if err := w.cutFile(ctx); err != nil {
				return err
			}
			err = w.builder.Add(ctx, ev)
		}
		if errors.Is(err, encode.ErrUnavailable) {
			return fmt.Errorf("shard %s: %w", w.shardID, err)
		}
		if err == nil {
			if w.builder.Len() == 1 {
				w.fileDay, w.fileFirst = day, rec.SequenceNumber
			}
			w.fileLast = rec.SequenceNumber
			return nil
		}
	}
	if perr := w.s.writePoison(ctx, w.shardID, rec, err); perr != nil {
		return fmt.Errorf("shard %s: store poison record %s: %w", w.shardID, rec.SequenceNumber, perr)
	}
	return nil
}

// cutFile finishes the file being built and uploads it under the table's data folder; it is
// committed at the next round.
func (w *IcebergWriter) cutFile(ctx context.Context) error {
	if w.builder.Len() == 0 {
		return nil
	}
	f, err := w.builder.Finish()
	if err != nil {
		return fmt.Errorf("shard %s: build file: %w", w.shardID, err)
	}
	// A unique name: a file is never overwritten once a snapshot may list it.
	name := fmt.Sprintf("%s-%s-%s-%s", keyPart(w.shardID), w.fileFirst, w.fileLast, uuid.NewString()[:8])
	path := w.table.DataFilePath(w.fileDay, name)
	bucket, key, err := iceberg.SplitS3(path)
	if err == nil {
		err = w.s.putTo(ctx, bucket, key, f.Body, f.ContentType)
	}
	if err != nil {
		return fmt.Errorf("shard %s: %w", w.shardID, err)
	}
	df, err := w.table.NewDataFile(path, f.Body, w.fileDay)
	if err != nil {
		return fmt.Errorf("shard %s: %w", w.shardID, err)
	}
	w.files = append(w.files, df)
	w.s.stats.files.Add(1)
	w.s.stats.records.Add(int64(f.Records))
	w.s.stats.bytes.Add(int64(len(f.Body)))
	w.s.stats.uncompressed.Add(int64(f.UncompressedBytes))
	return nil
}

// FlushIfDue commits when a round of the committer is due (now is not used: the committer's
// rounds keep the time).
func (w *IcebergWriter) FlushIfDue(ctx context.Context, _ time.Time) error {
	if err := w.start(ctx); err != nil {
		return err
	}
	return w.commitIfDue(ctx)
}

func (w *IcebergWriter) commitIfDue(ctx context.Context) error {
	if !w.member.Due() {
		return nil
	}
	if w.count == 0 {
		w.member.Pass()
		return nil
	}
	return w.commit(ctx, false)
}

// Flush commits everything consumed, at once (the shard ended).
func (w *IcebergWriter) Flush(ctx context.Context) error {
	if err := w.start(ctx); err != nil {
		return err
	}
	if w.count == 0 {
		if w.skipped != "" {
			return w.checkpoint(ctx, w.skipped)
		}
		return nil
	}
	return w.commit(ctx, true)
}

// Drain commits and checkpoints everything consumed before the shard is let go (SIGTERM, a
// graceful handoff), like Flush.
func (w *IcebergWriter) Drain(ctx context.Context) error { return w.Flush(ctx) }

// commit cuts the file, commits every file since the last commit with the range's last
// sequence number, and checkpoints it.
func (w *IcebergWriter) commit(ctx context.Context, now bool) error {
	if err := w.cutFile(ctx); err != nil {
		return err
	}
	if len(w.files) == 0 && w.mirrorChanges.Len() == 0 {
		// Only poison records (stored under _errors/): nothing for the tables.
		if !now {
			w.member.Pass()
		}
		return w.checkpoint(ctx, w.last)
	}
	sc := iceberg.ShardCommit{ShardID: w.shardID, Prev: w.prev, Last: w.last, Files: w.files}
	if w.mirrorChanges.Len() > 0 {
		rows, rejected, err := w.mirrorChanges.Rows(ctx, w.mirrorBuilder)
		if err != nil {
			return fmt.Errorf("shard %s: mirror rows: %w", w.shardID, err)
		}
		for _, ev := range rejected {
			w.logger.Warn("iceberg mirror: a change that cannot be written is left out (see _errors/)",
				"sequence_number", ev.SequenceNumber)
		}
		if rows.Keys > 0 {
			sc.Mirror = &iceberg.ShardCommit{Prev: w.mirrorPrev, Last: w.last, Rows: rows}
		}
	}
	res, err := w.member.Commit(ctx, sc, now)
	if err != nil {
		return fmt.Errorf("shard %s: iceberg commit: %w", w.shardID, err)
	}
	if !res.Committed {
		table, expected := "table", w.prev
		if res.Mirror {
			table, expected = "mirror", w.mirrorPrev
		}
		w.err = fmt.Errorf("shard %s: %w: the %s holds it up to %s, this writer expected %s",
			w.shardID, ErrShardCommittedElsewhere, table, res.TableHolds, expected)
		return w.err
	}
	// Both tables hold every record up to w.last now (the change log from before if it
	// had no files: they were all at or before what it held).
	if len(w.files) > 0 {
		w.prev = w.last
	}
	if sc.Mirror != nil {
		w.mirrorPrev = w.last
	}
	w.files = nil
	w.mirrorChanges.Reset()
	return w.checkpoint(ctx, w.last)
}

// checkpoint moves the lease's checkpoint to seq (stored: in the table or under _errors/)
// and starts a new range.
func (w *IcebergWriter) checkpoint(ctx context.Context, seq string) error {
	if err := w.cp.Checkpoint(ctx, seq); err != nil {
		if errors.Is(err, checkpoint.ErrLeaseLost) {
			w.err = err
		}
		return fmt.Errorf("shard %s: checkpoint %s: %w", w.shardID, seq, err)
	}
	w.s.stats.checkpoints.Add(1)
	if seq == w.last {
		w.count = 0
	}
	return nil
}
