package record

import (
	"fmt"
	"strings"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Type is a CQL type: a scalar, a collection with its element types, a tuple, or a UDT.
// It comes from the table's definition (GetTable / GetType) or, when that is not available,
// from the values the records carry.
type Type struct {
	// Name is the CQL type (the union member name: "text", "bool", "list", "udt", ...).
	// The empty Name is an unknown type: the element type of an empty collection or a null
	// tuple element seen in a record. The encode package's Avro schemas fill it in when a
	// later value tells.
	Name streams.CQLType
	// Elems: list and set have one (the element type), map two (key, value), tuple one per
	// component.
	Elems []Type
	// UDT is the user-defined type's name ("" when derived from a record, which does not
	// carry it); Fields are its fields in definition order.
	UDT    string
	Fields []FieldType
}

// FieldType is a named member of a UDT (or a column of a table).
type FieldType struct {
	Name string
	Type Type
}

// Known reports whether the type and all its parts are known.
func (t Type) Known() bool {
	if t.Name == "" {
		return false
	}
	for _, e := range t.Elems {
		if !e.Known() {
			return false
		}
	}
	for _, f := range t.Fields {
		if !f.Type.Known() {
			return false
		}
	}
	return true
}

// String renders the type in CQL syntax (without frozen<>): "map<text, int>".
func (t Type) String() string {
	var b strings.Builder
	t.write(&b)
	return b.String()
}

func (t Type) write(b *strings.Builder) {
	switch t.Name {
	case "":
		b.WriteString("?")
	case streams.TypeBool:
		b.WriteString("boolean")
	case streams.TypeList, streams.TypeSet, streams.TypeMap, streams.TypeTuple:
		b.WriteString(string(t.Name))
		b.WriteByte('<')
		for i, e := range t.Elems {
			if i > 0 {
				b.WriteString(", ")
			}
			e.write(b)
		}
		b.WriteByte('>')
	case streams.TypeUDT:
		if t.UDT != "" {
			b.WriteString(t.UDT)
			return
		}
		b.WriteString("udt<")
		for i, f := range t.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(f.Name)
			b.WriteByte(' ')
			f.Type.write(b)
		}
		b.WriteByte('>')
	default:
		b.WriteString(string(t.Name))
	}
}

// TextLike reports whether values of the type are plain strings, so that a map keyed by it
// becomes a JSON object.
func (t Type) TextLike() bool {
	switch t.Name {
	case streams.TypeText, streams.TypeASCII, streams.TypeVarchar:
		return true
	}
	return false
}

// scalarNames maps CQL type names (as GetTable spells them) to the union member names.
var scalarNames = map[string]streams.CQLType{
	"ascii": streams.TypeASCII, "bigint": streams.TypeBigint, "blob": streams.TypeBlob,
	"boolean": streams.TypeBool, "bool": streams.TypeBool, "counter": streams.TypeCounter,
	"date": streams.TypeDate, "decimal": streams.TypeDecimal, "double": streams.TypeDouble,
	"duration": streams.TypeDuration, "float": streams.TypeFloat, "inet": streams.TypeInet,
	"int": streams.TypeInt, "smallint": streams.TypeSmallint, "text": streams.TypeText,
	"time": streams.TypeTime, "timestamp": streams.TypeTimestamp,
	"timeuuid": streams.TypeTimeuuid, "tinyint": streams.TypeTinyint, "uuid": streams.TypeUUID,
	"varchar": streams.TypeVarchar, "varint": streams.TypeVarint,
}

// ParseType parses a CQL type as GetTable and GetType spell it: `text`, `list<text>`,
// `map<text, int>`, `frozen<tuple<int, text>>`, `frozen<address>`. A name that is not a
// CQL type is a UDT: the result has Name "udt" and UDT set, and no Fields (the caller
// resolves them with GetType).
func ParseType(s string) (Type, error) {
	p := typeParser{s: s}
	t, err := p.parse()
	if err != nil {
		return Type{}, fmt.Errorf("parse CQL type %q: %w", s, err)
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return Type{}, fmt.Errorf("parse CQL type %q: unexpected %q at %d", s, p.s[p.i:], p.i)
	}
	return t, nil
}

type typeParser struct {
	s string
	i int
}

func (p *typeParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *typeParser) ident() (string, error) {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		// A quoted name: "" inside stands for one quote.
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			if p.s[p.i] == '"' {
				if p.i+1 < len(p.s) && p.s[p.i+1] == '"' {
					b.WriteByte('"')
					p.i++
					continue
				}
				p.i++
				return b.String(), nil
			}
			b.WriteByte(p.s[p.i])
		}
		return "", fmt.Errorf("unterminated quoted name")
	}
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '<' || c == '>' || c == ',' || c == ' ' || c == '\t' || c == '\n' {
			break
		}
		p.i++
	}
	if start == p.i {
		return "", fmt.Errorf("expected a type name at %d", start)
	}
	return p.s[start:p.i], nil
}

func (p *typeParser) expect(c byte) error {
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("expected %q at %d", c, p.i)
	}
	p.i++
	return nil
}

// args parses "<t1, t2, ...>".
func (p *typeParser) args() ([]Type, error) {
	if err := p.expect('<'); err != nil {
		return nil, err
	}
	var out []Type
	for {
		t, err := p.parse()
		if err != nil {
			return nil, err
		}
		out = append(out, t)
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		return out, p.expect('>')
	}
}

func (p *typeParser) parse() (Type, error) {
	name, err := p.ident()
	if err != nil {
		return Type{}, err
	}
	lower := strings.ToLower(name)
	switch lower {
	case "frozen":
		args, err := p.args()
		if err != nil {
			return Type{}, err
		}
		if len(args) != 1 {
			return Type{}, fmt.Errorf("frozen takes one type, got %d", len(args))
		}
		return args[0], nil
	case "list", "set", "map", "tuple":
		args, err := p.args()
		if err != nil {
			return Type{}, err
		}
		want := map[string]int{"list": 1, "set": 1, "map": 2}[lower]
		if (want > 0 && len(args) != want) || len(args) == 0 {
			return Type{}, fmt.Errorf("%s takes %d type(s), got %d", lower, want, len(args))
		}
		return Type{Name: streams.CQLType(lower), Elems: args}, nil
	}
	if n, ok := scalarNames[lower]; ok {
		return Type{Name: n}, nil
	}
	// A UDT, possibly keyspace-qualified (ks.address): GetType wants the bare name.
	if dot := strings.LastIndexByte(name, '.'); dot >= 0 {
		name = name[dot+1:]
	}
	return Type{Name: streams.TypeUDT, UDT: name}, nil
}
