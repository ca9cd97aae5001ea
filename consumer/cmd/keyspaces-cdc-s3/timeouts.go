package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go/middleware"
)

// Every AWS call is bounded, so an endpoint that accepts connections and never answers costs
// a retry, not a hang. The transport bounds the connect, the TLS handshake and the wait for
// the answer's headers once the request is sent (the usual stall); each attempt as a whole
// is bounded too (a request body or an answer that stops flowing). A timed-out attempt is
// retried like a dropped connection, within the retryer's attempts; the caller's context
// still ends a call at once (SIGTERM, a lease lost).
type timeouts struct {
	Dial, TLSHandshake, ResponseHeader time.Duration
	Attempt                            time.Duration // DynamoDB, Keyspaces and Keyspaces Streams
	S3Attempt                          time.Duration // an upload of up to 32 MiB, or one 16 MiB part
}

// defaultTimeouts are the bounds of the consumer's calls.
var defaultTimeouts = timeouts{
	Dial: 10 * time.Second, TLSHandshake: 10 * time.Second, ResponseHeader: 30 * time.Second,
	Attempt: 30 * time.Second, S3Attempt: 5 * time.Minute,
}

// httpClient is the HTTP client of every AWS client (SDK ones and Keyspaces Streams).
func (t timeouts) httpClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = t.Dial }).
		WithTransportOptions(func(tr *http.Transport) {
			tr.TLSHandshakeTimeout = t.TLSHandshake
			tr.ResponseHeaderTimeout = t.ResponseHeader
		})
}

// apply sets the HTTP client and the per-attempt bound of every SDK client built from cfg.
func (t timeouts) apply(cfg *aws.Config) {
	cfg.HTTPClient = t.httpClient()
	cfg.APIOptions = append(cfg.APIOptions, func(stack *middleware.Stack) error {
		return stack.Finalize.Insert(attemptTimeout{sdk: t.Attempt, s3: t.S3Attempt}, "Retry", middleware.After)
	})
}

// attemptTimeout bounds each attempt of an SDK call (it runs inside the retry loop).
type attemptTimeout struct{ sdk, s3 time.Duration }

func (attemptTimeout) ID() string { return "AttemptTimeout" }

func (m attemptTimeout) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (
	middleware.FinalizeOutput, middleware.Metadata, error) {
	op := awsmiddleware.GetOperationName(ctx)
	if op == "GetObject" {
		return next.HandleFinalize(ctx, in) // its body is read after the call returns
	}
	d := m.sdk
	if awsmiddleware.GetServiceID(ctx) == "S3" {
		d = m.s3
	}
	attempt, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	out, md, err := next.HandleFinalize(attempt, in)
	if err != nil && ctx.Err() == nil && errors.Is(attempt.Err(), context.DeadlineExceeded) {
		// A fresh error: the SDK turns a cancelled context into a CanceledError, which it
		// never retries.
		err = &attemptTimeoutError{service: awsmiddleware.GetServiceID(ctx), op: op, after: d}
	}
	return out, md, err
}

// attemptTimeoutError is an attempt that got no complete answer in time. The SDK's retryers
// retry it as they retry a dropped connection.
type attemptTimeoutError struct {
	service, op string
	after       time.Duration
}

func (e *attemptTimeoutError) Error() string {
	return fmt.Sprintf("%s %s: no complete answer within %s", e.service, e.op, e.after)
}
func (e *attemptTimeoutError) ConnectionError() bool { return true }
func (e *attemptTimeoutError) Timeout() bool         { return true }
