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
	// FailoverTime: a lease whose leaseCounter has not moved for this long, as seen on this
	// worker's own monotonic clock, is expired and may be taken. Default:
	// CDC_LEASE_FAILOVER_TIME's.
	FailoverTime time.Duration
	// RenewInterval: held leases are renewed this often; less than FailoverTime. Default:
	// CDC_LEASE_RENEW_INTERVAL's.
	RenewInterval time.Duration
	// TakeInterval: the lease table is scanned this often to take free and expired leases,
	// start children whose parents ended, balance and clean up. Default FailoverTime/2.
	TakeInterval time.Duration
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
	// RenewConcurrency bounds the renewals in flight at once. Default 16.
	RenewConcurrency int
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
	DefaultRenewConcurrency   = 16
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
	if c.RenewConcurrency == 0 {
		c.RenewConcurrency = DefaultRenewConcurrency
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
	}{{"FailoverTime", c.FailoverTime}, {"RenewInterval", c.RenewInterval}, {"TakeInterval", c.TakeInterval},
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
	if c.RenewConcurrency < 0 {
		bad("RenewConcurrency %d is negative", c.RenewConcurrency)
	}
	if c.InitialPosition != checkpoint.TrimHorizon && c.InitialPosition != checkpoint.Latest {
		bad("InitialPosition %q is not %s or %s", c.InitialPosition, checkpoint.TrimHorizon, checkpoint.Latest)
	}
	return c, errors.Join(errs...)
}
