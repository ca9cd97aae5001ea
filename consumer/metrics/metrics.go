// Package metrics counts what the consumer does and publishes it two ways: as CloudWatch
// Embedded Metric Format (EMF) lines in the JSON logs — CloudWatch Logs turns them into
// metrics with no PutMetricData calls — and as Prometheus text on /metrics for local runs.
//
// Counters are cumulative on /metrics and emitted as deltas (since the last EMF flush) in
// EMF; gauges are emitted as their current value; distributions (Observe) as the list of
// values seen since the last flush, as EMF allows.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Unit is a CloudWatch unit name.
type Unit string

// The units the consumer uses.
const (
	Count        Unit = "Count"
	Bytes        Unit = "Bytes"
	Milliseconds Unit = "Milliseconds"
	None         Unit = "None"
)

// The metric names: the construct's dashboard and alarms use the same names.
const (
	RecordsRead         = "RecordsRead"
	RecordsWritten      = "RecordsWritten"
	BytesWritten        = "BytesWritten"
	FilesWritten        = "FilesWritten"
	FlushLatency        = "FlushLatency"
	GetRecordsThrottles = "GetRecordsThrottles"
	Errors              = "Errors"
	PoisonRecords       = "PoisonRecords"
	TrimmedDataAccess   = "TrimmedDataAccess"
	LeasesHeld          = "LeasesHeld"
	MillisBehindLatest  = "MillisBehindLatest"
	IteratorsAtTip      = "IteratorsAtTip"
	// IcebergCommits counts the snapshots a worker committed (format iceberg); its failed
	// attempts are Errors of kind iceberg_conflict (another commit came first) and iceberg.
	IcebergCommits = "IcebergCommits"
)

// KindSchemaFallback is the Kind of the Errors metric counting Avro schema versions derived
// from the records alone (the construct's SchemaFallback alarm reads it).
const KindSchemaFallback = "schema_fallback"

// Dimension names.
const (
	DimApplication = "Application"
	DimShard       = "ShardId"
	DimWorker      = "WorkerId"
	DimKind        = "Kind"
)

// Dim is one extra dimension of a data point (the Application dimension is always there).
type Dim struct{ Name, Value string }

type kind int

const (
	counter kind = iota
	gauge
	distribution
)

type series struct {
	name   string
	unit   Unit
	kind   kind
	dims   []Dim
	total  float64   // counter: cumulative; gauge: current
	sent   float64   // counter: total at the last EMF flush
	values []float64 // distribution: values since the last EMF flush (bounded)
	count  float64   // distribution: cumulative count (Prometheus)
	sum    float64   // distribution: cumulative sum (Prometheus)
	max    float64   // distribution: maximum since the last EMF flush
}

// maxValuesPerFlush bounds a distribution's memory between flushes (EMF takes 100 values
// per metric per line).
const maxValuesPerFlush = 100

// Registry holds the metrics of one process. It is safe for concurrent use.
type Registry struct {
	namespace, application string
	mu                     sync.Mutex
	series                 map[string]*series
}

// NewRegistry makes a registry publishing under namespace with the Application dimension.
func NewRegistry(namespace, application string) *Registry {
	return &Registry{namespace: namespace, application: application, series: map[string]*series{}}
}

func seriesKey(name string, dims []Dim) string {
	var b strings.Builder
	b.WriteString(name)
	for _, d := range dims {
		b.WriteString("\x00")
		b.WriteString(d.Name)
		b.WriteString("=")
		b.WriteString(d.Value)
	}
	return b.String()
}

func (r *Registry) get(name string, unit Unit, k kind, dims []Dim) *series {
	key := seriesKey(name, dims)
	s := r.series[key]
	if s == nil {
		s = &series{name: name, unit: unit, kind: k, dims: append([]Dim(nil), dims...)}
		r.series[key] = s
	}
	return s
}

// Add adds v to a counter.
func (r *Registry) Add(name string, unit Unit, v float64, dims ...Dim) {
	r.mu.Lock()
	r.get(name, unit, counter, dims).total += v
	r.mu.Unlock()
}

// SetCounter sets a counter's cumulative total, for counts kept elsewhere (a component's
// own statistics); EMF still gets the change since the last flush.
func (r *Registry) SetCounter(name string, unit Unit, total float64, dims ...Dim) {
	r.mu.Lock()
	r.get(name, unit, counter, dims).total = total
	r.mu.Unlock()
}

// Set sets a gauge.
func (r *Registry) Set(name string, unit Unit, v float64, dims ...Dim) {
	r.mu.Lock()
	r.get(name, unit, gauge, dims).total = v
	r.mu.Unlock()
}

// Observe records one value of a distribution (a latency, say).
func (r *Registry) Observe(name string, unit Unit, v float64, dims ...Dim) {
	r.mu.Lock()
	s := r.get(name, unit, distribution, dims)
	s.count++
	s.sum += v
	if len(s.values) == 0 || v > s.max {
		s.max = v
	}
	if len(s.values) < maxValuesPerFlush {
		s.values = append(s.values, v)
	} else {
		// Keep the maximum visible when the list is full: replace the smallest kept value.
		i := 0
		for j := range s.values {
			if s.values[j] < s.values[i] {
				i = j
			}
		}
		if v > s.values[i] {
			s.values[i] = v
		}
	}
	r.mu.Unlock()
}

