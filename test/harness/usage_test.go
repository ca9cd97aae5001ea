package harness

import (
	"context"
	"testing"
	"time"
)

// TestUsage reads a busy shell's CPU time and peak RSS while it runs, then its rusage once
// it has exited: the exited total is at least what /proc showed.
func TestUsage(t *testing.T) {
	p, err := Start("busy", t.TempDir(), "/bin/sh", nil, "-c", "while :; do :; done")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	if _, ok := p.Usage(); ok {
		t.Fatal("Usage reported ok while the process runs")
	}
	var running time.Duration
	if err := Poll(context.Background(), 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		running, err = p.CPUTime()
		return running >= 50*time.Millisecond, err
	}); err != nil {
		t.Fatal(err)
	}
	kib, err := p.PeakRSSKiB()
	if err != nil {
		t.Fatal(err)
	}
	if kib <= 0 || kib > 1<<20 {
		t.Fatalf("peak RSS of a shell loop: %d KiB", kib)
	}
	p.Kill9()
	u, ok := p.Usage()
	if !ok {
		t.Fatal("no usage after exit")
	}
	if u.CPU() < running {
		t.Fatalf("exited CPU %s (user %s, sys %s) < %s seen while running", u.CPU(), u.User, u.Sys, running)
	}
}
