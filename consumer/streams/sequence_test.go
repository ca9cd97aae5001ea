package streams

import "testing"

func TestCompareSequenceNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"9", "10", -1}, {"10", "9", 1}, {"123", "123", 0}, {"0123", "123", 0}, {"49600000000000000000000000001", "49600000000000000000000000002", -1}}
	for _, tt := range tests {
		if got := CompareSequenceNumbers(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareSequenceNumbers(%s, %s) = %d", tt.a, tt.b, got)
		}
	}
}
