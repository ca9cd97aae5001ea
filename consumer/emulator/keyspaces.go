package emulator

import (
	"encoding/json"
	"fmt"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The Keyspaces control-plane calls (KeyspacesService.GetTable and GetType), answered for
// the tables of the emulator's streams that have a schema, in the shape the aws-sdk-go-v2
// keyspaces client reads.

type nameDef struct {
	Name string `json:"name"`
}

type schemaDefinition struct {
	AllColumns     []ColumnDef     `json:"allColumns"`
	PartitionKeys  []nameDef       `json:"partitionKeys"`
	ClusteringKeys []ClusteringKey `json:"clusteringKeys"`
	StaticColumns  []nameDef       `json:"staticColumns"`
}

func (s *Server) getTable(body []byte) ([]byte, error) {
	var in struct {
		KeyspaceName string `json:"keyspaceName"`
		TableName    string `json:"tableName"`
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.KeyspaceName == "" || in.TableName == "" {
		return nil, &apiError{status: 400, typ: streams.TypeValidation, msg: "keyspaceName and tableName are required"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[in.KeyspaceName+"."+in.TableName]
	if !ok {
		return nil, notFound("table %s.%s not found", in.KeyspaceName, in.TableName)
	}
	def := schemaDefinition{AllColumns: t.Columns, PartitionKeys: []nameDef{}, ClusteringKeys: t.ClusteringKeys, StaticColumns: []nameDef{}}
	for _, k := range t.PartitionKeys {
		def.PartitionKeys = append(def.PartitionKeys, nameDef{k})
	}
	for _, k := range t.StaticColumns {
		def.StaticColumns = append(def.StaticColumns, nameDef{k})
	}
	if def.ClusteringKeys == nil {
		def.ClusteringKeys = []ClusteringKey{}
	}
	out := map[string]any{
		"keyspaceName":     t.Keyspace,
		"tableName":        t.Name,
		"resourceArn":      fmt.Sprintf("arn:aws:cassandra:%s:%s:/keyspace/%s/table/%s", s.cfg.Region, s.cfg.Account, t.Keyspace, t.Name),
		"status":           "ACTIVE",
		"schemaDefinition": def,
	}
	// The latest stream of the table: its ARN, view type and creation time.
	for _, st := range s.streams {
		if st.keyspace == t.Keyspace && st.table == t.Name {
			out["latestStreamArn"] = st.arn
			out["cdcSpecification"] = map[string]string{"status": "ENABLED", "viewType": st.viewType}
			out["creationTimestamp"] = json.Number(streams.AppendEpochSeconds(nil, st.created))
		}
	}
	return json.Marshal(out)
}

func (s *Server) getType(body []byte) ([]byte, error) {
	var in struct {
		KeyspaceName string `json:"keyspaceName"`
		TypeName     string `json:"typeName"`
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.KeyspaceName == "" || in.TypeName == "" {
		return nil, &apiError{status: 400, typ: streams.TypeValidation, msg: "keyspaceName and typeName are required"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tables {
		if t.Keyspace != in.KeyspaceName {
			continue
		}
		for _, u := range t.Types {
			if u.Name != in.TypeName {
				continue
			}
			return json.Marshal(map[string]any{
				"keyspaceName":          t.Keyspace,
				"typeName":              u.Name,
				"keyspaceArn":           fmt.Sprintf("arn:aws:cassandra:%s:%s:/keyspace/%s/", s.cfg.Region, s.cfg.Account, t.Keyspace),
				"fieldDefinitions":      u.Fields,
				"status":                "ACTIVE",
				"directReferringTables": []string{t.Name},
				"directParentTypes":     []string{},
				"maxNestingDepth":       1,
			})
		}
	}
	return nil, notFound("type %s.%s not found", in.KeyspaceName, in.TypeName)
}
