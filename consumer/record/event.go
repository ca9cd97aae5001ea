// Package record turns the stream's change records into change events: one event per
// record, with the operation inferred from the images and every value typed (numbers as
// numbers, timestamps as times, exact decimals kept exact). The events are what the encode
// package writes as JSON Lines or Avro.
package record

import (
	"fmt"
	"slices"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Op is the operation a change event stands for, inferred from the record's images.
type Op string

// The operations. OpUnknown is only given when the stream's view type cannot tell
// (OLD_IMAGE and KEYS_ONLY views); see InferOp.
const (
	OpInsert  Op = "INSERT"
	OpUpdate  Op = "UPDATE"
	OpDelete  Op = "DELETE"
	OpUnknown Op = "UNKNOWN"
)

// Stream view types (what the images of a record hold).
const (
	ViewNewImage        = "NEW_IMAGE"
	ViewOldImage        = "OLD_IMAGE"
	ViewNewAndOldImages = "NEW_AND_OLD_IMAGES"
	ViewKeysOnly        = "KEYS_ONLY"
)

// Event is one change event: a change record of a shard, converted.
type Event struct {
	Keyspace       string
	Table          string
	ShardID        string
	SequenceNumber string
	CreatedAt      time.Time // UTC, millisecond precision
	Origin         string    // USER | REPLICATION | TTL
	Op             Op
	// Keys are the partition key columns then the clustering key columns, in wire order.
	Keys []Field
	// NewImage and OldImage hold the row's columns (regular, then static with Static set);
	// nil when the record has no such image.
	NewImage *Image
	OldImage *Image
	// images are the Images FromStreamInto reuses. Past their lengths, Keys and the images'
	// slices hold only zero values (reset keeps it so), so that clearing what a record
	// wrote costs its length, not the room the longest record so far has left.
	images [2]Image
	// wire reads deferred records; reused with the event.
	wire *wireDecoder
}

// Image is a row image.
type Image struct {
	Columns []Field
	metas   []Meta // the Meta of Columns, one allocation for the image
}

// Source names where records come from: they do not carry their keyspace, table or shard.
type Source struct {
	Keyspace string
	Table    string
	ShardID  string
	// ViewType is the stream's view type (NEW_AND_OLD_IMAGES, ...); empty when unknown,
	// which InferOp treats as NEW_AND_OLD_IMAGES.
	ViewType string
}

// FromStream converts one change record. An error (a value that cannot be converted
// exactly) names the column; the caller routes such a record to the error prefix.
//
// A caller that converts record after record and keeps the events (a Parquet file being
// built) does better with FromStreamInto into one event, then Clone: the event's decoder
// keeps the table's column names from record to record.
func FromStream(rec *streams.Record, src Source) (*Event, error) {
	ev := &Event{}
	if err := FromStreamInto(ev, rec, src); err != nil {
		return nil, err
	}
	ev.wire = nil // not kept with the event
	return ev, nil
}

// Clone returns a copy of e for a caller that keeps it: it shares e's scalar values (and,
// like e, the memory of the stream's answer they were read from), not the room
// FromStreamInto reuses for the next record, which holds the slices of its collections.
func (e *Event) Clone() *Event {
	c := &Event{Keyspace: e.Keyspace, Table: e.Table, ShardID: e.ShardID, SequenceNumber: e.SequenceNumber,
		CreatedAt: e.CreatedAt, Origin: e.Origin, Op: e.Op, Keys: cloneFields(e.Keys)}
	for i, img := range []*Image{e.NewImage, e.OldImage} {
		if img == nil {
			continue
		}
		ci := &c.images[i]
		ci.Columns = cloneFields(img.Columns)
		n := 0
		for _, col := range ci.Columns {
			if col.Meta != nil {
				n++
			}
		}
		ci.metas = make([]Meta, 0, n)
		for j := range ci.Columns {
			if m := ci.Columns[j].Meta; m != nil {
				ci.metas = append(ci.metas, *m)
				ci.Columns[j].Meta = &ci.metas[len(ci.metas)-1]
			}
		}
		if i == 0 {
			c.NewImage = ci
		} else {
			c.OldImage = ci
		}
	}
	return c
}

// FromStreamInto is FromStream into ev, whose previous content it overwrites, reusing its
// slices: a caller that is done with each event before converting the next (an encoder
// that writes it at once) converts without allocating the event again. After an error ev
// holds nothing meaningful.
//
// A deferred record (streams.Record.Deferred: keys and images still in Raw) is read from Raw
// straight into ev, which gives the event the record's decoded tree would.
func FromStreamInto(ev *Event, rec *streams.Record, src Source) error {
	if rec.DecodeErr != nil {
		return fmt.Errorf("undecodable record: %w", rec.DecodeErr)
	}
	keys := reset(ev.Keys)
	*ev = Event{
		Keyspace:       src.Keyspace,
		Table:          src.Table,
		ShardID:        src.ShardID,
		SequenceNumber: rec.SequenceNumber,
		CreatedAt:      rec.CreatedAt.UTC().Truncate(time.Millisecond),
		Origin:         rec.Origin,
		Keys:           keys,
		images:         ev.images,
		wire:           ev.wire,
	}
	if !rec.Deferred {
		return convertTree(ev, rec, src)
	}
	if err := fromWire(ev, rec.Raw, src.ViewType); err == nil {
		return nil
	}
	// A shape the one pass leaves to the reference path, or a record it refuses: the tree,
	// then its conversion, decides. A refusal cannot be trusted to one pass: a member sent
	// again replaces the one refused (found by FuzzDeferredRecordsConvertAlike), and only
	// the reference path reads the record whole before converting it. Refused records are
	// rare, so reading them twice costs nothing that shows.
	whole, err := streams.DecodeRecord(rec.Raw)
	if err != nil {
		return fmt.Errorf("undecodable record: %w", err)
	}
	// The keys as the record began (nil for a new event, as the tree's conversion leaves
	// them when there are none), cleared of what the one pass wrote, in their room and in
	// any larger room it grew them into.
	clear(ev.Keys)
	clear(keys[:cap(keys)])
	ev.Keys = keys
	return convertTree(ev, &whole, src)
}

// convertTree converts rec's decoded keys and images into ev, which holds its envelope.
func convertTree(ev *Event, rec *streams.Record, src Source) error {
	ev.Op = InferOp(rec, src.ViewType)
	keys := ev.Keys
	if n := len(rec.PartitionKeys) + len(rec.ClusteringKeys); cap(keys) < n {
		keys = make([]Field, 0, n)
	}
	ev.Keys = keys
	for _, keys := range [][]streams.Column{rec.PartitionKeys, rec.ClusteringKeys} {
		for _, k := range keys {
			v, err := ConvertValue(k.Value)
			if err != nil {
				return fmt.Errorf("key column %s: %w", k.Name, err)
			}
			ev.Keys = append(ev.Keys, Field{Name: k.Name, Value: v})
		}
	}
	var err error
	if ev.NewImage, err = convertRow(rec.NewImage, &ev.images[0]); err != nil {
		return fmt.Errorf("new image: %w", err)
	}
	if ev.OldImage, err = convertRow(rec.OldImage, &ev.images[1]); err != nil {
		return fmt.Errorf("old image: %w", err)
	}
	return nil
}

// Clear drops every value e holds (which may share the memory of the stream's answer it was
// read from) but keeps the room of its slices for the next FromStreamInto.
func (e *Event) Clear() {
	e.Keys = reset(e.Keys)
	for i := range e.images {
		img := &e.images[i]
		img.Columns, img.metas = reset(img.Columns), reset(img.metas)
	}
	if e.wire != nil {
		e.wire.resetRoom()
	}
	*e = Event{Keys: e.Keys, images: e.images, wire: e.wire}
}

// convertRow converts r into img, reusing its slices; nil when r is.
func convertRow(r *streams.Row, img *Image) (*Image, error) {
	if r == nil {
		return nil, nil
	}
	n := len(r.ValueCells) + len(r.StaticCells)
	img.Columns = reset(img.Columns)
	if cap(img.Columns) < n {
		img.Columns = make([]Field, 0, n)
	}
	// One allocation for the image's cell metadata, not one per cell.
	withMeta := 0
	for _, cells := range [][]streams.NamedCell{r.ValueCells, r.StaticCells} {
		for i := range cells {
			if cells[i].Metadata != nil {
				withMeta++
			}
		}
	}
	img.metas = reset(img.metas)
	if cap(img.metas) < withMeta {
		img.metas = make([]Meta, 0, withMeta)
	}
	parts := []struct {
		cells  []streams.NamedCell
		static bool
	}{{r.ValueCells, false}, {r.StaticCells, true}}
	for _, part := range parts {
		for i := range part.cells {
			c := &part.cells[i]
			v, err := ConvertValue(c.Value)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
			f := Field{Name: c.Name, Value: v, Static: part.static}
			if c.Metadata != nil {
				img.metas = append(img.metas, Meta{WriteTime: c.Metadata.WriteTime, ExpirationTime: c.Metadata.ExpirationTime})
				f.Meta = &img.metas[len(img.metas)-1]
			}
			img.Columns = append(img.Columns, f)
		}
	}
	return img, nil
}

// InferOp infers the operation from which images a record has. Cassandra writes are
// upserts and the stream sends no operation, so the rule is only as good as the view type:
//
//	origin TTL                          → DELETE (a row expired)
//	newImage and oldImage               → UPDATE (a prior row existed)
//	newImage only                       → INSERT (NEW_AND_OLD_IMAGES: no prior row existed;
//	                                       NEW_IMAGE: the stream cannot tell an insert from an
//	                                       update, so this is "INSERT or UPDATE" — an upsert)
//	oldImage only                       → DELETE (OLD_IMAGE view: UNKNOWN, as updates also
//	                                       carry only the old image there)
//	no image                            → DELETE (KEYS_ONLY view: UNKNOWN)
//
// An empty view type is treated as NEW_AND_OLD_IMAGES.
func InferOp(rec *streams.Record, viewType string) Op {
	return inferOp(rec.Origin, rec.NewImage != nil, rec.OldImage != nil, viewType)
}

// inferOp is InferOp from the record's origin and which images it has.
func inferOp(origin string, hasNew, hasOld bool, viewType string) Op {
	if origin == "TTL" {
		return OpDelete
	}
	switch viewType {
	case ViewKeysOnly:
		return OpUnknown
	case ViewOldImage:
		if !hasNew {
			return OpUnknown
		}
	}
	switch {
	case hasNew && hasOld:
		return OpUpdate
	case hasNew:
		return OpInsert
	default:
		return OpDelete
	}
}

// Size estimates the event's uncompressed encoded size in bytes (close to its JSON line).
// The sink counts it against its byte flush limit; it is cheap, not exact.
func (e *Event) Size() int {
	n := 160 + len(e.Keyspace) + len(e.Table) + len(e.ShardID) + len(e.SequenceNumber) + len(e.Origin)
	n += fieldsSize(e.Keys)
	for _, img := range []*Image{e.NewImage, e.OldImage} {
		if img != nil {
			n += fieldsSize(img.Columns)
		}
	}
	return n
}

func fieldsSize(fs []Field) int {
	n := 2
	for _, f := range fs {
		n += len(f.Name) + 4 + valueSize(f.Value)
		if f.Meta != nil {
			n += 40 + len(f.Meta.WriteTime) + len(f.Meta.ExpirationTime)
		}
	}
	return n
}

func valueSize(v Value) int {
	switch v.Type {
	case streams.TypeNull:
		return 4
	case streams.TypeBlob:
		return 2 + (len(v.Bytes)+2)/3*4
	case streams.TypeList, streams.TypeSet, streams.TypeTuple:
		n := 2
		for _, e := range v.Elems {
			n += 1 + valueSize(e)
		}
		return n
	case streams.TypeMap:
		n := 2
		for _, e := range v.Entries {
			n += 18 + valueSize(e.Key) + valueSize(e.Value)
		}
		return n
	case streams.TypeUDT:
		return fieldsSize(v.Fields)
	case streams.TypeTimestamp:
		return 26
	}
	return 2 + len(v.Text) + 20
}

// reset empties s for reuse, clearing the values it held (see Event.images).
func reset[T any](s []T) []T {
	clear(s)
	return s[:0]
}

// cloneFields copies fs and the slices of the collections among their values (see Clone).
func cloneFields(fs []Field) []Field {
	fs = slices.Clone(fs)
	for i := range fs {
		fs[i].Value = cloneValue(fs[i].Value)
	}
	return fs
}

// cloneValue copies the slices of v's collections, however nested.
func cloneValue(v Value) Value {
	if v.Elems != nil {
		elems := make([]Value, len(v.Elems))
		for i, e := range v.Elems {
			elems[i] = cloneValue(e)
		}
		v.Elems = elems
	}
	if v.Entries != nil {
		entries := make([]Entry, len(v.Entries))
		for i, e := range v.Entries {
			entries[i] = Entry{Key: cloneValue(e.Key), Value: cloneValue(e.Value)}
		}
		v.Entries = entries
	}
	if v.Fields != nil {
		v.Fields = cloneFields(v.Fields)
	}
	return v
}
