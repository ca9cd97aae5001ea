package emulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// The admin API (JSON, no authentication), under /_admin/:
//
//	GET  /_admin/healthz                 {"status":"ok"}
//	GET  /_admin/streams                 the streams and their shards
//	POST /_admin/streams                 StreamSpec → {"streamArn"}
//	POST /_admin/records?streamArn=ARN   a JSON array or JSON Lines of records → {"sequenceNumbers"}
//	POST /_admin/split                   {"streamArn","shardId"?} → {"children"}
//	POST /_admin/merge                   {"streamArn","shardIds":[a,b]} → {"child"}
//	GET  /_admin/faults, POST /_admin/faults  {"throttleRate","errorRate","dropRate","latency":"50ms","denySchema"}
//	POST /_admin/generator/start         GeneratorConfig → GeneratorStatus
//	POST /_admin/generator/stop          → GeneratorStatus
//	GET  /_admin/generator/status        → GeneratorStatus
//	GET  /_admin/written?streamArn=&shardId=&offset=&limit=&only=seq
//	                                     every record written, per stream and shard

// faultsJSON is Faults with the latency as a duration string.
type faultsJSON struct {
	ThrottleRate float64  `json:"throttleRate"`
	ErrorRate    float64  `json:"errorRate"`
	DropRate     float64  `json:"dropRate"`
	Latency      Duration `json:"latency"`
	DenySchema   bool     `json:"denySchema"`
}

// adminRoute answers one admin call: the value to send back as JSON, or an error for a 400.
type adminRoute func(s *Server, r *http.Request) (any, error)

// adminRoutes maps "METHOD /path" to its route (the table above).
var adminRoutes = map[string]adminRoute{
	"GET /_admin/healthz": func(*Server, *http.Request) (any, error) {
		return map[string]string{"status": "ok"}, nil
	},
	"GET /_admin/streams": func(s *Server, _ *http.Request) (any, error) {
		return s.describeStreams(), nil
	},
	"POST /_admin/streams":         (*Server).adminCreateStream,
	"POST /_admin/records":         (*Server).adminPutRecords,
	"POST /_admin/split":           (*Server).adminSplit,
	"POST /_admin/merge":           (*Server).adminMerge,
	"GET /_admin/faults":           (*Server).adminFaults,
	"POST /_admin/faults":          (*Server).adminSetFaults,
	"POST /_admin/generator/start": (*Server).adminStartGenerator,
	"POST /_admin/generator/stop": func(s *Server, _ *http.Request) (any, error) {
		return s.StopGenerator(), nil
	},
	"GET /_admin/generator/status": func(s *Server, _ *http.Request) (any, error) {
		return s.GeneratorStatus(), nil
	},
	"GET /_admin/written": (*Server).writtenPage,
}

// serveAdmin answers a call of the admin API: 404 for a route it lacks, 400 with the error
// for a call that fails.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	handle, ok := adminRoutes[route]
	if !ok {
		writeAdmin(w, http.StatusNotFound, map[string]string{"error": "no admin route " + route})
		return
	}
	out, err := handle(s, r)
	if err != nil {
		writeAdmin(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeAdmin(w, http.StatusOK, out)
}

func (s *Server) adminCreateStream(r *http.Request) (any, error) {
	var spec StreamSpec
	if err := readJSON(r, &spec); err != nil {
		return nil, err
	}
	arn, err := s.CreateStream(spec)
	return map[string]string{"streamArn": arn}, err
}

func (s *Server) adminPutRecords(r *http.Request) (any, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	recs, err := ParseRecords(body)
	if err != nil {
		return nil, err
	}
	seqs, err := s.PutRecords(s.orOnlyStream(r.URL.Query().Get("streamArn")), recs)
	return map[string]any{"sequenceNumbers": seqs}, err
}

func (s *Server) adminSplit(r *http.Request) (any, error) {
	var in struct {
		StreamArn string `json:"streamArn"`
		ShardID   string `json:"shardId"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	children, err := s.Split(s.orOnlyStream(in.StreamArn), in.ShardID)
	return map[string]any{"children": children}, err
}

func (s *Server) adminMerge(r *http.Request) (any, error) {
	var in struct {
		StreamArn string   `json:"streamArn"`
		ShardIDs  []string `json:"shardIds"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if len(in.ShardIDs) != 2 {
		return nil, errors.New("merge: shardIds must name two shards")
	}
	child, err := s.Merge(s.orOnlyStream(in.StreamArn), in.ShardIDs[0], in.ShardIDs[1])
	return map[string]string{"child": child}, err
}

func (s *Server) adminFaults(*http.Request) (any, error) {
	f := s.Faults()
	return faultsJSON{f.ThrottleRate, f.ErrorRate, f.DropRate, Duration(f.Latency), f.DenySchema}, nil
}

func (s *Server) adminSetFaults(r *http.Request) (any, error) {
	var in faultsJSON
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	err := s.SetFaults(Faults{ThrottleRate: in.ThrottleRate, ErrorRate: in.ErrorRate, DropRate: in.DropRate, Latency: time.Duration(in.Latency),
		DenySchema: in.DenySchema})
	return in, err
}

func (s *Server) adminStartGenerator(r *http.Request) (any, error) {
	var cfg GeneratorConfig
	if err := readJSON(r, &cfg); err != nil {
		return nil, err
	}
	cfg.StreamArn = s.orOnlyStream(cfg.StreamArn)
	if err := s.StartGenerator(cfg); err != nil {
		return nil, err
	}
	return s.GeneratorStatus(), nil
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %w", err)
	}
	return nil
}

func writeAdmin(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// ParseRecords reads change records given as a JSON array or as JSON Lines (one record per
// line, blank lines skipped).
func ParseRecords(data []byte) ([]streams.Record, error) {
	trimmed := bytes.TrimSpace(data)
	var raws []json.RawMessage
	if bytes.HasPrefix(trimmed, []byte("[")) {
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(trimmed))
		sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				raws = append(raws, bytes.Clone(line))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("records: %w", err)
		}
	}
	recs := make([]streams.Record, len(raws))
	for i, raw := range raws {
		r, err := streams.DecodeRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		recs[i] = r
	}
	return recs, nil
}

