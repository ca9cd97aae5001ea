package encode

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/record/recordtest"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The datum writer must write the bytes the hamba-based writer it replaced wrote (files
// stay byte-identical), and fail where it failed, with the same error.

func sameEncoding(t *testing.T, what string, want []byte, wantErr error, got []byte, gotErr error) {
	t.Helper()
	if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && (wantErr.Error() != gotErr.Error() ||
		errors.Is(wantErr, ErrTypeConflict) != errors.Is(gotErr, ErrTypeConflict))) {
		t.Fatalf("%s: error %v, want %v", what, gotErr, wantErr)
	}
	if wantErr == nil && !bytes.Equal(got, want) {
		t.Fatalf("%s: bytes\n%x\nwant\n%x", what, got, want)
	}
}

// TestDatumMatchesHambaWriter encodes events of every type through both writers: schemas
// from GetTable and derived from the records, with and without cell metadata; both images,
// one, none; nulls, empty collections, and values that do not fit the schema.
func TestDatumMatchesHambaWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, src := range []TableSource{KeyspacesSource{API: &recordtest.FakeKeyspaces{}}, nil} {
		for _, meta := range []bool{false, true} {
			schemas := NewSchemas(src, meta, nil)
			// One writer per schema version, for all its events, as a file has.
			writers := map[*AvroSchema]*writerPair{}
			for i := range 200 {
				ev := allTypesEvent(t, i)
				switch i % 4 {
				case 1:
					ev.OldImage, ev.NewImage = ev.NewImage, nil
				case 2:
					ev.OldImage = allTypesEvent(t, i+1).NewImage
				case 3:
					ev.NewImage = nil
				}
				s, err := schemas.For(context.Background(), ev)
				if err != nil {
					t.Fatal(err)
				}
				if ev.NewImage != nil && i%5 > 0 {
					// A column's value replaced: nulls, empty collections, other types.
					cols := ev.NewImage.Columns
					c := &cols[rng.IntN(len(cols))]
					c.Value = randomValue(rng, randomType(rng, 3), 3)
				}
				if ev.NewImage != nil && i%3 == 0 {
					// Columns in another order, some left out: the writer's guesses miss.
					cols := ev.NewImage.Columns
					rng.Shuffle(len(cols), func(i, j int) { cols[i], cols[j] = cols[j], cols[i] })
					ev.NewImage.Columns = cols[:len(cols)-rng.IntN(3)]
				}
				if writers[s] == nil {
					writers[s] = &writerPair{newHambaDatumWriter(s), newDatumWriter(s)}
				}
				want, wantErr := writers[s].old.encode(ev)
				got, gotErr := writers[s].new.encode(ev)
				sameEncoding(t, s.Fingerprint, want, wantErr, got, gotErr)
			}
		}
	}
}

type writerPair struct {
	old *hambaDatumWriter
	new *datumWriter
}

// TestValueMatchesHambaWriter writes random values under random declared types (mostly
// fitting, sometimes not) through both writers.
func TestValueMatchesHambaWriter(t *testing.T) {
	for seed := range uint64(20_000) {
		checkDatumValue(t, seed)
	}
}

func FuzzDatum(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(12345))
	f.Fuzz(func(t *testing.T, seed uint64) { checkDatumValue(t, seed) })
}

func checkDatumValue(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed>>32))
	typ := randomType(rng, 4)
	var v record.Value
	if rng.IntN(4) == 0 {
		v = randomValue(rng, randomType(rng, 4), 4)
	} else {
		v = randomValue(rng, typ, 4)
	}
	old := &hambaDatumWriter{w: avro.NewWriter(nil, 64)}
	wantErr := old.nullable(typ, v)
	got, gotErr := nullable(nil, &typ, &v)
	sameEncoding(t, typ.String(), old.w.Buffer(), wantErr, got, gotErr)
	// covers' fast check never accepts what the whole comparison rejects.
	if fits(&typ, &v) && !typeCovers(typ, typeOf(v)) {
		t.Fatalf("fits(%s, %s value) but typeCovers does not", typ, typeOf(v))
	}
}

var scalarTypes = []streams.CQLType{
	streams.TypeASCII, streams.TypeBigint, streams.TypeBlob, streams.TypeBool, streams.TypeCounter,
	streams.TypeDate, streams.TypeDecimal, streams.TypeDouble, streams.TypeDuration, streams.TypeFloat,
	streams.TypeInet, streams.TypeInt, streams.TypeSmallint, streams.TypeText, streams.TypeTimestamp,
	streams.TypeTime, streams.TypeTimeuuid, streams.TypeTinyint, streams.TypeUUID, streams.TypeVarchar,
	streams.TypeVarint,
}

var udtFieldNamesPool = []string{"a", "b", "c", "d"}

