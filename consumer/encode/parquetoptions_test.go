package encode

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/schema"
)

// TestParquetOptions: with ParquetOptions every field gets the id its path asks for (the
// repeated "list" and "key_value" groups and the root none, as Iceberg's Parquet files have
// them), timestamps are in microseconds, and the values read back are the same instants.
func TestParquetOptions(t *testing.T) {
	ids := map[string]int32{}
	opts := ParquetOptions{TimestampMicros: true, FieldID: func(path []string) int32 {
		p := strings.Join(path, ".")
		if _, dup := ids[p]; dup {
			t.Errorf("path %s asked twice", p)
		}
		ids[p] = int32(len(ids) + 1)
		return ids[p]
	}}
	f, err := newParquetFile(NewSchemas(parquetSources()["GetTable"](), true, nil), CompressionZstd, false, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := encodeParquet(t, f, parquetEvents(t))
	rows, _, rdr := readParquet(t, out.Body)
	for _, want := range []string{"created_at", "keys.id", "new_image.c_list", "new_image.c_list.element",
		"new_image.c_map.key", "new_image.c_map.value", "new_image.c_udt.tags.element", "new_image.c_tuple.f1",
		"old_image_metadata.element.write_time"} {
		if ids[want] == 0 {
			t.Errorf("no id asked for %s (asked: %d paths)", want, len(ids))
		}
	}
	// Every node but the root and the repeated groups has the id of its path.
	var walk func(n schema.Node, path []string)
	walk = func(n schema.Node, path []string) {
		name := n.Name()
		repeatedGroup := name == "list" || name == "key_value"
		if !repeatedGroup {
			path = append(path, name)
			if got, want := n.FieldID(), ids[strings.Join(path, ".")]; got != want {
				t.Errorf("%s: field id %d, want %d", strings.Join(path, "."), got, want)
			}
		} else if n.FieldID() != -1 {
			t.Errorf("%s.%s: field id %d on a repeated group", strings.Join(path, "."), name, n.FieldID())
		}
		if g, ok := n.(*schema.GroupNode); ok {
			for i := 0; i < g.NumFields(); i++ {
				walk(g.Field(i), path)
			}
		}
	}
	root := rdr.MetaData().Schema.Root()
	for i := 0; i < root.NumFields(); i++ {
		walk(root.Field(i), nil)
	}
	if len(ids) != countFields(root)-1 {
		t.Errorf("%d ids asked, %d fields in the schema", len(ids), countFields(root)-1)
	}
	ts := root.Field(root.FieldIndexByName("created_at")).(*schema.PrimitiveNode).LogicalType().(schema.TimestampLogicalType)
	if ts.TimeUnit() != schema.TimeUnitMicros || !ts.IsAdjustedToUTC() {
		t.Errorf("created_at: %s", ts)
	}
	if got := rows[2]["created_at"]; got != "2024-03-01T10:00:00Z" {
		t.Errorf("created_at = %v", got)
	}
	if got := rows[2]["new_image"].(map[string]any)["c_timestamp"]; got != "2024-03-01T00:00:00.123Z" {
		t.Errorf("c_timestamp = %v", got)
	}
	if !strings.Contains(f.enc.ps.Message, "created_at (TIMESTAMP(MICROS,true)) = ") {
		t.Errorf("message text without the micros or the id:\n%s", f.enc.ps.Message)
	}
}

// countFields counts the nodes of a schema that are fields (not repeated list or map groups).
func countFields(n schema.Node) int {
	c := 1
	if n.Name() == "list" || n.Name() == "key_value" {
		c = 0
	}
	if g, ok := n.(*schema.GroupNode); ok {
		for i := 0; i < g.NumFields(); i++ {
			c += countFields(g.Field(i))
		}
	}
	return c
}

// TestParquetPrepare: Prepare is called once per schema version, with a schema without ids,
// and its ids are the file's; when it fails, Add fails with ErrUnavailable and a later Add
// of the same event succeeds.
func TestParquetPrepare(t *testing.T) {
	calls := 0
	fail := errors.New("catalog unreachable")
	opts := ParquetOptions{TimestampMicros: true, Prepare: func(_ context.Context, ps *ParquetSchema) (func([]string) int32, error) {
		calls++
		if strings.Contains(ps.Message, " = ") {
			t.Errorf("Prepare got a schema with ids:\n%s", ps.Message)
		}
		if calls == 1 {
			return nil, fail
		}
		return func(path []string) int32 { return int32(len(strings.Join(path, "."))) }, nil
	}}
	f, err := newParquetFile(NewSchemas(parquetSources()["GetTable"](), false, nil), CompressionZstd, false, opts)
	if err != nil {
		t.Fatal(err)
	}
	evs := parquetEvents(t)
	if err := f.Add(context.Background(), evs[0]); !errors.Is(err, ErrUnavailable) || !errors.Is(err, fail) || f.Len() != 0 {
		t.Fatalf("Add with Prepare failing: %v (len %d)", err, f.Len())
	}
	out := encodeParquet(t, f, evs)
	if calls != 2 {
		t.Errorf("Prepare called %d times, want 2 (one failure, one version)", calls)
	}
	_, _, rdr := readParquet(t, out.Body)
	root := rdr.MetaData().Schema.Root()
	if id := root.Field(root.FieldIndexByName("created_at")).FieldID(); id != int32(len("created_at")) {
		t.Errorf("created_at field id %d", id)
	}
}
