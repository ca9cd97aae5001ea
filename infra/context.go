package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
)

// ParamError names the context parameter that is wrong.
type ParamError struct {
	Param   string
	Message string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("context parameter %s: %s", e.Param, e.Message)
}

// appContext reads the app's context parameters. Values from `-c key=value` arrive as
// strings, values from cdk.json with their JSON types: every getter accepts both.
type appContext struct {
	app awscdk.App
	// values, when set, are read instead of the app's context: one table of `tables`.
	values map[string]any
}

func (c appContext) raw(key string) (any, bool) {
	if c.values != nil {
		v, ok := c.values[key]
		return v, ok && v != nil
	}
	v := c.app.Node().TryGetContext(jsii.String(key))
	if v == nil {
		return nil, false
	}
	return v, true
}

// keys returns every key of the context, sorted.
func (c appContext) keys() []string {
	all, _ := c.app.Node().GetAllContext(nil).(map[string]any)
	return slices.Sorted(maps.Keys(all))
}

// str returns a string parameter, "" when absent.
func (c appContext) str(key string) (string, error) {
	v, ok := c.raw(key)
	if !ok {
		return "", nil
	}
	switch t := v.(type) {
	case string:
		return strings.TrimSpace(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(t), nil
	}
	return "", &ParamError{key, fmt.Sprintf("%v is not a string", v)}
}

// boolean returns a boolean parameter (true/false, also 1/0, yes/no), nil when absent.
func (c appContext) boolean(key string) (*bool, error) {
	v, ok := c.raw(key)
	if !ok {
		return nil, nil
	}
	if b, isBool := v.(bool); isBool {
		return &b, nil
	}
	s, err := c.str(key)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return jsii.Bool(true), nil
	case "false", "0", "no", "off":
		return jsii.Bool(false), nil
	case "":
		return nil, nil
	}
	return nil, &ParamError{key, fmt.Sprintf("%q is not a boolean: true or false", s)}
}

// integer returns an integer parameter within [lo, hi], nil when absent.
func (c appContext) integer(key string, lo, hi int) (*int, error) {
	v, ok := c.raw(key)
	if !ok {
		return nil, nil
	}
	var n int
	switch t := v.(type) {
	case float64:
		if t != float64(int(t)) {
			return nil, &ParamError{key, fmt.Sprintf("%v is not a whole number", t)}
		}
		n = int(t)
	default:
		s, err := c.str(key)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, nil
		}
		if n, err = strconv.Atoi(s); err != nil {
			return nil, &ParamError{key, fmt.Sprintf("%q is not a whole number", s)}
		}
	}
	if n < lo || n > hi {
		return nil, &ParamError{key, fmt.Sprintf("%d is out of range: %d to %d", n, lo, hi)}
	}
	return &n, nil
}

// list returns a list parameter: a JSON array (cdk.json), or a string holding a JSON array or
// comma-separated values (-c). Empty items are dropped.
func (c appContext) list(key string) ([]string, error) {
	v, ok := c.raw(key)
	if !ok {
		return nil, nil
	}
	var items []any
	switch t := v.(type) {
	case []any:
		items = t
	case string:
		s := strings.TrimSpace(t)
		if strings.HasPrefix(s, "[") {
			if err := json.Unmarshal([]byte(s), &items); err != nil {
				return nil, &ParamError{key, fmt.Sprintf("%q is not a JSON array of strings: %v", s, err)}
			}
		} else {
			for _, part := range strings.Split(s, ",") {
				items = append(items, part)
			}
		}
	default:
		return nil, &ParamError{key, fmt.Sprintf("%v is not a list: a JSON array or comma-separated values", v)}
	}
	var out []string
	for _, it := range items {
		s, isString := it.(string)
		if !isString {
			return nil, &ParamError{key, fmt.Sprintf("item %v is not a string", it)}
		}
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
