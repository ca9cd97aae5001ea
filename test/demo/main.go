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
	format := flag.String("format", "json", "json, avro, parquet or iceberg (an Iceberg change log in a SQLite catalog)")
	workers := flag.Int("workers", 2, "consumer workers")
	dir := flag.String("dir", "demo-data", "folder for logs and the S3 server's data (kept afterwards)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *records, *rate, *shards, *workers, *format, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, records, rate, shards, workers int, format, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	_ = os.RemoveAll(abs)
	fmt.Printf("building the consumer and the emulator...\n")
	bin, err := harness.Build(ctx, filepath.Join(abs, "bin"))
	if err != nil {
		return err
	}
	fmt.Printf("starting dynalite, versitygw and the emulator (%d shards, %d records at %d/s, split after %d)...\n",
		shards, records, rate, records/2)
	s, err := harness.StartStack(ctx, bin, harness.StackConfig{
		Dir: abs, Prefix: "cdc/",
		EmulatorArgs: []string{"-shards", strconv.Itoa(shards), "-records", strconv.Itoa(records),
			"-rate", strconv.Itoa(rate), "-split-after", strconv.Itoa(records / 2)},
	})
	if err != nil {
		return err
	}
	defer s.Stop()
	env, landedIn, closeLanded, err := output(ctx, s, abs, format)
	if err != nil {
		return err
	}
	defer closeLanded()
	ports := make([]int, 0, workers)
	for i := 1; i <= workers; i++ {
		_, port, err := s.StartWorker(fmt.Sprintf("worker-%d", i), append(env, "CDC_FLUSH_INTERVAL=2s",
			"CDC_FLUSH_RECORDS=2000", "CDC_METRICS_INTERVAL=60s")...)
		if err != nil {
			return err
		}
		ports = append(ports, port)
		fmt.Printf("worker-%d: http://127.0.0.1:%d/metrics  log: %s\n", i, port, filepath.Join(abs, "logs", fmt.Sprintf("worker-%d.log", i)))
	}

	start := time.Now()
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	var last harness.Report
	for {
		select {
		case <-ctx.Done():
			fmt.Println("\ninterrupted: stopping everything")
			return nil
		case <-tick.C:
		}
		gen, err := s.Generator(ctx)
		if err != nil {
			return err
		}
		w, err := s.Written(ctx)
		if err != nil {
			return err
		}
		landed, objects, err := landedIn(ctx)
		if err != nil {
			return err
		}
		last = harness.Compare(w, landed)
		last.Objects = objects
		lag := maxLag(ports)
		fmt.Printf("%5.0fs  written %6d  landed %6d  objects %4d  max lag %6.0f ms  shards %d\n",
			time.Since(start).Seconds(), last.Written, last.Landed, last.Objects, lag, len(w.Order))
		if !gen.Running && gen.Written > 0 && last.Landed >= last.Written && len(last.Missing) == 0 {
			break
		}
	}
	printSummary(last, time.Since(start), abs, s.Bucket, format)
	if !last.OK() {
		return fmt.Errorf("not every record landed exactly once: %s", last)
	}
	return nil
}

// output returns the workers' settings of the format, and how to read back what landed (the
// records and the objects or data files holding them).
func output(ctx context.Context, s *harness.Stack, abs, format string) (env []string,
	landedIn func(context.Context) ([]harness.Landed, int, error), close func(), err error) {
	if format == "iceberg" {
		catalogFile := filepath.Join(abs, "catalog.db")
		table, closeLog, err := s.OpenChangeLog(ctx, catalogFile)
		if err != nil {
			return nil, nil, nil, err
		}
		return s.IcebergEnv(catalogFile), func(ctx context.Context) ([]harness.Landed, int, error) {
			return harness.IcebergLanded(ctx, table)
		}, closeLog, nil
	}
	return []string{"CDC_FORMAT=" + format}, func(ctx context.Context) ([]harness.Landed, int, error) {
		landed, objs, err := harness.ReadLanded(ctx, s.S3Client, s.Bucket, s.Prefix)
		return landed, len(objs), err
	}, func() {}, nil
}

// printSummary prints the counts and where to look.
func printSummary(last harness.Report, took time.Duration, abs, bucket, format string) {
	fmt.Printf("\nsummary after %s\n", took.Round(time.Second))
	fmt.Printf("  records written by the emulator: %d\n", last.Written)
	fmt.Printf("  records landed:                  %d (missing %d, duplicated %d)\n", last.Landed, len(last.Missing), len(last.Duplicated))
	fmt.Printf("  objects (data files):            %d\n", last.Objects)
	fmt.Printf("\nwhere to look:\n")
	fmt.Printf("  logs:                            %s\n", filepath.Join(abs, "logs"))
	if format == "iceberg" {
		fmt.Printf("  the change log media.media_content_changes, in the SQL catalog %s\n", filepath.Join(abs, "catalog.db"))
		fmt.Printf("  its files (the S3 server's):     %s\n", filepath.Join(abs, "s3", bucket, "warehouse", "media.db", "media_content_changes"))
		return
	}
	fmt.Printf("  objects (the S3 server's files): %s\n", filepath.Join(abs, "s3", bucket, "cdc", "media", "media_content"))
	if format == "json" {
		fmt.Printf("  e.g. zcat %s/s3/%s/cdc/media/media_content/dt=*/hr=*/*.jsonl.gz | head -1\n", abs, bucket)
	}
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