// randomType is a type of at most depth levels; sometimes unknown ("") at any level.
func randomType(rng *rand.Rand, depth int) record.Type {
	k := rng.IntN(12)
	if depth <= 0 && k >= 6 {
		k = rng.IntN(6)
	}
	switch k {
	case 0:
		return record.Type{}
	case 6, 7:
		name := streams.TypeList
		if k == 7 {
			name = streams.TypeSet
		}
		return record.Type{Name: name, Elems: []record.Type{randomType(rng, depth-1)}}
	case 8:
		return record.Type{Name: streams.TypeMap, Elems: []record.Type{randomType(rng, depth-1), randomType(rng, depth-1)}}
	case 9:
		elems := make([]record.Type, rng.IntN(4))
		for i := range elems {
			elems[i] = randomType(rng, depth-1)
		}
		return record.Type{Name: streams.TypeTuple, Elems: elems}
	case 10, 11:
		var fields []record.FieldType
		for _, name := range udtFieldNamesPool {
			if rng.IntN(2) == 0 {
				fields = append(fields, record.FieldType{Name: name, Type: randomType(rng, depth-1)})
			}
		}
		return record.Type{Name: streams.TypeUDT, UDT: "u", Fields: fields}
	}
	return record.Type{Name: scalarTypes[rng.IntN(len(scalarTypes))]}
}

// randomValue is a value of (about) type t: sometimes null, sometimes of another type, with
// empty collections, short or long tuples, missing, extra and repeated UDT fields.
func randomValue(rng *rand.Rand, t record.Type, depth int) record.Value {
	if t.Name == "" || rng.IntN(10) == 0 {
		return record.Value{}
	}
	if depth <= 0 || rng.IntN(20) == 0 {
		t = randomType(rng, 0)
		if t.Name == "" {
			return record.Value{}
		}
	}
	v := record.Value{Type: t.Name}
	switch t.Name {
	case streams.TypeList, streams.TypeSet:
		v.Elems = make([]record.Value, rng.IntN(4))
		for i := range v.Elems {
			v.Elems[i] = randomValue(rng, t.Elems[0], depth-1)
		}
	case streams.TypeMap:
		v.Entries = make([]record.Entry, rng.IntN(3))
		for i := range v.Entries {
			v.Entries[i] = record.Entry{Key: randomValue(rng, t.Elems[0], depth-1), Value: randomValue(rng, t.Elems[1], depth-1)}
		}
	case streams.TypeTuple:
		n := len(t.Elems)
		if rng.IntN(8) == 0 {
			n = rng.IntN(5)
		}
		v.Elems = make([]record.Value, n)
		for i := range v.Elems {
			et := randomType(rng, depth-1)
			if i < len(t.Elems) {
				et = t.Elems[i]
			}
			v.Elems[i] = randomValue(rng, et, depth-1)
		}
	case streams.TypeUDT:
		for _, f := range t.Fields {
			if rng.IntN(4) > 0 {
				v.Fields = append(v.Fields, record.Field{Name: f.Name, Value: randomValue(rng, f.Type, depth-1)})
			}
		}
		if rng.IntN(8) == 0 {
			name := udtFieldNamesPool[rng.IntN(len(udtFieldNamesPool))]
			v.Fields = append(v.Fields, record.Field{Name: name, Value: randomValue(rng, randomType(rng, depth-1), depth-1)})
		}
	default:
		v.Int = int64(rng.Uint64())
		v.Float = math.Float64frombits(rng.Uint64())
		v.Bool = rng.IntN(2) == 0
		v.Text = udtFieldNamesPool[rng.IntN(len(udtFieldNamesPool))]
		v.Bytes = []byte(v.Text)
		v.Time = time.UnixMilli(int64(rng.Uint64() >> 20)).UTC()
		v.TimeOfDay = time.Duration(rng.Int64N(int64(24 * time.Hour)))
	}
	return v
}

// TestAvroUnwritableEventIsRejectedAlone: an event its file's schema covers but cannot
// hold (a null list element) fails with the writing's error, and the file goes on.
func TestAvroUnwritableEventIsRejectedAlone(t *testing.T) {
	ctx := context.Background()
	b, bad := avroWithABadEvent(t, NewSchemas(nil, false, nil), "c_list", func(v *record.Value) { v.Elems[1] = record.Value{} })
	err := b.Add(ctx, bad)
	if err == nil || err.Error() != "image: column c_list: element 1: null where text needs a value" {
		t.Fatalf("Add(null element) = %v", err)
	}
	if err := b.Add(ctx, allTypesEvent(t, 3)); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 2 {
		t.Errorf("Len = %d, want 2", b.Len())
	}
	f, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := decodeOCF(t, f.Body); len(got) != 2 {
		t.Errorf("file holds %d records, want 2", len(got))
	}
}

// TestSnappyBlockAsTheOCFCodec: a block compressed into the writer's reused room is the bytes
// hamba/avro's own snappy codec gives (which its reader and every other one read), after
// whatever the room held, for empty, small, repetitive, random and block-sized inputs.
func TestSnappyBlockAsTheOCFCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	blocks := [][]byte{nil, {0}, []byte("a record"), bytes.Repeat([]byte("media_content "), 5000), random(1000), random(ocfBlockBytes)}
	room := []byte("kept")
	for _, block := range blocks {
		got, err := appendSnappyBlock(room, block)
		if err != nil {
			t.Fatal(err)
		}
		want := append([]byte("kept"), (&ocf.SnappyCodec{}).Encode(block)...)
		if !bytes.Equal(got, want) {
			t.Fatalf("block of %d bytes: %d bytes, the codec's %d differ", len(block), len(got), len(want))
		}
		room = got[:4] // the room is reused, with what it held
	}
}
