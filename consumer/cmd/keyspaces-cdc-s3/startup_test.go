package main

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
)

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// blackHole is the URL of an endpoint that accepts TCP and never answers.
func blackHole(t *testing.T) string { return devservers.NewBlackHole(t).URL }

// emulatorWith serves the Keyspaces Streams emulator with the stream of media.media_content.
func emulatorWith(t *testing.T, stream bool) string {
	t.Helper()
	emu, err := emulator.New(emulator.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if stream {
		if _, err := emu.CreateStream(emulator.StreamSpec{Keyspace: "media", Table: "media_content", ViewType: "NEW_AND_OLD_IMAGES", Shards: 1}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return srv.URL
}

// dynamoAnswering serves a DynamoDB that answers every call with one error.
func dynamoAnswering(t *testing.T, errType, message string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // a test server: the request only has to be read
		body := `{"__type":"com.amazonaws.dynamodb.v20120810#` + errType + `","message":"` + message + `"}`
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, body) // the client under test reports what it got
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// startConsumer runs runConsumer against the given endpoints (the SDK reads them from the
// process environment), logging into the returned buffer; done receives its error.
func startConsumer(ctx context.Context, t *testing.T, streamsURL, dynamoURL string, extra map[string]string) (*syncBuffer, <-chan error) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_ENDPOINT_URL_KEYSPACESSTREAMS": streamsURL, "AWS_ENDPOINT_URL_DYNAMODB": dynamoURL,
		"AWS_ENDPOINT_URL_S3": blackHole(t), "AWS_ENDPOINT_URL_KEYSPACES": blackHole(t),
	} {
		t.Setenv(k, v)
	}
	env := map[string]string{"CDC_KEYSPACE": "media", "CDC_TABLE": "media_content", "CDC_BUCKET": "bucket-1",
		"CDC_LEASE_TABLE": "leases", "CDC_WORKER_ID": "w1", "CDC_HTTP_PORT": "0"}
	for k, v := range extra {
		env[k] = v
	}
	getenv := func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		return os.Getenv(k)
	}
	cfg, err := config.Load(nil, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := listen(0)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	done := make(chan error, 1)
	go func() { done <- runConsumer(ctx, cfg, getenv, ln, io.Discard, logger) }()
	return logs, done
}

func waitLog(t *testing.T, logs *syncBuffer, done <-chan error, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("stopped with %v before logging %q:\n%s", err, want, logs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", want, logs)
		}
	}
}

