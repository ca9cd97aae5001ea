package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/encode"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
)

// MirrorChanges collects one shard's changes for the mirror, in stream order: only each
// key's last change is kept. A change whose key lacks the clustering columns (a partition
// delete) supersedes the changes of every row of its partition before it. Not safe for
// concurrent use.
type MirrorChanges struct {
	byKey map[string]*record.Event
}

// keyText identifies a key: its columns' names and values, in the event's order (partition
// columns first), each ending with a NUL, so that a partition's key is a prefix of its rows'.
func keyText(ev *record.Event) string {
	var b strings.Builder
	for _, k := range ev.Keys {
		fmt.Fprintf(&b, "%q=%#v\x00", k.Name, k.Value)
	}
	return b.String()
}

// Add takes the shard's next change.
func (m *MirrorChanges) Add(ev *record.Event) {
	if m.byKey == nil {
		m.byKey = map[string]*record.Event{}
	}
	k := keyText(ev)
	if ev.Op == record.OpDelete {
		for other := range m.byKey {
			if strings.HasPrefix(other, k) {
				delete(m.byKey, other) // the delete covers it
			}
		}
	}
	m.byKey[k] = ev
}

// Len is the number of keys changed.
func (m *MirrorChanges) Len() int { return len(m.byKey) }

// Reset forgets the changes (they were committed).
func (m *MirrorChanges) Reset() { m.byKey = nil }

// Rows encodes the changes with b, a builder of format iceberg that keeps its events
// (encode.Options.KeepEvents) and prepares the mirror's schema (its Prepare is the mirror's):
// one file of change events, whatever their schema versions. A change b cannot write (a value
// that does not fit its column: the change log sets it aside too) is left out and returned.
func (m *MirrorChanges) Rows(ctx context.Context, b encode.Builder) (*MirrorRows, []*record.Event, error) {
	keys := make([]string, 0, len(m.byKey))
	for k := range m.byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var rejected []*record.Event
	for _, k := range keys {
		ev := m.byKey[k]
		if err := b.Add(ctx, ev); err != nil {
			if errors.Is(err, encode.ErrUnavailable) {
				return nil, nil, err
			}
			rejected = append(rejected, ev)
		}
	}
	if b.Len() == 0 {
		return &MirrorRows{}, rejected, nil
	}
	n := b.Len()
	f, err := b.Finish()
	if err != nil {
		return nil, nil, fmt.Errorf("mirror rows: %w", err)
	}
	return &MirrorRows{Files: [][]byte{f.Body}, Keys: n}, rejected, nil
}
