package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
)

var update = flag.Bool("update", false, "rewrite the golden request files")

// testAWS is an aws.Config with static credentials and a fast retryer (no backoff wait).
func testAWS(maxAttempts int) aws.Config {
	return aws.Config{
		Region: "us-east-1",
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}
}

func newTestClient(t *testing.T, h http.Handler, maxAttempts int) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(Config{AWS: testAWS(maxAttempts), Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var authRE = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-east-1/cassandra/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$`)

func TestOperationsRequestGolden(t *testing.T) {
	tests := []struct {
		op    string
		call  func(*Client) (any, error)
		check func(t *testing.T, out any)
	}{
		{"ListStreams", func(c *Client) (any, error) {
			return c.ListStreams(context.Background(), &ListStreamsInput{KeyspaceName: "media", TableName: "media_content", MaxResults: 10, NextToken: "page-1"})
		}, func(t *testing.T, out any) {
			o := out.(*ListStreamsOutput)
			if len(o.Streams) != 1 || o.Streams[0].TableName != "media_content" || o.NextToken != "page-2" {
				t.Errorf("output %+v", o)
			}
		}},
		{"GetStream", func(c *Client) (any, error) {
			return c.GetStream(context.Background(), &GetStreamInput{
				StreamArn:   "arn:aws:cassandra:us-east-1:111122223333:/keyspace/media/table/media_content/stream/2024-01-01T00:00:00.000",
				MaxResults:  50,
				ShardFilter: &ShardFilter{Type: ShardFilterChildShards, ShardId: "shardId-00000000000000000001-a"},
			})
		}, func(t *testing.T, out any) {
			o := out.(*GetStreamOutput)
			if o.StreamStatus != StreamStatusEnabled || o.StreamViewType != ViewNewAndOldImages ||
				!o.CreationRequestDateTime.Equal(time.Unix(1704067200, 25e7)) || len(o.Shards) != 1 ||
				o.Shards[0].ParentShardIds[0] != "shardId-00000000000000000001-a" || o.Shards[0].Closed() {
				t.Errorf("output %+v", o)
			}
		}},
		{"GetShardIterator", func(c *Client) (any, error) {
			return c.GetShardIterator(context.Background(), &GetShardIteratorInput{
				StreamArn: "arn:aws:cassandra:us-east-1:111122223333:/keyspace/media/table/media_content/stream/2024-01-01T00:00:00.000",
				ShardId:   "shardId-00000000000000000002-a", ShardIteratorType: ShardIteratorAfterSequenceNumber,
				SequenceNumber: "000000000000000000100",
			})
		}, func(t *testing.T, out any) {
			if o := out.(*GetShardIteratorOutput); o.ShardIterator != "opaque-iterator-1" {
				t.Errorf("output %+v", o)
			}
		}},
		{"GetRecords", func(c *Client) (any, error) {
			return c.GetRecords(context.Background(), &GetRecordsInput{ShardIterator: "opaque-iterator-1", MaxResults: 1000})
		}, func(t *testing.T, out any) {
			o := out.(*GetRecordsOutput)
			if len(o.ChangeRecords) != 2 || aws.ToString(o.NextShardIterator) != "opaque-iterator-2" || o.IteratorPosition != IteratorPositionBehindTip {
				t.Fatalf("output %+v", o)
			}
			if r := o.ChangeRecords[0]; r.SequenceNumber != "000000000000000000101" || r.NewImage.ValueCells[0].Value.Text != "1" ||
				!bytes.HasPrefix(r.Raw, []byte(`{"eventVersion"`)) || !bytes.HasSuffix(r.Raw, []byte(`101"}`)) {
				t.Errorf("record 0: %+v", r)
			}
			// The malformed record keeps its place, its raw bytes and its sequence number.
			if len(o.DecodeErrors) != 1 || o.DecodeErrors[0].Index != 1 ||
				o.ChangeRecords[1].SequenceNumber != "000000000000000000102" || len(o.ChangeRecords[1].Raw) == 0 {
				t.Errorf("decode errors %+v, record 1 %+v", o.DecodeErrors, o.ChangeRecords[1])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.op, func(t *testing.T) {
			var gotBody []byte
			var gotHeader http.Header
			resp, err := os.ReadFile(filepath.Join("testdata", "responses", tt.op+".json"))
			if err != nil {
				t.Fatal(err)
			}
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gotBody, _ = io.ReadAll(r.Body)
				gotHeader = r.Header.Clone()
				if r.Method != http.MethodPost || r.URL.Path != "/" {
					t.Errorf("%s %s, want POST /", r.Method, r.URL.Path)
				}
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.Write(resp)
			}), 3)
			out, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "requests", tt.op+".json")
			if *update {
				if err := os.WriteFile(golden, append(gotBody, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(gotBody, bytes.TrimSuffix(want, []byte("\n"))) {
				t.Errorf("request body\n got %s\nwant %s", gotBody, want)
			}
			if ct := gotHeader.Get("Content-Type"); ct != "application/x-amz-json-1.0" {
				t.Errorf("Content-Type %q", ct)
			}
			if tg := gotHeader.Get("X-Amz-Target"); tg != "KeyspacesStreams."+tt.op {
				t.Errorf("X-Amz-Target %q", tg)
			}
			if a := gotHeader.Get("Authorization"); !authRE.MatchString(a) {
				t.Errorf("Authorization %q does not match %s", a, authRE)
			}
			if !strings.Contains(gotHeader.Get("Authorization"), "x-amz-target") {
				t.Errorf("X-Amz-Target is not signed: %q", gotHeader.Get("Authorization"))
			}
			if gotHeader.Get("X-Amz-Date") == "" {
				t.Error("no X-Amz-Date")
			}
			tt.check(t, out)
		})
	}
}

