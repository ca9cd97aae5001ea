package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamodbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/metrics"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/pipeline"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/sink"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/worker"
)

// runConsumer wires the clients, the sink, the pipeline and the lease coordinator, serves
// /healthz and /metrics on ln, writes EMF metrics, and runs until ctx ends (then shuts down
// gracefully within cfg.ShutdownTimeout) or a fatal error. Start-up says what it waits for
// and ends at once with ctx (errStopped).
func runConsumer(ctx context.Context, cfg *config.Config, getenv func(string) string, ln net.Listener, metricsOut io.Writer, logger *slog.Logger) error {
	defer ln.Close() // until the HTTP server owns it
	base, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load AWS configuration: %w", err)
	}
	defaultTimeouts.apply(&base)
	ksCfg, s3Cfg, ddbCfg := regionalConfigs(base, cfg)
	workerID := cfg.WorkerID
	if workerID == "" {
		workerID = defaultWorkerID(ctx, getenv)
	}
	// The coordinator adds the "worker" attribute to its own lines; everything else gets it here.
	coordLog, logger := logger, logger.With("worker", workerID)

	streamsClient, err := streams.New(streams.Config{AWS: ksCfg, Getenv: getenv, AttemptTimeout: defaultTimeouts.Attempt})
	if err != nil {
		return fmt.Errorf("keyspaces streams client: %w", err)
	}
	arn, desc, err := resolveStream(ctx, streamsClient, cfg, logger)
	if err != nil {
		return err
	}
	if err := checkMirrorViewType(cfg, desc.StreamViewType); err != nil {
		return err // before any table is touched
	}
	table, err := openLeaseTable(ctx, ddbCfg, cfg, logger)
	if err != nil {
		return err
	}
	s3Client := s3.NewFromConfig(s3Cfg, func(o *s3.Options) { o.UsePathStyle = s3PathStyle(cfg.S3ForcePathStyle, getenv) })
	// The committer of format iceberg commits the drained shards last: it stops after the
	// coordinator, whose graceful drain goes on after ctx ends.
	lakeCtx, stopLake := context.WithCancel(context.WithoutCancel(ctx))
	defer stopLake()
	lake, closeLake, err := openIceberg(lakeCtx, cfg, s3Cfg, getenv, workerID, desc.StreamViewType, logger)
	if err != nil {
		return err
	}
	defer closeLake()
	snk, err := sink.New(sink.Config{
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, Keyspace: cfg.Keyspace, Table: cfg.Table,
		Format: cfg.Format, Compression: cfg.Compression, CellMetadata: cfg.CellMetadata,
		FlushRecords: cfg.FlushRecords, FlushBytes: int(cfg.FlushBytes), FlushInterval: cfg.FlushInterval,
		ViewType: desc.StreamViewType, Iceberg: lake,
	}, s3Client, encode.KeyspacesSource{API: keyspaces.NewFromConfig(ksCfg)}, logger)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry(cfg.MetricsNamespace, cfg.ApplicationName)
	reader := pipeline.StreamsReader{API: streamsClient, StreamARN: arn}
	proc, coord, err := newPipeline(cfg, workerID, reader, worker.StreamShards{API: streamsClient, StreamARN: arn}, table, snk, reg, logger, coordLog)
	if err != nil {
		return err
	}

	// /healthz answers 200 only while the coordinator runs and its heartbeat (which keeps its
	// leases) is being written.
	var running atomic.Bool
	running.Store(true)
	h := &health{table: table, running: &running, staleAfter: 2 * cfg.LeaseFailoverTime, started: time.Now()}
	stopHTTP := serveHTTP(ln, h, reg, logger)
	defer stopHTTP()
	pump := &statsPump{reg: reg, sink: snk, coord: coord, proc: proc, workerID: workerID, committer: lake.Committer}
	stopMetrics := writeMetrics(cfg.MetricsInterval, pump, reg, metricsOut, logger)

	logger.Info("consumer started", "stream", arn, "view_type", desc.StreamViewType, "bucket", cfg.Bucket,
		"prefix", cfg.Prefix, "format", cfg.Format, "compression", cfg.Compression, "lease_table", cfg.LeaseTable,
		"http", ln.Addr().String(), "keyspaces_region", cfg.KeyspacesRegion, "s3_region", cfg.S3Region, "version", version)
	runErr := runCoordinator(ctx, coord, cfg.ShutdownTimeout, logger)
	running.Store(false)
	stopMetrics()
	st := snk.Stats()
	logger.Info("consumer stopped", "records_written", st.RecordsWritten, "files_written", st.FilesWritten,
		"poison_records", st.PoisonRecords, "records_read", reg.Sum(metrics.RecordsRead))
	// The coordinator aborting because ctx ended (SIGTERM) is a normal stop.
	stopped := ctx.Err() != nil && errors.Is(runErr, worker.ErrAborted)
	if runErr != nil && !stopped {
		return runErr
	}
	return nil
}

