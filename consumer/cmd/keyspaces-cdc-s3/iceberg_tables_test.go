package main

import (
	"slices"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// The optimizers go on the tables CDC_ICEBERG_TABLES keeps, named as the consumer names them.
func TestIcebergTableNames(t *testing.T) {
	for tables, want := range map[string][]string{
		"changes":        {"orders_changes"},
		"changes,mirror": {"orders_changes", "orders"},
		"mirror":         {"orders"},
	} {
		if got := icebergTables(&config.Config{Table: "orders", IcebergTables: tables}); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", tables, got, want)
		}
	}
}
