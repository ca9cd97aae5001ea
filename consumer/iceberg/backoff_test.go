package iceberg

import (
	"testing"
	"time"
)

// TestCommitBackoff: a retry after a conflict waits at most conflictJitter whatever the
// attempt; after other failures the wait grows exponentially up to MaxBackoff.
func TestCommitBackoff(t *testing.T) {
	ct := &ChangeTable{maxBackoff: 10 * time.Second}
	for attempt := 1; attempt <= 20; attempt++ {
		if got := ct.backoff(attempt, true); got != conflictJitter {
			t.Fatalf("attempt %d after a conflict: up to %s, want %s", attempt, got, conflictJitter)
		}
	}
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 4: 800 * time.Millisecond, 8: 10 * time.Second, 20: 10 * time.Second} {
		if got := ct.backoff(attempt, false); got != want {
			t.Fatalf("attempt %d after an error: up to %s, want %s", attempt, got, want)
		}
	}
}
