package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/lease"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Stack is a whole local deployment: dynalite, versitygw, the streams emulator, a bucket, a
// lease table, and any number of consumer workers.
type Stack struct {
	Dir         string
	Bin         Binaries
	DDB, S3     *devservers.Server
	Emulator    *Process
	EmulatorURL string
	Bucket      string
	LeaseTable  string
	Prefix      string
	S3Client    *s3.Client

	mu      sync.Mutex
	workers []*Process
	stopped bool
}

// StackConfig chooses the emulator's flags and the consumers' common settings.
type StackConfig struct {
	Dir          string   // where logs and S3 data go
	EmulatorArgs []string // e.g. -shards 4 -records 3000 -rate 0 -split-after 1500
	WorkerEnv    []string // settings every worker gets (CDC_FORMAT=avro, ...)
	Prefix       string
	// PersistDynamoDB keeps dynalite's tables on disk (under Dir), so that DDB.Kill and
	// DDB.Restart play a DynamoDB outage that loses nothing.
	PersistDynamoDB bool
}

// StartStack starts the servers and the emulator (which starts generating at once when its
// args say so), creates the bucket and the lease table.
func StartStack(ctx context.Context, bin Binaries, cfg StackConfig) (*Stack, error) {
	s := &Stack{Dir: cfg.Dir, Bin: bin, Bucket: "cdc-e2e-bucket", LeaseTable: "cdc-e2e-leases", Prefix: cfg.Prefix}
	ok := false
	defer func() {
		if !ok {
			s.Stop()
		}
	}()
	var err error
	ddbData := ""
	if cfg.PersistDynamoDB {
		ddbData = filepath.Join(cfg.Dir, "dynamodb")
	}
	if s.DDB, err = devservers.StartDynaliteAt(ctx, ddbData, filepath.Join(cfg.Dir, "logs")); err != nil {
		return nil, err
	}
	if s.S3, err = devservers.StartVersityGW(ctx, filepath.Join(cfg.Dir, "s3"), filepath.Join(cfg.Dir, "logs")); err != nil {
		return nil, err
	}
	port, err := devservers.FreePort()
	if err != nil {
		return nil, err
	}
	s.EmulatorURL = "http://127.0.0.1:" + strconv.Itoa(port)
	args := append([]string{"-addr", "127.0.0.1:" + strconv.Itoa(port)}, cfg.EmulatorArgs...)
	if s.Emulator, err = Start("emulator", filepath.Join(cfg.Dir, "logs"), bin.Emulator, nil, args...); err != nil {
		return nil, err
	}
	if err := Poll(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		if done, code := s.Emulator.Exited(); done {
			return false, fmt.Errorf("emulator exited with %d: %s", code, s.Emulator.Log())
		}
		resp, err := http.Get(s.EmulatorURL + "/_admin/healthz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		return nil, err
	}
	s.S3Client = s3.NewFromConfig(s.S3.AWSConfig(), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s.S3Client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		return nil, fmt.Errorf("harness: create bucket: %w", err)
	}
	if err := s.Leases().CreateIfMissing(ctx, time.Minute); err != nil {
		return nil, fmt.Errorf("harness: create lease table: %w", err)
	}
	ok = true
	return s, nil
}

// Leases is the stack's lease table.
func (s *Stack) Leases() *lease.Table {
	return lease.NewTable(dynamodb.NewFromConfig(s.DDB.AWSConfig()), s.LeaseTable)
}

// WorkerEnv is the environment of a consumer worker against this stack.
func (s *Stack) WorkerEnv(id string, httpPort int, extra ...string) []string {
	env := []string{
		"AWS_REGION=" + devservers.Region,
		"AWS_ACCESS_KEY_ID=" + devservers.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + devservers.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_ENDPOINT_URL_S3=" + s.S3.Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB=" + s.DDB.Endpoint,
		"AWS_ENDPOINT_URL_KEYSPACESSTREAMS=" + s.EmulatorURL,
		"AWS_ENDPOINT_URL_KEYSPACES=" + s.EmulatorURL,
		"CDC_KEYSPACE=media", "CDC_TABLE=media_content",
		"CDC_BUCKET=" + s.Bucket, "CDC_PREFIX=" + s.Prefix, "CDC_LEASE_TABLE=" + s.LeaseTable,
		"CDC_WORKER_ID=" + id, "CDC_HTTP_PORT=" + strconv.Itoa(httpPort),
		// Short timings so failover and tests take seconds, not minutes.
		"CDC_LEASE_FAILOVER_TIME=2s", "CDC_LEASE_RENEW_INTERVAL=400ms", "CDC_SHARD_SYNC_INTERVAL=1s",
		"CDC_POLL_INTERVAL=100ms", "CDC_FLUSH_INTERVAL=1s", "CDC_METRICS_INTERVAL=1s",
		"CDC_SHUTDOWN_TIMEOUT=30s",
	}
	return append(env, extra...)
}

// StartWorker starts a consumer worker named id with the stack's environment plus extra.
func (s *Stack) StartWorker(id string, extra ...string) (*Process, int, error) {
	port, err := devservers.FreePort()
	if err != nil {
		return nil, 0, err
	}
	p, err := Start(id, filepath.Join(s.Dir, "logs"), s.Bin.Consumer, s.WorkerEnv(id, port, extra...))
	if err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	s.workers = append(s.workers, p)
	s.mu.Unlock()
	return p, port, nil
}

// Stop ends every process the stack started.
func (s *Stack) Stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	workers := s.workers
	s.mu.Unlock()
	for _, w := range workers {
		w.Stop()
	}
	if s.Emulator != nil {
		s.Emulator.Stop()
	}
	if s.S3 != nil {
		s.S3.Stop()
	}
	if s.DDB != nil {
		s.DDB.Stop()
	}
}

