// Package devservers starts the real local servers that the tests, the benchmarks and the
// demo run against: dynalite (the DynamoDB API, from npm) and versitygw (the S3 API, built
// from the Go module proxy). Both are installed into the repo by `make tools`; nothing here
// downloads anything.
//
// Each server listens on a free loopback port, is waited for until it answers, and is
// stopped (by its process group) by Stop.
package devservers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Static credentials the local servers accept. They are not secrets: they only open the
// servers this package starts on loopback.
const (
	AccessKey = "AKIALOCALTEST0000000"
	SecretKey = "local-test-secret-key-0000000000000000000"
	Region    = "us-east-1"
)

// Server is one running local server.
type Server struct {
	Name     string // "dynalite" or "versitygw"
	Endpoint string // http://127.0.0.1:PORT
	Port     int
	DataDir  string // versitygw, and a persistent dynalite: where the data lives

	argv    []string
	logPath string // "" when the output is dropped

	mu      sync.Mutex
	cmd     *exec.Cmd
	waitErr chan error // the current process's exit, once
	stopped bool
}

// Stop ends the server and everything it started. It is safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.killLocked()
}

// Kill ends the server at once (SIGKILL to its process group), as a crash or an outage
// would. Restart brings it back.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case err := <-s.waitErr:
		s.waitErr <- err // keep it for a second call
	case <-time.After(5 * time.Second):
	}
}

// Restart starts the server again on the same port, with the same data when it keeps any
// (versitygw's folder, a persistent dynalite's path), after Kill (or a crash). It waits until
// the server listens.
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return fmt.Errorf("devservers: %s was stopped", s.Name)
	}
	s.killLocked()
	return s.launchLocked(ctx)
}

// Pause freezes the server's processes (SIGSTOP): connections stay open and every request
// hangs, as with a server that stopped answering. It returns once every thread of the server
// is stopped (a signal is delivered asynchronously: a busy server could otherwise answer one
// more request). Resume lets them go on.
func (s *Server) Pause() error {
	if err := s.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	s.mu.Lock()
	pid := s.cmd.Process.Pid
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !allStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("devservers: %s not stopped 10 s after SIGSTOP", s.Name)
		}
		time.Sleep(time.Millisecond) // polling the kernel's view, not a synchronisation guess
	}
	return nil
}

// allStopped reports whether every thread of pid is in the stopped state (T in
// /proc/<pid>/task/<tid>/stat).
func allStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, t := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, t.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses and may hold spaces.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
			return false
		}
	}
	return true
}

// Resume continues a paused server (SIGCONT).
func (s *Server) Resume() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil || s.cmd.Process == nil {
		return fmt.Errorf("devservers: %s is not running", s.Name)
	}
	return syscall.Kill(-s.cmd.Process.Pid, sig)
}

// RepoRoot finds the repository root (the folder holding go.work) from the working
// directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("devservers: no go.work above the working directory")
		}
		dir = parent
	}
}

// toolPath returns the tool from the env var (set by the Makefile) or its repo-local path.
func toolPath(envVar, rel string) (string, error) {
	p := os.Getenv(envVar)
	if p == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		p = filepath.Join(root, rel)
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("devservers: %s not found at %s (run `make tools`): %w", filepath.Base(rel), p, err)
	}
	return p, nil
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartDynalite starts an in-memory dynalite on a free loopback port. logDir, when not empty,
// receives its output as dynalite.log.
func StartDynalite(ctx context.Context, logDir string) (*Server, error) {
	return StartDynaliteAt(ctx, "", logDir)
}

// StartDynaliteAt starts dynalite keeping its tables in dataDir (created if missing; empty:
// in memory), so that a Kill and Restart keep the data, as an outage of DynamoDB does.
func StartDynaliteAt(ctx context.Context, dataDir, logDir string) (*Server, error) {
	bin, err := toolPath("CDC_TEST_DYNALITE", "test/node_modules/.bin/dynalite")
	if err != nil {
		return nil, err
	}
	if dataDir != "" {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, err
		}
	}
	return start(ctx, "dynalite", logDir, dataDir, func(port int) []string {
		argv := []string{"node", "-e", dynaliteGuard, bin, "--port", strconv.Itoa(port), "--host", "127.0.0.1"}
		if dataDir != "" {
			argv = append(argv, "--path", dataDir)
		}
		return argv
	})
}

// dynaliteGuard runs dynalite's command line (process.argv[1]; its options follow, where
// dynalite reads them) in a process that survives a client going away mid-request: dynalite
// 4.0.0 throws the request's "aborted" error (ECONNRESET), which ended the whole server when
// a test killed a worker during a call. That request is lost, as it would be at DynamoDB;
// any other uncaught error still ends the process.
const dynaliteGuard = `process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('dynalite: a client went away mid-request:', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
require(require('path').resolve(process.argv[1]))`

// StartVersityGW starts versitygw in posix mode over dataDir (created if missing) on a free
// loopback port, with the AccessKey/SecretKey credentials.
func StartVersityGW(ctx context.Context, dataDir, logDir string) (*Server, error) {
	bin, err := toolPath("CDC_TEST_VERSITYGW", ".bin/versitygw")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, err
	}
	return start(ctx, "versitygw", logDir, dataDir, func(port int) []string {
		return []string{bin, "--access", AccessKey, "--secret", SecretKey,
			"--port", "127.0.0.1:" + strconv.Itoa(port), "posix", dataDir}
	})
}

func start(ctx context.Context, name, logDir, dataDir string, argv func(port int) []string) (*Server, error) {
	var lastErr error
	// A port picked free may be taken before the server binds it: try a few.
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s, err := startOnce(ctx, name, logDir, dataDir, port, argv(port))
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(ctx context.Context, name, logDir, dataDir string, port int, argv []string) (*Server, error) {
	s := &Server{Name: name, Port: port, DataDir: dataDir, argv: argv,
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port)}
	if logDir != "" {
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return nil, err
		}
		s.logPath = filepath.Join(logDir, name+".log")
		if err := os.WriteFile(s.logPath, nil, 0o644); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.launchLocked(ctx); err != nil {
		s.killLocked()
		return nil, err
	}
	return s, nil
}

// launchLocked starts the server's process (its output appended to the log) and waits until
// it listens.
func (s *Server) launchLocked(ctx context.Context) error {
	cmd := exec.Command(s.argv[0], s.argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logFile *os.File
	if s.logPath != "" {
		f, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		if logFile != nil {
			_ = logFile.Close() // the error returned is the start's
		}
		return fmt.Errorf("devservers: start %s: %w", s.Name, err)
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if logFile != nil {
			_ = logFile.Close() // the server's own log: nothing to do if its last lines are lost
		}
		waitErr <- err
	}()
	s.cmd, s.waitErr = cmd, waitErr
	return waitListening(ctx, s, 30*time.Second)
}

// waitListening polls the port until it accepts a connection, the process exits, or the
// deadline passes.
func waitListening(ctx context.Context, s *Server, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	addr := "127.0.0.1:" + strconv.Itoa(s.Port)
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 200*time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case werr := <-s.waitErr:
			s.waitErr <- werr // keep it for Stop
			return fmt.Errorf("devservers: %s exited before listening: %v", s.Name, werr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devservers: %s not listening on %s after %s", s.Name, addr, limit)
		}
	}
}