// resolveStream returns the stream to read (CDC_STREAM_ARN, else the newest ENABLED stream of
// the table) and its description, checking that it is the table's. A stream that does not
// exist is a setting error.
func resolveStream(ctx context.Context, client *streams.Client, cfg *config.Config, logger *slog.Logger) (string, *streams.GetStreamOutput, error) {
	where := fmt.Sprintf("in region %s (endpoint %s)", cfg.KeyspacesRegion, client.Endpoint())
	arn := cfg.StreamARN
	if arn == "" {
		err := await(ctx, logger, "Keyspaces Streams: the newest ENABLED stream of the table",
			[]any{"table", cfg.Keyspace + "." + cfg.Table, "region", cfg.KeyspacesRegion, "endpoint", client.Endpoint()},
			func(ctx context.Context) error {
				var err error
				arn, err = client.FindStream(ctx, cfg.Keyspace, cfg.Table)
				return err
			})
		switch {
		case errors.Is(err, streams.ErrNotFound):
			return "", nil, settingErrorf("CDC_KEYSPACE, CDC_TABLE: %s.%s has no ENABLED stream %s: enable CDC on the table, or check the names and the region: %w", cfg.Keyspace, cfg.Table, where, err)
		case err != nil:
			return "", nil, fmt.Errorf("CDC_STREAM_ARN is empty and %w (%s)", err, where)
		}
	}
	var desc *streams.GetStreamOutput
	err := await(ctx, logger, "Keyspaces Streams: the stream", []any{"stream", arn, "region", cfg.KeyspacesRegion, "endpoint", client.Endpoint()},
		func(ctx context.Context) error {
			var err error
			desc, err = client.GetStream(ctx, &streams.GetStreamInput{StreamArn: arn, MaxResults: 1})
			return err
		})
	switch {
	case errors.Is(err, streams.ErrNotFound):
		return "", nil, settingErrorf("CDC_STREAM_ARN: no stream %s %s: %w", arn, where, err)
	case err != nil:
		return "", nil, fmt.Errorf("describe stream %s %s: %w", arn, where, err)
	case desc.KeyspaceName != cfg.Keyspace || desc.TableName != cfg.Table:
		return "", nil, settingErrorf("CDC_STREAM_ARN %s is the stream of %s.%s, not of CDC_KEYSPACE.CDC_TABLE %s.%s",
			arn, desc.KeyspaceName, desc.TableName, cfg.Keyspace, cfg.Table)
	}
	return arn, desc, nil
}

// openLeaseTable returns the lease table, created first when CDC_CREATE_LEASE_TABLE asks, else
// checked to exist (a missing one is a setting error).
func openLeaseTable(ctx context.Context, ddbCfg aws.Config, cfg *config.Config, logger *slog.Logger) (*watchedTable, error) {
	db := dynamodb.NewFromConfig(ddbCfg)
	table := &watchedTable{Table: lease.NewTable(db, cfg.LeaseTable)}
	attrs := []any{"lease_table", cfg.LeaseTable, "region", ddbCfg.Region}
	if cfg.CreateLeaseTable {
		// CreateIfMissing's errors name the table and the step.
		if err := await(ctx, logger, "DynamoDB: the lease table, created if missing", attrs, func(ctx context.Context) error {
			return table.CreateIfMissing(ctx, 2*time.Minute)
		}); err != nil {
			return nil, err
		}
		return table, nil
	}
	err := await(ctx, logger, "DynamoDB: the lease table", attrs, func(ctx context.Context) error {
		_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.LeaseTable)})
		return err
	})
	var missing *dynamodbtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		return nil, settingErrorf("CDC_LEASE_TABLE: no table %s in region %s: create it, or set CDC_CREATE_LEASE_TABLE=true (local runs): %w", cfg.LeaseTable, ddbCfg.Region, err)
	case err != nil:
		return nil, fmt.Errorf("describe lease table %s in region %s: %w", cfg.LeaseTable, ddbCfg.Region, err)
	}
	return table, nil
}

