package devservers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// QueryDuckDB runs one SQL statement with DuckDB — npm @duckdb/node-api, pinned in
// test/package.json and installed by `make tools`, driven by test/duckdb/read.mjs — and
// returns the rows as JSON objects (numbers as json.Number). It lets tests read the Parquet
// files with a reader nobody here wrote: SELECT ... FROM read_parquet('/path/f.parquet').
func QueryDuckDB(ctx context.Context, sql string) ([]map[string]any, error) {
	if _, err := toolPath("CDC_TEST_DUCKDB", "test/node_modules/@duckdb/node-api"); err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("devservers: node not found (DuckDB runs under Node.js): %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(root, "test", "duckdb", "read.mjs"), sql)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("duckdb %q: %w: %s", sql, err, bytes.TrimSpace(stderr.Bytes()))
	}
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	var rows []map[string]any
	if err := dec.Decode(&rows); err != nil {
		return nil, fmt.Errorf("duckdb %q: decode output: %w", sql, err)
	}
	return rows, nil
}

// DuckDB is QueryDuckDB for a test: an error (DuckDB or node missing included) fails it.
func DuckDB(t testing.TB, sql string) []map[string]any {
	t.Helper()
	rows, err := QueryDuckDB(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
