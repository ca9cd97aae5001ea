package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/checkpoint"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// Config of a Coordinator. Zero values take the documented defaults.
type Config struct {
	// WorkerID names this worker in the lease table (leaseOwner). Required, and unique among
	// the running workers: a worker adopts the leases that name it as their owner.
	WorkerID string
	// FailoverTime: a worker whose heartbeat (the leaseCounter of its presence item) has not
	// moved for this long, as seen on this worker's own monotonic clock, is gone: its leases
	// are expired and may be taken. A worker that cannot write its heartbeat gives its leases
	// up before that. Default: CDC_LEASE_FAILOVER_TIME's.
	FailoverTime time.Duration
	// RenewInterval: this worker writes its heartbeat this often (the setting kept its name
	// from the per-lease renewals the heartbeat replaced); less than FailoverTime. Default:
	// CDC_LEASE_RENEW_INTERVAL's.
	RenewInterval time.Duration
	// TakeInterval: the other workers' heartbeats are read this often (a strongly consistent
	// read of their presence items) to find the ones gone; running processors restart after
	// a failure at this pace. Default FailoverTime/2.
	TakeInterval time.Duration
	// ScanInterval: the whole lease table is read at least this often (eventually consistent)
	// to take free and expired leases, balance, notice lost leases and handoff requests, start
	// children whose parents ended and clean up. It is read at once, besides, when something
	// asks for it: a worker gone, a notice from another worker, a lease created, lost or
	// finished, a heartbeat back after a failure; and at every take cycle while this worker has
	// something under way (taking, stealing, waiting for a handoff or for parents). Default
	// 3 × FailoverTime.
	ScanInterval time.Duration
	// ShardSyncInterval: the stream's shards are listed and missing leases created this
	// often. Default: CDC_SHARD_SYNC_INTERVAL's.
	ShardSyncInterval time.Duration
	// MaxLeasesPerWorker caps the leases this worker holds; 0 (the default) means no cap.
	MaxLeasesPerWorker int
	// MaxStealsPerCycle: a worker below its target asks for at most this many leases per take
	// cycle (each a graceful handoff with a flush). Default: CDC_MAX_STEALS_PER_CYCLE's. Few,
	// as the KCL's maxLeasesToStealAtOneTime, change a fleet gradually; more let a worker
	// joining a stream of many shards reach its share sooner.
	MaxStealsPerCycle int
	// InitialPosition of a new shard's lease: TRIM_HORIZON or LATEST. Default:
	// CDC_START_POSITION's. A child of a shard that has a lease always starts at TRIM_HORIZON
	// so none of it is skipped.
	InitialPosition string
	// ParentCleanupGrace: a finished parent's lease is deleted once it has been at SHARD_END
	// for this long (on this worker's clock) and every child's lease has been taken. Default 1m.
	ParentCleanupGrace time.Duration
	// HandoffTimeout: a worker that asked for a lease (a steal) takes it without the owner's
	// handoff once this long has passed since it saw its request. Default 30s.
	HandoffTimeout time.Duration
	// WriteConcurrency bounds the conditional writes in flight at once when many leases change
	// hands together: takes (a worker starting on 1,000 free leases), re-adoptions, releases at
	// shutdown. Default 16.
	WriteConcurrency int
	// Logger receives the coordinator's logs. Default slog.Default().
	Logger *slog.Logger
	// OnEvent, when set, is called for every lease and processor event (tests record the
	// owner history with it). It runs on the coordinator's goroutines: keep it quick.
	OnEvent func(Event)
}

// Defaults of Config that are not consumer settings. FailoverTime, RenewInterval,
// ShardSyncInterval, MaxStealsPerCycle and InitialPosition default to the consumer's settings
// (CDC_LEASE_FAILOVER_TIME, CDC_LEASE_RENEW_INTERVAL, CDC_SHARD_SYNC_INTERVAL,
// CDC_MAX_STEALS_PER_CYCLE, CDC_START_POSITION), written once in consumer/config.
const (
	DefaultParentCleanupGrace = time.Minute
	DefaultHandoffTimeout     = 30 * time.Second
	DefaultWriteConcurrency   = 16
)

// withDefaults fills the zero values and validates the result, naming every bad field.
func (c Config) withDefaults() (Config, error) {
	defaults := config.Defaults()
	if c.FailoverTime == 0 {
		c.FailoverTime = defaults.LeaseFailoverTime
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = defaults.LeaseRenewInterval
	}
	if c.TakeInterval == 0 {
		c.TakeInterval = c.FailoverTime / 2
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = 3 * c.FailoverTime
	}
	if c.ShardSyncInterval == 0 {
		c.ShardSyncInterval = defaults.ShardSyncInterval
	}
	if c.InitialPosition == "" {
		c.InitialPosition = defaults.StartPosition
	}
	if c.ParentCleanupGrace == 0 {
		c.ParentCleanupGrace = DefaultParentCleanupGrace
	}
	if c.HandoffTimeout == 0 {
		c.HandoffTimeout = DefaultHandoffTimeout
	}
	if c.MaxStealsPerCycle == 0 {
		c.MaxStealsPerCycle = defaults.MaxStealsPerCycle
	}
	if c.WriteConcurrency == 0 {
		c.WriteConcurrency = DefaultWriteConcurrency
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("worker config: "+format, args...)) }
	if c.WorkerID == "" {
		bad("WorkerID is required")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"FailoverTime", c.FailoverTime}, {"RenewInterval", c.RenewInterval}, {"TakeInterval", c.TakeInterval}, {"ScanInterval", c.ScanInterval},
		{"ShardSyncInterval", c.ShardSyncInterval}, {"ParentCleanupGrace", c.ParentCleanupGrace}, {"HandoffTimeout", c.HandoffTimeout}} {
		if d.v < 0 {
			bad("%s %s is negative", d.name, d.v)
		}
	}
	if c.RenewInterval >= c.FailoverTime {
		bad("RenewInterval %s must be less than FailoverTime %s", c.RenewInterval, c.FailoverTime)
	}
	if c.MaxLeasesPerWorker < 0 {
		bad("MaxLeasesPerWorker %d is negative", c.MaxLeasesPerWorker)
	}
	if c.MaxStealsPerCycle < 0 {
		bad("MaxStealsPerCycle %d is negative", c.MaxStealsPerCycle)
	}
	if c.WriteConcurrency < 0 {
		bad("WriteConcurrency %d is negative", c.WriteConcurrency)
	}
	if c.InitialPosition != checkpoint.TrimHorizon && c.InitialPosition != checkpoint.Latest {
		bad("InitialPosition %q is not %s or %s", c.InitialPosition, checkpoint.TrimHorizon, checkpoint.Latest)
	}
	return c, errors.Join(errs...)
}
