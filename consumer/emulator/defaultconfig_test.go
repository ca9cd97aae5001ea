package emulator_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// TestDefaultConfigChain configures the client the way the service does: credentials,
// region and endpoint from the environment through config.LoadDefaultConfig.
func TestDefaultConfigChain(t *testing.T) {
	emu, err := emulator.New(emulator.Config{Region: "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	arn, _ := emu.CreateStream(emulator.StreamSpec{Keyspace: "ks", Table: "t"})

	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "eu-west-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none,
		"AWS_ENDPOINT_URL": "", streams.EnvEndpointService: srv.URL,
	} {
		t.Setenv(k, v)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, err := streams.New(streams.Config{AWS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoint() != srv.URL {
		t.Fatalf("endpoint %s, want %s from %s", c.Endpoint(), srv.URL, streams.EnvEndpointService)
	}
	found, err := c.FindStream(context.Background(), "ks", "t")
	if err != nil || found != arn {
		t.Fatalf("FindStream = %q, %v", found, err)
	}
}
