package iceberg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// OptimizerTypes are the Glue table optimizers turned on for every table: compaction (small
// files into large ones), snapshot retention (old snapshots expired, their unreferenced files
// deleted) and orphan file deletion (files no snapshot lists, such as a crashed worker's
// uploads that were never committed), each with Glue's default settings.
var OptimizerTypes = []types.TableOptimizerType{
	types.TableOptimizerTypeCompaction,
	types.TableOptimizerTypeRetention,
	types.TableOptimizerTypeOrphanFileDeletion,
}

// OptimizerAPI is the part of the Glue client the optimizers need (a fake in tests).
type OptimizerAPI interface {
	CreateTableOptimizer(ctx context.Context, in *glue.CreateTableOptimizerInput, opts ...func(*glue.Options)) (*glue.CreateTableOptimizerOutput, error)
	GetTableOptimizer(ctx context.Context, in *glue.GetTableOptimizerInput, opts ...func(*glue.Options)) (*glue.GetTableOptimizerOutput, error)
	UpdateTableOptimizer(ctx context.Context, in *glue.UpdateTableOptimizerInput, opts ...func(*glue.Options)) (*glue.UpdateTableOptimizerOutput, error)
}

// OptimizerConfig says which tables get Glue's table optimizers, run as which role.
type OptimizerConfig struct {
	// API is the Glue client; nil: one from AWS (and Endpoint).
	API      OptimizerAPI
	AWS      aws.Config
	Endpoint string // replaces the region's Glue endpoint (CDC_ICEBERG_CATALOG_URI)
	// CatalogID is the account of the Data Catalog; empty: the account of RoleARN.
	CatalogID string
	Namespace string   // the Glue database
	Tables    []string // the tables' names
	RoleARN   string   // the role the optimizers run as
	// Retry is the wait between attempts while a table does not exist yet (default 1m).
	Retry  time.Duration
	Logger *slog.Logger
}

// EnsureOptimizers turns on the Glue table optimizers of every table of cfg, and returns when
// each has all of OptimizerTypes (or ctx ends). The consumer creates its tables when it first
// has a file to commit, and an optimizer needs its table, so a table not there yet is asked
// again every Retry. Every worker runs it at start: CreateTableOptimizer answering that the
// optimizer exists is success, unless that optimizer runs as another role, which is then
// replaced by RoleARN (a redeployed stack's new role). An operator's Enabled=false is kept.
func EnsureOptimizers(ctx context.Context, cfg OptimizerConfig) error {
	if cfg.API == nil {
		awsCfg := cfg.AWS.Copy()
		if cfg.Endpoint != "" {
			awsCfg.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		cfg.API = glue.NewFromConfig(awsCfg)
	}
	if cfg.CatalogID == "" {
		cfg.CatalogID = roleAccount(cfg.RoleARN)
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	pending := map[string][]types.TableOptimizerType{}
	for _, t := range cfg.Tables {
		pending[t] = OptimizerTypes
	}
	for {
		for _, t := range cfg.Tables {
			var left []types.TableOptimizerType
			for _, typ := range pending[t] {
				done, err := ensureOptimizer(ctx, cfg, t, typ)
				if err != nil {
					cfg.Logger.Warn("iceberg: glue table optimizer not turned on yet", "table", cfg.Namespace+"."+t, "type", string(typ), "error", err)
				}
				if !done {
					left = append(left, typ)
				}
			}
			if len(left) == 0 && len(pending[t]) > 0 {
				cfg.Logger.Info("iceberg: glue table optimizers on", "table", cfg.Namespace+"."+t, "role", cfg.RoleARN)
			}
			pending[t] = left
		}
		if allDone(pending) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(cfg.Retry):
		}
	}
}

func allDone(pending map[string][]types.TableOptimizerType) bool {
	for _, left := range pending {
		if len(left) > 0 {
			return false
		}
	}
	return true
}

// ensureOptimizer turns on one optimizer of one table; done is false while the table does
// not exist (no error then) or the call failed (the error).
func ensureOptimizer(ctx context.Context, cfg OptimizerConfig, table string, typ types.TableOptimizerType) (done bool, err error) {
	// Glue keeps table names in lowercase.
	table = strings.ToLower(table)
	catalogID := aws.String(cfg.CatalogID)
	_, err = cfg.API.CreateTableOptimizer(ctx, &glue.CreateTableOptimizerInput{
		CatalogId: catalogID, DatabaseName: aws.String(cfg.Namespace), TableName: aws.String(table), Type: typ,
		TableOptimizerConfiguration: &types.TableOptimizerConfiguration{RoleArn: aws.String(cfg.RoleARN), Enabled: aws.Bool(true)},
	})
	var exists *types.AlreadyExistsException
	var missing *types.EntityNotFoundException
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &missing):
		return false, nil // the table is not created yet
	case !errors.As(err, &exists):
		return false, fmt.Errorf("glue CreateTableOptimizer: %w", err)
	}
	got, err := cfg.API.GetTableOptimizer(ctx, &glue.GetTableOptimizerInput{
		CatalogId: catalogID, DatabaseName: aws.String(cfg.Namespace), TableName: aws.String(table), Type: typ,
	})
	if err != nil {
		return false, fmt.Errorf("glue GetTableOptimizer: %w", err)
	}
	var current *types.TableOptimizerConfiguration
	if got.TableOptimizer != nil {
		current = got.TableOptimizer.Configuration
	}
	if current != nil && aws.ToString(current.RoleArn) == cfg.RoleARN {
		return true, nil
	}
	next := types.TableOptimizerConfiguration{RoleArn: aws.String(cfg.RoleARN), Enabled: aws.Bool(true)}
	if current != nil {
		next = *current
		next.RoleArn = aws.String(cfg.RoleARN)
	}
	if _, err := cfg.API.UpdateTableOptimizer(ctx, &glue.UpdateTableOptimizerInput{
		CatalogId: catalogID, DatabaseName: aws.String(cfg.Namespace), TableName: aws.String(table), Type: typ,
		TableOptimizerConfiguration: &next,
	}); err != nil {
		return false, fmt.Errorf("glue UpdateTableOptimizer: %w", err)
	}
	return true, nil
}

// roleAccount is the account of an IAM role ARN (arn:aws:iam::<account>:role/<name>), "" if
// it has none.
func roleAccount(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