// Admin calls the emulator's admin API: method, path (with query), a JSON body or nil, and
// decodes the answer into out (when not nil).
func (s *Stack) Admin(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.EmulatorURL+path, rd)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("emulator %s %s: %s: %s", method, path, resp.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Generator returns the emulator's generator status.
func (s *Stack) Generator(ctx context.Context) (emulator.GeneratorStatus, error) {
	var st emulator.GeneratorStatus
	err := s.Admin(ctx, http.MethodGet, "/_admin/generator/status", nil, &st)
	return st, err
}

// WaitGenerated polls the generator until it has written everything it was asked, or fails
// when it reports an error or limit passes.
func (s *Stack) WaitGenerated(ctx context.Context, limit time.Duration) error {
	return Poll(ctx, limit, 50*time.Millisecond, func() (bool, error) {
		st, err := s.Generator(ctx)
		if err != nil {
			return false, err
		}
		if st.Error != "" {
			return false, fmt.Errorf("generator: %s", st.Error)
		}
		return !st.Running && st.Written > 0, nil
	})
}

// Written is what the emulator wrote: per shard, every sequence number in order.
type Written struct {
	Total  int
	Shards map[string][]emulator.WrittenRecord
	Order  []string // shards in lineage order
}

// Written reads every record the emulator wrote (all streams), page by page, without their
// content (the content is checked through Landed events).
func (s *Stack) Written(ctx context.Context) (Written, error) {
	return s.written(ctx, false)
}

// written pages through the emulator's /_admin/written; withContent keeps each record's
// JSON (LiveKeys needs it), which otherwise is dropped to keep long runs small.
func (s *Stack) written(ctx context.Context, withContent bool) (Written, error) {
	const pageSize = 5000
	w := Written{Shards: map[string][]emulator.WrittenRecord{}}
	for offset := 0; ; offset += pageSize {
		var page struct {
			Streams []struct {
				Shards []struct {
					emulator.WrittenShard
					NextOffset int `json:"nextOffset"`
				} `json:"shards"`
			} `json:"streams"`
		}
		path := fmt.Sprintf("/_admin/written?offset=%d&limit=%d", offset, pageSize)
		if err := s.Admin(ctx, http.MethodGet, path, nil, &page); err != nil {
			return Written{}, err
		}
		more := false
		for _, st := range page.Streams {
			for _, sh := range st.Shards {
				if offset == 0 {
					w.Order = append(w.Order, sh.ShardID)
				}
				for _, r := range sh.Records {
					if !withContent {
						r.Record = nil
					}
					w.Shards[sh.ShardID] = append(w.Shards[sh.ShardID], r)
					w.Total++
				}
				more = more || sh.NextOffset > 0
			}
		}
		if !more {
			return w, nil
		}
	}
}

// Report compares what the emulator wrote with what landed in S3.
type Report struct {
	Written, Landed int
	Missing         []string // shard/seq written, not landed
	Duplicated      []string // shard/seq landed more than once
	Unexpected      []string // landed, never written
	OutOfOrder      []string // objects whose records are not in sequence order, or overlap
	Objects         int
}

// OK says whether every record landed exactly once, in order.
func (r Report) OK() bool {
	return r.Written == r.Landed && len(r.Missing)+len(r.Duplicated)+len(r.Unexpected)+len(r.OutOfOrder) == 0
}

func (r Report) String() string {
	head := func(s []string) []string { return s[:min(len(s), 5)] }
	return fmt.Sprintf("written %d, landed %d in %d objects; missing %d %v, duplicated %d %v, unexpected %d %v, out of order %d %v",
		r.Written, r.Landed, r.Objects, len(r.Missing), head(r.Missing), len(r.Duplicated), head(r.Duplicated),
		len(r.Unexpected), head(r.Unexpected), len(r.OutOfOrder), head(r.OutOfOrder))
}

// Compare checks landed events against written records: each exactly once, with the same
// created_at; and inside each shard, objects hold ascending, non-overlapping ranges.
func Compare(w Written, landed []Landed) Report {
	r := Report{Written: w.Total, Landed: len(landed)}
	want := map[string]emulator.WrittenRecord{}
	for shard, recs := range w.Shards {
		for _, rec := range recs {
			want[shard+"/"+rec.SequenceNumber] = rec
		}
	}
	seen := map[string]int{}
	byObject := map[string][]Landed{}
	for _, l := range landed {
		id := l.Shard + "/" + l.Seq
		seen[id]++
		byObject[l.Key] = append(byObject[l.Key], l)
		if _, ok := want[id]; !ok {
			r.Unexpected = append(r.Unexpected, id)
		}
	}
	for id := range want {
		switch n := seen[id]; {
		case n == 0:
			r.Missing = append(r.Missing, id)
		case n > 1:
			r.Duplicated = append(r.Duplicated, id)
		}
	}
	r.Objects = len(byObject)
	type span struct{ first, last, key string }
	spans := map[string][]span{}
	for key, ls := range byObject {
		for i := 1; i < len(ls); i++ {
			if seqLess(ls[i].Seq, ls[i-1].Seq) || ls[i].Seq == ls[i-1].Seq {
				r.OutOfOrder = append(r.OutOfOrder, key)
				break
			}
		}
		spans[ls[0].Shard] = append(spans[ls[0].Shard], span{ls[0].Seq, ls[len(ls)-1].Seq, key})
	}
	for _, sp := range spans {
		sort.Slice(sp, func(i, j int) bool { return seqLess(sp[i].first, sp[j].first) })
		for i := 1; i < len(sp); i++ {
			if !seqLess(sp[i-1].last, sp[i].first) {
				r.OutOfOrder = append(r.OutOfOrder, sp[i].key+" overlaps "+sp[i-1].key)
			}
		}
	}
	sort.Strings(r.Missing)
	sort.Strings(r.Duplicated)
	return r
}

// seqLess orders sequence numbers numerically.
func seqLess(a, b string) bool { return streams.CompareSequenceNumbers(a, b) < 0 }

// WaitLanded polls S3 until every written record has landed (or limit passes), and
// returns the final comparison.
func (s *Stack) WaitLanded(ctx context.Context, limit time.Duration, progress func(Report)) (Report, error) {
	var last Report
	err := Poll(ctx, limit, 500*time.Millisecond, func() (bool, error) {
		w, err := s.Written(ctx)
		if err != nil {
			return false, err
		}
		landed, _, err := ReadLanded(ctx, s.S3Client, s.Bucket, s.Prefix)
		if err != nil {
			return false, err
		}
		last = Compare(w, landed)
		if progress != nil {
			progress(last)
		}
		return last.Landed >= last.Written && len(last.Missing) == 0, nil
	})
	return last, err
}
