// Package devservers starts the real local servers that the tests, the benchmarks and the
// demo run against: dynalite (the DynamoDB API, from npm) and versitygw (the S3 API, built
// from the Go module proxy). Both are installed into the repo by `make tools`; nothing here
// downloads anything.
//
// Each server listens on a free loopback port, is waited for until it answers, and is
// stopped (by its process group) by Stop.
package devservers

import (
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
	DataDir  string // versitygw only: an object bucket/key is the file DataDir/bucket/key

	cmd      *exec.Cmd
	waitErr  chan error
	stopOnce sync.Once
	logFile  *os.File
}

// Stop ends the server and everything it started. It is safe to call twice.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		if s.cmd != nil && s.cmd.Process != nil {
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-s.waitErr:
			case <-time.After(5 * time.Second):
			}
		}
		if s.logFile != nil {
			_ = s.logFile.Close()
		}
	})
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
	bin, err := toolPath("CDC_TEST_DYNALITE", "test/node_modules/.bin/dynalite")
	if err != nil {
		return nil, err
	}
	return start(ctx, "dynalite", logDir, "", func(port int) []string {
		return []string{bin, "--port", strconv.Itoa(port), "--host", "127.0.0.1"}
	})
}

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
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &Server{Name: name, Port: port, DataDir: dataDir,
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), cmd: cmd, waitErr: make(chan error, 1)}
	if logDir != "" {
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return nil, err
		}
		f, err := os.Create(filepath.Join(logDir, name+".log"))
		if err != nil {
			return nil, err
		}
		s.logFile = f
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devservers: start %s: %w", name, err)
	}
	go func() { s.waitErr <- cmd.Wait() }()
	if err := waitListening(ctx, s, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
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
