package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite "+ReferencePath+" from the settings and parameters")

// The configuration reference is generated from the rows; it must not fall behind them.
func TestConfigurationReference(t *testing.T) {
	path := filepath.Join("..", ReferencePath)
	want := reference()
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is out of date: run make reference", ReferencePath)
	}
}
