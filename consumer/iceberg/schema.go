package iceberg

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/schema"
	ice "github.com/apache/iceberg-go"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
)

// Schema is the Iceberg schema of the change log: the Parquet format's columns (an
// encode.ParquetSchema built with microsecond timestamps), typed as Iceberg types:
//
//	Parquet                              Iceberg
//	BYTE_ARRAY STRING                    string
//	BYTE_ARRAY                           binary
//	INT32, INT32 INTEGER(8|16)           int (Iceberg has no tinyint or smallint)
//	INT32 DATE                           date
//	INT64                                long
//	INT64 TIMESTAMP(MICROS, UTC)         timestamptz
//	FLOAT, DOUBLE, BOOLEAN               float, double, boolean
//	LIST, MAP, group                     list, map, struct
//
// The ids are fresh (1, 2, ... in the schema's order); a catalog assigns its own when it
// creates the table, and the files take theirs from the table (FieldIDs).
func Schema(ps *encode.ParquetSchema) (*ice.Schema, error) {
	root := ps.Root()
	next := 0
	nextID := func() int { next++; return next }
	// Top-level ids first, as Iceberg assigns them (level by level), then the nested ones.
	ids := make([]int, root.NumFields())
	for i := range ids {
		ids[i] = nextID()
	}
	fields := make([]ice.NestedField, root.NumFields())
	for i := range fields {
		f, err := field(root.Field(i), ids[i], nextID)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", root.Field(i).Name(), err)
		}
		fields[i] = f
	}
	return ice.NewSchema(0, fields...), nil
}

// field converts one Parquet field (not a repeated list or map group) with its id.
func field(n schema.Node, id int, nextID func() int) (ice.NestedField, error) {
	t, err := icebergType(n, nextID)
	if err != nil {
		return ice.NestedField{}, err
	}
	return ice.NestedField{ID: id, Name: n.Name(), Type: t, Required: n.RepetitionType() == parquet.Repetitions.Required}, nil
}

func icebergType(n schema.Node, nextID func() int) (ice.Type, error) {
	if p, ok := n.(*schema.PrimitiveNode); ok {
		return primitive(p)
	}
	g := n.(*schema.GroupNode)
	switch g.LogicalType().(type) {
	case schema.ListLogicalType:
		elem := g.Field(0).(*schema.GroupNode).Field(0)
		id := nextID()
		t, err := icebergType(elem, nextID)
		if err != nil {
			return nil, fmt.Errorf("element: %w", err)
		}
		return &ice.ListType{ElementID: id, Element: t, ElementRequired: elem.RepetitionType() == parquet.Repetitions.Required}, nil
	case schema.MapLogicalType:
		kv := g.Field(0).(*schema.GroupNode)
		kid, vid := nextID(), nextID()
		k, err := icebergType(kv.Field(0), nextID)
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		v, err := icebergType(kv.Field(1), nextID)
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		// The values are required in the files, optional in the table (a reader may read a
		// required column as optional): iceberg-go v0.7.0's scan projects a map's values as
		// nullable whatever the table says, and fails on tables whose map values are required.
		return &ice.MapType{KeyID: kid, KeyType: k, ValueID: vid, ValueType: v}, nil
	}
	ids := make([]int, g.NumFields())
	for i := range ids {
		ids[i] = nextID()
	}
	st := &ice.StructType{FieldList: make([]ice.NestedField, g.NumFields())}
	for i := range ids {
		f, err := field(g.Field(i), ids[i], nextID)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", g.Field(i).Name(), err)
		}
		st.FieldList[i] = f
	}
	return st, nil
}

func primitive(p *schema.PrimitiveNode) (ice.Type, error) {
	logical := p.LogicalType()
	switch p.PhysicalType() {
	case parquet.Types.ByteArray:
		if _, ok := logical.(schema.StringLogicalType); ok {
			return ice.PrimitiveTypes.String, nil
		}
		return ice.PrimitiveTypes.Binary, nil
	case parquet.Types.Int32:
		if _, ok := logical.(schema.DateLogicalType); ok {
			return ice.PrimitiveTypes.Date, nil
		}
		return ice.PrimitiveTypes.Int32, nil
	case parquet.Types.Int64:
		if ts, ok := logical.(schema.TimestampLogicalType); ok {
			if ts.TimeUnit() != schema.TimeUnitMicros || !ts.IsAdjustedToUTC() {
				return nil, fmt.Errorf("%s: Iceberg's timestamptz is in microseconds, UTC", ts)
			}
			return ice.PrimitiveTypes.TimestampTz, nil
		}
		return ice.PrimitiveTypes.Int64, nil
	case parquet.Types.Float:
		return ice.PrimitiveTypes.Float32, nil
	case parquet.Types.Double:
		return ice.PrimitiveTypes.Float64, nil
	case parquet.Types.Boolean:
		return ice.PrimitiveTypes.Bool, nil
	}
	return nil, fmt.Errorf("parquet type %s has no Iceberg mapping", p.PhysicalType())
}

// FieldIDs returns encode.ParquetOptions.FieldID for the files of a table with schema sc:
// each column's id in the table, by its path of names; -1 for a path the table lacks.
func FieldIDs(sc *ice.Schema) (func(path []string) int32, error) {
	byName, err := ice.IndexByName(sc)
	if err != nil {
		return nil, err
	}
	return func(path []string) int32 {
		if id, ok := byName[strings.Join(path, ".")]; ok {
			return int32(id)
		}
		return -1
	}, nil
}

// missing lists the paths of ps's fields that sc lacks (the schema must evolve before a
// file of ps is committed).
func missing(sc *ice.Schema, ps *encode.ParquetSchema) []string {
	var out []string
	// walk visits n; wrapper says n is the repeated group of a LIST or MAP (not a field).
	var walk func(n schema.Node, path []string, wrapper bool)
	walk = func(n schema.Node, path []string, wrapper bool) {
		if !wrapper {
			path = append(path, n.Name())
			if _, ok := sc.FindFieldByName(strings.Join(path, ".")); !ok {
				out = append(out, strings.Join(path, "."))
				return
			}
		}
		g, ok := n.(*schema.GroupNode)
		if !ok {
			return
		}
		container := false
		switch g.LogicalType().(type) {
		case schema.ListLogicalType, schema.MapLogicalType:
			container = true
		}
		for i := 0; i < g.NumFields(); i++ {
			walk(g.Field(i), path, container)
		}
	}
	root := ps.Root()
	for i := 0; i < root.NumFields(); i++ {
		walk(root.Field(i), nil, false)
	}
	return out
}
