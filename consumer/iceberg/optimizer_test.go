package iceberg

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// fakeOptimizers is Glue's optimizers of tables that exist once created is true.
type fakeOptimizers struct {
	mu       sync.Mutex
	tables   map[string]bool                    // existing tables
	roles    map[string]string                  // "table/type": role
	enabled  map[string]bool                    // "table/type": enabled
	calls    []string                           // "Create table/type"...
	catalogs map[string]bool                    // catalog ids seen
	fail     map[types.TableOptimizerType]error // CreateTableOptimizer fails once with this
}

func (f *fakeOptimizers) key(db, table *string, typ types.TableOptimizerType) string {
	return aws.ToString(db) + "." + aws.ToString(table) + "/" + string(typ)
}

func (f *fakeOptimizers) CreateTableOptimizer(_ context.Context, in *glue.CreateTableOptimizerInput, _ ...func(*glue.Options)) (*glue.CreateTableOptimizerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(in.DatabaseName, in.TableName, in.Type)
	f.calls = append(f.calls, "Create "+k)
	f.catalogs[aws.ToString(in.CatalogId)] = true
	if err := f.fail[in.Type]; err != nil {
		delete(f.fail, in.Type)
		return nil, err
	}
	if !f.tables[aws.ToString(in.DatabaseName)+"."+aws.ToString(in.TableName)] {
		return nil, &types.EntityNotFoundException{Message: aws.String("no table")}
	}
	if _, ok := f.roles[k]; ok {
		return nil, &types.AlreadyExistsException{Message: aws.String("exists")}
	}
	f.roles[k], f.enabled[k] = aws.ToString(in.TableOptimizerConfiguration.RoleArn), aws.ToBool(in.TableOptimizerConfiguration.Enabled)
	return &glue.CreateTableOptimizerOutput{}, nil
}

func (f *fakeOptimizers) GetTableOptimizer(_ context.Context, in *glue.GetTableOptimizerInput, _ ...func(*glue.Options)) (*glue.GetTableOptimizerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(in.DatabaseName, in.TableName, in.Type)
	f.calls = append(f.calls, "Get "+k)
	return &glue.GetTableOptimizerOutput{TableOptimizer: &types.TableOptimizer{
		Configuration: &types.TableOptimizerConfiguration{RoleArn: aws.String(f.roles[k]), Enabled: aws.Bool(f.enabled[k])},
	}}, nil
}

func (f *fakeOptimizers) UpdateTableOptimizer(_ context.Context, in *glue.UpdateTableOptimizerInput, _ ...func(*glue.Options)) (*glue.UpdateTableOptimizerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.key(in.DatabaseName, in.TableName, in.Type)
	f.calls = append(f.calls, "Update "+k)
	f.roles[k], f.enabled[k] = aws.ToString(in.TableOptimizerConfiguration.RoleArn), aws.ToBool(in.TableOptimizerConfiguration.Enabled)
	return &glue.UpdateTableOptimizerOutput{}, nil
}

func newFakeOptimizers() *fakeOptimizers {
	return &fakeOptimizers{tables: map[string]bool{}, roles: map[string]string{}, enabled: map[string]bool{},
		catalogs: map[string]bool{}, fail: map[types.TableOptimizerType]error{}}
}

const optimizerRole = "arn:aws:iam::123456789012:role/optimizers"

// TestEnsureOptimizersWaitsForTheTables: the optimizers of a table that does not exist yet are
// asked for again until it does; then every type is on, as the role, in the role's account's
// catalog, with the table's name in lowercase.
func TestEnsureOptimizersWaitsForTheTables(t *testing.T) {
	f := newFakeOptimizers()
	f.fail[types.TableOptimizerTypeRetention] = errors.New("throttled")
	done := make(chan error, 1)
	go func() {
		done <- EnsureOptimizers(t.Context(), OptimizerConfig{API: f, Namespace: "ks", Tables: []string{"Orders_changes", "orders"},
			RoleARN: optimizerRole, Retry: 10 * time.Millisecond})
	}()
	time.Sleep(50 * time.Millisecond)
	f.mu.Lock()
	if len(f.roles) != 0 {
		t.Fatalf("optimizers of tables that do not exist: %v", f.roles)
	}
	f.tables["ks.orders_changes"], f.tables["ks.orders"] = true, true
	f.mu.Unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("EnsureOptimizers did not return once the tables existed")
	}
	for _, table := range []string{"orders_changes", "orders"} {
		for _, typ := range OptimizerTypes {
			k := "ks." + table + "/" + string(typ)
			if f.roles[k] != optimizerRole || !f.enabled[k] {
				t.Errorf("%s: role %q enabled %v, want %s enabled", k, f.roles[k], f.enabled[k], optimizerRole)
			}
		}
	}
	if len(f.catalogs) != 1 || !f.catalogs["123456789012"] {
		t.Errorf("catalog ids %v, want the role's account only", f.catalogs)
	}
}

// TestEnsureOptimizersIdempotent: a second worker finds every optimizer there (one Create and
// one Get each, no Update); an optimizer of another role is moved to this one, keeping its
// Enabled.
func TestEnsureOptimizersIdempotent(t *testing.T) {
	f := newFakeOptimizers()
	f.tables["ks.t_changes"] = true
	cfg := OptimizerConfig{API: f, Namespace: "ks", Tables: []string{"t_changes"}, RoleARN: optimizerRole, Retry: time.Millisecond}
	if err := EnsureOptimizers(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	f.calls = nil
	old := "ks.t_changes/" + string(types.TableOptimizerTypeCompaction)
	f.roles[old], f.enabled[old] = "arn:aws:iam::123456789012:role/old", false
	if err := EnsureOptimizers(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	updates := 0
	for _, c := range f.calls {
		if c[:6] == "Update" {
			updates++
		}
	}
	if len(f.calls) != 2*len(OptimizerTypes)+1 || updates != 1 {
		t.Errorf("calls %v: want a Create and a Get per type and one Update", f.calls)
	}
	if f.roles[old] != optimizerRole || f.enabled[old] {
		t.Errorf("moved optimizer: role %q enabled %v, want %s and still disabled", f.roles[old], f.enabled[old], optimizerRole)
	}
}

// TestEnsureOptimizersStopsWithContext: a table that never appears ends with the context.
func TestEnsureOptimizersStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	err := EnsureOptimizers(ctx, OptimizerConfig{API: newFakeOptimizers(), Namespace: "ks", Tables: []string{"t"}, RoleARN: optimizerRole, Retry: time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's", err)
	}
}
