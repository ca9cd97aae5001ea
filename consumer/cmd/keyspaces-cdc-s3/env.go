package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// defaultWorkerID is the ECS task id when running on ECS (so the lease table names tasks an
// operator can find in the console), else host-pid.
func defaultWorkerID(ctx context.Context, getenv func(string) string) string {
	if uri := getenv("ECS_CONTAINER_METADATA_URI_V4"); uri != "" {
		if id, err := ecsTaskID(ctx, uri); err == nil && id != "" {
			return id
		}
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// ecsTaskID reads the task ARN from the ECS task metadata endpoint (v4) and returns its last
// path segment, the task id.
func ecsTaskID(ctx context.Context, uri string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(uri, "/")+"/task", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("task metadata: %s", resp.Status)
	}
	var meta struct {
		TaskARN string `json:"TaskARN"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		return "", err
	}
	return meta.TaskARN[strings.LastIndex(meta.TaskARN, "/")+1:], nil
}

// s3PathStyle says whether S3 requests must use path-style addressing: when asked for, or
// when the S3 endpoint override is an IP address or localhost (local servers have no
// per-bucket host names).
func s3PathStyle(force bool, getenv func(string) string) bool {
	if force {
		return true
	}
	ep := getenv("AWS_ENDPOINT_URL_S3")
	if ep == "" {
		ep = getenv("AWS_ENDPOINT_URL")
	}
	if ep == "" {
		return false
	}
	u, err := url.Parse(ep)
	if err != nil {
		return false
	}
	host := u.Hostname()
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil
}
