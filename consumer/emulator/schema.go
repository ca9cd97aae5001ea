package emulator

import (
	"fmt"
	"strings"
)

// Table is the schema of a table the emulator knows, as GetTable describes it. Types are
// CQL type strings ("text", "list<text>", "map<text, int>", "frozen<tuple<int, text>>",
// "frozen<license>").
type Table struct {
	Keyspace       string            `json:"keyspace"`
	Name           string            `json:"table"`
	Columns        []ColumnDef       `json:"columns"`        // every column, keys first
	PartitionKeys  []string          `json:"partitionKeys"`  // in key order
	ClusteringKeys []ClusteringKey   `json:"clusteringKeys"` // in key order
	StaticColumns  []string          `json:"staticColumns"`
	Types          []UserDefinedType `json:"types,omitempty"` // UDTs the columns use
}

// ColumnDef is a column name and its CQL type.
type ColumnDef struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// ClusteringKey is a clustering column and its order (ASC or DESC).
type ClusteringKey struct {
	Name    string `json:"name"`
	OrderBy string `json:"orderBy"`
}

// UserDefinedType is a UDT of the table's keyspace, as GetType describes it.
type UserDefinedType struct {
	Name   string      `json:"name"`
	Fields []ColumnDef `json:"fields"`
}

func (t *Table) column(name string) (ColumnDef, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return ColumnDef{}, false
}

func (t *Table) isKeyOrStatic(name string) bool {
	for _, k := range t.PartitionKeys {
		if k == name {
			return true
		}
	}
	for _, k := range t.ClusteringKeys {
		if k.Name == name {
			return true
		}
	}
	for _, k := range t.StaticColumns {
		if k == name {
			return true
		}
	}
	return false
}

// validate checks that every key and static column is a column and that every type parses.
func (t *Table) validate() error {
	if t.Keyspace == "" || t.Name == "" || len(t.PartitionKeys) == 0 {
		return fmt.Errorf("table schema needs a keyspace, a table name and a partition key")
	}
	names := append([]string{}, t.PartitionKeys...)
	for _, k := range t.ClusteringKeys {
		names = append(names, k.Name)
	}
	names = append(names, t.StaticColumns...)
	for _, n := range names {
		if _, ok := t.column(n); !ok {
			return fmt.Errorf("table %s.%s: key or static column %q is not among the columns", t.Keyspace, t.Name, n)
		}
	}
	for _, c := range t.Columns {
		if _, err := parseCQLType(c.Type); err != nil {
			return fmt.Errorf("table %s.%s: column %s: %w", t.Keyspace, t.Name, c.Name, err)
		}
	}
	return nil
}

