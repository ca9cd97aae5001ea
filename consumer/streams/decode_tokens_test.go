package streams

// The first decoder of this package, built on encoding/json's token API, kept as the test
// oracle for the hand-written decoder in decode.go (on internal/jsonscan): FuzzDecodeRecord checks that both agree
// on every input.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// decodeRecordTokens is DecodeRecord done with json.Decoder tokens.
func decodeRecordTokens(data []byte) (Record, error) {
	d := newTokenDecoder(data)
	var r Record
	t, err := d.next()
	if err != nil {
		return Record{}, err
	}
	if err := d.record(t, &r); err != nil {
		return Record{}, err
	}
	if err := d.end(); err != nil {
		return Record{}, err
	}
	r.Raw = data
	return r, nil
}

// tokenDecoder walks the JSON tokens of one value. Maps arrive as objects whose member order
// matters (column order), so it reads tokens rather than decoding into Go maps.
type tokenDecoder struct {
	dec  *json.Decoder
	data []byte
}

func newTokenDecoder(data []byte) *tokenDecoder {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers keep their exact text
	return &tokenDecoder{dec: dec, data: data}
}

func (d *tokenDecoder) next() (json.Token, error) {
	t, err := d.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("decode record: unexpected end of JSON: %w", io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return t, nil
}

// end checks that nothing but white space follows the value.
func (d *tokenDecoder) end() error {
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("decode record: data after the JSON value")
	}
	return nil
}

func (d *tokenDecoder) skip() error {
	var raw json.RawMessage
	if err := d.dec.Decode(&raw); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}

// object reads the members of an object whose opening token is t; a JSON null reads as an
// absent object (fn is never called, present is false).
func (d *tokenDecoder) object(t json.Token, what string, fn func(name string) error) (present bool, err error) {
	if t == nil {
		return false, nil
	}
	if t != json.Delim('{') {
		return false, fmt.Errorf("decode record: %s: want a JSON object, got %s", what, tokenKind(t))
	}
	for d.dec.More() {
		k, err := d.next()
		if err != nil {
			return true, err
		}
		// json.Decoder only hands out strings in key position.
		if err := fn(k.(string)); err != nil {
			return true, err
		}
	}
	_, err = d.next() // '}'
	return true, err
}

