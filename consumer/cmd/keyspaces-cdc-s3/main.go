// Command keyspaces-cdc-s3 copies every change of an Amazon Keyspaces table's CDC stream to
// S3 as JSON Lines or Avro files. Several copies share the stream's shards through leases in
// a DynamoDB table. `keyspaces-cdc-s3 --help` lists the settings, `--version` the build.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// Exit codes (docs/operations.md, section exit status).
const (
	// exitOK: stopped on request (SIGTERM, SIGINT) after draining, or --help, --version.
	exitOK = 0
	// exitFailed: the consumer stopped on an error of its environment (an AWS service
	// unreachable or refusing after the retries, a fatal error while running), or its
	// shutdown overran CDC_SHUTDOWN_TIMEOUT. Restarting may help.
	exitFailed = 1
	// exitBadConfig: a setting is wrong (a bad or unknown value, a busy port, a stream or
	// lease table that does not exist): fix it; restarting does not help.
	exitBadConfig = 2
)

// hardExit ends the process when its shutdown overran the budget (tests replace it).
var hardExit = os.Exit

func main() {
	code := run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stopProfile()
	os.Exit(code)
}

// run runs the command with args (without the program name) and environ (KEY=value items)
// and returns its exit code.
func run(args, environ []string, stdout, stderr io.Writer) int {
	getenv := lookup(environ)
	if len(args) > 0 {
		switch args[0] {
		case "healthcheck":
			return healthcheck(getenv, stdout)
		case "--version", "-version", "version":
			fmt.Fprintln(stdout, buildInfo())
			return exitOK
		}
	}
	cfg, err := config.Load(args, getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		return exitOK
	}
	if err := errors.Join(config.CheckEnviron(environ), err); err != nil {
		return badConfig(stderr, err)
	}
	// The port first: a busy one is a setting error found before any call or table.
	ln, err := listen(cfg.HTTPPort)
	if err != nil {
		return badConfig(stderr, fmt.Errorf("CDC_HTTP_PORT (--http-port): port %d cannot be served (another process listens on it?): %w", cfg.HTTPPort, err))
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("app", cfg.ApplicationName)
	logger.Info("starting", "build", buildInfo(), "version", version)

	// SIGTERM (ECS stopping the task) and SIGINT start the graceful shutdown: stop reading,
	// flush, checkpoint, release the leases; during start-up they stop it at once.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	defer watchShutdown(ctx, cfg.ShutdownTimeout, logger)()
	err = runConsumer(ctx, cfg, getenv, ln, stdout, logger)
	var bad *settingError
	switch {
	case errors.Is(err, errStopped):
		return exitOK
	case errors.As(err, &bad):
		logger.Error("consumer stopped: a setting is wrong", "err", err)
		return badConfig(stderr, err)
	case err != nil:
		logger.Error("consumer stopped", "err", err)
		return exitFailed
	}
	return exitOK
}

// badConfig reports what is wrong with the settings, one line each, and returns exit code 2.
func badConfig(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "keyspaces-cdc-s3: invalid configuration:")
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(stderr, "  "+line)
	}
	return exitBadConfig
}

// lookup reads a variable of environ as os.Getenv reads the process's (the last one wins).
func lookup(environ []string) func(string) string {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	return func(k string) string { return vars[k] }
}

// watchShutdown ends the process (exit 1) when it has not stopped within budget of ctx's
// end (SIGTERM): the graceful shutdown stops hard before that, so this only catches a step
// that does not end with its context. The returned stop ends the watch.
func watchShutdown(ctx context.Context, budget time.Duration, logger *slog.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTimer(budget)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			logger.Error("shutdown budget spent: exiting now", "budget", budget.String())
			hardExit(exitFailed)
		}
	}()
	return func() { close(done) }
}