type streamDescription struct {
	StreamArn string          `json:"streamArn"`
	Keyspace  string          `json:"keyspace"`
	Table     string          `json:"table"`
	ViewType  string          `json:"viewType"`
	Shards    []streams.Shard `json:"shards"`
}

func (s *Server) describeStreams() []streamDescription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []streamDescription{}
	for _, st := range s.streams {
		d := streamDescription{StreamArn: st.arn, Keyspace: st.keyspace, Table: st.table, ViewType: st.viewType}
		for _, sh := range st.shards {
			d.Shards = append(d.Shards, streams.Shard{ShardId: sh.id, ParentShardIds: sh.parents,
				SequenceNumberRange: streams.SequenceNumberRange{StartingSequenceNumber: sh.start, EndingSequenceNumber: sh.end}})
		}
		out = append(out, d)
	}
	return out
}

// writtenPage answers GET /_admin/written. Without streamArn it lists every stream; offset
// and limit (default 1000) page each shard's records; only=seq lists sequence numbers only.
func (s *Server) writtenPage(r *http.Request) (any, error) {
	q := r.URL.Query()
	offset, limit := 0, 1000
	var err error
	if v := q.Get("offset"); v != "" {
		if offset, err = strconv.Atoi(v); err != nil || offset < 0 {
			return nil, fmt.Errorf("offset %q: want a number >= 0", v)
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			return nil, fmt.Errorf("limit %q: want a number >= 1", v)
		}
	}
	seqOnly := q.Get("only") == "seq"
	arns := s.StreamARNs()
	if a := q.Get("streamArn"); a != "" {
		arns = []string{a}
	}
	type shardPage struct {
		WrittenShard
		Offset          int      `json:"offset"`
		NextOffset      int      `json:"nextOffset,omitempty"` // 0: no more records
		SequenceNumbers []string `json:"sequenceNumbers,omitempty"`
	}
	type streamPage struct {
		StreamArn string      `json:"streamArn"`
		Count     int         `json:"count"`
		Shards    []shardPage `json:"shards"`
	}
	out := struct {
		Streams []streamPage `json:"streams"`
	}{Streams: []streamPage{}}
	for _, arn := range arns {
		shards, err := s.Written(arn)
		if err != nil {
			return nil, err
		}
		sp := streamPage{StreamArn: arn, Shards: []shardPage{}}
		for _, ws := range shards {
			sp.Count += ws.Count
			if id := q.Get("shardId"); id != "" && id != ws.ShardID {
				continue
			}
			p := shardPage{WrittenShard: ws, Offset: offset}
			recs := ws.Records[min(offset, len(ws.Records)):]
			if len(recs) > limit {
				recs = recs[:limit]
				p.NextOffset = offset + limit
			}
			if seqOnly {
				p.SequenceNumbers = make([]string, len(recs))
				for i, rec := range recs {
					p.SequenceNumbers[i] = rec.SequenceNumber
				}
				p.Records = nil
			} else {
				p.Records = recs
			}
			sp.Shards = append(sp.Shards, p)
		}
		out.Streams = append(out.Streams, sp)
	}
	return out, nil
}
