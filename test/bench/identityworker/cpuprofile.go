//go:build cdcprofile

package main

// Built only with -tags cdcprofile (GOFLAGS=-tags=cdcprofile make bench-pipeline): when
// CDC_TEST_CPU_PROFILE_DIR is set, the process writes a CPU profile of its whole life until
// SIGTERM or SIGINT to <dir>/identityworker-<pid>.prof, for `go tool pprof`. Shipped builds
// do not contain this file.

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
)

func init() {
	dir := os.Getenv("CDC_TEST_CPU_PROFILE_DIR")
	if dir == "" {
		return
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("identityworker-%d.prof", os.Getpid())))
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
		<-sig
		pprof.StopCPUProfile()
		_ = f.Close()
	}()
}
