package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// getJSON fetches an admin URL into out.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func TestRunServesGeneratesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs, logW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-records", "40", "-rate", "0", "-split-after", "20",
			"-shards", "2", "-load", "testdata/records.jsonl", "-throttle-rate", "0.1"}, io.Discard, logW)
		_ = logW.Close() // a pipe's writer: Close never fails
	}()
	// The bound address arrives as a JSON log line.
	lines := bufio.NewScanner(logs)
	var endpoint string
	for endpoint == "" && lines.Scan() {
		var line map[string]any
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			t.Fatalf("log line is not JSON: %s", lines.Bytes())
		}
		if line["msg"] == "listening" {
			endpoint, _ = line["endpoint"].(string)
		}
	}
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") || strings.HasSuffix(endpoint, ":0") {
		t.Fatalf("endpoint %q", endpoint)
	}
	go func() { _, _ = io.Copy(io.Discard, logs) }() // drain the logs; what they say is not checked here

	var health map[string]string
	getJSON(t, endpoint+"/_admin/healthz", &health)
	if health["status"] != "ok" {
		t.Fatalf("healthz %v", health)
	}
	deadline := time.Now().Add(10 * time.Second)
	var status struct {
		Running bool
		Written int
		Splits  []string
	}
	for {
		getJSON(t, endpoint+"/_admin/generator/status", &status)
		if !status.Running && status.Written > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("generator still running: %+v", status)
		}
	}
	var written struct{ Streams []struct{ Count int } }
	getJSON(t, endpoint+"/_admin/written?only=seq", &written)
	if status.Written != 40 || len(status.Splits) != 4 || written.Streams[0].Count != 42 {
		t.Fatalf("status %+v, written %+v; want 40 generated + 2 loaded, 2 splits", status, written)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after the context ended")
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.addr != "127.0.0.1:8000" || o.iteratorTTL != 15*time.Minute || o.retention != 24*time.Hour || o.viewType != "NEW_AND_OLD_IMAGES" {
		t.Fatalf("defaults %+v, %v", o, err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-rate", "x"}, "invalid value"},
		{[]string{"-keyspace", "", "-records", "5"}, "need the stream"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-shards", "0"}, "-shards 0: want 1 or more"},
		{[]string{"-rate", "-5"}, "-rate -5: want 0"},
		{[]string{"-throttle-rate", "3"}, "-throttle-rate 3: want a fraction from 0 to 1"},
		{[]string{"-partitions", "0"}, "-partitions 0"},
		{[]string{"-iterator-ttl", "0s"}, "-iterator-ttl 0s: want more than 0"},
		{[]string{"-view-type", "ALL"}, `-view-type "ALL"`},
		{[]string{"-log-level", "loud"}, `-log-level "loud"`},
	}
	for _, tt := range tests {
		if _, err := parseFlags(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
	// Every bad value at once.
	_, err = parseFlags([]string{"-shards", "0", "-rate", "-5"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-shards") || !strings.Contains(err.Error(), "-rate") {
		t.Errorf("two bad values: %v", err)
	}
	var stderr strings.Builder
	if code := exitCode(err, &stderr); code != 2 || strings.Count(stderr.String(), "streams-emulator: -") != 2 {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

// -h is a help: what the emulator is, how to run it, every flag; exit 0, on stdout.
func TestHelp(t *testing.T) {
	var stdout, logs strings.Builder
	err := run(context.Background(), []string{"-h"}, &stdout, &logs)
	if !errors.Is(err, flag.ErrHelp) || exitCode(err, io.Discard) != 0 {
		t.Fatalf("-h: %v", err)
	}
	for _, w := range []string{"a local Amazon Keyspaces Streams service", "Usage: streams-emulator [flags]", "-split-after", "docs/emulator.md"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("help lacks %q:\n%s", w, stdout.String())
		}
	}
	if logs.Len() != 0 {
		t.Errorf("help wrote to the log: %q", logs.String())
	}
}
