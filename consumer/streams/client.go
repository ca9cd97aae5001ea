package streams

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// SigningName is the SigV4 service name of Keyspaces Streams (not "cassandra-streams").
const SigningName = "cassandra"

// TargetPrefix prefixes the X-Amz-Target header of every operation.
const TargetPrefix = "KeyspacesStreams."

// Endpoint override environment variables, as the AWS SDKs name them.
const (
	EnvEndpointService = "AWS_ENDPOINT_URL_KEYSPACESSTREAMS"
	EnvEndpointGlobal  = "AWS_ENDPOINT_URL"
	envIgnoreEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// Config configures a Client.
type Config struct {
	// AWS supplies the region, the credentials (for SigV4), the retryer and the HTTP client,
	// normally from config.LoadDefaultConfig (env, shared config, web identity, ECS role).
	// Retryer nil: the SDK's standard retryer with AWS.RetryMaxAttempts (default 3 attempts).
	// HTTPClient nil: the SDK's default buildable client.
	AWS aws.Config
	// Endpoint overrides the service URL (e.g. http://127.0.0.1:8000 for the emulator).
	// Empty: see ResolveEndpoint.
	Endpoint string
	// UseFIPS selects the FIPS endpoint when no override applies.
	UseFIPS bool
	// OnRetry, when set, is called before each retry wait (for metrics and logs).
	OnRetry func(op string, attempt int, err error)
	// Getenv reads the endpoint override variables; nil means os.Getenv.
	Getenv func(string) string
	// AttemptTimeout bounds each attempt of a call, from sending the request to reading the
	// whole answer; a timed-out attempt is retried as a dropped connection is. Zero:
	// DefaultAttemptTimeout.
	AttemptTimeout time.Duration
}

// DefaultAttemptTimeout bounds an attempt when Config.AttemptTimeout is zero: an endpoint
// that accepts connections and never answers costs retries, not a hang.
const DefaultAttemptTimeout = 30 * time.Second

// Client calls the Keyspaces Streams API (AWS JSON 1.0 over HTTPS, SigV4).
type Client struct {
	endpoint string
	region   string
	creds    aws.CredentialsProvider
	http     aws.HTTPClient
	retryer  aws.RetryerV2
	signer   *v4.Signer
	onRetry  func(op string, attempt int, err error)
	attempt  time.Duration
}

// New returns a Client. It fails when no region is configured or the endpoint is invalid.
func New(cfg Config) (*Client, error) {
	if cfg.AWS.Region == "" {
		return nil, errors.New("keyspaces streams: no region configured")
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	endpoint, err := ResolveEndpoint(cfg, getenv)
	if err != nil {
		return nil, err
	}
	c := &Client{
		endpoint: endpoint,
		region:   cfg.AWS.Region,
		creds:    cfg.AWS.Credentials,
		http:     cfg.AWS.HTTPClient,
		signer:   v4.NewSigner(),
		onRetry:  cfg.OnRetry,
		attempt:  cfg.AttemptTimeout,
	}
	if c.attempt <= 0 {
		c.attempt = DefaultAttemptTimeout
	}
	if c.http == nil {
		c.http = awshttp.NewBuildableClient()
	}
	var r aws.Retryer
	if cfg.AWS.Retryer != nil {
		r = cfg.AWS.Retryer()
	} else {
		r = retry.NewStandard(func(o *retry.StandardOptions) {
			if cfg.AWS.RetryMaxAttempts > 0 {
				o.MaxAttempts = cfg.AWS.RetryMaxAttempts
			}
		})
	}
	c.retryer = wrapRetryer(r)
	return c, nil
}

// Endpoint is the resolved service URL.
func (c *Client) Endpoint() string { return c.endpoint }

// ResolveEndpoint picks the service URL as the AWS SDKs do: Config.Endpoint, then
// $AWS_ENDPOINT_URL_KEYSPACESSTREAMS, then $AWS_ENDPOINT_URL (both ignored when
// $AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), then AWS.BaseEndpoint, else
// https://cassandra-streams[-fips].<region>.api.aws.
func ResolveEndpoint(cfg Config, getenv func(string) string) (string, error) {
	candidates := []string{cfg.Endpoint}
	if !strings.EqualFold(getenv(envIgnoreEndpoints), "true") {
		candidates = append(candidates, getenv(EnvEndpointService), getenv(EnvEndpointGlobal))
	}
	candidates = append(candidates, aws.ToString(cfg.AWS.BaseEndpoint))
	for _, e := range candidates {
		if e == "" {
			continue
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("keyspaces streams: endpoint %q: want http(s)://host[:port]", e)
		}
		return strings.TrimSuffix(e, "/"), nil
	}
	if cfg.AWS.Region == "" {
		return "", errors.New("keyspaces streams: no region to build the endpoint from")
	}
	host := "cassandra-streams"
	if cfg.UseFIPS {
		host += "-fips"
	}
	return "https://" + host + "." + cfg.AWS.Region + ".api.aws", nil
}

// ListStreams returns one page of the streams, optionally of one keyspace or table.
func (c *Client) ListStreams(ctx context.Context, in *ListStreamsInput) (*ListStreamsOutput, error) {
	var out ListStreamsOutput
	if err := c.call(ctx, "ListStreams", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetStream describes a stream and one page of its shards.
func (c *Client) GetStream(ctx context.Context, in *GetStreamInput) (*GetStreamOutput, error) {
	var out GetStreamOutput
	if err := c.call(ctx, "GetStream", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetShardIterator returns an iterator positioned in a shard.
func (c *Client) GetShardIterator(ctx context.Context, in *GetShardIteratorInput) (*GetShardIteratorOutput, error) {
	var out GetShardIteratorOutput
	if err := c.call(ctx, "GetShardIterator", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetRecords reads a batch of records from an iterator. A record that arrives but cannot
// be decoded does not fail the call: see GetRecordsOutput.DecodeErrors.
func (c *Client) GetRecords(ctx context.Context, in *GetRecordsInput) (*GetRecordsOutput, error) {
	var out *GetRecordsOutput
	err := c.callRaw(ctx, "GetRecords", in, func(body []byte) error {
		var err error
		out, err = decodeGetRecords(body, in.EnvelopeOnly)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// An answer holds at most maxRecordsPerAnswer records (the API's limit), and few records are
// under recordBytesGuess bytes of JSON.
const (
	maxRecordsPerAnswer = 1000
	recordBytesGuess    = 512
)

// decodeGetRecords reads a GetRecords answer in one pass of the scanner. Each record's Raw
// aliases body.
func decodeGetRecords(body []byte, envelopeOnly bool) (*GetRecordsOutput, error) {
	d := newAliasDecoder(body) // body is this answer's own, never written again
	d.envelopeOnly = envelopeOnly
	// Room for the records guessed from the body's size, so that the slice is not grown
	// (and copied) ten times over a thousand records; a short guess only means growing.
	guess := min(len(body)/recordBytesGuess, maxRecordsPerAnswer)
	out := &GetRecordsOutput{ChangeRecords: make([]Record, 0, guess)}
	_, err := d.Object("GetRecords answer", func(name string) error {
		switch name {
		case "changeRecords":
			if isNull, err := d.Null(); isNull || err != nil {
				return err
			}
			return d.Array(name, func() error {
				d.Peek()
				start := d.Offset()
				var r Record
				if err := d.record(&r); err != nil {
					// Valid JSON that is not a valid record: keep it whole, report it, go on.
					d.Rewind(start)
					if serr := d.Skip(); serr != nil {
						return serr
					}
					r = Record{Raw: d.Span(start)}
					var seq struct {
						SequenceNumber string `json:"sequenceNumber"`
					}
					_ = json.Unmarshal(r.Raw, &seq) // best effort, for the error report
					r.SequenceNumber = seq.SequenceNumber
					out.DecodeErrors = append(out.DecodeErrors, RecordDecodeError{Index: len(out.ChangeRecords), Err: fmt.Errorf("decode record: %w", err)})
				} else {
					r.Raw = d.Span(start)
				}
				out.ChangeRecords = append(out.ChangeRecords, r)
				return nil
			})
		case "nextShardIterator":
			if isNull, err := d.Null(); isNull || err != nil {
				return err
			}
			it, err := d.Text(name, false)
			// A copy: the reader keeps the iterator until its next call, and must not keep
			// this answer's memory alive with it meanwhile.
			it = strings.Clone(it)
			out.NextShardIterator = &it
			return err
		case "iteratorDescription":
			_, err := d.Object(name, func(n string) error {
				if n != "iteratorPosition" {
					return d.Skip()
				}
				var err error
				out.IteratorPosition, err = d.Text(n, false)
				return err
			})
			return err
		}
		return d.Skip()
	})
	if err == nil && !d.End() {
		err = errors.New("data after the JSON value")
	}
	if err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return out, nil
}

// ListAllShards returns every shard of a stream, following every nextToken.
func (c *Client) ListAllShards(ctx context.Context, streamArn string) ([]Shard, error) {
	var shards []Shard
	in := &GetStreamInput{StreamArn: streamArn}
	for {
		out, err := c.GetStream(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list shards of %s: %w", streamArn, err)
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == "" {
			return shards, nil
		}
		in.NextToken = out.NextToken
	}
}

// FindStream returns the ARN of the newest ENABLED stream of keyspace.table. It fails
// (wrapping ErrNotFound) when the table has none.
func (c *Client) FindStream(ctx context.Context, keyspace, table string) (string, error) {
	var best string
	var bestAt time.Time
	in := &ListStreamsInput{KeyspaceName: keyspace, TableName: table}
	for {
		page, err := c.ListStreams(ctx, in)
		if err != nil {
			return "", fmt.Errorf("find stream of %s.%s: %w", keyspace, table, err)
		}
		for _, s := range page.Streams {
			if s.KeyspaceName != keyspace || s.TableName != table {
				continue
			}
			d, err := c.GetStream(ctx, &GetStreamInput{StreamArn: s.StreamArn, MaxResults: 1})
			if err != nil {
				return "", fmt.Errorf("find stream of %s.%s: %w", keyspace, table, err)
			}
			if d.StreamStatus == StreamStatusEnabled && (best == "" || d.CreationRequestDateTime.After(bestAt)) {
				best, bestAt = s.StreamArn, d.CreationRequestDateTime
			}
		}
		if page.NextToken == "" {
			break
		}
		in.NextToken = page.NextToken
	}
	if best == "" {
		return "", fmt.Errorf("find stream of %s.%s: no ENABLED stream: %w", keyspace, table, ErrNotFound)
	}
	return best, nil
}

// call sends one operation with retries, decoding a 2xx answer into out.
func (c *Client) call(ctx context.Context, op string, in, out any) error {
	return c.callRaw(ctx, op, in, func(body []byte) error {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("decode response: %w", err)
		}
		return nil
	})
}

// callRaw sends one operation with retries and hands the body of the 2xx answer to decode.
func (c *Client) callRaw(ctx context.Context, op string, in any, decode func([]byte) error) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	releaseRetry := func(error) error { return nil }
	for attempt := 1; ; attempt++ {
		releaseAttempt, err := c.retryer.GetAttemptToken(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		resp, err := c.send(ctx, op, body)
		_ = releaseAttempt(err)
		_ = releaseRetry(err) // refunds the retry quota when the retry succeeded
		if err == nil {
			if err := decode(resp); err != nil {
				return fmt.Errorf("%s: %w", op, err)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", op, errors.Join(ctx.Err(), err))
		}
		if !c.retryer.IsErrorRetryable(err) {
			return fmt.Errorf("%s: %w", op, err)
		}
		if attempt >= c.retryer.MaxAttempts() {
			return fmt.Errorf("%s: after %d attempts: %w", op, attempt, err)
		}
		rel, qerr := c.retryer.GetRetryToken(ctx, err)
		if qerr != nil {
			return fmt.Errorf("%s: %w (retry quota: %v)", op, err, qerr)
		}
		releaseRetry = rel
		delay, derr := c.retryer.RetryDelay(attempt, err)
		if derr != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if c.onRetry != nil {
			c.onRetry(op, attempt, err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: %w", op, errors.Join(ctx.Err(), err))
		case <-t.C:
		}
	}
}

// sendError is a failure to exchange a request (connection refused, reset, dropped): the
// SDK retryers retry errors that say ConnectionError.
type sendError struct{ err error }

func (e *sendError) Error() string         { return "send request: " + e.err.Error() }
func (e *sendError) Unwrap() error         { return e.err }
func (e *sendError) ConnectionError() bool { return true }

// send signs and sends one attempt (the body is re-signed every time) and returns the
// body of a 2xx answer, else an *APIError or a *sendError. The attempt ends after the
// client's attempt timeout, as a *sendError when ctx has not ended.
func (c *Client) send(ctx context.Context, op string, body []byte) ([]byte, error) {
	attempt, cancel := context.WithTimeout(ctx, c.attempt)
	defer cancel()
	data, err := c.sendAttempt(attempt, op, body)
	if err != nil && ctx.Err() == nil && errors.Is(attempt.Err(), context.DeadlineExceeded) {
		return nil, &sendError{fmt.Errorf("%s %s: no complete answer within %s", c.endpoint, op, c.attempt)}
	}
	return data, err
}

func (c *Client) sendAttempt(ctx context.Context, op string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", TargetPrefix+op)
	if c.creds == nil {
		return nil, errors.New("no credentials configured (aws.Config.Credentials is nil)")
	}
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("retrieve credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), SigningName, c.region, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, &sendError{err}
	}
	defer resp.Body.Close()
	data, err := readBody(resp)
	if err != nil {
		return nil, &sendError{err}
	}
	if resp.StatusCode/100 != 2 {
		return nil, parseAPIError(resp.StatusCode, resp.Header, data)
	}
	return data, nil
}

// maxPresized bounds the buffer readBody sizes from Content-Length at once (a GetRecords
// answer is at most a few MB); a longer or unknown length grows as it is read.
const maxPresized = 32 << 20

// readBody reads a whole answer into a buffer sized once from Content-Length: io.ReadAll
// would grow it step by step, copying and clearing a GetRecords answer several times.
func readBody(resp *http.Response) ([]byte, error) {
	n := resp.ContentLength
	if n < 0 || n > maxPresized {
		return io.ReadAll(resp.Body)
	}
	buf := make([]byte, 0, n+1) // +1: the read that meets EOF needs no room of its own
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // a longer answer than announced: grow
		}
		m, err := resp.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// wrapRetryer adapts a legacy aws.Retryer to RetryerV2 (as the SDK middleware does).
func wrapRetryer(r aws.Retryer) aws.RetryerV2 {
	if v2, ok := r.(aws.RetryerV2); ok {
		return v2
	}
	return legacyRetryer{r}
}

type legacyRetryer struct{ aws.Retryer }

func (l legacyRetryer) GetAttemptToken(context.Context) (func(error) error, error) {
	return l.GetInitialToken(), nil
}
