package constructs

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// Every setting of the consumer that names a prop names a field of a type that holds it.
func TestConsumerSettingsNameProps(t *testing.T) {
	want := map[config.Kind][]reflect.Type{
		config.Text: {reflect.TypeOf("")}, config.Choice: {reflect.TypeOf("")}, config.Compression: {reflect.TypeOf("")},
		config.Bool: {reflect.TypeOf(false)}, config.Int: {reflect.TypeOf(0)}, config.Bytes: {reflect.TypeOf(int64(0))},
		config.Duration: {reflect.TypeOf(time.Duration(0))},
	}
	props := reflect.TypeOf(KeyspacesCdcToS3Props{})
	n := 0
	for _, s := range consumerProps() {
		n++
		f, ok := props.FieldByName(s.Prop)
		if !ok {
			t.Errorf("%s names prop %s, which KeyspacesCdcToS3Props lacks", s.Env, s.Prop)
			continue
		}
		if types := want[s.Kind]; !reflect.DeepEqual(types, []reflect.Type{f.Type}) {
			t.Errorf("%s: prop %s is a %s, want %v", s.Env, s.Prop, f.Type, types)
		}
	}
	if n == 0 {
		t.Fatal("no setting of the consumer names a prop")
	}
}

// The construct's checks of the consumer's props are the table's: each range's ends pass,
// one past them fails naming the prop.
func TestConsumerPropRangesAreTheTables(t *testing.T) {
	for _, s := range consumerProps() {
		if s.Kind != config.Int && s.Kind != config.Bytes && s.Kind != config.Duration {
			continue
		}
		for v, ok := range map[int64]bool{s.Min: true, s.Max: true, s.Min - 1: s.Min-1 == 0, s.Max + 1: false} {
			props := baseProps()
			props.prop(s).SetInt(v)
			err := props.Validate()
			if (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), s.Prop)) {
				t.Errorf("%s = %s: error %v, want ok %v", s.Prop, strconv.FormatInt(v, 10), err, ok)
			}
		}
	}
}

// The construct may import consumer/config only, never the rest of the consumer (which
// brings the AWS SDK).
func TestOnlyConfigOfTheConsumer(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, "keyspaces-cdc-s3/consumer") && path != "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config" {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}
