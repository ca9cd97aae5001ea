package encode

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// TableDef is a table's definition: its key columns and all its columns, UDTs resolved.
type TableDef struct {
	// Keys are the partition key columns then the clustering key columns.
	Keys []record.FieldType
	// Columns are all the columns (keys included) in the table's order.
	Columns []record.FieldType
	// KeysKnown says Keys are the whole primary key, as the TableSource answered it. A
	// definition derived from records alone knows only the key columns its records showed:
	// a partition delete, or a write of static columns only, shows no clustering column.
	KeysKnown bool
}

// TableSource answers a table's definition.
type TableSource interface {
	Table(ctx context.Context, keyspace, table string) (*TableDef, error)
}

// KeyspacesAPI is the part of the Amazon Keyspaces client (aws-sdk-go-v2/service/keyspaces)
// the schema source calls.
type KeyspacesAPI interface {
	GetTable(ctx context.Context, in *keyspaces.GetTableInput, opts ...func(*keyspaces.Options)) (*keyspaces.GetTableOutput, error)
	GetType(ctx context.Context, in *keyspaces.GetTypeInput, opts ...func(*keyspaces.Options)) (*keyspaces.GetTypeOutput, error)
}

// KeyspacesSource reads table definitions with GetTable, and the UDTs they use with GetType.
type KeyspacesSource struct {
	API KeyspacesAPI
}

// Table calls GetTable and resolves every UDT (nested ones too) with GetType.
func (k KeyspacesSource) Table(ctx context.Context, keyspace, table string) (*TableDef, error) {
	out, err := k.API.GetTable(ctx, &keyspaces.GetTableInput{KeyspaceName: aws.String(keyspace), TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("keyspaces GetTable %s.%s: %w", keyspace, table, err)
	}
	if out.SchemaDefinition == nil {
		return nil, fmt.Errorf("keyspaces GetTable %s.%s: no schema definition", keyspace, table)
	}
	sd := out.SchemaDefinition
	udts := map[string][]record.FieldType{}
	def := &TableDef{}
	types := map[string]record.Type{}
	for _, c := range sd.AllColumns {
		t, err := record.ParseType(aws.ToString(c.Type))
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", aws.ToString(c.Name), err)
		}
		if t, err = k.resolve(ctx, keyspace, t, udts, 0); err != nil {
			return nil, fmt.Errorf("column %s: %w", aws.ToString(c.Name), err)
		}
		types[aws.ToString(c.Name)] = t
		def.Columns = append(def.Columns, record.FieldType{Name: aws.ToString(c.Name), Type: t})
	}
	for _, pk := range sd.PartitionKeys {
		def.Keys = append(def.Keys, record.FieldType{Name: aws.ToString(pk.Name), Type: types[aws.ToString(pk.Name)]})
	}
	for _, ck := range sd.ClusteringKeys {
		def.Keys = append(def.Keys, record.FieldType{Name: aws.ToString(ck.Name), Type: types[aws.ToString(ck.Name)]})
	}
	return def, nil
}

// maxUDTDepth bounds UDT nesting (Keyspaces allows 8 levels).
const maxUDTDepth = 16

func (k KeyspacesSource) resolve(ctx context.Context, keyspace string, t record.Type, udts map[string][]record.FieldType, depth int) (record.Type, error) {
	if depth > maxUDTDepth {
		return t, fmt.Errorf("UDTs nested deeper than %d", maxUDTDepth)
	}
	for i, e := range t.Elems {
		r, err := k.resolve(ctx, keyspace, e, udts, depth+1)
		if err != nil {
			return t, err
		}
		t.Elems[i] = r
	}
	if t.Name != "udt" || t.Fields != nil {
		return t, nil
	}
	fields, ok := udts[t.UDT]
	if !ok {
		out, err := k.API.GetType(ctx, &keyspaces.GetTypeInput{KeyspaceName: aws.String(keyspace), TypeName: aws.String(t.UDT)})
		if err != nil {
			return t, fmt.Errorf("keyspaces GetType %s.%s: %w", keyspace, t.UDT, err)
		}
		for _, f := range out.FieldDefinitions {
			ft, err := record.ParseType(aws.ToString(f.Type))
			if err != nil {
				return t, fmt.Errorf("type %s field %s: %w", t.UDT, aws.ToString(f.Name), err)
			}
			if ft, err = k.resolve(ctx, keyspace, ft, udts, depth+1); err != nil {
				return t, err
			}
			fields = append(fields, record.FieldType{Name: aws.ToString(f.Name), Type: ft})
		}
		udts[t.UDT] = fields
	}
	t.Fields = append([]record.FieldType(nil), fields...)
	return t, nil
}
