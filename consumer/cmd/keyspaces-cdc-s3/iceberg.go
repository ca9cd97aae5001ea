package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/sink"
)

// openIceberg opens what format iceberg writes to: the catalog, the table's change log, its
// mirror (CDC_ICEBERG_TABLES; refused, as a setting error, for a view type without new
// images) and this worker's committer, whose rounds follow CDC_FLUSH_INTERVAL. Its commits end with
// ctx, which must outlive the coordinator's drain (the drained shards commit last). closeFn
// releases the catalog. Other formats get nothing (and a close that does nothing).
func openIceberg(ctx context.Context, cfg *config.Config, s3Cfg aws.Config, getenv func(string) string,
	workerID, viewType string, logger *slog.Logger) (target sink.IcebergTarget, closeFn func(), err error) {
	if cfg.Format != encode.FormatIceberg {
		return target, func() {}, nil
	}
	if err := checkMirrorViewType(cfg, viewType); err != nil {
		return target, nil, err
	}
	endpoint := getenv("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		endpoint = getenv("AWS_ENDPOINT_URL")
	}
	cat, err := iceberg.OpenCatalog(ctx, iceberg.CatalogConfig{
		Type: cfg.IcebergCatalog, URI: cfg.IcebergCatalogURI, Warehouse: cfg.IcebergWarehouse,
		AWS: s3Cfg, S3Endpoint: endpoint,
	})
	if err != nil {
		return target, nil, err
	}
	table, err := iceberg.NewChangeTable(cat, iceberg.ChangeTableConfig{
		Namespace: cfg.IcebergNamespace, Table: cfg.Table, Logger: logger,
	})
	if err == nil && cfg.IcebergMirror() {
		target.Mirror, err = iceberg.NewMirrorTable(cat, iceberg.ChangeTableConfig{
			Namespace: cfg.IcebergNamespace, Table: cfg.Table, Logger: logger,
		})
	}
	if err == nil {
		target.Table = table
		target.Committer, err = iceberg.NewCommitter(ctx, iceberg.CommitterConfig{
			Table: table, Mirror: target.Mirror, Writer: workerID, Interval: cfg.FlushInterval,
			SnapshotRetention: cfg.IcebergSnapshotRetention, Logger: logger,
		})
	}
	if err != nil {
		_ = cat.Close()
		return target, nil, fmt.Errorf("iceberg: %w", err)
	}
	if cfg.IcebergOptimizerRoleARN != "" {
		go func() {
			_ = iceberg.EnsureOptimizers(ctx, iceberg.OptimizerConfig{
				AWS: s3Cfg, Endpoint: cfg.IcebergCatalogURI, Namespace: cfg.IcebergNamespace,
				Tables: icebergTables(cfg), RoleARN: cfg.IcebergOptimizerRoleARN, Logger: logger,
			})
		}()
	}
	logger.Info("iceberg change log", "catalog", cfg.IcebergCatalog, "warehouse", cfg.IcebergWarehouse,
		"table", cfg.IcebergNamespace+"."+cfg.Table+iceberg.ChangesSuffix, "mirror", target.Mirror != nil)
	return target, func() { _ = cat.Close() }, nil
}

// icebergTables are the names of the Iceberg tables CDC_ICEBERG_TABLES keeps: changes is
// <table>_changes, mirror is <table>.
func icebergTables(cfg *config.Config) []string {
	var out []string
	for _, kind := range strings.Split(cfg.IcebergTables, ",") {
		switch strings.TrimSpace(kind) {
		case "changes":
			out = append(out, cfg.Table+iceberg.ChangesSuffix)
		case "mirror":
			out = append(out, cfg.Table)
		}
	}
	return out
}

// checkMirrorViewType refuses the mirror (a setting error: exit status 2) for a stream whose
// records carry no new image: KEYS_ONLY, OLD_IMAGE.
func checkMirrorViewType(cfg *config.Config, viewType string) error {
	if cfg.IcebergMirror() && (viewType == record.ViewKeysOnly || viewType == record.ViewOldImage) {
		return settingErrorf("CDC_ICEBERG_TABLES: the mirror needs each change's new image, and the stream's view type is %s: "+
			"set CDC_ICEBERG_TABLES=changes, or use a stream with NEW_IMAGE or NEW_AND_OLD_IMAGES", viewType)
	}
	return nil
}
