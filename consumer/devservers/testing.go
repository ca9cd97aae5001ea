package devservers

import (
	"context"
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
