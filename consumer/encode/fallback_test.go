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

// A version derived from the records alone is replaced by the table's definition once the
// source answers again: the source is asked again at most every SourceRetry while the
// current version's key is not known, and not at all once it is.
func TestSchemaFallbackIsAskedAgain(t *testing.T) {
	ctx := context.Background()
	api := &recordtest.FakeKeyspaces{}
	api.Fail(errors.New("ThrottlingException"))
	schemas := NewSchemas(KeyspacesSource{API: api}, false, nil)
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	schemas.now = func() time.Time { return now }
	derived, err := schemas.For(ctx, allTypesEvent(t, 1))
	if err != nil || derived.Def.KeysKnown {
		t.Fatalf("derived: %v, keys known %v", err, derived.Def.KeysKnown)
	}
	api.Fail(nil)
	now = now.Add(SourceRetry - time.Second)
	if again, _ := schemas.For(ctx, allTypesEvent(t, 2)); again != derived || api.GetTableCalls() != 1 {
		t.Fatalf("asked again before SourceRetry: %d GetTable calls", api.GetTableCalls())
	}
	now = now.Add(time.Second)
	known, err := schemas.For(ctx, allTypesEvent(t, 3))
	if err != nil || !known.Def.KeysKnown || api.GetTableCalls() != 2 {
		t.Fatalf("after SourceRetry: %v, keys known %v, %d GetTable calls", err, known.Def.KeysKnown, api.GetTableCalls())
	}
	now = now.Add(time.Hour)
	if again, _ := schemas.For(ctx, allTypesEvent(t, 4)); again != known || api.GetTableCalls() != 2 {
		t.Fatalf("asked again with the key known: %d GetTable calls", api.GetTableCalls())
	}
}
