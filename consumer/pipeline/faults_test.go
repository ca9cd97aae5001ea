package pipeline

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestExactlyOnceThroughEveryFault enumerates the faults of a file's life and checks that the
// shard still lands exactly once. A fault-free run of one worker over a closed shard (10
// records, one of them poison, 3 per GetRecords answer, files of 4) lists every call the
// worker makes to the world: GetShardIterator, GetRecords (buffering), SaveIntent (intent
// saved), PutObject (upload started; its answer is upload done), Checkpoint (checkpoint
// written), ShardEnd, and the coordinator's Release or Transfer. At each of those points each
// event of allEvents strikes; then fresh owners take the lease until the shard is done. Each
// single fault is then followed by a second fault at every later point of its own run —
// including every call of the recovery: a replay of the intent, a restart, a new owner — so
// faults during a replay and faults that hit a recovery are covered too. Every run must store
// each decodable record once, in files of consecutive records (per-key order), and the poison
// record under _errors/ only.
//
// Format iceberg has no intents: its points are the catalog's LoadTable (what the table holds)
// and Commit (at the committer's rounds, opened at every second GetRecords, and at shard end),
// where a conflicting commit, a catalog outage, a commit applied but answered with an error,
// and a zombie's stale commit (it lands after the next owners are done) strike too; the
// table's current snapshot must list each decodable record once, in files that exist.
func TestExactlyOnceThroughEveryFault(t *testing.T) {
	for _, tc := range []struct {
		format, compression string
		pairs               *pairPolicy
	}{
		{"json", "none", &pairPolicy{at: func([]string, int, int) bool { return true }, events: allEvents}},
		// Avro adds the schema objects to the uploads; its singles are enough to show that
		// nothing in the protocol depends on the format.
		{"avro", "null", nil},
		// Iceberg: no intents; the table's snapshots are the truth, commits at the
		// committer's rounds, and the catalog's calls are points too. Its scenarios are 25
		// times slower (a catalog, manifests): its pairs strike the first commit after the
		// first fault (the one that recovers from it) with the faults a commit can meet.
		{"iceberg", "zstd", &pairPolicy{at: firstCommitAfter, events: []event{crashAfter, catalogTimeout, commitConflict, leaseLost, staleCommit, drain}}},
	} {
		t.Run(tc.format, func(t *testing.T) {
			start := time.Now()
			clean, err := playScenario(tc.format, tc.compression, nil, nil)
			if err != nil {
				t.Fatalf("without faults: %v", err)
			}
			singles, pairs, failures := 0, 0, 0
			report := func(faults []fault, points []string, err error) {
				failures++
				switch {
				case failures <= 3: // the first ones with the workers' logs
					var log bytes.Buffer
					_, _ = playScenario(tc.format, tc.compression, faults, &log)
					t.Errorf("%s: %v\n%s", describe(faults, points), err, tail(log.String(), 30))
				case failures <= 20:
					t.Errorf("%s: %v", describe(faults, points), err)
				}
			}
			events := eventsOf(tc.format)
			for i := range clean.points {
				for _, e1 := range events {
					one := []fault{{i, e1}}
					w, err := playScenario(tc.format, tc.compression, one, nil)
					singles++
					if err != nil {
						report(one, w.points, err)
						continue
					}
					if tc.pairs == nil {
						continue
					}
					for j := i + 1; j < len(w.points); j++ {
						if !tc.pairs.at(w.points, i, j) {
							continue
						}
						for _, e2 := range tc.pairs.events {
							two := []fault{{i, e1}, {j, e2}}
							w2, err := playScenario(tc.format, tc.compression, two, nil)
							pairs++
							if err != nil {
								report(two, w2.points, err)
							}
						}
					}
				}
			}
			if failures > 20 {
				t.Errorf("… and %d more failing interleavings", failures-20)
			}
			t.Logf("%s: %d points in a fault-free run × %d events: %d single faults, %d pairs, %d failing, in %s",
				tc.format, len(clean.points), len(events), singles, pairs, failures, time.Since(start).Round(time.Millisecond))
		})
	}
}

// pairPolicy chooses the second faults of a format's pairs: at which later points j of the
// run of a first fault at i, and which events.
type pairPolicy struct {
	at     func(points []string, i, j int) bool
	events []event
}

// firstCommitAfter is the first catalog commit after point i.
func firstCommitAfter(points []string, i, j int) bool {
	if !strings.HasSuffix(points[j], " Commit") {
		return false
	}
	for _, p := range points[i+1 : j] {
		if strings.HasSuffix(p, " Commit") {
			return false
		}
	}
	return true
}

// playScenario plays the world with the planned faults and checks the bucket. log, when not
// nil, receives the workers' logs.
func playScenario(format, compression string, faults []fault, log *bytes.Buffer) (*world, error) {
	w := newWorld(format, compression, faults)
	if w.lake != nil {
		defer func() {
			if err := w.lake.drop(); err != nil {
				panic(err) // the scenarios would fill the memory
			}
		}()
	}
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if err := w.play(logger); err != nil {
		return w, err
	}
	return w, w.check()
}

// describe names the interleaving: each fault as the event at a call, e.g. "w1's 2nd
// SaveIntent: crash-after".
func describe(faults []fault, points []string) string {
	var parts []string
	for _, f := range faults {
		if f.at >= len(points) {
			parts = append(parts, fmt.Sprintf("point %d: %s", f.at, f.event))
			continue
		}
		n := 0
		for _, p := range points[:f.at+1] {
			if p == points[f.at] {
				n++
			}
		}
		who, call, _ := strings.Cut(points[f.at], " ")
		parts = append(parts, fmt.Sprintf("%s's %s %s: %s", who, ordinal(n), call, f.event))
	}
	return strings.Join(parts, ", then ")
}

func ordinal(n int) string {
	switch {
	case n%10 == 1 && n%100 != 11:
		return fmt.Sprintf("%dst", n)
	case n%10 == 2 && n%100 != 12:
		return fmt.Sprintf("%dnd", n)
	case n%10 == 3 && n%100 != 13:
		return fmt.Sprintf("%drd", n)
	}
	return fmt.Sprintf("%dth", n)
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
