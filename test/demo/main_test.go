package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A setting the workers reject stops the demo at once with a non-zero exit and the workers'
// own error, instead of progress lines forever.
func TestDemoStopsWithTheWorkersErrorWhenTheyExit(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	err := run(context.Background(), &out, options{records: 200, rate: 0, shards: 1, workers: 2, format: "xml", dir: filepath.Join(t.TempDir(), "demo")})
	if err == nil {
		t.Fatalf("the demo succeeded with format xml:\n%s", out.String())
	}
	for _, w := range []string{"exited with status 2 before the demo ended", "invalid configuration", `CDC_FORMAT (--format): "xml" is not one of`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if strings.Contains(out.String(), "landed") && strings.Count(out.String(), "\n") > 10 {
		t.Errorf("progress kept going:\n%s", out.String())
	}
	t.Logf("stopped after %s", time.Since(start).Round(time.Millisecond))
}

// A small Avro run lands everything exactly once, shows landed never ahead of written, and
// suggests a command that reads .avro files.
func TestDemoRunsAndSuggestsTheFormatsReader(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, options{records: 400, rate: 200, shards: 2, workers: 2, format: "avro", dir: filepath.Join(t.TempDir(), "demo")})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	for _, w := range []string{"records landed in S3:            400 (missing 0, duplicated 0)", "read_avro(", "*.avro"} {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q:\n%s", w, text)
		}
	}
	if strings.Contains(text, "zcat") {
		t.Errorf("an Avro run suggests zcat:\n%s", text)
	}
	progress := 0
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line) // 4s written 800 landed 600 objects 3 max lag 0 ms splits 1
		if len(f) != 13 || f[1] != "written" || f[3] != "landed" {
			continue
		}
		progress++
		written, _ := strconv.Atoi(f[2])
		landed, _ := strconv.Atoi(f[4])
		if landed > written {
			t.Errorf("landed ahead of written: %q", line)
		}
	}
	if progress == 0 {
		t.Errorf("no progress line:\n%s", text)
	}
}

// An iceberg run ends with the mirror's row count next to the live keys the emulator's records
// leave, and they agree.
func TestDemoIcebergPrintsTheMirror(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), &out, options{records: 600, rate: 300, shards: 2, workers: 2, format: "iceberg", dir: filepath.Join(t.TempDir(), "demo")})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	text := out.String()
	var rows, live string
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case strings.HasPrefix(line, "  mirror rows:"):
			rows = f[len(f)-1]
		case strings.HasPrefix(line, "  live keys in the emulator's records:"):
			live = f[len(f)-1]
		}
	}
	if rows == "" || rows != live || rows == "0" {
		t.Fatalf("mirror rows %q, live keys %q:\n%s", rows, live, text)
	}
}
