package encode

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
)

// deadlineSource fails, noting the deadline it was asked under.
type deadlineSource struct{ deadline time.Duration }

func (d *deadlineSource) Table(ctx context.Context, _, _ string) (*TableDef, error) {
	if dl, ok := ctx.Deadline(); ok {
		d.deadline = time.Until(dl)
	}
	return nil, errors.New("dial tcp: i/o timeout")
}

// A schema derived from the records alone is an ERROR line and a count, and the source is
// asked under a bounded deadline.
func TestSchemaFallbackIsLoud(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	api := &recordtest.FakeKeyspaces{}
	api.Fail(errors.New("AccessDeniedException"))
	schemas := NewSchemas(KeyspacesSource{API: api}, false, logger)
	if _, err := schemas.For(context.Background(), allTypesEvent(t, 1)); err != nil {
		t.Fatal(err)
	}
	if n := schemas.Fallbacks(); n != 1 {
		t.Errorf("Fallbacks = %d, want 1", n)
	}
	line := logs.String()
	for _, want := range []string{`"level":"ERROR"`, "avro schema fallback", "AccessDeniedException", `"fallbacks":1`} {
		if !strings.Contains(line, want) {
			t.Errorf("log %s lacks %s", line, want)
		}
	}

	// The schema covers the events that follow: no new question, no new fallback.
	if _, err := schemas.For(context.Background(), allTypesEvent(t, 2)); err != nil || schemas.Fallbacks() != 1 {
		t.Errorf("second event: err %v, fallbacks %d", err, schemas.Fallbacks())
	}

	src := &deadlineSource{}
	if _, err := NewSchemas(src, false, nil).For(context.Background(), allTypesEvent(t, 1)); err != nil {
		t.Fatal(err)
	}
	if src.deadline <= 0 || src.deadline > SourceTimeout {
		t.Errorf("the source was asked with %s left, want at most %s", src.deadline, SourceTimeout)
	}
}
