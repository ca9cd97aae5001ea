package constructs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
)

// MaxApplicationNameLength is the longest ApplicationName (the consumer's metrics dimension).
const MaxApplicationNameLength = 64

// stackResourceLimit is CloudFormation's limit of resources in one stack; tablesInOneStack
// keeps a margin below it for the shared resources and what a user adds.
const (
	stackResourceLimit = 500
	sharedResources    = 50 // 40 by default (VPC, endpoints, bucket, cluster...), plus topic, Glue database, margin
)

// deployment is the resolved props: the settings of each table (every default applied; the
// shared props are equal in each).
type deployment struct {
	tables []*settings
	multi  bool // Tables given: each table's resources in their own scope
}

// shared is the settings of the parts the tables share (network, bucket, image...).
func (d *deployment) shared() *settings { return d.tables[0] }

// anyTableSchema says whether a table writes a format whose schema comes from the table's
// definition (Avro, Parquet): only those ask the Keyspaces control plane.
func (d *deployment) anyTableSchema() bool {
	for _, s := range d.tables {
		if s.tableSchema() {
			return true
		}
	}
	return false
}

// tableSchema says whether the table's format takes its schema from the table's definition
// (Keyspaces GetTable and GetType): Avro, Parquet and Iceberg do, JSON Lines carries no schema.
func (s *settings) tableSchema() bool {
	return s.Format == "avro" || s.Format == "parquet" || s.Format == formatIceberg
}

// anyIceberg says whether a table writes format iceberg to the catalog.
func (d *deployment) anyIceberg(catalog string) bool {
	for _, s := range d.tables {
		if s.iceberg() && s.IcebergCatalog == catalog {
			return true
		}
	}
	return false
}

// resolve validates the props and applies the defaults, into copies: p is not changed.
// stackName is the name of the stack the construct goes into ("" when unknown).
func (p *KeyspacesCdcToS3Props) resolve(stackName string) (*deployment, error) {
	if p == nil {
		return nil, bad("Keyspace", "required: the keyspace of the table to read (props are nil)")
	}
	d := &deployment{multi: len(p.Tables) > 0}
	if d.multi && p.Table != "" {
		return nil, bad("Tables", "give Table (one table) or Tables (several), not both")
	}
	if !d.multi {
		s, err := resolveTable(*p, stackName, "")
		if err != nil {
			return nil, err
		}
		d.tables = []*settings{s}
		return d, nil
	}
	for i, t := range p.Tables {
		s, err := resolveTable(p.forTable(t), stackName, t.id(p.Keyspace))
		if err != nil {
			return nil, blame(t, i, err)
		}
		d.tables = append(d.tables, s)
	}
	return d, d.checkTables()
}

// id is the table's scope id: keyspace.table (construct ids keep their ., CloudFormation's
// logical ids add a hash of the path, so no two tables share one).
func (t TableProps) id(keyspace string) string {
	if t.Keyspace != "" {
		keyspace = t.Keyspace
	}
	return keyspace + "." + t.Table
}

// forTable is p with the fields t sets: the props of one table of Tables.
func (p *KeyspacesCdcToS3Props) forTable(t TableProps) KeyspacesCdcToS3Props {
	out := *p
	out.Tables = nil
	if t.ApplicationName == "" && p.ApplicationName != "" {
		keyspace := p.Keyspace
		if t.Keyspace != "" {
			keyspace = t.Keyspace
		}
		t.ApplicationName = applicationName(p.ApplicationName, keyspace, t.Table)
	}
	dst := reflect.ValueOf(&out).Elem()
	src := reflect.ValueOf(t)
	for i := range src.NumField() {
		if f := src.Field(i); !f.IsZero() {
			dst.FieldByName(src.Type().Field(i).Name).Set(f)
		}
	}
	return out
}

// blame names the field of Tables[i] in a table's error when that table set it (or it is the
// table's name); a shared prop keeps its own name.
func blame(t TableProps, i int, err error) error {
	v, ok := err.(*ValidationError)
	if !ok {
		return err
	}
	field, _, _ := strings.Cut(v.Prop, ".")
	f := reflect.ValueOf(t).FieldByName(field)
	if f.IsValid() && (!f.IsZero() || field == "Table" || field == "Keyspace") {
		return &ValidationError{Prop: fmt.Sprintf("Tables[%d].%s", i, v.Prop), Message: v.Message}
	}
	return err
}

