package recordtest

import (
	"context"
	"errors"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces/types"
)

// FakeKeyspaces answers GetTable for the all-types table (plus the columns AddColumn
// added, as an ALTER TABLE would) and GetType for its UDT `address`. Err, when set, fails
// GetTable (e.g. an AccessDeniedException).
type FakeKeyspaces struct {
	mu        sync.Mutex
	extra     []struct{ Name, Type string }
	err       error
	getTables int
}

// AddColumn adds a column to the table.
func (f *FakeKeyspaces) AddColumn(name, cqlType string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.extra = append(f.extra, struct{ Name, Type string }{name, cqlType})
}

// Fail makes GetTable fail with err (nil: answer again).
func (f *FakeKeyspaces) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// GetTableCalls is how many times GetTable was called.
func (f *FakeKeyspaces) GetTableCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.getTables
}

// GetTable implements the Keyspaces API call.
func (f *FakeKeyspaces) GetTable(_ context.Context, in *keyspaces.GetTableInput, _ ...func(*keyspaces.Options)) (*keyspaces.GetTableOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getTables++
	if f.err != nil {
		return nil, f.err
	}
	sd := &types.SchemaDefinition{
		PartitionKeys:  []types.PartitionKey{{Name: aws.String("id")}},
		ClusteringKeys: []types.ClusteringKey{{Name: aws.String("ck"), OrderBy: types.SortOrderAsc}},
		StaticColumns:  []types.StaticColumn{{Name: aws.String("c_static")}},
	}
	for _, c := range append(append([]struct{ Name, Type string }{}, AllTypesColumns...), f.extra...) {
		sd.AllColumns = append(sd.AllColumns, types.ColumnDefinition{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	return &keyspaces.GetTableOutput{KeyspaceName: in.KeyspaceName, TableName: in.TableName, SchemaDefinition: sd}, nil
}

// GetType implements the Keyspaces API call.
func (f *FakeKeyspaces) GetType(_ context.Context, in *keyspaces.GetTypeInput, _ ...func(*keyspaces.Options)) (*keyspaces.GetTypeOutput, error) {
	if aws.ToString(in.TypeName) != "address" {
		return nil, errors.New("ResourceNotFoundException: no such type")
	}
	out := &keyspaces.GetTypeOutput{TypeName: in.TypeName}
	for _, c := range AddressFields {
		out.FieldDefinitions = append(out.FieldDefinitions, types.FieldDefinition{Name: aws.String(c.Name), Type: aws.String(c.Type)})
	}
	return out, nil
}