func TestAPIErrorMapping(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		header   string // x-amzn-ErrorType
		body     string
		wantType string
		wantCode string
		is       error
	}{
		{"throttling", 400, "", `{"__type":"com.amazonaws.keyspacesstreams#ThrottlingException","message":"slow down"}`, TypeThrottling, "", ErrThrottling},
		{"throttling from header", 400, "ThrottlingException:http://internal.amazon.com/", `{}`, TypeThrottling, "", ErrThrottling},
		{"trimmed", 400, "", `{"__type":"ValidationException","message":"trimmed","errorCode":"TrimmedDataAccess"}`, TypeValidation, CodeTrimmedDataAccess, ErrTrimmedDataAccess},
		{"expired iterator", 400, "", `{"__type":"ns#ValidationException","message":"expired","errorCode":"ExpiredIterator"}`, TypeValidation, CodeExpiredIterator, ErrExpiredIterator},
		{"expired next token", 400, "", `{"__type":"ValidationException","Message":"expired","errorCode":"ExpiredNextToken"}`, TypeValidation, CodeExpiredNextToken, ErrExpiredNextToken},
		{"invalid format", 400, "", `{"__type":"ValidationException","message":"bad","errorCode":"InvalidFormat"}`, TypeValidation, CodeInvalidFormat, ErrValidation},
		{"not found", 400, "", `{"__type":"ResourceNotFoundException","message":"no such stream"}`, TypeResourceNotFound, "", ErrNotFound},
		{"access denied", 403, "", `{"__type":"AccessDeniedException","message":"no"}`, TypeAccessDenied, "", ErrAccessDenied},
		{"internal", 500, "", `{"__type":"InternalServerException","message":"boom"}`, TypeInternalServer, "", ErrInternal},
		{"bare 503", 503, "", `<html>unavailable</html>`, "", "", ErrInternal},
		{"429", 429, "", ``, "", "", ErrThrottling},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tt.header != "" {
					w.Header().Set("X-Amzn-ErrorType", tt.header)
				}
				w.Header().Set("X-Amzn-RequestId", "req-1")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}), 1)
			_, err := c.GetShardIterator(context.Background(), &GetShardIteratorInput{StreamArn: "a", ShardId: "s", ShardIteratorType: ShardIteratorLatest})
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if apiErr.Type != tt.wantType || apiErr.Code != tt.wantCode || apiErr.StatusCode != tt.status || apiErr.RequestID != "req-1" {
				t.Errorf("got %+v", apiErr)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			for _, other := range []error{ErrThrottling, ErrTrimmedDataAccess, ErrExpiredIterator, ErrExpiredNextToken, ErrNotFound, ErrAccessDenied, ErrInternal} {
				if other != tt.is && errors.Is(err, other) {
					t.Errorf("error also matches %v", other)
				}
			}
		})
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		fail      func(w http.ResponseWriter)
		attempts  int
		wantErr   error // nil: success expected
		wantCalls int
	}{
		{"throttled twice then ok", 2, func(w http.ResponseWriter) {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type":"ThrottlingException","message":"rate exceeded"}`)
		}, 3, nil, 3},
		{"500 twice then ok", 2, func(w http.ResponseWriter) {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, `{"__type":"InternalServerException"}`)
		}, 3, nil, 3},
		{"503 then ok", 1, func(w http.ResponseWriter) { w.WriteHeader(503) }, 3, nil, 2},
		{"dropped connection then ok", 1, func(w http.ResponseWriter) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}, 3, nil, 2},
		{"throttled beyond max attempts", 5, func(w http.ResponseWriter) {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type":"ThrottlingException"}`)
		}, 3, ErrThrottling, 3},
		{"validation is not retried", 5, func(w http.ResponseWriter) {
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"__type":"ValidationException","errorCode":"ExpiredIterator"}`)
		}, 3, ErrExpiredIterator, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			var mu sync.Mutex
			var auths []string
			c := newTestClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				mu.Lock()
				auths = append(auths, r.Header.Get("Authorization")+string(body))
				mu.Unlock()
				if int(calls.Add(1)) <= tt.failures {
					tt.fail(w)
					return
				}
				_, _ = io.WriteString(w, `{"shardIterator":"it"}`)
			}), tt.attempts)
			var retried []int
			c.onRetry = func(_ string, attempt int, _ error) { retried = append(retried, attempt) }
			out, err := c.GetShardIterator(context.Background(), &GetShardIteratorInput{StreamArn: "a", ShardId: "s", ShardIteratorType: ShardIteratorLatest})
			if tt.wantErr == nil && (err != nil || out.ShardIterator != "it") {
				t.Fatalf("got %v, %v", out, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if int(calls.Load()) != tt.wantCalls || len(retried) != tt.wantCalls-1 {
				t.Fatalf("%d calls, %d retries; want %d calls", calls.Load(), len(retried), tt.wantCalls)
			}
			for _, a := range auths {
				if !strings.HasSuffix(a, `"shardIteratorType":"LATEST"}`) || !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") {
					t.Errorf("attempt sent %q: every attempt must carry the whole signed body", a)
				}
			}
		})
	}
}

func TestRetryWaitRespectsContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"__type":"ThrottlingException"}`)
	}))
	defer srv.Close()
	cfg := testAWS(10)
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Hour, nil })
		})
	}
	c, err := New(Config{AWS: cfg, Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.onRetry = func(string, int, error) { cancel() } // cancel while the client waits an hour
	_, err = c.ListStreams(ctx, &ListStreamsInput{})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrThrottling) {
		t.Fatalf("error %v, want context.Canceled joined with the throttling error", err)
	}
}