// checkTables checks what the tables must not share, and that they fit in their stacks.
func (d *deployment) checkTables() error {
	ids, apps, glue := map[string]int{}, map[string]int{}, map[string]int{}
	resources := 0
	for i, s := range d.tables {
		if j, dup := ids[s.id]; dup {
			return bad(fmt.Sprintf("Tables[%d]", i), "%s is Tables[%d] too: each table once", s.id, j)
		}
		ids[s.id] = i
		if j, dup := apps[s.ApplicationName]; dup {
			return bad(fmt.Sprintf("Tables[%d].ApplicationName", i), "%q is the ApplicationName of Tables[%d] too: each table needs its own (its metrics dimension)", s.ApplicationName, j)
		}
		apps[s.ApplicationName] = i
		if s.GlueTable != nil {
			name := s.glueDatabaseName() + "." + s.glueTableName()
			if j, dup := glue[name]; dup {
				return bad(fmt.Sprintf("Tables[%d].GlueTable.TableName", i), "the Glue table %s is Tables[%d]'s too", name, j)
			}
			glue[name] = i
		}
		resources += s.resourceCount()
	}
	if !d.shared().NestedStacks && sharedResources+resources > stackResourceLimit {
		return bad("NestedStacks", "%d tables need about %d resources besides the %d shared ones, more than the %d of one CloudFormation stack: "+
			"set NestedStacks (each table in its own nested stack) or split the tables between deployments", len(d.tables), resources, sharedResources, stackResourceLimit)
	}
	return nil
}

// resourceCount is how many resources a table adds to its stack: lease table, task role and
// execution role with their policies, log group, task definition, service (8), and 6 alarms;
// autoscaling adds the scalable target, three policies and two alarms; a Glue table one.
func (s *settings) resourceCount() int {
	n := 8 + 6
	if s.tableSchema() {
		n++ // SchemaFallback
	}
	if s.Autoscaling != nil {
		n += 6
	}
	if s.GlueTable != nil {
		n++
	}
	if s.iceberg() && s.IcebergCatalog == catalogGlue {
		n += 2 // the optimizers' role and its policy
	}
	return n
}

var notAppName = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

// applicationName is "<base>-<keyspace>-<table>" as an ApplicationName: characters outside the
// allowed ones become '-', and a name longer than 64 keeps its first 55 characters and a hash
// of the whole, so distinct tables keep distinct names.
func applicationName(base, keyspace, table string) string {
	name := notAppName.ReplaceAllString(base+"-"+keyspace+"-"+table, "-")
	if len(name) <= MaxApplicationNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:MaxApplicationNameLength-9] + "-" + hex.EncodeToString(sum[:])[:8]
}

// stackNameOf is the name of the stack of scope; a name CloudFormation picks at deploy time
// (a nested stack's) is replaced by the stack's construct id.
func stackNameOf(scope constructs.Construct) string {
	stack := awscdk.Stack_Of(scope)
	if name := stack.StackName(); name != nil && !*awscdk.Token_IsUnresolved(name) {
		return *name
	}
	return *stack.Node().Id()
}

// glueDatabaseName is the table's Glue database: GlueTable.DatabaseName, else the stack's name
// as a Glue name.
func (s *settings) glueDatabaseName() string {
	if s.GlueTable.DatabaseName != "" {
		return s.GlueTable.DatabaseName
	}
	stack := s.stackName
	if stack == "" {
		stack = "stack"
	}
	return notGlue.ReplaceAllString(strings.ToLower(stack), "_")
}

// glueTableName is the table's Glue table: GlueTable.TableName, else <keyspace>_<table>.
func (s *settings) glueTableName() string {
	if s.GlueTable.TableName != "" {
		return s.GlueTable.TableName
	}
	return strings.ToLower(s.Keyspace + "_" + s.Table)
}
