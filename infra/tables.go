package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	cdc "github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// The context parameter `tables` lists several tables for one deployment. Each item is
// "keyspace.table", or an object whose keys are the context parameters a table may set on its
// own (tableParams: those whose construct prop is a field of cdc.TableProps), e.g.
//
//	-c tables=shop.orders,shop.customers
//	-c tables='[{"keyspace":"shop","table":"orders","format":"avro","desiredCount":3},"shop.customers"]'
//
// or the same array in cdk.json. A parameter given at the top level applies to every table
// that does not set it.

// tableParams are the context parameters a table of `tables` may set.
func tableParams() []param {
	fields := reflect.TypeOf(cdc.TableProps{})
	var out []param
	for _, p := range params() {
		field, _, _ := strings.Cut(p.prop, ".")
		if _, ok := fields.FieldByName(field); ok && p.key != "tables" {
			out = append(out, p)
		}
	}
	return out
}

// tables reads the list of tables.
func tables() reader {
	return reader{"list of keyspace.table, or of objects of per-table parameters (below)", func(c appContext, key string) (any, error) {
		v, ok := c.raw(key)
		if !ok {
			return nil, nil
		}
		items, err := tableItems(key, v)
		if err != nil || len(items) == 0 {
			return nil, err
		}
		var out []cdc.TableProps
		var errs []error
		for i, item := range items {
			t, err := readTable(fmt.Sprintf("%s[%d]", key, i), item)
			errs = append(errs, err)
			out = append(out, t)
		}
		return out, errors.Join(errs...)
	}}
}

// tableItems are the items of `tables`: a JSON array (cdk.json, or -c as JSON text) or
// comma-separated keyspace.table names.
func tableItems(key string, v any) ([]any, error) {
	switch t := v.(type) {
	case []any:
		return t, nil
	case string:
		s := strings.TrimSpace(t)
		if strings.HasPrefix(s, "[") {
			var items []any
			if err := json.Unmarshal([]byte(s), &items); err != nil {
				return nil, &ParamError{key, fmt.Sprintf("%q is not a JSON array: %v", s, err)}
			}
			return items, nil
		}
		var items []any
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, part)
			}
		}
		return items, nil
	}
	return nil, &ParamError{key, fmt.Sprintf("%v is not a list of tables", v)}
}

// readTable reads one item of `tables`.
func readTable(name string, item any) (cdc.TableProps, error) {
	switch t := item.(type) {
	case string:
		keyspace, table, ok := strings.Cut(strings.TrimSpace(t), ".")
		if !ok || !config.CQLName.MatchString(keyspace) || !config.CQLName.MatchString(table) {
			return cdc.TableProps{}, &ParamError{name, fmt.Sprintf("%q is not keyspace.table", t)}
		}
		return cdc.TableProps{Keyspace: keyspace, Table: table}, nil
	case map[string]any:
		return readTableObject(name, t)
	}
	return cdc.TableProps{}, &ParamError{name, fmt.Sprintf("%v is neither keyspace.table nor an object of per-table parameters", item)}
}

// readTableObject reads a table given as an object of per-table parameters, with the rows
// of those parameters, into the table's props.
func readTableObject(name string, values map[string]any) (cdc.TableProps, error) {
	rows := tableParams()
	var keys []string
	for _, p := range rows {
		keys = append(keys, p.key)
	}
	var errs []error
	for k := range values {
		if !slices.Contains(keys, k) {
			errs = append(errs, &ParamError{name, fmt.Sprintf("%q is not a parameter a table sets: one of %s", k, strings.Join(keys, ", "))})
		}
	}
	in := &inputs{}
	c := appContext{values: values}
	for _, p := range rows {
		v, err := p.read.read(c, p.key)
		switch {
		case err != nil:
			errs = append(errs, within(name, err))
		case v == nil:
		case p.store != nil:
			errs = append(errs, within(name, p.store(in, v)))
		default:
			setProp(&in.props, p.prop, v)
		}
	}
	var t cdc.TableProps
	dst, src := reflect.ValueOf(&t).Elem(), reflect.ValueOf(in.props)
	for i := range dst.NumField() {
		dst.Field(i).Set(src.FieldByName(dst.Type().Field(i).Name))
	}
	return t, errors.Join(errs...)
}

// within names a table's parameter by its place: tables[1].format.
func within(name string, err error) error {
	var p *ParamError
	if errors.As(err, &p) {
		return &ParamError{name + "." + p.Param, p.Message}
	}
	return err
}
