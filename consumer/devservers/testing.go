package devservers

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Dynalite starts dynalite for a test and stops it when the test ends. A missing tool fails
// the test (it is never skipped): `make tools` installs it.
func Dynalite(t testing.TB) *Server {
	t.Helper()
	s, err := StartDynalite(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// VersityGW starts versitygw over a fresh temporary folder for a test and stops it when the
// test ends.
func VersityGW(t testing.TB) *Server {
	t.Helper()
	s, err := StartVersityGW(context.Background(), t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// AWSConfig is an aws.Config for the local servers: static credentials, Region, and the
// given endpoint as BaseEndpoint (S3 clients must also set UsePathStyle).
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
	}
}

// BlackHole is an endpoint that accepts TCP connections and never answers: what a dropping
// security group behind a load balancer, or a hung proxy, looks like to a client.
type BlackHole struct {
	URL      string       // http://127.0.0.1:<port>
	Accepted atomic.Int32 // connections accepted so far
}

// NewBlackHole starts a BlackHole for a test; it closes the listener and every connection
// when the test ends.
func NewBlackHole(t testing.TB) *BlackHole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &BlackHole{URL: "http://" + ln.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			b.Accepted.Add(1)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return b
}
