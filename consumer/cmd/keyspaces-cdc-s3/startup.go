package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// settingError is a failure that a setting causes and that only a call can find (the stream
// or lease table it names does not exist, the HTTP port is busy): the process exits 2, as
// for a value refused at start, because restarting does not help.
type settingError struct{ err error }

func (e *settingError) Error() string { return e.err.Error() }
func (e *settingError) Unwrap() error { return e.err }

func settingErrorf(format string, args ...any) error {
	return &settingError{fmt.Errorf(format, args...)}
}

// errStopped is returned when SIGTERM or SIGINT arrived before the consumer started: it
// stops at once, without error.
var errStopped = errors.New("stopped during start-up")

// stillWaitingEvery is how often start-up says again what it is waiting for.
var stillWaitingEvery = 10 * time.Second

// await runs one step of start-up. It logs what the step waits for first, and again every
// stillWaitingEvery while it lasts, so a silent endpoint shows in the log; the step gets ctx,
// so SIGTERM ends it at once (errStopped).
func await(ctx context.Context, logger *slog.Logger, what string, attrs []any, step func(context.Context) error) error {
	logger.Info("start-up: waiting for "+what, attrs...)
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(stillWaitingEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				logger.Warn("start-up: still waiting for "+what, append(attrs, "waited", time.Since(start).Round(time.Second).String())...)
			}
		}
	}()
	err := step(ctx)
	close(done)
	if err != nil && ctx.Err() != nil {
		logger.Info("start-up: stopped while waiting for "+what, "waited", time.Since(start).Round(time.Millisecond).String())
		return errStopped
	}
	return err
}
