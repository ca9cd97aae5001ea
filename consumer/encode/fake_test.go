package encode

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces/types"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
)

// fakeKeyspaces answers GetTable for the all-types table (plus extra columns added by
// a test, as an ALTER TABLE would) and GetType for its UDT; err, when set, fails GetTable.
type fakeKeyspaces struct {
	mu       sync.Mutex
	extra    []struct{ Name, Type string }
	err      error
	getTable int
}

func (f *fakeKeyspaces) GetTable(_ context.Context, in *keyspaces.GetTableInput, _ ...func(*keyspaces.Options)) (*keyspaces.GetTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getTable++
	if f.err != nil {
		return nil, f.err
	}
	sd := &types.SchemaDefinition{
		PartitionKeys:  []types.PartitionKey{{Name: aws.String("id")}},
		ClusteringKeys: []types.ClusteringKey{{Name: aws.String("ck"), OrderBy: types.SortOrderAsc}},
		StaticColumns:  []types.StaticColumn{{Name: aws.String("c_static")}},
	}
	for _, c := range append(append([]struct{ Name, Type string }{}, recordtest.AllTypesColumns...), f.extra...) {
		sd.AllColumns = append(sd.AllColumns, types.ColumnDefinition{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	return &keyspaces.GetTableOutput{KeyspaceName: in.KeyspaceName, TableName: in.TableName, SchemaDefinition: sd}, nil
}

func (f *fakeKeyspaces) GetType(_ context.Context, in *keyspaces.GetTypeInput, _ ...func(*keyspaces.Options)) (*keyspaces.GetTypeOutput, error) {
	if aws.ToString(in.TypeName) != "address" {
		return nil, errors.New("ResourceNotFoundException: no such type")
	}
	out := &keyspaces.GetTypeOutput{TypeName: in.TypeName}
	for _, c := range recordtest.AddressFields {
		out.FieldDefinitions = append(out.FieldDefinitions, types.FieldDefinition{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	return out, nil
}