// array reads the elements of an array whose opening token is t; fn reads one element
// given its first token.
func (d *tokenDecoder) array(t json.Token, what string, fn func(t json.Token) error) error {
	if t != json.Delim('[') {
		return fmt.Errorf("decode record: %s: want a JSON array, got %s", what, tokenKind(t))
	}
	for d.dec.More() {
		e, err := d.next()
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	_, err := d.next() // ']'
	return err
}

// text reads a JSON string, or a JSON number when numberOK (its exact text).
func (d *tokenDecoder) text(what string, numberOK bool) (string, error) {
	t, err := d.next()
	if err != nil {
		return "", err
	}
	switch v := t.(type) {
	case string:
		return v, nil
	case json.Number:
		if numberOK {
			return string(v), nil
		}
	}
	return "", fmt.Errorf("decode record: %s: want a JSON string, got %s", what, tokenKind(t))
}

func tokenKind(t json.Token) string {
	switch v := t.(type) {
	case nil:
		return "null"
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return "'" + v.String() + "'"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", t)
}

func (d *tokenDecoder) record(t json.Token, r *Record) error {
	present, err := d.object(t, "record", func(name string) error {
		var err error
		switch name {
		case "eventVersion":
			r.EventVersion, err = d.text(name, true)
		case "createdAt":
			var s string
			if s, err = d.text(name, true); err == nil {
				r.CreatedAt, err = ParseEpochSeconds(s)
			}
		case "origin":
			r.Origin, err = d.text(name, false)
		case "partitionKeys":
			r.PartitionKeys, err = d.columns(name)
		case "clusteringKeys":
			r.ClusteringKeys, err = d.columns(name)
		case "newImage", "oldImage":
			var t json.Token
			if t, err = d.next(); err == nil {
				var row *Row
				if row, err = d.row(t); name == "newImage" {
					r.NewImage = row
				} else {
					r.OldImage = row
				}
			}
		case "sequenceNumber":
			r.SequenceNumber, err = d.text(name, true)
		default:
			err = d.skip() // newer members: ignore, the record stays readable
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err == nil && !present {
		return errors.New("decode record: record is null")
	}
	return err
}

// columns reads a key map ({col: CellValue}); an empty object gives an empty, non-nil
// slice so presence survives a re-encode.
func (d *tokenDecoder) columns(what string) ([]Column, error) {
	t, err := d.next()
	if err != nil {
		return nil, err
	}
	cols := []Column{}
	present, err := d.object(t, what, func(name string) error {
		t, err := d.next()
		if err != nil {
			return err
		}
		var v CellValue
		if err := d.cellValue(t, &v, 0); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cols = append(cols, Column{Name: name, Value: v})
		return nil
	})
	if !present {
		return nil, err
	}
	return cols, err
}

func (d *tokenDecoder) row(t json.Token) (*Row, error) {
	r := &Row{}
	present, err := d.object(t, "row", func(name string) error {
		var err error
		switch name {
		case "valueCells":
			r.ValueCells, err = d.namedCells(name, 0)
		case "staticCells":
			r.StaticCells, err = d.namedCells(name, 0)
		case "rowMetadata":
			var t json.Token
			if t, err = d.next(); err == nil {
				r.RowMetadata, err = d.metadata(t)
			}
		default:
			err = d.skip()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if !present {
		return nil, err
	}
	return r, err
}

// namedCells reads {name: Cell} (row cells, UDT fields) in wire order.
func (d *tokenDecoder) namedCells(what string, depth int) ([]NamedCell, error) {
	t, err := d.next()
	if err != nil {
		return nil, err
	}
	cells := []NamedCell{}
	present, err := d.object(t, what, func(name string) error {
		t, err := d.next()
		if err != nil {
			return err
		}
		nc := NamedCell{Name: name}
		if err := d.cell(t, &nc.Cell, depth); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		cells = append(cells, nc)
		return nil
	})
	if !present {
		return nil, err
	}
	return cells, err
}

func (d *tokenDecoder) metadata(t json.Token) (*Metadata, error) {
	m := &Metadata{}
	present, err := d.object(t, "metadata", func(name string) error {
		var err error
		switch name {
		case "writeTime":
			m.WriteTime, err = d.text(name, true)
		case "expirationTime":
			m.ExpirationTime, err = d.text(name, true)
		default:
			err = d.skip()
		}
		return err
	})
	if !present {
		return nil, err
	}
	return m, err
}

// cell reads {value, metadata}; a null cell reads as a null value.
func (d *tokenDecoder) cell(t json.Token, c *Cell, depth int) error {
	_, err := d.object(t, "cell", func(name string) error {
		switch name {
		case "value":
			t, err := d.next()
			if err != nil {
				return err
			}
			return d.cellValue(t, &c.Value, depth)
		case "metadata":
			t, err := d.next()
			if err != nil {
				return err
			}
			c.Metadata, err = d.metadata(t)
			return err
		}
		return d.skip()
	})
	return err
}

// cellValue reads the union object whose first token is t. {} and null are a null value.
func (d *tokenDecoder) cellValue(t json.Token, v *CellValue, depth int) error {
	if depth > MaxNesting {
		return fmt.Errorf("decode record: values nested deeper than %d", MaxNesting)
	}
	start := d.dec.InputOffset() - 1 // the '{' just read
	members := 0
	unknown := false
	_, err := d.object(t, "cell value", func(name string) error {
		if members++; members > 1 {
			return fmt.Errorf("decode record: cell value has several union members (%q and more)", name)
		}
		m, ok := memberTypes[name]
		if !ok {
			v.Type, v.Unknown, unknown = TypeNull, name, true
			return d.skip()
		}
		v.Type = m.typ
		switch m.typ {
		case TypeBlob:
			s, err := d.text(name, false)
			if err != nil {
				return err
			}
			if v.Blob, err = base64.StdEncoding.DecodeString(s); err != nil {
				return fmt.Errorf("decode record: %s: %w", name, err)
			}
			return nil
		case TypeBool:
			t, err := d.next()
			if err != nil {
				return err
			}
			b, ok := t.(bool)
			if !ok {
				return fmt.Errorf("decode record: %s: want a JSON boolean, got %s", name, tokenKind(t))
			}
			v.Bool = b
			return nil
		case TypeList, TypeSet, TypeTuple:
			t, err := d.next()
			if err != nil {
				return err
			}
			v.Elems = []Cell{}
			return d.array(t, name, func(t json.Token) error {
				var c Cell
				if err := d.cell(t, &c, depth+1); err != nil {
					return err
				}
				v.Elems = append(v.Elems, c)
				return nil
			})
		case TypeMap:
			t, err := d.next()
			if err != nil {
				return err
			}
			v.Entries = []MapEntry{}
			return d.array(t, name, func(t json.Token) error {
				e, err := d.mapEntry(t, depth+1)
				if err != nil {
					return err
				}
				v.Entries = append(v.Entries, e)
				return nil
			})
		case TypeUDT:
			var err error
			v.Fields, err = d.namedCells(name, depth+1)
			if err == nil && v.Fields == nil {
				return fmt.Errorf("decode record: %s: want a JSON object, got null", name)
			}
			return err
		}
		var err error
		v.Text, err = d.text(name, m.numberOK)
		return err
	})
	if err != nil {
		return err
	}
	if unknown {
		var buf bytes.Buffer
		// Compacted, so a re-encoded record decodes to the same Raw.
		if err := json.Compact(&buf, d.data[start:d.dec.InputOffset()]); err != nil {
			return fmt.Errorf("decode record: %w", err)
		}
		v.Raw = buf.Bytes()
	}
	return nil
}

func (d *tokenDecoder) mapEntry(t json.Token, depth int) (MapEntry, error) {
	var e MapEntry
	_, err := d.object(t, "map entry", func(name string) error {
		switch name {
		case "key", "value":
			t, err := d.next()
			if err != nil {
				return err
			}
			if name == "key" {
				return d.cellValue(t, &e.Key, depth)
			}
			return d.cellValue(t, &e.Value, depth)
		case "metadata":
			t, err := d.next()
			if err != nil {
				return err
			}
			e.Metadata, err = d.metadata(t)
			return err
		}
		return d.skip()
	})
	return e, err
}
