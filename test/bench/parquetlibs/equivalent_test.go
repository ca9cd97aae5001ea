package parquetlibs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	pqgo "github.com/parquet-go/parquet-go"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// TestWritersWriteTheSameFile checks the comparison is fair: every writer's second file, read
// back with arrow-go, has the consumer's columns (path, physical and logical type, levels), the
// same dictionary-encoded columns, zstd everywhere, and the same table of values; DuckDB
// reads the same rows from each.
func TestWritersWriteTheSameFile(t *testing.T) {
	// GenericWriter[pqRow] maps the structs straight to columns only if pqSchema is the
	// type's own schema; otherwise it falls back to a slower path by reflection.
	if !pqgo.EqualNodes(pqSchema, pqgo.SchemaOf(pqRow{}, oldImageAt)) {
		t.Error("pqSchema is not pqRow's schema: GenericWriter would not take its direct path")
	}
	recs := streamRecords()
	var want arrow.Table
	var wantCols []string
	var wantDuck []map[string]any
	for _, wc := range writers {
		t.Run(wc.name, func(t *testing.T) {
			w := wc.make()
			var body []byte
			for file := 0; file < 2; file++ { // the second file: writers are used for many
				for _, r := range recs {
					ev, err := record.FromStream(r, src)
					if err != nil {
						t.Fatal(err)
					}
					if err := w.add(context.Background(), ev); err != nil {
						t.Fatal(err)
					}
				}
				var err error
				if body, err = w.finish(); err != nil {
					t.Fatal(err)
				}
			}
			cols, tbl := readBack(t, body)
			path := filepath.Join(t.TempDir(), "f.parquet")
			if err := os.WriteFile(path, body, 0o644); err != nil {
				t.Fatal(err)
			}
			duck := devservers.DuckDB(t, "SELECT * FROM read_parquet('"+path+"') ORDER BY sequence_number")
			if len(duck) != fileRecords {
				t.Errorf("DuckDB read %d rows, want %d", len(duck), fileRecords)
			}
			if want == nil {
				want, wantCols, wantDuck = tbl, cols, duck
				return
			}
			if !reflect.DeepEqual(duck, wantDuck) {
				t.Errorf("DuckDB reads other rows than from arrow-go's file")
			}
			defer tbl.Release()
			if len(cols) != len(wantCols) {
				t.Errorf("%d columns, want %d (arrow-go's)", len(cols), len(wantCols))
			}
			for i := 0; i < len(cols) && i < len(wantCols); i++ {
				if cols[i] != wantCols[i] {
					t.Errorf("column %d: %s\nwant (arrow-go's): %s", i, cols[i], wantCols[i])
				}
			}
			if !tbl.Schema().Equal(want.Schema()) {
				t.Errorf("arrow schema\n%v\nwant\n%v", tbl.Schema(), want.Schema())
			}
			for i := 0; i < int(want.NumCols()) && i < int(tbl.NumCols()); i++ {
				if !array.ChunkedEqual(tbl.Column(i).Data(), want.Column(i).Data()) {
					t.Errorf("column %s: values differ", want.Schema().Field(i).Name)
				}
			}
		})
	}
	if want != nil {
		want.Release()
	}
}

// readBack describes each leaf column of a file (with its dictionary and codec) and reads
// the file into an Arrow table.
func readBack(t *testing.T, body []byte) ([]string, arrow.Table) {
	t.Helper()
	rdr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	meta := rdr.MetaData()
	if meta.NumRows != fileRecords {
		t.Errorf("%d rows, want %d", meta.NumRows, fileRecords)
	}
	var cols []string
	for i := 0; i < meta.Schema.NumColumns(); i++ {
		c := meta.Schema.Column(i)
		logical := c.LogicalType().String()
		if logical == fmt.Sprintf("Int(bitWidth=%d, isSigned=true)", 8*c.PhysicalType().ByteSize()) {
			// parquet-go annotates int32 and int64 columns INTEGER(32|64, signed), the
			// consumer does not: the same values to every reader.
			logical = "None"
		}
		desc := fmt.Sprintf("%s %s %s def=%d rep=%d", c.Path(), c.PhysicalType(), logical, c.MaxDefinitionLevel(), c.MaxRepetitionLevel())
		dict := false
		for rg := 0; rg < meta.NumRowGroups(); rg++ {
			cc, err := meta.RowGroup(rg).ColumnChunk(i)
			if err != nil {
				t.Fatal(err)
			}
			if cc.PathInSchema().String() != c.Path() {
				t.Errorf("column chunk path_in_schema %q, column %q", cc.PathInSchema(), c.Path())
			}
			dict = dict || cc.HasDictionaryPage()
			if cc.Compression().String() != "ZSTD" {
				t.Errorf("%s: compression %s", c.Path(), cc.Compression())
			}
		}
		cols = append(cols, fmt.Sprintf("%s dict=%v", desc, dict))
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cols, tbl
}
