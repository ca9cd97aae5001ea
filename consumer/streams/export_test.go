package streams

// DecodeGetRecords exposes the GetRecords answer decoder to the external benchmarks.
var DecodeGetRecords = decodeGetRecords
