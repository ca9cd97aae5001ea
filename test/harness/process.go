// Package harness runs the real binaries of the project — the consumer and the Keyspaces
// Streams emulator — beside the real local servers (dynalite, versitygw), for the
// end-to-end tests, the benchmarks and `make demo`.
package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/devservers"
)

// Binaries are the project's commands, built once.
type Binaries struct {
	Consumer string // keyspaces-cdc-s3
	Emulator string // streams-emulator
}

// Build compiles the consumer and the emulator into dir, the way `make build` does.
func Build(ctx context.Context, dir string) (Binaries, error) {
	root, err := devservers.RepoRoot()
	if err != nil {
		return Binaries{}, err
	}
	b := Binaries{
		Consumer: filepath.Join(dir, "keyspaces-cdc-s3"),
		Emulator: filepath.Join(dir, "streams-emulator"),
	}
	for out, pkg := range map[string]string{b.Consumer: "./cmd/keyspaces-cdc-s3", b.Emulator: "./cmd/streams-emulator"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg)
		cmd.Dir = filepath.Join(root, "consumer")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		if msg, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("harness: build %s: %v\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

// Process is a running binary whose output goes to a log file.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	mu      sync.Mutex
	err     error
	exited  time.Time
	logFile *os.File
}

// Start runs bin with args and env (added to this process's environment), logging to
// logDir/name.log.
func Start(name, logDir, bin string, env []string, args ...string) (*Process, error) {
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = f.Close() // the error returned is the start's
		return nil, fmt.Errorf("harness: start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: f.Name(), cmd: cmd, done: make(chan struct{}), logFile: f}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err, p.exited = err, time.Now()
		p.mu.Unlock()
		_ = f.Close() // the process's own log: nothing to do if its last lines are lost
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended, and its exit code.
func (p *Process) Exited() (bool, int) {
	select {
	case <-p.done:
		p.mu.Lock()
		defer p.mu.Unlock()
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			return true, ee.ExitCode()
		}
		if p.err != nil {
			return true, -1
		}
		return true, 0
	default:
		return false, 0
	}
}

// Kill9 ends the process at once, as a crash would (no flush, no release).
func (p *Process) Kill9() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// Term sends SIGTERM, as ECS does when it stops a task.
func (p *Process) Term() { _ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM) }

// Wait waits for the exit, up to limit; it reports whether the process exited in time.
func (p *Process) Wait(limit time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(limit):
		return false
	}
}

// Stop ends the process if it still runs (SIGKILL to its group).
func (p *Process) Stop() {
	select {
	case <-p.done:
	default:
		p.Kill9()
	}
}

// Log returns what the process has written so far.
func (p *Process) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Poll calls cond until it returns true or limit passes (no sleeps as synchronisation: the
// condition is what is waited for; the interval only paces the checks).
func Poll(ctx context.Context, limit, every time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("harness: condition not met after %s: %w", limit, last)
			}
			return fmt.Errorf("harness: condition not met after %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}
