package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
)

// TestIcebergMirrorRefusesViewTypesWithoutNewImages: with a KEYS_ONLY or OLD_IMAGE stream,
// format iceberg with the mirror (the default tables) stops at start with a setting error
// (exit status 2) naming CDC_ICEBERG_TABLES and the view type; with the change log alone it
// goes on past that check.
func TestIcebergMirrorRefusesViewTypesWithoutNewImages(t *testing.T) {
	for _, tc := range []struct {
		view, tables string
		refused      bool
	}{
		{"KEYS_ONLY", "changes,mirror", true},
		{"OLD_IMAGE", "changes,mirror", true},
		{"KEYS_ONLY", "changes", false},
		{"NEW_IMAGE", "changes,mirror", false},
	} {
		t.Run(tc.view+"/"+tc.tables, func(t *testing.T) {
			emu, err := emulator.New(emulator.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := emu.CreateStream(emulator.StreamSpec{Keyspace: "media", Table: "media_content", ViewType: tc.view, Shards: 1}); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(emu)
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// DynamoDB answers every call with an error: a consumer past the check stops
			// on the lease table instead.
			logs, done := startConsumer(ctx, t, srv.URL, dynamoAnswering(t, "AccessDeniedException", "no"), map[string]string{
				"CDC_FORMAT": "iceberg", "CDC_ICEBERG_CATALOG": "sql", "CDC_ICEBERG_CATALOG_URI": t.TempDir() + "/c.db",
				"CDC_ICEBERG_WAREHOUSE": "s3://bucket-1/lake", "CDC_ICEBERG_TABLES": tc.tables,
			})
			err = <-done
			var bad *settingError
			refused := errors.As(err, &bad) && strings.Contains(err.Error(), "CDC_ICEBERG_TABLES") && strings.Contains(err.Error(), tc.view)
			if refused != tc.refused {
				t.Fatalf("view %s, tables %s: stopped with %v (refused %v, want %v)\n%s", tc.view, tc.tables, err, refused, tc.refused, logs)
			}
		})
	}
}
