package encode

import (
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// parquetZstd replaces arrow-go's zstd codec for writing (reading is delegated to it).
// arrow-go compresses each page with an encoder from a sync.Pool: once a garbage
// collection empties the pool, the next page gets a new encoder that allocates and clears
// an 8 MiB history window, several times per file — most of the Parquet writer's garbage
// and a tenth of its CPU in the flood benchmark. This codec keeps one encoder per process
// with a 1 MiB window (a data page is about 1 MiB, arrow-go's default page size), whose
// EncodeAll serves concurrent shards. Its output is a standard zstd frame: readers see no
// difference, and the same page gives the same bytes. The frame has no content checksum,
// as libzstd writes by default (parquet-java and Arrow C++ pages have none): the hash of
// every page cost about 1 % of the encoding, and S3 checks each upload's CRC32 anyway.
type parquetZstd struct {
	compress.Codec // arrow-go's, for decoding and other levels
	enc            *zstd.Encoder
}

// parquetZstdLevel is the level format parquet writes (zstd's "fastest", level 1).
const parquetZstdLevel = 1

var registerParquetZstd = sync.OnceValue(func() error {
	orig, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		return err
	}
	if _, ok := orig.(compress.StreamingCodec); !ok {
		return fmt.Errorf("arrow-go's zstd codec %T is not a streaming codec", orig)
	}
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(parquetZstdLevel)),
		zstd.WithWindowSize(1<<20), zstd.WithZeroFrames(true), zstd.WithAllLitEntropyCompression(true), zstd.WithEncoderCRC(false),
		zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	if err != nil {
		return err
	}
	compress.RegisterCodec(compress.Codecs.Zstd, parquetZstd{Codec: orig, enc: enc})
	return nil
})

func (z parquetZstd) EncodeLevel(dst, src []byte, level int) []byte {
	if level != parquetZstdLevel {
		return z.Codec.EncodeLevel(dst, src, level)
	}
	return z.enc.EncodeAll(src, dst[:0])
}

// DecodeWithError keeps arrow-go's error-returning decode (compress.ErrorCodec).
func (z parquetZstd) DecodeWithError(dst, src []byte) ([]byte, error) {
	if ec, ok := z.Codec.(compress.ErrorCodec); ok {
		return ec.DecodeWithError(dst, src)
	}
	return compress.Decode(z.Codec, dst, src)
}

// The streaming side stays arrow-go's (compress.StreamingCodec, used by readers).

func (z parquetZstd) NewReader(r io.Reader) io.ReadCloser {
	return z.Codec.(compress.StreamingCodec).NewReader(r)
}

func (z parquetZstd) NewWriter(w io.Writer) io.WriteCloser {
	return z.Codec.(compress.StreamingCodec).NewWriter(w)
}

func (z parquetZstd) NewWriterLevel(w io.Writer, level int) (io.WriteCloser, error) {
	return z.Codec.(compress.StreamingCodec).NewWriterLevel(w, level)
}
