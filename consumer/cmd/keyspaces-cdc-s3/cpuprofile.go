//go:build cdcprofile

package main

// Built only with -tags cdcprofile (GOFLAGS=-tags=cdcprofile make bench-pipeline): when
// CDC_TEST_CPU_PROFILE_DIR is set, the process writes to that folder a CPU profile of its
// whole life until SIGTERM or SIGINT (keyspaces-cdc-s3-<pid>.prof) and a heap profile of the
// live heap at its largest, as of the collection after it (keyspaces-cdc-s3-<pid>.heap), for
// `go tool pprof`. Shipped builds do not contain this file.

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"
)

func init() {
	dir := os.Getenv("CDC_TEST_CPU_PROFILE_DIR")
	if dir == "" {
		return
	}
	base := filepath.Join(dir, fmt.Sprintf("keyspaces-cdc-s3-%d", os.Getpid()))
	f, err := os.Create(base + ".prof")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		return
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		var peak uint64
		tick := time.NewTicker(50 * time.Millisecond)
		for {
			select {
			case <-sig:
				pprof.StopCPUProfile()
				_ = f.Close()
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak+peak/20 {
					peak = ms.HeapAlloc
					if h, err := os.Create(base + ".heap"); err == nil {
						_ = pprof.Lookup("heap").WriteTo(h, 0)
						_ = h.Close()
					}
				}
			}
		}
	}()
}
