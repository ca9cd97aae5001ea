package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/streams"
)

// Error type namespaces, as the services put them before '#' in __type.
const (
	nsStreams   = "com.amazonaws.keyspacesstreams#"
	nsKeyspaces = "com.amazonaws.cassandra#"
)

// apiError is an error answer in the AWS JSON 1.0 shape.
type apiError struct {
	status    int
	typ, code string
	msg       string
}

func (e *apiError) Error() string { return e.typ + ": " + e.msg }

func validation(code, format string, args ...any) *apiError {
	return &apiError{status: 400, typ: streams.TypeValidation, code: code, msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{status: 400, typ: streams.TypeResourceNotFound, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers the protocol (POST / with X-Amz-Target) and the admin API (/_admin/).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_admin/") {
		s.serveAdmin(w, r)
		return
	}
	s.mu.Lock()
	s.reqID++
	reqID := fmt.Sprintf("emu-%08d", s.reqID)
	s.mu.Unlock()
	w.Header().Set("X-Amzn-RequestId", reqID)
	target := r.Header.Get("X-Amz-Target")
	ns := nsStreams
	if strings.HasPrefix(target, "KeyspacesService.") {
		ns = nsKeyspaces
	}
	if !s.injectFaults(w, r, ns) {
		return
	}
	resp, err := s.dispatch(r, target)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{status: 500, typ: streams.TypeInternalServer, msg: err.Error()}
		}
		s.log.Debug("request failed", "requestId", reqID, "target", target, "status", ae.status, "type", ae.typ, "code", ae.code, "message", ae.msg)
		writeError(w, ns, ae)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	// Announced, as AWS does (net/http would stream a large answer in chunks without it).
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.Write(resp)
}

func writeError(w http.ResponseWriter, ns string, e *apiError) {
	body := map[string]string{"__type": ns + e.typ, "message": e.msg}
	if e.code != "" {
		body["errorCode"] = e.code
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	w.Write(b)
}

// injectFaults applies the configured faults; false means the request was answered (or
// its connection dropped) here.
func (s *Server) injectFaults(w http.ResponseWriter, r *http.Request, ns string) bool {
	s.fmu.Lock()
	f := s.faults
	drop, throttle, fail := s.dice.Float64() < f.DropRate, s.dice.Float64() < f.ThrottleRate, s.dice.Float64() < f.ErrorRate
	s.fmu.Unlock()
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return false
		}
	}
	switch {
	case drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return false
			}
		}
		// No hijacking (HTTP/2): the nearest thing is a bare 503.
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	case throttle:
		writeError(w, ns, &apiError{status: 400, typ: streams.TypeThrottling, msg: "Rate exceeded (injected)"})
		return false
	case fail:
		writeError(w, ns, &apiError{status: 500, typ: streams.TypeInternalServer, msg: "Internal server error (injected)"})
		return false
	}
	return true
}

// dispatch checks the envelope (method, signature headers, JSON body) and runs the operation.
func (s *Server) dispatch(r *http.Request, target string) ([]byte, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		return nil, validation(streams.CodeInvalidFormat, "want POST /, got %s %s", r.Method, r.URL.Path)
	}
	if err := checkSigV4(r); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, validation(streams.CodeInvalidFormat, "read body: %v", err)
	}
	if !json.Valid(body) || !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return nil, validation(streams.CodeInvalidFormat, "request body is not a JSON object")
	}
	switch target {
	case "KeyspacesStreams.ListStreams":
		return s.listStreams(body)
	case "KeyspacesStreams.GetStream":
		return s.getStream(body)
	case "KeyspacesStreams.GetShardIterator":
		return s.getShardIterator(body)
	case "KeyspacesStreams.GetRecords":
		return s.getRecords(body)
	case "KeyspacesService.GetTable", "KeyspacesService.GetType":
		if s.Faults().DenySchema {
			return nil, &apiError{status: 400, typ: streams.TypeAccessDenied,
				msg: "User is not authorized to perform: cassandra:Select on the system keyspaces (denySchema)"}
		}
		if target == "KeyspacesService.GetType" {
			return s.getType(body)
		}
		return s.getTable(body)
	}
	return nil, &apiError{status: 400, typ: "UnknownOperationException", msg: fmt.Sprintf("unknown operation %q", target)}
}

