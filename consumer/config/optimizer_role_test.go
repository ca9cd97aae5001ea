package config

import (
	"strings"
	"testing"
)

// CDC_ICEBERG_OPTIMIZER_ROLE_ARN is an IAM role ARN, and only for the glue catalog.
func TestIcebergOptimizerRoleARN(t *testing.T) {
	iceberg := func(set map[string]string) map[string]string {
		m := base()
		m["CDC_FORMAT"], m["CDC_ICEBERG_WAREHOUSE"] = "iceberg", "s3://lake/wh"
		for k, v := range set {
			m[k] = v
		}
		return m
	}
	for _, arn := range []string{"arn:aws:iam::123456789012:role/optimizers", "arn:aws-us-gov:iam::123456789012:role/path/to/Optimizers+1"} {
		c, err := Load(nil, env(iceberg(map[string]string{"CDC_ICEBERG_OPTIMIZER_ROLE_ARN": arn})), nil)
		if err != nil {
			t.Fatalf("%s: %v", arn, err)
		}
		if c.IcebergOptimizerRoleARN != arn {
			t.Errorf("IcebergOptimizerRoleARN %q, want %q", c.IcebergOptimizerRoleARN, arn)
		}
	}
	for name, c := range map[string]struct {
		set  map[string]string
		want []string
	}{
		"not a role": {map[string]string{"CDC_ICEBERG_OPTIMIZER_ROLE_ARN": "arn:aws:iam::123456789012:user/me"},
			[]string{"CDC_ICEBERG_OPTIMIZER_ROLE_ARN", "an IAM role ARN"}},
		"no account": {map[string]string{"CDC_ICEBERG_OPTIMIZER_ROLE_ARN": "arn:aws:iam:::role/x"}, []string{"CDC_ICEBERG_OPTIMIZER_ROLE_ARN"}},
		"s3tables": {map[string]string{"CDC_ICEBERG_CATALOG": "s3tables", "CDC_ICEBERG_WAREHOUSE": "arn:aws:s3tables:us-east-1:123456789012:bucket/lake",
			"CDC_ICEBERG_OPTIMIZER_ROLE_ARN": "arn:aws:iam::123456789012:role/optimizers"}, []string{"CDC_ICEBERG_OPTIMIZER_ROLE_ARN", "only with CDC_ICEBERG_CATALOG=glue"}},
	} {
		_, err := Load(nil, env(iceberg(c.set)), nil)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
}
