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
			"-shards", "2", "-load", "testdata/records.jsonl", "-throttle-rate", "0.1"}, logW)
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
	}
	for _, tt := range tests {
		if _, err := parseFlags(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: error %v, want %q", tt.args, err, tt.want)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	err = run(context.Background(), []string{"-addr", "127.0.0.1:0", "-throttle-rate", "3"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "within 0..1") {
		t.Errorf("bad throttle rate: %v", err)
	}
}
