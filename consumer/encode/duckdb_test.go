package encode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// These tests read the Parquet files with DuckDB (npm @duckdb/node-api, `make tools`), a
// reader nobody here wrote. A missing DuckDB fails them: they are never skipped.

func writeTemp(t *testing.T, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// duckImage is the new image of AllTypes(i) as DuckDB returns it in JSON: BIGINT as exact
// text, BLOB with \x escapes, TIMESTAMP WITH TIME ZONE and DATE as text, MAP as entries.
func duckImage(i string) string {
	return `{"id":null,"ck":null,"c_ascii":"ascii-` + i + `","c_bigint":"9223372036854775807",
	"c_blob":"\\x00\\x01\\x02\\xFF\\x0` + i + `","c_boolean":false,"c_counter":"-` + i + `","c_date":"2024-02-29",
	"c_decimal":"12345678901234567890.000000000000123","c_double":3.141592653589793,
	"c_duration":"1mo2d3h4m5s6ms7us8ns","c_float":1.5,"c_inet":"2001:db8::1","c_int":-2147483648,
	"c_smallint":32767,"c_text":"héllo \"quoted\" \n\t\u2028 ` + i + `","c_time":"13:14:15.123456789",
	"c_timestamp":"2024-03-01 00:00:00.123+00","c_timeuuid":"e8f2a4a0-d6b1-11ee-8c90-0242ac120002",
	"c_tinyint":-128,"c_uuid":"123e4567-e89b-12d3-a456-426614174000","c_varchar":"varchar",
	"c_varint":"-123456789012345678901234567890","c_list":["a","b"],"c_set":[1,2],
	"c_map":[{"key":"k1","value":1},{"key":"k2","value":2}],"c_map_int":[{"key":7,"value":["x"]}],
	"c_tuple":{"f0":` + i + `,"f1":null},"c_udt":{"street":"1 Main St","zip":12345,"tags":["home"]},
	"c_null":null,"c_static":"static"}`
}

// duckTypes are DuckDB's types of the columns: every CQL type at its exact width.
const duckTypes = `STRUCT(id VARCHAR, ck INTEGER, c_ascii VARCHAR, c_bigint BIGINT, c_blob BLOB, ` +
	`c_boolean BOOLEAN, c_counter BIGINT, c_date DATE, c_decimal VARCHAR, c_double DOUBLE, c_duration VARCHAR, ` +
	`c_float FLOAT, c_inet VARCHAR, c_int INTEGER, c_smallint SMALLINT, c_text VARCHAR, c_time VARCHAR, ` +
	`c_timestamp TIMESTAMP WITH TIME ZONE, c_timeuuid VARCHAR, c_tinyint TINYINT, c_uuid VARCHAR, c_varchar VARCHAR, ` +
	`c_varint VARCHAR, c_list VARCHAR[], c_set INTEGER[], c_map MAP(VARCHAR, INTEGER), c_map_int MAP(INTEGER, VARCHAR[]), ` +
	`c_tuple STRUCT(f0 INTEGER, f1 VARCHAR), c_udt STRUCT(street VARCHAR, zip INTEGER, tags VARCHAR[]), ` +
	`c_null VARCHAR, c_static VARCHAR)`

func TestParquetReadByDuckDB(t *testing.T) {
	for _, comp := range parquetCompressions {
		t.Run(comp, func(t *testing.T) {
			f := encodeParquet(t, newTestParquet(t, NewSchemas(KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, true, nil), comp, false), parquetEvents(t))
			p := writeTemp(t, "f.parquet", f.Body)
			rows := devservers.DuckDB(t, `SELECT (SELECT count(*) FROM read_parquet('`+p+`')) AS n,
				typeof(new_image) AS t_image, typeof(created_at) AS t_created, typeof(keys) AS t_keys, *
				FROM read_parquet('`+p+`') ORDER BY sequence_number`)
			if len(rows) != 4 || fmt.Sprint(rows[0]["n"]) != "4" {
				t.Fatalf("DuckDB read %d rows, count %v", len(rows), rows[0]["n"])
			}
			for col, want := range map[string]string{"t_image": duckTypes, "t_created": "TIMESTAMP WITH TIME ZONE",
				"t_keys": "STRUCT(id VARCHAR, ck INTEGER)"} {
				if rows[0][col] != want {
					t.Errorf("%s = %v\nwant %s", col, rows[0][col], want)
				}
			}
			want := map[string]string{"keyspace": `"ks"`, "table": `"all_types"`, "shard_id": `"shard-1"`,
				"sequence_number": `"` + recordtest.Seq(3) + `"`, "created_at": `"2024-03-01 10:00:00+00"`,
				"origin": `"USER"`, "op": `"UPDATE"`, "keys": `{"id":"00000000-0000-0000-0000-000000000003","ck":3}`,
				"new_image": duckImage("3"), "old_image": duckImage("5"),
				"new_image_metadata": `[{"column":"c_ascii","write_time":"1709251200123456","expiration_time":"1709337600"}]`,
			}
			for col, w := range want {
				if got := rows[2][col]; !reflect.DeepEqual(got, jsonValue(t, w)) {
					t.Errorf("%s = %v\nwant %s", col, got, w)
				}
			}
			if rows[1]["new_image"] != nil || rows[1]["op"] != "DELETE" || rows[1]["old_image"].(map[string]any)["c_ascii"] != "ascii-2" {
				t.Errorf("delete row: %v", rows[1])
			}
			empty := rows[3]["new_image"].(map[string]any)
			for col, w := range map[string]string{"c_list": `[]`, "c_set": `[]`, "c_map": `[]`,
				"c_map_int": `[{"key":7,"value":[]}]`, "c_tuple": `{"f0":null,"f1":null}`,
				"c_udt": `{"street":"1 Main St","zip":null,"tags":null}`, "c_text": `null`} {
				if !reflect.DeepEqual(empty[col], jsonValue(t, w)) {
					t.Errorf("empty/null %s = %#v, want %s", col, empty[col], w)
				}
			}
		})
	}
}

// TestParquetSchemaVersionsReadTogether: files of two schema versions (a column added)
// read as one table with DuckDB's union_by_name; the older file's rows have it null.
func TestParquetSchemaVersionsReadTogether(t *testing.T) {
	api := &recordtest.FakeKeyspaces{}
	f := newTestParquet(t, NewSchemas(KeyspacesSource{API: api}, false, nil), CompressionZstd, false)
	f1 := encodeParquet(t, f, []*record.Event{allTypesEvent(t, 1)})
	api.AddColumn("c_new", "bigint")
	ev := allTypesEvent(t, 2)
	ev.NewImage.Columns = append(ev.NewImage.Columns, record.Field{Name: "c_new", Value: record.Value{Type: streams.TypeBigint, Int: 42}})
	f2 := encodeParquet(t, f, []*record.Event{ev})
	p1, p2 := writeTemp(t, "1.parquet", f1.Body), writeTemp(t, "2.parquet", f2.Body)
	rows := devservers.DuckDB(t, `SELECT sequence_number, new_image.c_new AS c_new, new_image.c_int AS c_int
		FROM read_parquet(['`+p1+`', '`+p2+`'], union_by_name = true) ORDER BY sequence_number`)
	got, _ := json.Marshal(rows)
	want := `[{"c_int":-2147483648,"c_new":null,"sequence_number":"` + recordtest.Seq(1) + `"},` +
		`{"c_int":-2147483648,"c_new":"42","sequence_number":"` + recordtest.Seq(2) + `"}]`
	if string(got) != want {
		t.Errorf("DuckDB read\n%s\nwant\n%s", got, want)
	}
}

// TestDuckDBMissingFails: a query DuckDB rejects is an error, not an empty result.
func TestDuckDBMissingFails(t *testing.T) {
	_, err := devservers.QueryDuckDB(context.Background(), `SELECT * FROM read_parquet('/nonexistent/x.parquet')`)
	if err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Errorf("QueryDuckDB on a missing file = %v", err)
	}
}
