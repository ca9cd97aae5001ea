// Command identityworker is the consumer with an identity encoder, for the pipeline
// benchmarks only: the same configuration (consumer/config), the same Keyspaces Streams
// client, lease coordinator, read loop, intents, uploads and checkpoints as the
// keyspaces-cdc-s3 binary, but each file is the records' wire JSON as received
// (streams.Record.Raw), one per line, uncompressed: no conversion, no encoding, no
// compression. Its throughput against the real binary's is the cost of those steps.
//
// Files go to <prefix>_identity/<shard_id>/<first_seq>-<last_seq>.jsonl. Pending intents
// of a crashed owner are not replayed (the benchmarks do not crash workers). It serves no
// HTTP and writes no metrics.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/pipeline"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// KeyFolder is the folder, under the prefix, of the identity files.
const KeyFolder = "_identity/"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	code := 0
	if err := run(ctx, logger); err != nil {
		logger.Error("identity worker stopped", "err", err)
		code = 1
	}
	stop()
	stopProfile()
	os.Exit(code)
}

func run(ctx context.Context, logger *slog.Logger) error {
	cfg, err := config.Load(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		return err
	}
	live := context.WithoutCancel(ctx)
	awsCfg, err := awsconfig.LoadDefaultConfig(live)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	client, err := streams.New(streams.Config{AWS: awsCfg})
	if err != nil {
		return err
	}
	arn := cfg.StreamARN
	if arn == "" {
		if arn, err = client.FindStream(live, cfg.Keyspace, cfg.Table); err != nil {
			return err
		}
	}
	s3Client := s3.NewFromConfig(awsCfg, func(o *s3.Options) { o.UsePathStyle = true })
	reader := pipeline.StreamsReader{API: client, StreamARN: arn}
	proc, err := pipeline.NewProcessor(pipeline.Config{
		PollInterval: cfg.PollInterval, Limit: cfg.GetRecordsLimit, TrimmedPolicy: cfg.TrimmedPolicy, Logger: logger,
		OpenShard: func(shardID string, cp checkpoint.Checkpointer, _ *checkpoint.Intent) pipeline.ShardWriter {
			return &rawWriter{s3: s3Client, cfg: cfg, shardID: shardID, cp: cp}
		},
	}, reader)
	if err != nil {
		return err
	}
	coord, err := worker.New(worker.Config{
		WorkerID: cfg.WorkerID, FailoverTime: cfg.LeaseFailoverTime, RenewInterval: cfg.LeaseRenewInterval,
		ShardSyncInterval: cfg.ShardSyncInterval, InitialPosition: cfg.StartPosition, Logger: logger,
	}, lease.NewTable(dynamodb.NewFromConfig(awsCfg), cfg.LeaseTable), worker.StreamShards{API: client, StreamARN: arn}, proc)
	if err != nil {
		return err
	}
	err = coord.Run(ctx)
	// The coordinator aborting because ctx ended is a normal stop.
	if stopped := ctx.Err() != nil && errors.Is(err, worker.ErrAborted); err != nil && !stopped {
		return err
	}
	return nil
}

// rawWriter is the identity ShardWriter: it cuts files at the sink's triggers (records,
// bytes, age) and stores each one the way the sink does (intent, upload, checkpoint).
type rawWriter struct {
	s3      *s3.Client
	cfg     *config.Config
	shardID string
	cp      checkpoint.Checkpointer

	buf         []byte
	count       int
	first, last string
	bufferedAt  time.Time
}

func (w *rawWriter) Add(ctx context.Context, rec *streams.Record) error {
	if w.count == 0 {
		w.first, w.bufferedAt = rec.SequenceNumber, time.Now()
	}
	w.buf = append(append(w.buf, rec.Raw...), '\n')
	w.count++
	w.last = rec.SequenceNumber
	if w.count >= w.cfg.FlushRecords || int64(len(w.buf)) >= w.cfg.FlushBytes {
		return w.cut(ctx)
	}
	return nil
}

func (w *rawWriter) FlushIfDue(ctx context.Context, now time.Time) error {
	if w.count == 0 || now.Sub(w.bufferedAt) < w.cfg.FlushInterval {
		return nil
	}
	return w.cut(ctx)
}

func (w *rawWriter) Flush(ctx context.Context) error { return w.cut(ctx) }

// Drain is Flush: the benchmark's worker never replays an intent.
func (w *rawWriter) Drain(ctx context.Context) error { return w.cut(ctx) }

func (w *rawWriter) cut(ctx context.Context) error {
	if w.count == 0 {
		return nil
	}
	in := checkpoint.Intent{
		Key:      fmt.Sprintf("%s%s%s/%s-%s.jsonl", w.cfg.Prefix, KeyFolder, w.shardID, w.first, w.last),
		FirstSeq: w.first, LastSeq: w.last, Records: w.count,
	}
	if err := w.cp.SaveIntent(ctx, in); err != nil {
		return fmt.Errorf("shard %s: save intent: %w", w.shardID, err)
	}
	if _, err := w.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(w.cfg.Bucket), Key: aws.String(in.Key), Body: bytes.NewReader(w.buf),
		ContentLength: aws.Int64(int64(len(w.buf))), ContentType: aws.String("application/x-ndjson"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	}); err != nil {
		return fmt.Errorf("shard %s: upload %s: %w", w.shardID, in.Key, err)
	}
	if err := w.cp.Checkpoint(ctx, w.last); err != nil {
		return fmt.Errorf("shard %s: checkpoint: %w", w.shardID, err)
	}
	// The sink starts every file in a new buffer; so does this writer, so that the
	// memory behaviour matches (a reused buffer would flatter the identity run).
	w.buf, w.count, w.first, w.last = nil, 0, "", ""
	return nil
}
