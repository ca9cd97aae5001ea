package emulator_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func generate(t *testing.T, cfg emulator.WorkloadConfig, n int) []streams.Record {
	t.Helper()
	w, err := emulator.NewWorkload(cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]streams.Record, n)
	for i := range recs {
		recs[i] = w.Next(t0.Add(time.Duration(i) * time.Millisecond))
	}
	return recs
}

func TestWorkloadIsDeterministic(t *testing.T) {
	a := generate(t, emulator.WorkloadConfig{Seed: 9}, 300)
	b := generate(t, emulator.WorkloadConfig{Seed: 9}, 300)
	c := generate(t, emulator.WorkloadConfig{Seed: 10}, 300)
	same := true
	for i := range a {
		ea, eb, ec := streams.EncodeRecord(&a[i]), streams.EncodeRecord(&b[i]), streams.EncodeRecord(&c[i])
		if !bytes.Equal(ea, eb) {
			t.Fatalf("record %d differs for the same seed", i)
		}
		same = same && bytes.Equal(ea, ec)
	}
	if same {
		t.Fatal("another seed gave the same records")
	}
}

// collectTypes records every union member type found in a value, recursively.
func collectTypes(v streams.CellValue, seen map[streams.CQLType]bool) {
	seen[v.Type] = true
	for _, e := range v.Elems {
		collectTypes(e.Value, seen)
	}
	for _, e := range v.Entries {
		collectTypes(e.Key, seen)
		collectTypes(e.Value, seen)
	}
	for _, f := range v.Fields {
		collectTypes(f.Value, seen)
	}
}

func TestWorkloadCoversTypesAndOperations(t *testing.T) {
	recs := generate(t, emulator.WorkloadConfig{Seed: 1, LargeRowRate: 0.02}, 2000)
	seen := map[streams.CQLType]bool{}
	var inserts, updates, deletes, ttl, static, large, nonTextMapKeys int
	for _, r := range recs {
		if len(r.PartitionKeys) != 2 || r.PartitionKeys[0].Name != "tenant" || r.PartitionKeys[1].Name != "content_id" {
			t.Fatalf("partition key %+v", r.PartitionKeys)
		}
		for _, img := range []*streams.Row{r.NewImage, r.OldImage} {
			if img == nil {
				continue
			}
			for _, cells := range [][]streams.NamedCell{img.ValueCells, img.StaticCells} {
				for _, c := range cells {
					collectTypes(c.Value, seen)
					if c.Name == "episode_titles" && len(c.Value.Entries) > 0 && c.Value.Entries[0].Key.Type == streams.TypeInt {
						nonTextMapKeys++
					}
				}
			}
		}
		for _, c := range append(append([]streams.Column{}, r.PartitionKeys...), r.ClusteringKeys...) {
			collectTypes(c.Value, seen)
		}
		switch {
		case r.Origin == streams.OriginTTL:
			ttl++
			if r.NewImage != nil || r.OldImage == nil {
				t.Fatal("a TTL delete must carry only the old image")
			}
		case r.NewImage != nil && len(r.NewImage.StaticCells) > 0:
			static++
			if len(r.NewImage.ValueCells) != 0 || len(r.ClusteringKeys) != 0 {
				t.Fatal("a static-only update must carry only static cells and no clustering key")
			}
		case r.NewImage == nil:
			deletes++
		case r.OldImage == nil:
			inserts++
		default:
			updates++
		}
		if len(streams.EncodeRecord(&r)) > 30000 {
			large++
		}
	}
	for _, typ := range []streams.CQLType{
		streams.TypeASCII, streams.TypeBigint, streams.TypeBlob, streams.TypeBool, streams.TypeDate,
		streams.TypeDecimal, streams.TypeDouble, streams.TypeDuration, streams.TypeFloat, streams.TypeInet,
		streams.TypeInt, streams.TypeList, streams.TypeMap, streams.TypeSet, streams.TypeSmallint,
		streams.TypeText, streams.TypeTimestamp, streams.TypeTime, streams.TypeTimeuuid, streams.TypeTinyint,
		streams.TypeTuple, streams.TypeUDT, streams.TypeUUID, streams.TypeVarchar, streams.TypeVarint,
	} {
		if !seen[typ] {
			t.Errorf("no %s value generated", typ)
		}
	}
	if inserts == 0 || updates == 0 || deletes == 0 || ttl == 0 || static == 0 || large == 0 || nonTextMapKeys == 0 {
		t.Fatalf("inserts %d, updates %d, deletes %d, TTL %d, static %d, large %d, int-keyed maps %d: want all",
			inserts, updates, deletes, ttl, static, large, nonTextMapKeys)
	}
	t.Logf("inserts %d, updates %d, deletes %d, TTL %d, static %d, large %d", inserts, updates, deletes, ttl, static, large)
}

func TestWorkloadImagesFollowViewType(t *testing.T) {
	tests := []struct {
		view                string
		newOnUpdate, oldDel bool
	}{
		{streams.ViewNewImage, true, false},
		{streams.ViewOldImage, false, true},
		{streams.ViewNewAndOldImages, true, true},
		{streams.ViewKeysOnly, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.view, func(t *testing.T) {
			for _, r := range generate(t, emulator.WorkloadConfig{Seed: 5, ViewType: tt.view}, 500) {
				if tt.view == streams.ViewKeysOnly && (r.NewImage != nil || r.OldImage != nil) {
					t.Fatal("KEYS_ONLY record with an image")
				}
				if !tt.newOnUpdate && r.NewImage != nil {
					t.Fatal("new image in a view without new images")
				}
				if !tt.oldDel && r.OldImage != nil {
					t.Fatal("old image in a view without old images")
				}
			}
		})
	}
}

func TestWorkloadOldImageIsPreviousNewImage(t *testing.T) {
	last := map[string][]byte{}
	for _, r := range generate(t, emulator.WorkloadConfig{Seed: 11, Partitions: 4}, 800) {
		if len(r.ClusteringKeys) == 0 {
			continue // static-only
		}
		k := emulator.KeyText(&r)
		if r.OldImage != nil {
			prev, ok := last[k]
			old := *r.OldImage
			old.RowMetadata = nil
			got, _ := old.MarshalJSON()
			if !ok || !bytes.Equal(got, prev) {
				t.Fatalf("key %s: old image %s, previous new image %s", k, got, prev)
			}
		}
		if r.NewImage != nil {
			img := *r.NewImage
			img.RowMetadata = nil
			last[k], _ = img.MarshalJSON()
		} else {
			delete(last, k)
		}
	}
}

func TestWorkloadRowBytes(t *testing.T) {
	recs := generate(t, emulator.WorkloadConfig{Seed: 2, RowBytes: 1024, ViewType: streams.ViewNewImage}, 400)
	n := 0
	for _, r := range recs {
		if r.NewImage == nil || len(r.NewImage.ValueCells) == 0 {
			continue
		}
		size := len(streams.EncodeRecord(&r))
		// Rows reach the target by dropping columns and padding one.
		if size < 1000 || size > 1075 {
			t.Errorf("record of %d bytes, want about 1 KB", size)
		}
		n++
	}
	if n < 200 {
		t.Fatalf("only %d inserts and updates", n)
	}
}