// newPipeline builds the shard processor (reading into the sink) and the lease coordinator
// that runs it on the shards this worker owns.
func newPipeline(cfg *config.Config, workerID string, reader pipeline.StreamsReader, shards worker.ShardLister,
	table *watchedTable, snk *sink.Sink, reg *metrics.Registry, logger, coordLog *slog.Logger) (*pipeline.Processor, *worker.Coordinator, error) {
	proc, err := pipeline.NewProcessor(pipeline.Config{
		PollInterval: cfg.PollInterval, Limit: cfg.GetRecordsLimit, TrimmedPolicy: cfg.TrimmedPolicy,
		Metrics: reg, Logger: logger,
		OpenShard: func(shardID string, cp checkpoint.Checkpointer, pending *checkpoint.Intent) pipeline.ShardWriter {
			if cfg.Format == encode.FormatIceberg {
				return snk.OpenIcebergShard(shardID, cp, pending)
			}
			return snk.OpenShard(shardID, cp, pending)
		},
	}, reader)
	if err != nil {
		return nil, nil, err
	}
	coord, err := worker.New(worker.Config{
		WorkerID: workerID, FailoverTime: cfg.LeaseFailoverTime, RenewInterval: cfg.LeaseRenewInterval,
		ShardSyncInterval: cfg.ShardSyncInterval, MaxLeasesPerWorker: cfg.MaxLeasesPerWorker,
		MaxStealsPerCycle: cfg.MaxStealsPerCycle,
		InitialPosition:   cfg.StartPosition, Logger: coordLog,
	}, table, shards, proc)
	if err != nil {
		return nil, nil, err
	}
	return proc, coord, nil
}

// serveHTTP serves /healthz and /metrics on ln until stop is called.
func serveHTTP(ln net.Listener, h *health, reg *metrics.Registry, logger *slog.Logger) (stop func()) {
	srv := newHTTPServer(h.check, reg)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "err", err)
		}
	}()
	return func() { srv.Close() }
}

// writeMetrics writes the EMF metrics every interval until stop is called; stop writes them a
// last time.
func writeMetrics(interval time.Duration, pump *statsPump, reg *metrics.Registry, out io.Writer, logger *slog.Logger) (stop func()) {
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				pump.pump()
				if err := reg.WriteEMF(out, now); err != nil {
					logger.Warn("write metrics", "err", err)
				}
			}
		}
	}()
	return func() {
		pump.pump()
		close(done)
		wg.Wait()
		_ = reg.WriteEMF(out, time.Now())
	}
}

// runCoordinator runs the coordinator until ctx ends and it has shut down gracefully. A
// graceful shutdown that overruns its budget, less a reserve to stop in, becomes a hard stop:
// the process must exit within the budget (ECS kills the task at its stop timeout anyway),
// and whatever was not checkpointed is re-read by the next owner.
func runCoordinator(ctx context.Context, coord *worker.Coordinator, budget time.Duration, logger *slog.Logger) error {
	stopHard := make(chan struct{})
	drain := budget - stopReserve(budget)
	go func() {
		select {
		case <-ctx.Done():
			logger.Info("shutting down: draining shards", "timeout", budget.String())
			select {
			case <-time.After(drain):
				logger.Error("graceful shutdown timed out: stopping hard")
				coord.Abort()
			case <-stopHard:
			}
		case <-stopHard:
		}
	}()
	err := coord.Run(ctx)
	close(stopHard)
	return err
}

// stopReserve is the part of the shutdown budget kept to stop hard in, after the drain:
// a tenth of it, at most 5 s.
func stopReserve(budget time.Duration) time.Duration {
	return min(budget/10, 5*time.Second)
}