// Against endpoints that accept TCP and never answer, start-up says what it waits for, says
// it again while it waits, and SIGTERM (ctx) ends it at once, without error.
func TestStartUpWaitsVisiblyAndStopsAtOnce(t *testing.T) {
	defer func(d time.Duration) { stillWaitingEvery = d }(stillWaitingEvery)
	stillWaitingEvery = 50 * time.Millisecond
	for _, tc := range []struct {
		name             string
		streams, dynamo  func(t *testing.T) string
		waiting, lastArg string
	}{
		{"Keyspaces Streams silent", blackHole, blackHole, "start-up: waiting for Keyspaces Streams: the newest ENABLED stream", `"table":"media.media_content"`},
		{"DynamoDB silent", func(t *testing.T) string { return emulatorWith(t, true) }, blackHole, "start-up: waiting for DynamoDB: the lease table", `"lease_table":"leases"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logs, done := startConsumer(ctx, t, tc.streams(t), tc.dynamo(t), nil)
			waitLog(t, logs, done, tc.waiting)
			waitLog(t, logs, done, "start-up: still waiting for")
			if !strings.Contains(logs.String(), tc.lastArg) {
				t.Errorf("the waiting line does not say %s:\n%s", tc.lastArg, logs)
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, errStopped) {
					t.Fatalf("stopped with %v, want errStopped", err)
				}
			case <-time.After(time.Second):
				t.Fatal("start-up did not stop within 1 s of SIGTERM")
			}
			if !strings.Contains(logs.String(), "start-up: stopped while waiting for") {
				t.Errorf("no word of the stop:\n%s", logs)
			}
		})
	}
}

// What the settings name and does not exist is a setting error (exit 2); the lease table's
// creation error says so once.
func TestStartUpErrors(t *testing.T) {
	for _, tc := range []struct {
		name            string
		streams, dynamo func(t *testing.T) string
		extra           map[string]string
		setting         bool
		want            string
	}{
		{"no stream of the table", func(t *testing.T) string { return emulatorWith(t, false) }, blackHole, nil, true,
			"CDC_KEYSPACE, CDC_TABLE: media.media_content has no ENABLED stream in region us-east-1 (endpoint http://"},
		{"no lease table", func(t *testing.T) string { return emulatorWith(t, true) },
			func(t *testing.T) string { return dynamoAnswering(t, "ResourceNotFoundException", "no such table") }, nil, true,
			"CDC_LEASE_TABLE: no table leases in region us-east-1: create it, or set CDC_CREATE_LEASE_TABLE=true"},
		{"lease table not created", func(t *testing.T) string { return emulatorWith(t, true) },
			func(t *testing.T) string { return dynamoAnswering(t, "AccessDeniedException", "not allowed") },
			map[string]string{"CDC_CREATE_LEASE_TABLE": "true"}, false, "create lease table leases: operation error DynamoDB: CreateTable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, done := startConsumer(context.Background(), t, tc.streams(t), tc.dynamo(t), tc.extra)
			var err error
			select {
			case err = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("start-up did not fail")
			}
			var bad *settingError
			if err == nil || errors.As(err, &bad) != tc.setting || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (a setting error: %v), want %q (a setting error: %v)", err, errors.As(err, &bad), tc.want, tc.setting)
			}
			if n := strings.Count(err.Error(), "create lease table"); n > 1 {
				t.Errorf("%q says create lease table %d times", err, n)
			}
		})
	}
}

// fastRetries is a retryer of n attempts without backoff waits.
func fastRetries(n int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = n
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
		})
	}
}

// Each attempt of an SDK call is bounded (the wait for the headers, and the attempt as a
// whole), a timed-out attempt is retried, and the caller's context ends a call at once.
func TestEverySDKCallIsBounded(t *testing.T) {
	endpoint := blackHole(t)
	call := func(ctx context.Context, t timeouts) (time.Duration, error) {
		cfg := aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}, Retryer: fastRetries(3)}
		t.apply(&cfg)
		db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
		start := time.Now()
		_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("leases")})
		return time.Since(start), err
	}
	bounded := timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: time.Hour, Attempt: 100 * time.Millisecond, S3Attempt: time.Hour}
	took, err := call(context.Background(), bounded)
	if err == nil || !strings.Contains(err.Error(), "DynamoDB DescribeTable: no complete answer within 100ms") ||
		!strings.Contains(err.Error(), "maximum number of attempts, 3") || took > 3*time.Second {
		t.Fatalf("attempt timeout: %v after %s", err, took)
	}
	headers := timeouts{Dial: time.Second, TLSHandshake: time.Second, ResponseHeader: 100 * time.Millisecond, Attempt: time.Hour, S3Attempt: time.Hour}
	took, err = call(context.Background(), headers)
	if err == nil || !strings.Contains(err.Error(), "timeout awaiting response headers") || !strings.Contains(err.Error(), "maximum number of attempts, 3") || took > 3*time.Second {
		t.Fatalf("header timeout: %v after %s", err, took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	unbounded := timeouts{Dial: time.Hour, TLSHandshake: time.Hour, ResponseHeader: time.Hour, Attempt: time.Hour, S3Attempt: time.Hour}
	if took, err = call(ctx, unbounded); err == nil || took > 2*time.Second {
		t.Fatalf("caller's deadline: %v after %s", err, took)
	}
}

// The shutdown watch ends the process when the budget after SIGTERM is spent, and only then.
func TestShutdownWatchExitsWhenTheBudgetIsSpent(t *testing.T) {
	exited := make(chan int, 1)
	defer func(f func(int)) { hardExit = f }(hardExit)
	hardExit = func(code int) { exited <- code }
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))

	ctx, cancel := context.WithCancel(context.Background())
	stop := watchShutdown(ctx, 50*time.Millisecond, logger)
	cancel()
	select {
	case code := <-exited:
		if code != exitFailed {
			t.Fatalf("exit %d", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no exit after the budget")
	}
	stop()

	ctx, cancel = context.WithCancel(context.Background())
	stop = watchShutdown(ctx, 50*time.Millisecond, logger)
	cancel()
	stop() // the process stopped in time
	select {
	case code := <-exited:
		t.Fatalf("exit %d although the process stopped within the budget", code)
	case <-time.After(200 * time.Millisecond):
	}
	if r := stopReserve(100 * time.Second); r != 5*time.Second {
		t.Errorf("reserve of 100 s: %s", r)
	}
	if r := stopReserve(6 * time.Second); r != 600*time.Millisecond {
		t.Errorf("reserve of 6 s: %s", r)
	}
}