// MediaContent is the sample table media.media_content: a composite partition key, two
// clustering columns (one DESC), a static column and a regular column of every CQL type but
// counter (CQL does not mix counters with other regular columns), including collections with
// text and non-text keys, a tuple, a UDT nesting a tuple, and varint/decimal beyond 64 bits.
//
//	CREATE TYPE media.license (holder text, territory ascii, expires timestamp,
//	    window frozen<tuple<date, date>>);
//	CREATE TABLE media.media_content (
//	    tenant text, content_id uuid, locale text, revision int,
//	    owner text STATIC,
//	    title text, slug ascii, summary varchar, views bigint, likes int,
//	    rating_count smallint, age_rating tinyint, score float, popularity double,
//	    price decimal, total_bytes varint, thumbnail blob, published boolean,
//	    release_date date, published_at timestamp, air_time time, runtime duration,
//	    origin_ip inet, upload_id timeuuid, external_id uuid,
//	    tags set<text>, chapters list<text>, ratings map<text, int>,
//	    episode_titles map<int, text>, dimensions frozen<tuple<int, int, text>>,
//	    license frozen<license>,
//	    PRIMARY KEY ((tenant, content_id), locale, revision)
//	) WITH CLUSTERING ORDER BY (locale ASC, revision DESC);
func MediaContent() *Table {
	return &Table{
		Keyspace: "media",
		Name:     "media_content",
		Columns: []ColumnDef{
			{"tenant", "text"}, {"content_id", "uuid"}, {"locale", "text"}, {"revision", "int"},
			{"owner", "text"},
			{"title", "text"}, {"slug", "ascii"}, {"summary", "varchar"}, {"views", "bigint"},
			{"likes", "int"}, {"rating_count", "smallint"}, {"age_rating", "tinyint"},
			{"score", "float"}, {"popularity", "double"}, {"price", "decimal"},
			{"total_bytes", "varint"}, {"thumbnail", "blob"}, {"published", "boolean"},
			{"release_date", "date"}, {"published_at", "timestamp"}, {"air_time", "time"},
			{"runtime", "duration"}, {"origin_ip", "inet"}, {"upload_id", "timeuuid"},
			{"external_id", "uuid"}, {"tags", "set<text>"}, {"chapters", "list<text>"},
			{"ratings", "map<text, int>"}, {"episode_titles", "map<int, text>"},
			{"dimensions", "frozen<tuple<int, int, text>>"}, {"license", "frozen<license>"},
		},
		PartitionKeys:  []string{"tenant", "content_id"},
		ClusteringKeys: []ClusteringKey{{"locale", "ASC"}, {"revision", "DESC"}},
		StaticColumns:  []string{"owner"},
		Types: []UserDefinedType{{Name: "license", Fields: []ColumnDef{
			{"holder", "text"}, {"territory", "ascii"}, {"expires", "timestamp"},
			{"window", "frozen<tuple<date, date>>"},
		}}},
	}
}

// cqlType is a parsed CQL type: a name ("text", "list", "map", "tuple", or a UDT name)
// and its arguments.
type cqlType struct {
	name string
	args []*cqlType
}

var scalarTypes = map[string]bool{
	"ascii": true, "bigint": true, "blob": true, "boolean": true, "counter": true, "date": true,
	"decimal": true, "double": true, "duration": true, "float": true, "inet": true, "int": true,
	"smallint": true, "text": true, "time": true, "timestamp": true, "timeuuid": true,
	"tinyint": true, "uuid": true, "varchar": true, "varint": true,
}

// parseCQLType parses a CQL type string; frozen<> is transparent. Any other bare name is
// taken as a UDT.
func parseCQLType(s string) (*cqlType, error) {
	t, rest, err := parseTypeAt(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("CQL type %q: %w", s, err)
	}
	if strings.TrimSpace(rest) != "" {
		return nil, fmt.Errorf("CQL type %q: trailing %q", s, rest)
	}
	return t, nil
}

func parseTypeAt(s string) (*cqlType, string, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "<>, ")
	if i < 0 {
		i = len(s)
	}
	name := strings.ToLower(s[:i])
	if name == "" {
		return nil, s, fmt.Errorf("missing type name")
	}
	rest := strings.TrimSpace(s[i:])
	if !strings.HasPrefix(rest, "<") {
		switch name {
		case "list", "set", "map", "tuple", "frozen":
			return nil, rest, fmt.Errorf("%s needs type arguments", name)
		}
		return &cqlType{name: name}, rest, nil
	}
	rest = rest[1:]
	var args []*cqlType
	for {
		a, r, err := parseTypeAt(rest)
		if err != nil {
			return nil, r, err
		}
		args = append(args, a)
		r = strings.TrimSpace(r)
		if strings.HasPrefix(r, ",") {
			rest = r[1:]
			continue
		}
		if !strings.HasPrefix(r, ">") {
			return nil, r, fmt.Errorf("want '>' after the arguments of %s", name)
		}
		rest = r[1:]
		break
	}
	want := map[string]int{"list": 1, "set": 1, "map": 2, "frozen": 1}
	if n, ok := want[name]; ok && len(args) != n {
		return nil, rest, fmt.Errorf("%s takes %d type arguments, got %d", name, n, len(args))
	}
	if name == "frozen" {
		return args[0], rest, nil
	}
	if name != "tuple" && want[name] == 0 {
		return nil, rest, fmt.Errorf("%s takes no type arguments", name)
	}
	return &cqlType{name: name, args: args}, rest, nil
}
