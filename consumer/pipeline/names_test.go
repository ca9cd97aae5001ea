package pipeline

import (
	"slices"
	"testing"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// TestTrimmedPoliciesAreConfigs: the policies the processor switches on are the values
// CDC_TRIMMED_POLICY allows, spelled the same.
func TestTrimmedPoliciesAreConfigs(t *testing.T) {
	s, _ := config.Lookup("CDC_TRIMMED_POLICY")
	if got, want := []string{TrimmedResume, TrimmedHalt}, s.Allowed; !slices.Equal(got, want) {
		t.Errorf("policies %v, CDC_TRIMMED_POLICY allows %v", got, want)
	}
}
