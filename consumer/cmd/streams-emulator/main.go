// Command streams-emulator runs a local Amazon Keyspaces Streams service (see package
// consumer/emulator): the protocol on POST /, the admin API under /_admin/.
//
//	go run ./consumer/cmd/streams-emulator -addr 127.0.0.1:8000 -records 10000 -rate 200
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "streams-emulator:", err)
		}
		os.Exit(2)
	}
}

type options struct {
	addr, region, account, keyspace, table, viewType, load, logLevel string
	shards, records, rowBytes, largeBytes, partitions, splitAfter    int
	rate, largeRate, throttleRate, errorRate, dropRate               float64
	duration, splitEvery, iteratorTTL, retention, latency            time.Duration
	seed                                                             uint64
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("streams-emulator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8000", "listen address (:0 picks a free port; the bound address is logged)")
	fs.StringVar(&o.region, "region", "us-east-1", "region in ARNs")
	fs.StringVar(&o.account, "account", "111122223333", "account in ARNs")
	fs.StringVar(&o.keyspace, "keyspace", "media", "keyspace of the stream created at start (empty: none)")
	fs.StringVar(&o.table, "table", "media_content", "table of the stream created at start")
	fs.StringVar(&o.viewType, "view-type", "NEW_AND_OLD_IMAGES", "view type: NEW_IMAGE|OLD_IMAGE|NEW_AND_OLD_IMAGES|KEYS_ONLY")
	fs.IntVar(&o.shards, "shards", 1, "open shards of the stream at start")
	fs.Float64Var(&o.rate, "rate", 100, "generator records per second (0: as fast as possible)")
	fs.IntVar(&o.records, "records", 0, "generate this many records (0: no limit; the generator runs when -records or -duration is set)")
	fs.DurationVar(&o.duration, "duration", 0, "generate for this long (0: no limit)")
	fs.IntVar(&o.rowBytes, "row-bytes", 0, "size rows to about this many bytes of wire JSON (0: natural size)")
	fs.Float64Var(&o.largeRate, "large-rate", 0.02, "fraction of rows made large")
	fs.IntVar(&o.largeBytes, "large-bytes", 40000, "size of large rows in bytes")
	fs.IntVar(&o.partitions, "partitions", 64, "distinct partition keys the generator writes")
	fs.IntVar(&o.splitAfter, "split-after", 0, "split the busiest open shard after every N generated records (0: never)")
	fs.DurationVar(&o.splitEvery, "split-every", 0, "split the busiest open shard at this interval (0: never)")
	fs.DurationVar(&o.iteratorTTL, "iterator-ttl", 15*time.Minute, "lifetime of shard iterators and next tokens")
	fs.DurationVar(&o.retention, "retention", 24*time.Hour, "records older than this are trimmed")
	fs.Float64Var(&o.throttleRate, "throttle-rate", 0, "fraction of requests answered 400 ThrottlingException")
	fs.Float64Var(&o.errorRate, "error-rate", 0, "fraction of requests answered 500 InternalServerException")
	fs.DurationVar(&o.latency, "latency", 0, "latency added to every request")
	fs.Float64Var(&o.dropRate, "drop-rate", 0, "fraction of requests whose connection is dropped")
	fs.StringVar(&o.load, "load", "", "JSON Lines file of records to put into the stream at start")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the generator and of the fault dice")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug|info|warn|error")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if (o.records > 0 || o.duration > 0 || o.load != "" || o.splitEvery > 0) && o.keyspace == "" {
		return o, errors.New("-records, -duration, -load and -split-every need the stream of -keyspace/-table")
	}
	return o, nil
}

// run serves until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, logOut io.Writer) error {
	o, err := parseFlags(args, logOut)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	emu, err := emulator.New(emulator.Config{
		Region: o.region, Account: o.account, IteratorTTL: o.iteratorTTL, Retention: o.retention,
		Seed: o.seed, Logger: log,
		Faults: emulator.Faults{ThrottleRate: o.throttleRate, ErrorRate: o.errorRate, DropRate: o.dropRate, Latency: o.latency},
	})
	if err != nil {
		return err
	}
	var arn string
	if o.keyspace != "" {
		if arn, err = emu.CreateStream(emulator.StreamSpec{Keyspace: o.keyspace, Table: o.table, ViewType: o.viewType, Shards: o.shards}); err != nil {
			return err
		}
	}
	if o.load != "" {
		data, err := os.ReadFile(o.load)
		if err != nil {
			return fmt.Errorf("-load: %w", err)
		}
		recs, err := emulator.ParseRecords(data)
		if err != nil {
			return fmt.Errorf("-load %s: %w", o.load, err)
		}
		if _, err := emu.PutRecords(arn, recs); err != nil {
			return fmt.Errorf("-load %s: %w", o.load, err)
		}
		log.Info("records loaded", "file", o.load, "records", len(recs), "streamArn", arn)
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "endpoint", "http://"+ln.Addr().String(), "streamArn", arn)

	if o.records > 0 || o.duration > 0 {
		err := emu.StartGenerator(emulator.GeneratorConfig{
			StreamArn: arn, Rate: o.rate, Records: o.records, Duration: emulator.Duration(o.duration),
			SplitAfter: o.splitAfter, Seed: o.seed, Partitions: o.partitions, RowBytes: o.rowBytes,
			LargeRowRate: o.largeRate, LargeRowBytes: o.largeBytes,
		})
		if err != nil {
			srv.Close()
			return err
		}
	}
	if o.splitEvery > 0 {
		go emu.RunSplitter(ctx, arn, o.splitEvery)
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	emu.StopGenerator()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