// checkSigV4 checks that the request carries SigV4 headers scoped to the "cassandra"
// service. The signature itself is not verified.
func checkSigV4(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") || r.Header.Get("X-Amz-Date") == "" {
		return &apiError{status: 403, typ: streams.TypeAccessDenied, msg: "missing SigV4 authentication (Authorization AWS4-HMAC-SHA256 and X-Amz-Date)"}
	}
	_, cred, _ := strings.Cut(auth, "Credential=")
	cred, _, _ = strings.Cut(cred, ",")
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[3] != streams.SigningName || parts[4] != "aws4_request" {
		return &apiError{status: 403, typ: streams.TypeAccessDenied, msg: fmt.Sprintf("credential scope %q: want <key>/<date>/<region>/cassandra/aws4_request", cred)}
	}
	return nil
}

func decodeInput(body []byte, in any) error {
	if err := json.Unmarshal(body, in); err != nil {
		return validation(streams.CodeInvalidFormat, "malformed request: %v", err)
	}
	return nil
}

// maxResults validates an optional page size.
func maxResults(p *int, def, most int) (int, error) {
	if p == nil {
		return def, nil
	}
	if *p < 1 || *p > most {
		return 0, validation(streams.CodeInvalidFormat, "maxResults must be between 1 and %d, got %d", most, *p)
	}
	return *p, nil
}

// token is the content of an opaque iterator or next token.
type token struct {
	Kind    string `json:"k"`           // "it" (shard iterator), "ls", "gs" (next tokens)
	Arn     string `json:"a,omitempty"` // stream
	Shard   string `json:"s,omitempty"` // shard, or the CHILD_SHARDS filter
	Pos     int    `json:"p"`
	Expires int64  `json:"x"` // unix nanoseconds
	Filter  string `json:"f,omitempty"`
}

