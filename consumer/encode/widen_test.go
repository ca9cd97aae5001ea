package encode

import (
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

func TestMergeAndCovers(t *testing.T) {
	listUnknown := record.Type{Name: streams.TypeList, Elems: []record.Type{{}}}
	listInt := record.Type{Name: streams.TypeList, Elems: []record.Type{{Name: streams.TypeInt}}}
	m, err := mergeTypes(listUnknown, listInt)
	if err != nil || m.String() != "list<int>" {
		t.Fatalf("mergeTypes = %s, %v", m, err)
	}
	if _, err := mergeTypes(listInt, record.Type{Name: streams.TypeList, Elems: []record.Type{{Name: streams.TypeText}}}); err == nil {
		t.Error("list<int> and list<text> merged")
	}
	if !typeCovers(record.Type{Name: streams.TypeText}, record.Type{Name: streams.TypeVarchar}) {
		t.Error("text does not cover varchar")
	}
	udt := record.Type{Name: streams.TypeUDT, UDT: "a", Fields: []record.FieldType{{Name: "x", Type: record.Type{Name: streams.TypeInt}}}}
	wider := record.Type{Name: streams.TypeUDT, Fields: []record.FieldType{{Name: "x", Type: record.Type{Name: streams.TypeInt}}, {Name: "y", Type: record.Type{Name: streams.TypeText}}}}
	if typeCovers(udt, wider) {
		t.Error("udt without y covers a value with y")
	}
	if m, err := mergeTypes(udt, wider); err != nil || !typeCovers(m, wider) || m.UDT != "a" {
		t.Errorf("mergeTypes(udt, wider) = %s, %v", m, err)
	}
}

func TestTypeOfAllTypes(t *testing.T) {
	created := time.Date(2024, 3, 1, 10, 30, 0, 123456789, time.UTC)
	rec := recordtest.AllTypes(3, recordtest.Seq(3), created)
	ev, err := record.FromStream(rec, record.Source{Keyspace: "ks", Table: "t", ShardID: "shard-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ev.NewImage.Columns {
		if c.Name == "c_map_int" {
			if got := typeOf(c.Value).String(); got != "map<int, list<text>>" {
				t.Errorf("typeOf(c_map_int) = %s", got)
			}
		}
	}
}
