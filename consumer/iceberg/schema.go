package iceberg

import (
	"fmt"
	"slices"
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
// Columns and fields whose type no record has told yet (encode.ParquetSchema.Unknown: a
// schema derived from records, the table's definition unavailable) are left out: they hold no
// value, and a placeholder type in the table would make every later file that carries the
// real type unreadable (Iceberg cannot change string to int). A later version that knows the
// type adds them (Prepare).
//
// The ids are fresh (1, 2, ... in the schema's order); a catalog assigns its own when it
// creates the table, and the files take theirs from the table (FieldIDs).
func Schema(ps *encode.ParquetSchema) (*ice.Schema, error) {
	c := &converter{ps: ps}
	fields, err := c.fields(ps.Root(), nil)
	if err != nil {
		return nil, err
	}
	return ice.NewSchema(0, fields...), nil
}

// converter converts Parquet nodes to Iceberg fields, numbering them.
type converter struct {
	ps   *encode.ParquetSchema
	next int
}

func (c *converter) nextID() int { c.next++; return c.next }

// fields converts the known fields of group g at path; top-level ids first, as Iceberg
// assigns them (level by level), then the nested ones.
func (c *converter) fields(g *schema.GroupNode, path []string) ([]ice.NestedField, error) {
	var kept []schema.Node
	for i := 0; i < g.NumFields(); i++ {
		if !c.ps.Unknown(append(slices.Clip(path), g.Field(i).Name())) {
			kept = append(kept, g.Field(i))
		}
	}
	ids := make([]int, len(kept))
	for i := range ids {
		ids[i] = c.nextID()
	}
	fields := make([]ice.NestedField, len(kept))
	for i, n := range kept {
		t, err := c.icebergType(n, append(slices.Clip(path), n.Name()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name(), err)
		}
		fields[i] = ice.NestedField{ID: ids[i], Name: n.Name(), Type: t, Required: n.RepetitionType() == parquet.Repetitions.Required}
	}
	return fields, nil
}

// icebergType converts node n at path. A list's or map's parts are never unknown when the
// container is not (an unknown element makes the container unknown).
func (c *converter) icebergType(n schema.Node, path []string) (ice.Type, error) {
	if p, ok := n.(*schema.PrimitiveNode); ok {
		return primitive(p)
	}
	g := n.(*schema.GroupNode)
	switch g.LogicalType().(type) {
	case schema.ListLogicalType:
		elem := g.Field(0).(*schema.GroupNode).Field(0)
		id := c.nextID()
		t, err := c.icebergType(elem, append(slices.Clip(path), "element"))
		if err != nil {
			return nil, fmt.Errorf("element: %w", err)
		}
		return &ice.ListType{ElementID: id, Element: t, ElementRequired: elem.RepetitionType() == parquet.Repetitions.Required}, nil
	case schema.MapLogicalType:
		kv := g.Field(0).(*schema.GroupNode)
		kid, vid := c.nextID(), c.nextID()
		k, err := c.icebergType(kv.Field(0), append(slices.Clip(path), "key"))
		if err != nil {
			return nil, fmt.Errorf("key: %w", err)
		}
		v, err := c.icebergType(kv.Field(1), append(slices.Clip(path), "value"))
		if err != nil {
			return nil, fmt.Errorf("value: %w", err)
		}
		// The values are required in the files, optional in the table (a reader may read a
		// required column as optional): iceberg-go v0.7.0's scan projects a map's values as
		// nullable whatever the table says, and fails on tables whose map values are required.
		return &ice.MapType{KeyID: kid, KeyType: k, ValueID: vid, ValueType: v}, nil
	}
	fields, err := c.fields(g, path)
	if err != nil {
		return nil, err
	}
	return &ice.StructType{FieldList: fields}, nil
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
			if ps.Unknown(path) {
				return // a placeholder: never added (Schema)
			}
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

// conflicts lists, sorted, the fields of ps (those whose type is known, as schemaOf makes
// them the table's: Schema, MirrorSchema) that the table has with another primitive type
// than the files would carry; Iceberg reads a file's int as the table's long and a float as
// a double, nothing else. A file with a conflict would make the
// table unreadable (a scan fails on it), so none is written.
func conflicts(sc *ice.Schema, ps *encode.ParquetSchema, schemaOf func(*encode.ParquetSchema) (*ice.Schema, error)) ([]string, error) {
	fileSc, err := schemaOf(ps)
	if err != nil {
		return nil, err
	}
	byName, err := ice.IndexByName(fileSc)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, id := range byName {
		f, _ := fileSc.FindFieldByID(id)
		tf, ok := sc.FindFieldByName(name)
		if !ok {
			continue
		}
		fp, fPrim := f.Type.(ice.PrimitiveType)
		tp, tPrim := tf.Type.(ice.PrimitiveType)
		switch {
		case fPrim != tPrim:
		case !fPrim, fp.Equals(tp), promotes(fp, tp):
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s in the records, %s in the table)", name, f.Type, tf.Type))
	}
	slices.Sort(out)
	return out, nil
}

// promotes reports whether Iceberg reads a file's from as the table's to.
func promotes(from, to ice.PrimitiveType) bool {
	return from.Equals(ice.PrimitiveTypes.Int32) && to.Equals(ice.PrimitiveTypes.Int64) ||
		from.Equals(ice.PrimitiveTypes.Float32) && to.Equals(ice.PrimitiveTypes.Float64)
}
