// Package streams is the Amazon Keyspaces Streams client and its record model.
//
// The Client speaks the service's AWS JSON 1.0 protocol (ListStreams, GetStream,
// GetShardIterator, GetRecords) over HTTPS with SigV4 (signing name "cassandra"), retrying
// throttles, 5xx answers and connection failures with the aws.Config's retryer. Errors are
// *APIError values that match the package's sentinels with errors.Is (ErrThrottling,
// ErrTrimmedDataAccess, ErrExpiredIterator, ...).
//
// DecodeRecord and EncodeRecord convert change records between their wire JSON and Record,
// keeping every map (keys, rows, UDT fields) in wire order and every number's exact text.
// The emulator package (consumer/emulator) is a local service speaking the same protocol.
package streams
