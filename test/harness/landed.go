package harness

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/hamba/avro/v2/ocf"
	"github.com/klauspost/compress/zstd"
)

// Landed is one change event read back from an object in S3.
type Landed struct {
	Key   string         // the object holding it
	Shard string         // shard_id
	Seq   string         // sequence_number
	Event map[string]any // the whole event as decoded
}

// Object is a data object's key and size.
type Object struct {
	Key  string
	Size int64
}

// ListObjects lists every object under prefix.
func ListObjects(ctx context.Context, c *s3.Client, bucket, prefix string) ([]Object, error) {
	var out []Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("harness: list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
	}
	return out, nil
}

// IsDataKey says whether a key holds change events (not an error record or a schema).
func IsDataKey(prefix, key string) bool {
	rest := strings.TrimPrefix(key, prefix)
	return !strings.HasPrefix(rest, "_errors/") && !strings.HasPrefix(rest, "_schemas/") &&
		(strings.HasSuffix(key, ".avro") || strings.HasSuffix(key, ".parquet") || strings.Contains(key, ".jsonl"))
}

// ReadLanded reads every data object under prefix and decodes every event in it.
func ReadLanded(ctx context.Context, c *s3.Client, bucket, prefix string) ([]Landed, []Object, error) {
	objs, err := ListObjects(ctx, c, bucket, prefix)
	if err != nil {
		return nil, nil, err
	}
	var out []Landed
	var data []Object
	for _, o := range objs {
		if !IsDataKey(prefix, o.Key) {
			continue
		}
		data = append(data, o)
		body, err := GetObject(ctx, c, bucket, o.Key)
		if err != nil {
			return nil, nil, err
		}
		events, err := DecodeObject(o.Key, body)
		if err != nil {
			return nil, nil, fmt.Errorf("harness: decode %s: %w", o.Key, err)
		}
		for _, e := range events {
			shard, _ := e["shard_id"].(string)
			seq, _ := e["sequence_number"].(string)
			out = append(out, Landed{Key: o.Key, Shard: shard, Seq: seq, Event: e})
		}
	}
	return out, data, nil
}

// GetObject reads a whole object.
func GetObject(ctx context.Context, c *s3.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("harness: get %s: %w", key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// DecodeObject decodes a .jsonl[.gz|.zst], .avro or .parquet object into its events.
func DecodeObject(key string, body []byte) ([]map[string]any, error) {
	switch {
	case strings.HasSuffix(key, ".parquet"):
		return decodeParquet(body)
	case strings.HasSuffix(key, ".avro"):
		dec, err := ocf.NewDecoder(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		var out []map[string]any
		for dec.HasNext() {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, dec.Error()
	case strings.HasSuffix(key, ".jsonl.gz"):
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			return nil, err
		}
		return decodeLines(plain)
	case strings.HasSuffix(key, ".jsonl.zst"):
		zr, err := zstd.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		defer zr.Close()
		plain, err := io.ReadAll(zr)
		if err != nil {
			return nil, err
		}
		return decodeLines(plain)
	case strings.HasSuffix(key, ".jsonl"):
		return decodeLines(body)
	}
	return nil, fmt.Errorf("unknown object type")
}

func decodeLines(b []byte) ([]map[string]any, error) {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// decodeParquet reads a Parquet file's rows (arrow-go's reader), as JSON objects.
func decodeParquet(body []byte) ([]map[string]any, error) {
	rdr, err := file.NewParquetReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{BatchSize: 1 << 14}, memory.DefaultAllocator)
	if err != nil {
		return nil, err
	}
	tbl, err := fr.ReadTable(context.Background())
	if err != nil {
		return nil, err
	}
	defer tbl.Release()
	tr := array.NewTableReader(tbl, 1<<14)
	defer tr.Release()
	var out []map[string]any
	for tr.Next() {
		b, err := tr.RecordBatch().MarshalJSON()
		if err != nil {
			return nil, err
		}
		var rows []map[string]any
		if err := json.Unmarshal(b, &rows); err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, tr.Err()
}
