// Command keyspaces-cdc-s3 copies every change of an Amazon Keyspaces table's CDC stream to
// S3 as JSON Lines or Avro files. Several copies share the stream's shards through leases in
// a DynamoDB table. `keyspaces-cdc-s3 --help` lists the settings.
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

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// Exit codes.
const (
	exitOK        = 0
	exitFailed    = 1 // the consumer stopped on an error
	exitBadConfig = 2 // a setting is wrong: nothing was started
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(getenv, stdout)
	}
	cfg, err := config.Load(args, getenv, stdout)
	if errors.Is(err, config.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "keyspaces-cdc-s3: invalid configuration:")
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintln(stderr, "  "+line)
		}
		return exitBadConfig
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel})).
		With("app", cfg.ApplicationName)

	// SIGTERM (ECS stopping the task) and SIGINT start the graceful shutdown: stop reading,
	// flush, checkpoint, release the leases.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := runConsumer(ctx, cfg, getenv, stdout, logger); err != nil {
		logger.Error("consumer stopped", "err", err)
		return exitFailed
	}
	return exitOK
}