// regionalConfigs gives each client its region: the table's stream and schema in
// CDC_KEYSPACES_REGION, the bucket in CDC_S3_REGION, and the lease table in the
// deployment's own region (AWS_REGION; the table's region when that is unset).
func regionalConfigs(base aws.Config, cfg *config.Config) (keyspaces, s3, dynamodb aws.Config) {
	keyspaces, s3, dynamodb = base.Copy(), base.Copy(), base.Copy()
	keyspaces.Region, s3.Region = cfg.KeyspacesRegion, cfg.S3Region
	if dynamodb.Region == "" {
		dynamodb.Region = cfg.KeyspacesRegion
	}
	return keyspaces, s3, dynamodb
}

// watchedTable is the lease table, noting when it last took this worker's heartbeat: the
// coordinator writes it every renew interval, so a stale time means the worker cannot hold
// leases.
type watchedTable struct {
	*lease.Table
	lastOK atomic.Int64 // unix nanoseconds
}

func (w *watchedTable) Heartbeat(ctx context.Context, worker string) (lease.Lease, error) {
	item, err := w.Table.Heartbeat(ctx, worker)
	if err == nil {
		w.lastOK.Store(time.Now().UnixNano())
	}
	return item, err
}

// health decides /healthz.
type health struct {
	table      *watchedTable
	running    *atomic.Bool
	staleAfter time.Duration
	started    time.Time
}

func (h *health) check() error {
	if !h.running.Load() {
		return errors.New("the lease coordinator is not running")
	}
	last := h.started
	if ns := h.table.lastOK.Load(); ns != 0 {
		last = time.Unix(0, ns)
	}
	if age := time.Since(last); age > h.staleAfter {
		return fmt.Errorf("the lease table has not answered for %s", age.Round(time.Second))
	}
	return nil
}

// statsPump copies the sink's and the coordinator's cumulative counters into the registry.
type statsPump struct {
	reg      *metrics.Registry
	sink     *sink.Sink
	coord    *worker.Coordinator
	proc     *pipeline.Processor
	workerID string
	// committer is format iceberg's (nil otherwise).
	committer *iceberg.Committer

	mu               sync.Mutex
	lastFlushes      int64
	lastLatencyTotal time.Duration
}

func (p *statsPump) pump() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.proc.ReportLag(time.Now())
	s := p.sink.Stats()
	p.reg.SetCounter(metrics.RecordsWritten, metrics.Count, float64(s.RecordsWritten))
	p.reg.SetCounter(metrics.BytesWritten, metrics.Bytes, float64(s.BytesWritten))
	p.reg.SetCounter(metrics.FilesWritten, metrics.Count, float64(s.FilesWritten))
	p.reg.SetCounter(metrics.PoisonRecords, metrics.Count, float64(s.PoisonRecords))
	if n := s.Flushes - p.lastFlushes; n > 0 {
		// The sink keeps totals, not every latency: publish the period's mean flush latency.
		mean := (s.FlushLatencyTotal - p.lastLatencyTotal) / time.Duration(n)
		p.reg.Observe(metrics.FlushLatency, metrics.Milliseconds, float64(mean.Milliseconds()))
	}
	p.lastFlushes, p.lastLatencyTotal = s.Flushes, s.FlushLatencyTotal
	p.reg.SetCounter(metrics.Errors, metrics.Count, float64(s.UploadRetries), metrics.Dim{Name: metrics.DimKind, Value: "s3"})
	if s.SchemaFallbacks > 0 { // avro only: a series that stays absent while nothing falls back
		p.reg.SetCounter(metrics.Errors, metrics.Count, float64(s.SchemaFallbacks), metrics.Dim{Name: metrics.DimKind, Value: metrics.KindSchemaFallback})
	}
	c := p.coord.Stats()
	p.reg.Set(metrics.LeasesHeld, metrics.Count, float64(c.LeasesHeld), metrics.Dim{Name: metrics.DimWorker, Value: p.workerID})
	p.reg.SetCounter(metrics.Errors, metrics.Count, float64(c.RenewFailures), metrics.Dim{Name: metrics.DimKind, Value: "lease_renew"})
	if p.committer != nil {
		st := p.committer.Stats()
		p.reg.SetCounter(metrics.IcebergCommits, metrics.Count, float64(st.Snapshots))
		p.reg.SetCounter(metrics.Errors, metrics.Count, float64(st.Conflicts), metrics.Dim{Name: metrics.DimKind, Value: "iceberg_conflict"})
		p.reg.SetCounter(metrics.Errors, metrics.Count, float64(st.Errors), metrics.Dim{Name: metrics.DimKind, Value: "iceberg"})
	}
}
