package encode

import (
	"slices"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// TestNamesAreConfigs: the values encode switches on are spelled as consumer/config lists
// them, so a value config allows reaches its case here.
func TestNamesAreConfigs(t *testing.T) {
	for format, compressions := range map[string][]string{
		FormatJSON:    {CompressionGzip, CompressionZstd, CompressionNone},
		FormatAvro:    {CodecDeflate, CodecSnappy, CodecZstandard, CodecNull},
		FormatParquet: {CompressionZstd, CodecSnappy, CompressionGzip, CompressionNone},
	} {
		if !slices.Contains(config.Formats, format) {
			t.Errorf("format %q is not in config.Formats %v", format, config.Formats)
		}
		for _, c := range compressions {
			if !slices.Contains(config.Compressions[format], c) {
				t.Errorf("compression %q is not in config.Compressions[%q] %v", c, format, config.Compressions[format])
			}
		}
	}
	for _, c := range config.Compressions[FormatParquet] {
		if _, ok := parquetCodecs[c]; !ok {
			t.Errorf("config allows parquet compression %q, which has no codec here", c)
		}
	}
}
