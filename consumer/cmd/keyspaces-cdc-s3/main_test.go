package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/metrics"
)

func TestRegionalConfigs(t *testing.T) {
	cfg := &config.Config{KeyspacesRegion: "eu-west-1", S3Region: "us-west-2"}
	ks, s3, ddb := regionalConfigs(aws.Config{Region: "us-east-1"}, cfg)
	if ks.Region != "eu-west-1" || s3.Region != "us-west-2" || ddb.Region != "us-east-1" {
		t.Fatalf("keyspaces %s, s3 %s, dynamodb %s", ks.Region, s3.Region, ddb.Region)
	}
	_, _, ddb = regionalConfigs(aws.Config{}, cfg)
	if ddb.Region != "eu-west-1" {
		t.Fatalf("without AWS_REGION the lease table uses %q", ddb.Region)
	}
}

func TestS3PathStyle(t *testing.T) {
	cases := []struct {
		force bool
		env   map[string]string
		want  bool
	}{
		{false, nil, false},
		{true, nil, true},
		{false, map[string]string{"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:7070"}, true},
		{false, map[string]string{"AWS_ENDPOINT_URL_S3": "http://localhost:7070"}, true},
		{false, map[string]string{"AWS_ENDPOINT_URL": "http://[::1]:7070"}, true},
		{false, map[string]string{"AWS_ENDPOINT_URL_S3": "https://s3.eu-west-1.amazonaws.com"}, false},
	}
	for _, c := range cases {
		if got := s3PathStyle(c.force, func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("force %v env %v: %v, want %v", c.force, c.env, got, c.want)
		}
	}
}

// goodEnviron is a complete configuration; the AWS endpoints are unset.
func goodEnviron(extra ...string) []string {
	return append([]string{"AWS_REGION=us-east-1", "CDC_KEYSPACE=media", "CDC_TABLE=t",
		"CDC_BUCKET=bucket-1", "CDC_LEASE_TABLE=leases", "CDC_HTTP_PORT=0"}, extra...)
}

func TestBadConfigurationExitsTwoNamingTheValue(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(nil, goodEnviron("CDC_FORMAT=csv"), &out, &errOut)
	if code != exitBadConfig || !strings.Contains(errOut.String(), "CDC_FORMAT") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}

// A mistyped variable is refused with the setting it is closest to, with the other errors.
func TestUnknownVariableExitsTwoNamingTheClosest(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run(nil, goodEnviron("CDC_FORAMT=avro", "CDC_FLUSH_INTERVALL=5s", "CDC_TABLE="), &out, &errOut)
	for _, w := range []string{"CDC_FORAMT: not a setting of the consumer; did you mean CDC_FORMAT?",
		"CDC_FLUSH_INTERVALL: not a setting of the consumer; did you mean CDC_FLUSH_INTERVAL?", "CDC_TABLE (--table): required"} {
		if !strings.Contains(errOut.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut.String())
		}
	}
	if code != exitBadConfig {
		t.Fatalf("exit %d", code)
	}
}

// A busy port is found before any AWS call: the endpoints here would record one.
func TestBusyPortExitsTwoBeforeAnyCall(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	defer srv.Close()
	busy, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	t.Setenv("AWS_ENDPOINT_URL", srv.URL)
	var out, errOut bytes.Buffer
	code := run(nil, goodEnviron("AWS_ENDPOINT_URL="+srv.URL, "CDC_CREATE_LEASE_TABLE=true", fmt.Sprintf("CDC_HTTP_PORT=%d", port)), &out, &errOut)
	if code != exitBadConfig || !strings.Contains(errOut.String(), fmt.Sprintf("CDC_HTTP_PORT (--http-port): port %d", port)) {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if calls.Load() != 0 {
		t.Fatalf("%d AWS calls before the port was found busy", calls.Load())
	}
}

func TestHelpExitsZero(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, nil, &out, &errOut); code != 0 || !strings.Contains(out.String(), "CDC_BUCKET") {
		t.Fatalf("exit %d, out %q", code, out.String())
	}
}

func TestVersionSaysWhichBuildRuns(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--version"}, nil, &out, &errOut); code != 0 ||
		!strings.HasPrefix(out.String(), "keyspaces-cdc-s3 dev ") || !strings.Contains(out.String(), runtime.Version()) {
		t.Fatalf("exit %d, out %q", code, out.String())
	}
}

func TestHealthcheckFailsWithoutServer(t *testing.T) {
	var out bytes.Buffer
	if code := healthcheck(func(k string) string {
		if k == "CDC_HTTP_PORT" {
			return "1"
		}
		return ""
	}, &out); code == 0 {
		t.Fatalf("healthcheck passed with no server: %s", out.String())
	}
}

func TestHealthzReflectsTheLeaseTable(t *testing.T) {
	var running atomic.Bool
	running.Store(true)
	table := &watchedTable{}
	h := &health{table: table, running: &running, staleAfter: time.Second, started: time.Now().Add(-2 * time.Second)}
	srv := httptest.NewServer(newHTTPServer(h.check, metrics.NewRegistry("ns", "app")).Handler)
	defer srv.Close()
	status := func() int {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("lease table never answered: %d, want 503", got)
	}
	table.lastOK.Store(time.Now().UnixNano())
	if got := status(); got != http.StatusOK {
		t.Fatalf("lease table answered just now: %d, want 200", got)
	}
	running.Store(false)
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("coordinator stopped: %d, want 503", got)
	}
}