// DeleteGauges forgets the gauges carrying the dimension (the lag of a shard no longer
// held, say), so they stop being reported. Counters stay: their last deltas must still be
// emitted.
func (r *Registry) DeleteGauges(d Dim) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, s := range r.series {
		if s.kind != gauge {
			continue
		}
		for _, sd := range s.dims {
			if sd == d {
				delete(r.series, k)
				break
			}
		}
	}
}

// Value returns a counter's total or a gauge's value (0 when unknown): for tests and the
// demo's summary.
func (r *Registry) Value(name string, dims ...Dim) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.series[seriesKey(name, dims)]; s != nil {
		if s.kind == distribution {
			return s.count
		}
		return s.total
	}
	return 0
}

// Sum adds a counter over every dimension set it has (all shards, say).
func (r *Registry) Sum(name string) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t float64
	for _, s := range r.series {
		if s.name == name {
			t += s.total
		}
	}
	return t
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

// WriteEMF writes one EMF JSON line per distinct set of dimension values, with the changes
// since the last call, and resets the per-flush state. Series with nothing new are skipped.
// A data point with extra dimensions is published both with them and with Application
// alone, so fleet-wide sums and per-shard views come from the same line.
func (r *Registry) WriteEMF(w io.Writer, now time.Time) error {
	r.mu.Lock()
	type group struct {
		dims    []Dim
		metrics []emfMetric
		values  map[string]any
	}
	groups := map[string]*group{}
	var order []string
	keys := make([]string, 0, len(r.series))
	for k := range r.series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s := r.series[k]
		var v any
		switch s.kind {
		case counter:
			d := s.total - s.sent
			if d == 0 {
				continue
			}
			s.sent = s.total
			v = d
		case gauge:
			v = s.total
		case distribution:
			if len(s.values) == 0 {
				continue
			}
			v = s.values
			s.values = nil
		}
		gk := seriesKey("", s.dims)
		g := groups[gk]
		if g == nil {
			g = &group{dims: s.dims, values: map[string]any{}}
			groups[gk] = g
			order = append(order, gk)
		}
		g.metrics = append(g.metrics, emfMetric{Name: s.name, Unit: s.unit})
		g.values[s.name] = v
	}
	r.mu.Unlock()

	for _, gk := range order {
		g := groups[gk]
		for start := 0; start < len(g.metrics); start += 100 { // EMF: at most 100 metrics a line
			end := min(start+100, len(g.metrics))
			doc := map[string]any{DimApplication: r.application}
			dimSet := []string{DimApplication}
			for _, d := range g.dims {
				doc[d.Name] = d.Value
				dimSet = append(dimSet, d.Name)
			}
			dimSets := [][]string{dimSet}
			if len(dimSet) > 1 {
				dimSets = append(dimSets, []string{DimApplication})
			}
			for _, m := range g.metrics[start:end] {
				doc[m.Name] = g.values[m.Name]
			}
			doc["_aws"] = map[string]any{
				"Timestamp": now.UnixMilli(),
				"CloudWatchMetrics": []emfDirective{{
					Namespace: r.namespace, Dimensions: dimSets, Metrics: g.metrics[start:end],
				}},
			}
			line, err := json.Marshal(doc)
			if err != nil {
				return fmt.Errorf("metrics: encode EMF: %w", err)
			}
			if _, err := w.Write(append(line, '\n')); err != nil {
				return fmt.Errorf("metrics: write EMF: %w", err)
			}
		}
	}
	return nil
}

// WritePrometheus writes every series in the Prometheus text exposition format
// (cdc_<snake_name>, cumulative counters, gauges, and distributions as summaries' _sum and
// _count).
func (r *Registry) WritePrometheus(w io.Writer) error {
	r.mu.Lock()
	byName := map[string][]*series{}
	for _, s := range r.series {
		byName[s.name] = append(byName[s.name], s)
	}
	r.mu.Unlock()
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		list := byName[n]
		sort.Slice(list, func(i, j int) bool { return seriesKey("", list[i].dims) < seriesKey("", list[j].dims) })
		pn := "cdc_" + snake(n)
		r.mu.Lock()
		switch list[0].kind {
		case counter:
			fmt.Fprintf(&b, "# TYPE %s_total counter\n", pn)
			for _, s := range list {
				fmt.Fprintf(&b, "%s_total%s %s\n", pn, r.labels(s.dims), num(s.total))
			}
		case gauge:
			fmt.Fprintf(&b, "# TYPE %s gauge\n", pn)
			for _, s := range list {
				fmt.Fprintf(&b, "%s%s %s\n", pn, r.labels(s.dims), num(s.total))
			}
		case distribution:
			fmt.Fprintf(&b, "# TYPE %s summary\n", pn)
			for _, s := range list {
				fmt.Fprintf(&b, "%s_sum%s %s\n%s_count%s %s\n", pn, r.labels(s.dims), num(s.sum), pn, r.labels(s.dims), num(s.count))
			}
		}
		r.mu.Unlock()
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Registry) labels(dims []Dim) string {
	parts := []string{fmt.Sprintf("application=%q", r.application)}
	for _, d := range dims {
		parts = append(parts, fmt.Sprintf("%s=%q", snake(d.Name), d.Value))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func num(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

// snake turns RecordsRead into records_read and ShardId into shard_id.
func snake(s string) string {
	var b strings.Builder
	for i, c := range s {
		if c >= 'A' && c <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}
