package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// GeneratorConfig starts a workload writing into a stream.
type GeneratorConfig struct {
	StreamArn string `json:"streamArn"`
	// Rate is records per second (0: as fast as possible).
	Rate float64 `json:"rate"`
	// Records stops the run after that many records; Duration after that long. With both
	// zero the run goes on until stopped.
	Records  int      `json:"records"`
	Duration Duration `json:"duration"`
	// SplitAfter splits the busiest open shard after every SplitAfter records (0: never).
	SplitAfter    int     `json:"splitAfter"`
	Seed          uint64  `json:"seed"`
	Partitions    int     `json:"partitions"`
	RowBytes      int     `json:"rowBytes"`
	LargeRowRate  float64 `json:"largeRowRate"`
	LargeRowBytes int     `json:"largeRowBytes"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string ("1m30s") or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("duration: want a string like \"30s\"")
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// GeneratorStatus reports the current or last generator run.
type GeneratorStatus struct {
	Running    bool            `json:"running"`
	Config     GeneratorConfig `json:"config"`
	Written    int             `json:"written"`
	Splits     []string        `json:"splits,omitempty"` // shards the run split
	StartedAt  time.Time       `json:"startedAt"`
	FinishedAt time.Time       `json:"finishedAt,omitzero"`
	Error      string          `json:"error,omitempty"`
}

type generatorRun struct {
	cancel context.CancelFunc
	done   chan struct{}
	status GeneratorStatus // guarded by Server.mu
}

// StartGenerator starts a workload run in the background; one run at a time.
func (s *Server) StartGenerator(cfg GeneratorConfig) error {
	viewType, schema, err := s.streamInfo(cfg.StreamArn)
	if err != nil {
		return fmt.Errorf("start generator: %w", err)
	}
	if schema == nil {
		return fmt.Errorf("start generator: the table of %s has no schema", cfg.StreamArn)
	}
	if cfg.Rate < 0 || cfg.Records < 0 || cfg.Duration < 0 || cfg.SplitAfter < 0 || cfg.RowBytes < 0 || cfg.LargeRowRate < 0 || cfg.LargeRowRate > 1 {
		return errors.New("start generator: negative rate, records, duration, split-after or row size, or a large-row rate beyond 0..1")
	}
	wl, err := NewWorkload(WorkloadConfig{
		Schema: schema, ViewType: viewType, Seed: cfg.Seed, Partitions: cfg.Partitions,
		RowBytes: cfg.RowBytes, LargeRowRate: cfg.LargeRowRate, LargeRowBytes: cfg.LargeRowBytes,
	})
	if err != nil {
		return fmt.Errorf("start generator: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.Duration > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), time.Duration(cfg.Duration))
	}
	run := &generatorRun{cancel: cancel, done: make(chan struct{}),
		status: GeneratorStatus{Running: true, Config: cfg, StartedAt: time.Now().UTC()}}
	s.mu.Lock()
	if s.gen != nil && s.gen.status.Running {
		s.mu.Unlock()
		cancel()
		return errors.New("start generator: a run is in progress")
	}
	s.gen = run
	s.mu.Unlock()
	s.log.Info("generator started", "streamArn", cfg.StreamArn, "rate", cfg.Rate, "records", cfg.Records, "duration", time.Duration(cfg.Duration).String(), "seed", cfg.Seed)
	go s.runGenerator(ctx, run, wl)
	return nil
}

func (s *Server) runGenerator(ctx context.Context, run *generatorRun, wl *Workload) {
	defer close(run.done)
	defer run.cancel()
	cfg := run.status.Config
	start := time.Now()
	var runErr error
	for i := 0; cfg.Records == 0 || i < cfg.Records; i++ {
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
				case <-t.C:
				}
			}
		}
		if ctx.Err() != nil {
			break
		}
		rec := wl.Next(s.cfg.Now())
		if _, err := s.PutRecords(cfg.StreamArn, []streams.Record{rec}); err != nil {
			runErr = err
			break
		}
		s.mu.Lock()
		run.status.Written++
		written := run.status.Written
		s.mu.Unlock()
		if cfg.SplitAfter > 0 && written%cfg.SplitAfter == 0 {
			children, err := s.Split(cfg.StreamArn, "")
			if err != nil {
				runErr = err
				break
			}
			s.mu.Lock()
			run.status.Splits = append(run.status.Splits, children...)
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	run.status.Running = false
	run.status.FinishedAt = time.Now().UTC()
	if runErr != nil {
		run.status.Error = runErr.Error()
	}
	st := run.status
	s.mu.Unlock()
	s.log.Info("generator finished", "streamArn", cfg.StreamArn, "written", st.Written, "error", st.Error)
}

// StopGenerator stops the current run (if any) and waits for it to end.
func (s *Server) StopGenerator() GeneratorStatus {
	s.mu.Lock()
	run := s.gen
	s.mu.Unlock()
	if run == nil {
		return GeneratorStatus{}
	}
	run.cancel()
	<-run.done
	return s.GeneratorStatus()
}

// WaitGenerator waits until the current run ends (or ctx does) and returns its status.
func (s *Server) WaitGenerator(ctx context.Context) (GeneratorStatus, error) {
	s.mu.Lock()
	run := s.gen
	s.mu.Unlock()
	if run == nil {
		return GeneratorStatus{}, errors.New("no generator run")
	}
	select {
	case <-run.done:
		return s.GeneratorStatus(), nil
	case <-ctx.Done():
		return s.GeneratorStatus(), ctx.Err()
	}
}

// GeneratorStatus returns the status of the current or last run.
func (s *Server) GeneratorStatus() GeneratorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen == nil {
		return GeneratorStatus{}
	}
	st := s.gen.status
	st.Splits = append([]string(nil), st.Splits...)
	return st
}

// RunSplitter splits the busiest open shard of a stream every interval until ctx ends.
func (s *Server) RunSplitter(ctx context.Context, streamArn string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Split(streamArn, ""); err != nil {
				s.log.Warn("scheduled split failed", "streamArn", streamArn, "error", err.Error())
			}
		}
	}
}