func (s *Server) encodeToken(t token) string {
	t.Expires = s.cfg.Now().Add(s.cfg.IteratorTTL).UnixNano()
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeToken reads a token of the given kind; expired tokens give expiredCode.
func (s *Server) decodeToken(text, kind, what, expiredCode string) (token, error) {
	var t token
	b, err := base64.RawURLEncoding.DecodeString(text)
	if err != nil || json.Unmarshal(b, &t) != nil || t.Kind != kind || t.Pos < 0 || t.Expires == 0 ||
		(kind == "it" && (t.Arn == "" || t.Shard == "")) {
		return token{}, validation(streams.CodeInvalidFormat, "invalid %s", what)
	}
	if s.cfg.Now().UnixNano() > t.Expires {
		return token{}, validation(expiredCode, "%s has expired", what)
	}
	return t, nil
}

func (s *Server) listStreams(body []byte) ([]byte, error) {
	var in struct {
		KeyspaceName string `json:"keyspaceName"`
		TableName    string `json:"tableName"`
		MaxResults   *int   `json:"maxResults"`
		NextToken    string `json:"nextToken"`
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	n, err := maxResults(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	filter := in.KeyspaceName + "/" + in.TableName
	start := 0
	if in.NextToken != "" {
		t, err := s.decodeToken(in.NextToken, "ls", "next token", streams.CodeExpiredNextToken)
		if err != nil {
			return nil, err
		}
		if t.Filter != filter {
			return nil, validation(streams.CodeInvalidFormat, "next token does not match the request")
		}
		start = t.Pos
	}
	s.mu.Lock()
	var all []streams.StreamSummary
	for _, st := range s.streams {
		if (in.KeyspaceName == "" || in.KeyspaceName == st.keyspace) && (in.TableName == "" || in.TableName == st.table) {
			all = append(all, streams.StreamSummary{StreamArn: st.arn, KeyspaceName: st.keyspace, TableName: st.table, StreamLabel: st.label})
		}
	}
	s.mu.Unlock()
	out := streams.ListStreamsOutput{Streams: []streams.StreamSummary{}}
	if start < len(all) {
		end := min(start+n, len(all))
		out.Streams = all[start:end]
		if end < len(all) {
			out.NextToken = s.encodeToken(token{Kind: "ls", Pos: end, Filter: filter})
		}
	}
	return json.Marshal(out)
}

func (s *Server) getStream(body []byte) ([]byte, error) {
	var in struct {
		StreamArn   string               `json:"streamArn"`
		MaxResults  *int                 `json:"maxResults"`
		NextToken   string               `json:"nextToken"`
		ShardFilter *streams.ShardFilter `json:"shardFilter"`
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.StreamArn == "" {
		return nil, validation(streams.CodeInvalidFormat, "streamArn is required")
	}
	n, err := maxResults(in.MaxResults, 100, 100)
	if err != nil {
		return nil, err
	}
	filter := ""
	if in.ShardFilter != nil {
		if in.ShardFilter.Type != streams.ShardFilterChildShards {
			return nil, validation(streams.CodeInvalidFormat, "shardFilter.type must be CHILD_SHARDS, got %q", in.ShardFilter.Type)
		}
		if in.ShardFilter.ShardId == "" {
			return nil, validation(streams.CodeInvalidFormat, "shardFilter.shardId is required")
		}
		filter = in.ShardFilter.ShardId
	}
	start := 0
	if in.NextToken != "" {
		t, err := s.decodeToken(in.NextToken, "gs", "next token", streams.CodeExpiredNextToken)
		if err != nil {
			return nil, err
		}
		if t.Arn != in.StreamArn || t.Filter != filter {
			return nil, validation(streams.CodeInvalidFormat, "next token does not match the request")
		}
		start = t.Pos
	}
	s.mu.Lock()
	st, ok := s.byARN[in.StreamArn]
	if !ok {
		s.mu.Unlock()
		return nil, notFound("stream %s not found", in.StreamArn)
	}
	if filter != "" && st.byID[filter] == nil {
		s.mu.Unlock()
		return nil, notFound("shard %s not found in %s", filter, in.StreamArn)
	}
	var shards []streams.Shard
	for _, sh := range st.shards {
		if filter != "" && !contains(sh.parents, filter) {
			continue
		}
		shards = append(shards, streams.Shard{
			ShardId:             sh.id,
			ParentShardIds:      sh.parents,
			SequenceNumberRange: streams.SequenceNumberRange{StartingSequenceNumber: sh.start, EndingSequenceNumber: sh.end},
		})
	}
	out := streams.GetStreamOutput{
		StreamArn: st.arn, StreamLabel: st.label, StreamStatus: streams.StreamStatusEnabled,
		StreamViewType: st.viewType, CreationRequestDateTime: st.created,
		KeyspaceName: st.keyspace, TableName: st.table,
	}
	s.mu.Unlock()
	if start < len(shards) {
		end := min(start+n, len(shards))
		out.Shards = shards[start:end]
		if end < len(shards) {
			out.NextToken = s.encodeToken(token{Kind: "gs", Arn: in.StreamArn, Pos: end, Filter: filter})
		}
	}
	return json.Marshal(out)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (s *Server) getShardIterator(body []byte) ([]byte, error) {
	var in streams.GetShardIteratorInput
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.StreamArn == "":
		return nil, validation(streams.CodeInvalidFormat, "streamArn is required")
	case in.ShardId == "":
		return nil, validation(streams.CodeInvalidFormat, "shardId is required")
	case in.ShardIteratorType == "":
		return nil, validation(streams.CodeInvalidFormat, "shardIteratorType is required")
	}
	withSeq := in.ShardIteratorType == streams.ShardIteratorAtSequenceNumber || in.ShardIteratorType == streams.ShardIteratorAfterSequenceNumber
	switch {
	case withSeq && (in.SequenceNumber == "" || !isDigits(in.SequenceNumber)):
		return nil, validation(streams.CodeInvalidFormat, "%s needs a decimal sequenceNumber, got %q", in.ShardIteratorType, in.SequenceNumber)
	case !withSeq && in.ShardIteratorType != streams.ShardIteratorTrimHorizon && in.ShardIteratorType != streams.ShardIteratorLatest:
		return nil, validation(streams.CodeInvalidFormat, "unknown shardIteratorType %q", in.ShardIteratorType)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[in.StreamArn]
	if !ok {
		return nil, notFound("stream %s not found", in.StreamArn)
	}
	sh, ok := st.byID[in.ShardId]
	if !ok {
		return nil, notFound("shard %s not found in %s", in.ShardId, in.StreamArn)
	}
	s.trim(sh, s.cfg.Now())
	var pos int
	switch in.ShardIteratorType {
	case streams.ShardIteratorTrimHorizon:
		pos = sh.trimmed
	case streams.ShardIteratorLatest:
		pos = len(sh.records)
	default:
		if streams.CompareSequenceNumbers(in.SequenceNumber, sh.start) < 0 || (sh.end != "" && streams.CompareSequenceNumbers(in.SequenceNumber, sh.end) > 0) {
			return nil, validation(streams.CodeInvalidFormat, "sequence number %s is outside shard %s (%s..%s)", in.SequenceNumber, sh.id, sh.start, sh.end)
		}
		after := in.ShardIteratorType == streams.ShardIteratorAfterSequenceNumber
		for pos < len(sh.records) {
			c := streams.CompareSequenceNumbers(sh.records[pos].seq, in.SequenceNumber)
			if c > 0 || (c == 0 && !after) {
				break
			}
			pos++
		}
		// The sequence number itself must still be readable (AT) or have been (AFTER: the
		// record at pos-1 is the one named, and what follows must be kept).
		if pos < sh.trimmed {
			return nil, validation(streams.CodeTrimmedDataAccess, "sequence number %s is beyond the retention period of shard %s", in.SequenceNumber, sh.id)
		}
	}
	return json.Marshal(streams.GetShardIteratorOutput{ShardIterator: s.encodeToken(token{Kind: "it", Arn: st.arn, Shard: sh.id, Pos: pos})})
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

func (s *Server) getRecords(body []byte) ([]byte, error) {
	var in struct {
		ShardIterator string `json:"shardIterator"`
		MaxResults    *int   `json:"maxResults"`
	}
	if err := decodeInput(body, &in); err != nil {
		return nil, err
	}
	if in.ShardIterator == "" {
		return nil, validation(streams.CodeInvalidFormat, "shardIterator is required")
	}
	n, err := maxResults(in.MaxResults, 100, 1000)
	if err != nil {
		return nil, err
	}
	t, err := s.decodeToken(in.ShardIterator, "it", "shard iterator", streams.CodeExpiredIterator)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.byARN[t.Arn]
	if !ok {
		return nil, notFound("stream %s not found", t.Arn)
	}
	sh, ok := st.byID[t.Shard]
	if !ok {
		return nil, notFound("shard %s not found", t.Shard)
	}
	s.trim(sh, s.cfg.Now())
	if t.Pos < sh.trimmed {
		return nil, validation(streams.CodeTrimmedDataAccess, "the iterator points before the trim horizon of shard %s", sh.id)
	}
	if t.Pos > len(sh.records) {
		return nil, validation(streams.CodeInvalidFormat, "invalid shard iterator")
	}
	buf := bytes.NewBufferString(`{"changeRecords":[`)
	end := t.Pos
	for end < len(sh.records) && end-t.Pos < n {
		w := sh.records[end].wire
		if end > t.Pos && buf.Len()+len(w) > s.cfg.MaxResponseBytes {
			break
		}
		if end > t.Pos {
			buf.WriteByte(',')
		}
		buf.Write(w)
		end++
	}
	buf.WriteByte(']')
	if sh.end == "" || end < len(sh.records) {
		buf.WriteString(`,"nextShardIterator":`)
		buf.WriteString(strconv.Quote(s.encodeToken(token{Kind: "it", Arn: t.Arn, Shard: t.Shard, Pos: end})))
	}
	pos := streams.IteratorPositionBehindTip
	if end == len(sh.records) {
		pos = streams.IteratorPositionAtTip
	}
	buf.WriteString(`,"iteratorDescription":{"iteratorPosition":"` + pos + `"}}`)
	return buf.Bytes(), nil
}
