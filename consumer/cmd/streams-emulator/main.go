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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode is 0 after -h (the help went to stdout), 2 after any other error (written to
// stderr, a line each).
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(stderr, "streams-emulator:", line)
	}
	return 2
}

type options struct {
	addr, region, account, keyspace, table, viewType, load, logLevel string
	shards, records, rowBytes, largeBytes, partitions, splitAfter    int
	rate, largeRate, throttleRate, errorRate, dropRate               float64
	duration, splitEvery, iteratorTTL, retention, latency            time.Duration
	seed                                                             uint64
}

// parseFlags reads the flags; -h writes the help to help and returns flag.ErrHelp. Every bad
// value is reported at once.
func parseFlags(args []string, help io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("streams-emulator", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
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
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, help)
			return o, err
		}
		return o, fmt.Errorf("%w (-h lists the flags)", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %v (-h lists the flags)", fs.Args())
	}
	return o, o.check()
}

// usage is the emulator's help.
func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `streams-emulator: a local Amazon Keyspaces Streams service, for development and tests.

It serves the Keyspaces Streams protocol (POST /, AWS JSON 1.0: ListStreams, GetStream,
GetShardIterator, GetRecords) and the Keyspaces GetTable/GetType calls a consumer needs; a
generator writes change records to the sample table media.media_content; an admin API under
/_admin/ drives it and lists every record written. Logs are JSON on stderr; the first
"listening" line gives the endpoint. SIGINT or SIGTERM stop it. More: docs/emulator.md.

Usage: streams-emulator [flags]

  streams-emulator -records 10000 -rate 200 -shards 2 -split-after 4000
  AWS_ENDPOINT_URL_KEYSPACESSTREAMS=http://127.0.0.1:8000 keyspaces-cdc-s3 ...

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// viewTypes are the view types a stream can have.
var viewTypes = []string{"NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY"}

// check reports every flag whose value the emulator cannot use.
func (o options) check() error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		errs = append(errs, fmt.Errorf("-%s %s", flag, fmt.Sprintf(format, args...)))
	}
	fraction := func(flag string, v float64) {
		if v < 0 || v > 1 {
			bad(flag, "%v: want a fraction from 0 to 1", v)
		}
	}
	atLeast := func(flag string, v, lo int) {
		if v < lo {
			bad(flag, "%d: want %d or more", v, lo)
		}
	}
	notNegative := func(flag string, d time.Duration) {
		if d < 0 {
			bad(flag, "%s: want 0 or more", d)
		}
	}
	positive := func(flag string, d time.Duration) {
		if d <= 0 {
			bad(flag, "%s: want more than 0", d)
		}
	}
	if o.keyspace != "" {
		atLeast("shards", o.shards, 1)
		if !slices.Contains(viewTypes, o.viewType) {
			bad("view-type", "%q: want one of %s", o.viewType, strings.Join(viewTypes, ", "))
		}
	}
	if o.rate < 0 {
		bad("rate", "%v: want 0 (as fast as possible) or more records per second", o.rate)
	}
	atLeast("records", o.records, 0)
	atLeast("row-bytes", o.rowBytes, 0)
	atLeast("large-bytes", o.largeBytes, 0)
	atLeast("partitions", o.partitions, 1)
	atLeast("split-after", o.splitAfter, 0)
	fraction("large-rate", o.largeRate)
	fraction("throttle-rate", o.throttleRate)
	fraction("error-rate", o.errorRate)
	fraction("drop-rate", o.dropRate)
	notNegative("duration", o.duration)
	notNegative("split-every", o.splitEvery)
	notNegative("latency", o.latency)
	positive("iterator-ttl", o.iteratorTTL)
	positive("retention", o.retention)
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		bad("log-level", "%q: want debug, info, warn or error", o.logLevel)
	}
	if (o.records > 0 || o.duration > 0 || o.load != "" || o.splitEvery > 0) && o.keyspace == "" {
		errs = append(errs, errors.New("-records, -duration, -load and -split-every need the stream of -keyspace/-table"))
	}
	return errors.Join(errs...)
}

// run serves until ctx ends, then shuts down gracefully. -h writes the help to stdout.
func run(ctx context.Context, args []string, stdout, logOut io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	var level slog.Level
	_ = level.UnmarshalText([]byte(o.logLevel)) // checked by parseFlags
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
