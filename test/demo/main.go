// Command demo runs the whole pipeline on this machine, with no AWS account: the Keyspaces
// Streams emulator writing the sample media.media_content workload (with a shard split
// midway), dynalite for the leases, versitygw for S3, and two consumer workers. It prints
// progress while it runs, then a summary, and stops everything it started when done or on
// Ctrl-C. `make demo` runs it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test/harness"
)

func main() {
	records := flag.Int("records", 20000, "change records the emulator writes")
	rate := flag.Int("rate", 1000, "records per second")
	shards := flag.Int("shards", 4, "shards of the stream at start")
	format := flag.String("format", "json", "the workers' CDC_FORMAT: json, avro, parquet or iceberg (an Iceberg change log and mirror in a SQLite catalog)")
	workers := flag.Int("workers", 2, "consumer workers")
	dir := flag.String("dir", "demo-data", "folder for logs and the S3 server's data (kept afterwards)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, options{*records, *rate, *shards, *workers, *format, *dir}); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	records, rate, shards, workers int
	format, dir                    string
}

// tick is how often the demo prints its progress; settle is how long it waits, once the
// emulator has written everything, for the rest to land before it reports what is missing.
const tick, settle = 2 * time.Second, 2 * time.Minute

func run(ctx context.Context, out io.Writer, o options) error {
	abs, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(abs)
	fmt.Fprintf(out, "building the consumer and the emulator...\n")
	bin, err := harness.Build(ctx, filepath.Join(abs, "bin"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "starting dynalite, versitygw and the emulator (%d shards, %d records at %d/s, split after %d)...\n",
		o.shards, o.records, o.rate, o.records/2)
	s, err := harness.StartStack(ctx, bin, harness.StackConfig{
		Dir: abs, Prefix: "cdc/",
		EmulatorArgs: []string{"-shards", strconv.Itoa(o.shards), "-records", strconv.Itoa(o.records),
			"-rate", strconv.Itoa(o.rate), "-split-after", strconv.Itoa(o.records / 2)},
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	env, landedIn, closeLanded, err := output(ctx, s, abs, o.format)
	if err != nil {
		return err
	}
	defer closeLanded()
	// The first worker to exit ends the demo with its error: a rejected setting must not leave
	// the demo printing "landed 0" forever.
	exited, ports, err := startWorkers(out, s, o.workers, env)
	if err != nil {
		return err
	}
	start := time.Now()
	last, err := watch(ctx, out, s, exited, ports, landedIn)
	if err != nil || ctx.Err() != nil {
		return err
	}
	printSummary(out, last, time.Since(start), abs, s.Bucket, o.format)
	if !last.OK() {
		return fmt.Errorf("not every record landed exactly once: %s", last)
	}
	if o.format == "iceberg" {
		return printMirror(ctx, out, s, filepath.Join(abs, "catalog.db"))
	}
	return nil
}

// printMirror waits until the mirror holds every shard up to its last record, and prints
// its row count next to the count of live keys the emulator's records imply.
func printMirror(ctx context.Context, out io.Writer, s *harness.Stack, catalogFile string) error {
	mirror, closeMirror, err := s.OpenMirror(ctx, catalogFile)
	if err != nil {
		return err
	}
	defer closeMirror()
	live, lastSeq, err := s.LiveKeys(ctx)
	if err != nil {
		return err
	}
	var rows int64
	if err := harness.Poll(ctx, settle, tick, func() (bool, error) {
		n, ok, err := harness.MirrorRows(ctx, mirror, lastSeq)
		rows = n
		return ok, err
	}); err != nil {
		return fmt.Errorf("the mirror does not hold every record: %w", err)
	}
	fmt.Fprintf(out, "\nthe mirror media.media_content (the table's current state):\n")
	fmt.Fprintf(out, "  mirror rows:                         %d\n", rows)
	fmt.Fprintf(out, "  live keys in the emulator's records: %d\n", len(live))
	if rows != int64(len(live)) {
		return fmt.Errorf("the mirror holds %d rows, the emulator's records leave %d live keys", rows, len(live))
	}
	return nil
}

// startWorkers starts the demo's workers with the format's settings env; exited receives
// each one that exits.
func startWorkers(out io.Writer, s *harness.Stack, workers int, env []string) (exited chan *harness.Process, ports []int, err error) {
	exited = make(chan *harness.Process, workers)
	for i := 1; i <= workers; i++ {
		p, port, err := s.StartWorker(fmt.Sprintf("worker-%d", i), append(env[:len(env):len(env)], "CDC_FLUSH_INTERVAL=2s",
			"CDC_FLUSH_RECORDS=2000", "CDC_METRICS_INTERVAL="+tick.String())...)
		if err != nil {
			return nil, nil, err
		}
		go func() { <-p.Done(); exited <- p }()
		ports = append(ports, port)
		fmt.Fprintf(out, "worker-%d: http://127.0.0.1:%d/metrics  log: %s\n", i, port, p.LogPath)
	}
	return exited, ports, nil
}

// watch prints the progress every tick until every record landed (or settle passed after the
// emulator finished), and returns the comparison of what landed with what was written. It
// returns an error when a worker exits, and nothing when ctx ends.
func watch(ctx context.Context, out io.Writer, s *harness.Stack, exited <-chan *harness.Process, ports []int,
	landedIn landedFunc) (harness.Report, error) {
	start := time.Now()
	t := time.NewTicker(tick)
	defer t.Stop()
	var finished time.Time // when the emulator had written everything
	fmt.Fprintf(out, "every %s: records the emulator wrote, records landed (read back), objects (data files), the workers' largest lag, shard splits\n", tick)
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\ninterrupted: stopping everything")
			return harness.Report{}, nil
		case p := <-exited:
			return harness.Report{}, workerExited(p)
		case <-t.C:
		}
		// What landed is read before what was written, so landed never runs ahead of written.
		landed, objects, err := landedIn(ctx)
		if err != nil {
			return harness.Report{}, err
		}
		gen, err := s.Generator(ctx)
		if err != nil {
			return harness.Report{}, err
		}
		fmt.Fprintf(out, "%5.0fs  written %6d  landed %6d  objects %4d  max lag %6.0f ms  splits %d\n",
			time.Since(start).Seconds(), gen.Written, len(landed), objects, maxLag(ports), len(gen.Splits)/2) // two children per split
		if gen.Running || gen.Written == 0 {
			continue
		}
		if finished.IsZero() {
			finished = time.Now()
		}
		if len(landed) < gen.Written && time.Since(finished) < settle {
			continue
		}
		fmt.Fprintf(out, "%5.0fs  checking every landed record against what the emulator wrote...\n", time.Since(start).Seconds())
		w, err := s.Written(ctx)
		if err != nil {
			return harness.Report{}, err
		}
		last := harness.Compare(w, landed)
		last.Objects = objects
		if len(last.Missing) == 0 || time.Since(finished) >= settle {
			return last, nil
		}
	}
}

// landedFunc reads what has landed so far: the records, and how many objects (data files)
// hold them.
type landedFunc func(context.Context) ([]harness.Landed, int, error)

// output returns the workers' settings of the format, and how to read back what landed;
// closeFn releases the reader.
func output(ctx context.Context, s *harness.Stack, abs, format string) (env []string, landedIn landedFunc, closeFn func(), err error) {
	if format == "iceberg" {
		catalogFile := filepath.Join(abs, "catalog.db")
		table, closeLog, err := s.OpenChangeLog(ctx, catalogFile)
		if err != nil {
			return nil, nil, nil, err
		}
		// A commit round of both tables (the change log, then the mirror) takes a few
		// seconds here: a flush interval of 1 s would leave each round a handful of records.
		env := append(s.IcebergEnv(catalogFile), "CDC_FLUSH_INTERVAL=5s")
		return env, func(ctx context.Context) ([]harness.Landed, int, error) {
			return harness.IcebergLanded(ctx, table)
		}, closeLog, nil
	}
	r := &harness.LandedReader{Client: s.S3Client, Bucket: s.Bucket, Prefix: s.Prefix}
	return []string{"CDC_FORMAT=" + format}, func(ctx context.Context) ([]harness.Landed, int, error) {
		landed, objs, err := r.Read(ctx)
		return landed, len(objs), err
	}, func() {}, nil
}

// printSummary prints the counts and where to look.
func printSummary(out io.Writer, last harness.Report, took time.Duration, abs, bucket, format string) {
	fmt.Fprintf(out, "\nsummary after %s\n", took.Round(time.Second))
	fmt.Fprintf(out, "  records written by the emulator: %d\n", last.Written)
	fmt.Fprintf(out, "  records landed in S3:            %d (missing %d, duplicated %d)\n", last.Landed, len(last.Missing), len(last.Duplicated))
	fmt.Fprintf(out, "  objects (data files):            %d\n", last.Objects)
	fmt.Fprintf(out, "\nwhere to look:\n")
	fmt.Fprintf(out, "  logs:                            %s\n", filepath.Join(abs, "logs"))
	if format == "iceberg" {
		fmt.Fprintf(out, "  the change log media.media_content_changes and the mirror media.media_content, in the SQL catalog %s\n", filepath.Join(abs, "catalog.db"))
		fmt.Fprintf(out, "  its files (the S3 server's):     %s\n", filepath.Join(abs, "s3", bucket, "warehouse", "media.db", "media_content_changes"))
		return
	}
	data := filepath.Join(abs, "s3", bucket, "cdc", "media", "media_content")
	fmt.Fprintf(out, "  objects (the S3 server's files): %s\n", data)
	fmt.Fprintf(out, "  e.g. %s\n", peekCommand(format, data))
}

// peekCommand is a command that prints the first event of one of the files, for the format.
func peekCommand(format, data string) string {
	if format == "parquet" {
		// DuckDB reads Parquet with no extension (npm @duckdb/node-api, or the duckdb CLI).
		return fmt.Sprintf(`duckdb -c "SELECT * FROM read_parquet('%s/dt=*/hr=*/*.parquet', hive_partitioning = true, union_by_name = true) LIMIT 1"`, data)
	}
	if format == "avro" {
		// DuckDB reads Avro with its avro extension (INSTALL avro once); avro-tools tojson or
		// Python's fastavro do as well.
		return fmt.Sprintf(`duckdb -c "INSTALL avro; LOAD avro; SELECT * FROM read_avro('%s/dt=*/hr=*/*.avro') LIMIT 1"`, data)
	}
	return fmt.Sprintf("zcat %s/dt=*/hr=*/*.jsonl.gz | head -1", data)
}

// workerExited is the error of a worker that exited before the demo ended: its exit status
// and the last lines of its log (without the metrics lines).
func workerExited(p *harness.Process) error {
	_, code := p.Exited()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(p.Log()), "\n") {
		if l != "" && !strings.Contains(l, `"_aws"`) {
			lines = append(lines, "  "+l)
		}
	}
	lines = lines[max(0, len(lines)-15):]
	return fmt.Errorf("%s exited with status %d before the demo ended (log: %s):\n%s", p.Name, code, p.LogPath, strings.Join(lines, "\n"))
}

// maxLag reads MillisBehindLatest from each worker's /metrics and returns the largest.
func maxLag(ports []int) float64 {
	var lags []float64
	for _, p := range ports {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(p) + "/metrics")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "cdc_millis_behind_latest{") {
				if v, err := strconv.ParseFloat(line[strings.LastIndex(line, " ")+1:], 64); err == nil {
					lags = append(lags, v)
				}
			}
		}
	}
	if len(lags) == 0 {
		return 0
	}
	sort.Float64s(lags)
	return lags[len(lags)-1]
}