// An endpoint that accepts connections and never answers costs each attempt its timeout, then
// the call fails naming it; the caller's context still ends a call at once.
func TestAttemptTimeoutBoundsACallToASilentEndpoint(t *testing.T) {
	endpoint := devservers.NewBlackHole(t).URL
	c, err := New(Config{AWS: testAWS(3), Endpoint: endpoint, AttemptTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var retries atomic.Int32
	c.onRetry = func(string, int, error) { retries.Add(1) }
	start := time.Now()
	_, err = c.GetStream(context.Background(), &GetStreamInput{StreamArn: "a"})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no complete answer within 100ms") || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("error %v", err)
	}
	if retries.Load() != 2 || took > 2*time.Second {
		t.Fatalf("%d retries in %s, want 2 retries of 100 ms attempts", retries.Load(), took)
	}

	c, err = New(Config{AWS: testAWS(3), Endpoint: endpoint, AttemptTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c.GetStream(ctx, &GetStreamInput{StreamArn: "a"}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("error %v after %s, want the caller's deadline at once", err, time.Since(start))
	}
	if d, _ := New(Config{AWS: testAWS(1), Endpoint: endpoint}); d.attempt != DefaultAttemptTimeout {
		t.Fatalf("default attempt timeout %s", d.attempt)
	}
}

func TestResolveEndpoint(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		env  map[string]string
		want string
		err  bool
	}{
		{"default", Config{AWS: aws.Config{Region: "eu-west-1"}}, nil, "https://cassandra-streams.eu-west-1.api.aws", false},
		{"fips", Config{AWS: aws.Config{Region: "us-east-1"}, UseFIPS: true}, nil, "https://cassandra-streams-fips.us-east-1.api.aws", false},
		{"config wins", Config{AWS: aws.Config{Region: "us-east-1"}, Endpoint: "http://127.0.0.1:8000/"},
			map[string]string{EnvEndpointService: "http://svc", EnvEndpointGlobal: "http://global"}, "http://127.0.0.1:8000", false},
		{"service env", Config{AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://base")}},
			map[string]string{EnvEndpointService: "http://svc:1", EnvEndpointGlobal: "http://global"}, "http://svc:1", false},
		{"global env", Config{AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://base")}},
			map[string]string{EnvEndpointGlobal: "http://global"}, "http://global", false},
		{"base endpoint", Config{AWS: aws.Config{Region: "us-east-1", BaseEndpoint: aws.String("http://base")}}, nil, "http://base", false},
		{"ignored env", Config{AWS: aws.Config{Region: "us-east-1"}},
			map[string]string{EnvEndpointService: "http://svc", envIgnoreEndpoints: "true"}, "https://cassandra-streams.us-east-1.api.aws", false},
		{"bad override", Config{AWS: aws.Config{Region: "us-east-1"}, Endpoint: "127.0.0.1:8000"}, nil, "", true},
		{"no region", Config{}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveEndpoint(tt.cfg, func(k string) string { return tt.env[k] })
			if (err != nil) != tt.err || got != tt.want {
				t.Fatalf("got %q, %v; want %q (error %v)", got, err, tt.want, tt.err)
			}
		})
	}
}

// fakeStreams answers ListStreams and GetStream with pages of size one, to exercise paging.
func fakeStreams(t *testing.T) http.Handler {
	streams := []struct{ arn, table, status string }{
		{"arn-old", "t", StreamStatusEnabled},
		{"arn-other", "u", StreamStatusEnabled},
		{"arn-new", "t", StreamStatusEnabled},
		{"arn-disabled", "t", StreamStatusDisabled},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			StreamArn string `json:"streamArn"`
			NextToken string `json:"nextToken"`
			TableName string `json:"tableName"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &in); err != nil {
			t.Errorf("bad request body %s", body)
		}
		i := 0
		_, _ = fmt.Sscan(in.NextToken, &i) // an empty token is page 0
		next := ""
		switch r.Header.Get("X-Amz-Target") {
		case "KeyspacesStreams.ListStreams":
			if i+1 < len(streams) {
				next = fmt.Sprint(i + 1)
			}
			s := streams[i]
			fmt.Fprintf(w, `{"streams":[{"streamArn":%q,"keyspaceName":"k","tableName":%q,"streamLabel":"l"}],"nextToken":%q}`, s.arn, s.table, next)
		case "KeyspacesStreams.GetStream":
			created := map[string]int{"arn-old": 100, "arn-new": 200, "arn-disabled": 300, "arn-other": 400}[in.StreamArn]
			status := StreamStatusEnabled
			if in.StreamArn == "arn-disabled" {
				status = StreamStatusDisabled
			}
			if i+1 < 3 {
				next = fmt.Sprint(i + 1)
			}
			fmt.Fprintf(w, `{"streamArn":%q,"streamStatus":%q,"creationRequestDateTime":%d,"shards":[{"shardId":"s%d","sequenceNumberRange":{"startingSequenceNumber":"1"}}],"nextToken":%q}`,
				in.StreamArn, status, created, i, next)
		}
	})
}

func TestListAllShardsAndFindStream(t *testing.T) {
	c := newTestClient(t, fakeStreams(t), 1)
	shards, err := c.ListAllShards(context.Background(), "arn-new")
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 3 || shards[0].ShardId != "s0" || shards[2].ShardId != "s2" {
		t.Fatalf("shards %+v", shards)
	}
	arn, err := c.FindStream(context.Background(), "k", "t")
	if err != nil || arn != "arn-new" {
		t.Fatalf("FindStream = %q, %v; want arn-new (newest ENABLED of k.t)", arn, err)
	}
	_, err = c.FindStream(context.Background(), "k", "missing")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "k.missing") {
		t.Fatalf("FindStream(missing) error %v", err)
	}
}

func TestDecodeGetRecordsAnswer(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		records int
		next    bool
		pos     string
		errs    int
		wantErr bool
	}{
		{"empty at tip", `{"changeRecords":[],"nextShardIterator":"n","iteratorDescription":{"iteratorPosition":"AT_TIP"}}`, 0, true, "AT_TIP", 0, false},
		{"closed shard read", `{"changeRecords":[{"sequenceNumber":"1"}]}`, 1, false, "", 0, false},
		{"null members", `{"changeRecords":null,"nextShardIterator":null,"extra":{"a":[1]}}`, 0, false, "", 0, false},
		{"record of wrong kind", `{"changeRecords":[7,{"sequenceNumber":"2"}]}`, 2, false, "", 1, false},
		{"broken JSON", `{"changeRecords":[{"sequenceNumber":"1"`, 0, false, "", 0, true},
		{"not an object", `[]`, 0, false, "", 0, true},
		{"trailing data", `{} {}`, 0, false, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := decodeGetRecords([]byte(tt.body), false)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.ChangeRecords) != tt.records || (out.NextShardIterator != nil) != tt.next || out.IteratorPosition != tt.pos || len(out.DecodeErrors) != tt.errs {
				t.Fatalf("got %+v", out)
			}
		})
	}
}

// The records of one answer share the decoder's chunks: each slice must still be its own
// (an append copies), and the sequence number and the next iterator, which outlive the
// answer, must not keep it alive.
func TestDecodeGetRecordsRecordsAreIndependent(t *testing.T) {
	rec := func(seq, v string) string {
		return `{"sequenceNumber":"` + seq + `","newImage":{"valueCells":{"a":{"value":{"textT":"` + v +
			`"},"metadata":{"writeTime":"1"}},"l":{"value":{"listT":[{"value":{"intT":1}}]}}}},` +
			`"partitionKeys":{"k":{"intT":"` + seq + `"}}}`
	}
	body := []byte(`{"changeRecords":[` + rec("1", "x") + `,` + rec("2", "y") + `,` + rec("3", "z") + `],"nextShardIterator":"next-one"}`)
	out, err := decodeGetRecords(body, false)
	if err != nil {
		t.Fatal(err)
	}
	recs := out.ChangeRecords
	for i, r := range recs {
		if cells := r.NewImage.ValueCells; len(cells) != 2 || cap(cells) != 2 || cap(r.PartitionKeys) != 1 || cap(cells[1].Value.Elems) != 1 {
			t.Fatalf("record %d: cells %d (cap %d), keys cap %d", i, len(cells), cap(cells), cap(r.PartitionKeys))
		}
		if r.NewImage.ValueCells[0].Metadata == recs[(i+1)%3].NewImage.ValueCells[0].Metadata {
			t.Fatalf("records %d and %d share their metadata", i, (i+1)%3)
		}
		seq := unsafe.StringData(r.SequenceNumber)
		if p, lo := uintptr(unsafe.Pointer(seq)), uintptr(unsafe.Pointer(&body[0])); p >= lo && p < lo+uintptr(len(body)) {
			t.Fatalf("record %d: the sequence number shares the answer's memory", i)
		}
	}
	if it := unsafe.StringData(*out.NextShardIterator); uintptr(unsafe.Pointer(it)) >= uintptr(unsafe.Pointer(&body[0])) &&
		uintptr(unsafe.Pointer(it)) < uintptr(unsafe.Pointer(&body[0]))+uintptr(len(body)) {
		t.Fatal("the next iterator shares the answer's memory")
	}
	recs[0].NewImage.ValueCells = append(recs[0].NewImage.ValueCells, NamedCell{Name: "added"})
	recs[0].PartitionKeys = append(recs[0].PartitionKeys, Column{Name: "added"})
	if got := recs[1].NewImage.ValueCells[0].Value.Text; got != "y" || recs[1].PartitionKeys[0].Value.Text != "2" {
		t.Fatalf("an append to record 0 changed record 1: %q", got)
	}
	if recs[2].NewImage.ValueCells[0].Value.Text != "z" || recs[2].SequenceNumber != "3" {
		t.Fatalf("record 3: %+v", recs[2])
	}
}

func TestReadBodyWhateverTheAnnouncedLength(t *testing.T) {
	for _, tt := range []struct {
		length int64
		body   string
	}{{-1, "unknown"}, {5, "exact"}, {3, "longer than said"}, {100, "shorter"}, {0, ""}, {maxPresized + 1, "huge"}} {
		got, err := readBody(&http.Response{ContentLength: tt.length, Body: io.NopCloser(iotest.OneByteReader(strings.NewReader(tt.body)))})
		if err != nil || string(got) != tt.body {
			t.Errorf("length %d: got %q, %v; want %q", tt.length, got, err, tt.body)
		}
	}
	if _, err := readBody(&http.Response{ContentLength: 4, Body: io.NopCloser(iotest.ErrReader(io.ErrUnexpectedEOF))}); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a failed read: %v", err)
	}
}
