package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/iceberg"
)

// OpenMirror opens the mirror (media.media_content) the workers of IcebergEnv(catalogFile)
// keep; closeFn releases the catalog.
func (s *Stack) OpenMirror(ctx context.Context, catalogFile string) (table *iceberg.ChangeTable, closeFn func(), err error) {
	cat, err := iceberg.OpenCatalog(ctx, iceberg.CatalogConfig{Type: iceberg.CatalogSQL, URI: catalogFile,
		Warehouse: "s3://" + s.Bucket + "/warehouse", AWS: s.S3.AWSConfig(), S3Endpoint: s.S3.Endpoint})
	if err != nil {
		return nil, nil, err
	}
	table, err = iceberg.NewMirrorTable(cat, iceberg.ChangeTableConfig{Namespace: "media", Table: "media_content"})
	if err != nil {
		_ = cat.Close()
		return nil, nil, err
	}
	return table, func() { _ = cat.Close() }, nil
}

// LiveKeys reads every record the emulator wrote (with its content) and returns the keys
// live at the end — those whose last change (shards in lineage order, each in sequence order)
// is an insert or update — each with its last change's "shard/sequence number", and, per
// shard, its last sequence number. A static-only update (no clustering key) changes no row;
// a delete or TTL expiry ends the key.
func (s *Stack) LiveKeys(ctx context.Context) (live, lastSeq map[string]string, err error) {
	live, lastSeq = map[string]string{}, map[string]string{}
	w, err := s.written(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	for _, shard := range w.Order {
		for _, r := range w.Shards[shard] {
			var rec struct {
				Origin   string          `json:"origin"`
				NewImage json.RawMessage `json:"newImage"`
			}
			if err := json.Unmarshal(r.Record, &rec); err != nil {
				return nil, nil, fmt.Errorf("record %s: %w", r.SequenceNumber, err)
			}
			lastSeq[shard] = r.SequenceNumber
			switch {
			case strings.HasSuffix(r.Key, "/"): // no clustering key: a static-only update
			case rec.Origin == "TTL" || len(rec.NewImage) == 0 || string(rec.NewImage) == "null":
				delete(live, r.Key)
			default:
				live[r.Key] = shard + "/" + r.SequenceNumber
			}
		}
	}
	return live, lastSeq, nil
}

// MirrorRows counts the rows of the mirror read with iceberg-go's scan, once its snapshots
// say it holds every shard of lastSeq up to its last sequence number; ok is false before.
func MirrorRows(ctx context.Context, mirror *iceberg.ChangeTable, lastSeq map[string]string) (rows int64, ok bool, err error) {
	held, err := mirror.Committed(ctx)
	if err != nil {
		return 0, false, err
	}
	for shard, seq := range lastSeq {
		if held[shard] != seq {
			return 0, false, nil
		}
	}
	at, err := mirror.Scan(ctx)
	if err != nil {
		return 0, false, err
	}
	defer at.Release()
	return at.NumRows(), true, nil
}
