// Package cdcprofile writes profiles of a whole process for `go tool pprof`. Only the
// binaries' cdcprofile.go files import it, and those are built only with -tags cdcprofile
// (GOFLAGS=-tags=cdcprofile make bench-pipeline), so shipped builds do not contain it.
package cdcprofile

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"
)

// DirEnv names the folder the profiles go to; nothing is profiled when it is unset.
const DirEnv = "CDC_TEST_CPU_PROFILE_DIR"

// stop ends the CPU profile once: at SIGTERM or SIGINT, or at Stop, whichever comes first
// (the other waits for it). A profiling build's state, like the profile itself.
var stop struct {
	once sync.Once
	fn   func()
}

// Stop ends the CPU profile, if any, and returns once it is written: a binary calls it
// before it exits. Without it the process could exit while the profile was being written,
// after the signal: three of seven profiles of one `make pgo-profile` run came out cut.
func Stop() {
	stop.once.Do(func() {
		if stop.fn != nil {
			stop.fn()
		}
	})
}

// Start writes, when DirEnv is set, to that folder a CPU profile of the process's whole life
// until SIGTERM or SIGINT (<name>-<pid>.prof) and a profile of the live heap at its largest,
// as of the collection after it (<name>-<pid>.heap). It is called from an init function, so
// it reports a failure on stderr and goes on without profiling.
func Start(name string) {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		return
	}
	base := filepath.Join(dir, fmt.Sprintf("%s-%d", name, os.Getpid()))
	f, err := os.Create(base + ".prof")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "cpu profile:", err)
		_ = f.Close()
		return
	}
	stop.fn = func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		var peak uint64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sig:
				Stop()
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				// A new heap profile only when the heap grew by 5 %: writing one per tick
				// would cost more than the work profiled.
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
