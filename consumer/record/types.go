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
	// tuple element seen in a record. It is filled in by Merge when a later value tells.
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

// Merge combines what two sources know about one column's type: unknown parts of one are
// filled from the other. Two known, different types are a conflict (an error).
func Merge(a, b Type) (Type, error) {
	if a.Name == "" {
		return b, nil
	}
	if b.Name == "" {
		return a, nil
	}
	if avroClass(a.Name) != avroClass(b.Name) {
		return Type{}, fmt.Errorf("type %s conflicts with %s", a, b)
	}
	out := a
	if a.Name == streams.TypeUDT {
		if out.UDT == "" {
			out.UDT = b.UDT
		}
		fields := append([]FieldType(nil), a.Fields...)
		for _, bf := range b.Fields {
			i := fieldIndex(fields, bf.Name)
			if i < 0 {
				fields = append(fields, bf)
				continue
			}
			m, err := Merge(fields[i].Type, bf.Type)
			if err != nil {
				return Type{}, fmt.Errorf("field %s: %w", bf.Name, err)
			}
			fields[i].Type = m
		}
		out.Fields = fields
		return out, nil
	}
	if len(a.Elems) != len(b.Elems) {
		return Type{}, fmt.Errorf("type %s conflicts with %s", a, b)
	}
	if len(a.Elems) > 0 {
		out.Elems = make([]Type, len(a.Elems))
		for i := range a.Elems {
			m, err := Merge(a.Elems[i], b.Elems[i])
			if err != nil {
				return Type{}, err
			}
			out.Elems[i] = m
		}
	}
	return out, nil
}

// Covers reports whether values of type v can be written under the declared type t
// without losing anything: same representation, and every UDT field of v present in t.
func (t Type) Covers(v Type) bool {
	if v.Name == "" {
		return true
	}
	if t.Name == "" || avroClass(t.Name) != avroClass(v.Name) {
		return false
	}
	if t.Name == streams.TypeUDT {
		for _, vf := range v.Fields {
			i := fieldIndex(t.Fields, vf.Name)
			if i < 0 || !t.Fields[i].Type.Covers(vf.Type) {
				return false
			}
		}
		return true
	}
	if len(t.Elems) != len(v.Elems) {
		return false
	}
	for i := range v.Elems {
		if !t.Elems[i].Covers(v.Elems[i]) {
			return false
		}
	}
	return true
}

func fieldIndex(fs []FieldType, name string) int {
	for i, f := range fs {
		if f.Name == name {
			return i
		}
	}
	return -1
}

// avroClass groups the CQL types that share one representation (text, ascii and varchar
// are all strings), so that a varchar value under a text column is not a conflict.
func avroClass(n streams.CQLType) string {
	switch n {
	case streams.TypeText, streams.TypeASCII, streams.TypeVarchar, streams.TypeInet:
		return "string"
	case streams.TypeUUID, streams.TypeTimeuuid:
		return "uuid"
	case streams.TypeInt, streams.TypeSmallint, streams.TypeTinyint:
		return "int"
	case streams.TypeBigint, streams.TypeCounter:
		return "long"
	case streams.TypeList, streams.TypeSet:
		return "array"
	}
	return string(n)
}
