package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

// checkDuckDB reads the stack's Parquet files with DuckDB, a reader nobody here wrote: every
// record once, the hive partition columns dt and hr agree with created_at, and the sample
// records carry the values the emulator wrote, column by column.
func checkDuckDB(t *testing.T, s *harness.Stack, written int, sample []wireRecord) {
	t.Helper()
	glob := filepath.Join(s.S3.DataDir, s.Bucket, s.Prefix, "media/media_content/dt=*/hr=*/*.parquet")
	from := fmt.Sprintf("read_parquet('%s', hive_partitioning = true, hive_types_autocast = false, union_by_name = true)", glob)
	rows := devservers.DuckDB(t, `SELECT count(*) AS n, count(DISTINCT shard_id || '/' || sequence_number) AS d,
		count(*) FILTER (WHERE dt <> strftime(make_timestamp(epoch_us(created_at)), '%Y-%m-%d')
			OR hr <> strftime(make_timestamp(epoch_us(created_at)), '%H')) AS misplaced FROM `+from)
	if got := fmt.Sprint(rows[0]["n"], " ", rows[0]["d"], " ", rows[0]["misplaced"]); got != fmt.Sprintf("%d %d 0", written, written) {
		t.Fatalf("DuckDB counts rows, distinct records, misplaced rows: %s; want %d %d 0", got, written, written)
	}
	var ids []string
	for _, r := range sample {
		ids = append(ids, fmt.Sprintf("('%s', '%s')", r.Shard, r.Seq))
	}
	got := devservers.DuckDB(t, `SELECT shard_id, sequence_number, epoch_ms(created_at) AS created_ms, origin, op,
		to_json(new_image) AS new_image FROM `+from+` WHERE (shard_id, sequence_number) IN (`+strings.Join(ids, ", ")+`)`)
	if len(got) != len(sample) {
		t.Fatalf("DuckDB found %d of the %d sample records", len(got), len(sample))
	}
	byID := map[string]map[string]any{}
	for _, g := range got {
		byID[fmt.Sprint(g["shard_id"], "/", g["sequence_number"])] = g
	}
	compared := map[string]int{} // by CQL type
	for _, r := range sample {
		g := byID[r.Shard+"/"+r.Seq]
		if g["origin"] != r.Record.Origin {
			t.Fatalf("%s/%s: DuckDB reads origin %v, the emulator wrote %s", r.Shard, r.Seq, g["origin"], r.Record.Origin)
		}
		if r.Record.NewImage == nil {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(g["new_image"].(string)))
		dec.UseNumber()
		var image map[string]any
		if err := dec.Decode(&image); err != nil {
			t.Fatal(err)
		}
		for col, cell := range r.Record.NewImage.ValueCells {
			typ, err := sameValue(cell.Value, image[col])
			if err != nil {
				t.Fatalf("%s/%s column %s (%s): %v", r.Shard, r.Seq, col, typ, err)
			}
			compared[typ]++
		}
	}
	t.Logf("DuckDB: %d records, 0 misplaced; sample values compared by wire type: %v", written, compared)
}

// wireRecord is a record as the emulator says it wrote it.
type wireRecord struct {
	Shard, Seq string
	Record     struct {
		Origin   string `json:"origin"`
		NewImage *struct {
			ValueCells map[string]struct {
				Value map[string]json.RawMessage `json:"value"`
			} `json:"valueCells"`
		} `json:"newImage"`
	}
}

// sameValue compares a wire CellValue ({"intT": "5"}, {"listT": [cells]}, ...) with the value
// DuckDB reads for it (to_json of the column), by the wire's union member; it returns that
// member's name.
func sameValue(cv map[string]json.RawMessage, duck any) (string, error) {
	for typ, raw := range cv {
		return typ, sameMember(typ, raw, duck)
	}
	return "", fmt.Errorf("empty CellValue")
}

func sameMember(typ string, raw json.RawMessage, duck any) error {
	mismatch := func(wire any) error { return fmt.Errorf("DuckDB reads %v, the emulator wrote %v", duck, wire) }
	switch typ {
	case "listT", "setT", "tupleT":
		var cells []struct {
			Value map[string]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &cells); err != nil {
			return err
		}
		var elems []any
		switch d := duck.(type) {
		case []any:
			elems = d
		case map[string]any: // a tuple is a group of fields f0, f1, ...
			for i := range cells {
				elems = append(elems, d[fmt.Sprintf("f%d", i)])
			}
		default:
			return mismatch(string(raw))
		}
		if len(elems) != len(cells) {
			return mismatch(string(raw))
		}
		for i, c := range cells {
			if _, err := sameValue(c.Value, elems[i]); err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	case "mapT":
		var entries []struct {
			Key, Value map[string]json.RawMessage
		}
		if err := json.Unmarshal(raw, &entries); err != nil {
			return err
		}
		d, ok := duck.(map[string]any)
		if !ok || len(d) != len(entries) {
			return mismatch(string(raw))
		}
		for _, e := range entries {
			for _, k := range e.Key {
				var key any
				_ = json.Unmarshal(k, &key)
				if _, err := sameValue(e.Value, d[fmt.Sprint(key)]); err != nil {
					return fmt.Errorf("key %v: %w", key, err)
				}
			}
		}
		return nil
	case "udtT":
		var fields map[string]struct {
			Value map[string]json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(raw, &fields); err != nil {
			return err
		}
		d, ok := duck.(map[string]any)
		if !ok {
			return mismatch(string(raw))
		}
		for name, f := range fields {
			if _, err := sameValue(f.Value, d[name]); err != nil {
				return fmt.Errorf("field %s: %w", name, err)
			}
		}
		return nil
	}
	var wire any
	if err := json.Unmarshal(raw, &wire); err != nil {
		return err
	}
	if !sameScalar(typ, wire, duck) {
		return mismatch(wire)
	}
	return nil
}

// sameScalar compares a scalar: exact text for the integers, decimals, strings, uuids, dates;
// the same float32 or float64 for floats; the same instant for timestamps (wire: epoch
// milliseconds; DuckDB: ISO text); the same bytes for blobs (wire: base64; DuckDB: \xNN text).
func sameScalar(typ string, wire, duck any) bool {
	w, d := fmt.Sprint(wire), fmt.Sprint(duck)
	switch typ {
	case "floatT", "doubleT":
		bits := 64
		if typ == "floatT" {
			bits = 32
		}
		wf, err1 := strconv.ParseFloat(w, bits)
		df, err2 := strconv.ParseFloat(d, bits)
		return err1 == nil && err2 == nil && wf == df
	case "timestampT":
		ts, err := time.Parse("2006-01-02 15:04:05.999999999-07", d)
		return err == nil && strconv.FormatInt(ts.UnixMilli(), 10) == w
	case "blobT":
		want, err := base64.StdEncoding.DecodeString(w)
		return err == nil && duckBlob(d) == string(want)
	}
	return w == d
}

// duckBlob decodes DuckDB's text of a BLOB: printable bytes as themselves, others as \xNN.
func duckBlob(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
