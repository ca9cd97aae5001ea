package constructs

import (
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// The props that are settings of the consumer are named by the consumer's table of settings
// (config.Setting.Prop): the construct checks them against that table's allowed values and
// passes every one that is set to the container as its environment variable. A new setting
// needs its row there and its field in KeyspacesCdcToS3Props, nothing here.

var (
	// The construct names resources and metrics after these two, so it asks more than the
	// consumer does (which only needs them non-empty).
	appName   = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)
	namespace = regexp.MustCompile(`^[a-zA-Z0-9._/#:-]{1,255}$`)
)

// consumerProps are the settings of the consumer that are props, required ones first (so a
// missing Keyspace is reported before anything that depends on it).
func consumerProps() []config.Setting {
	var out []config.Setting
	for _, s := range config.Settings() {
		if s.Prop != "" {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b config.Setting) int {
		switch {
		case a.Required != "" && b.Required == "":
			return -1
		case a.Required == "" && b.Required != "":
			return 1
		}
		return 0
	})
	return out
}

// prop returns the field of p that a setting of the consumer names.
func (p *KeyspacesCdcToS3Props) prop(s config.Setting) reflect.Value {
	f := reflect.ValueOf(p).Elem().FieldByName(s.Prop)
	if !f.IsValid() {
		panic(fmt.Sprintf("KeyspacesCdcToS3Props has no field %s for %s (consumer/config names it)", s.Prop, s.Env))
	}
	return f
}

// propText is a consumer prop as the consumer reads it, "" when it is zero (not set).
func propText(s config.Setting, v reflect.Value) string {
	switch {
	case v.IsZero():
		return ""
	case s.Kind == config.Duration:
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.String:
		return v.String()
	case reflect.Bool:
		return strconv.FormatBool(v.Bool())
	case reflect.Int, reflect.Int64:
		return strconv.FormatInt(v.Int(), 10)
	}
	panic(fmt.Sprintf("prop %s has type %s", s.Prop, v.Type()))
}

// checkConsumerProp checks one consumer prop against its setting. A zero value is allowed
// unless the setting is required: the consumer's default applies.
func checkConsumerProp(s config.Setting, v reflect.Value) error {
	text := propText(s, v)
	switch {
	case text == "" && s.Required != "":
		return bad(s.Prop, "required: %s", s.Required)
	case text == "":
		return nil
	}
	switch s.Kind {
	case config.Text:
		if s.Pattern != nil && !s.Pattern.MatchString(text) {
			return bad(s.Prop, "%q is not %s", text, s.Shape)
		}
	case config.Choice:
		return oneOf(s.Prop, text, s.Allowed)
	case config.Int, config.Bytes, config.Duration:
		if n := v.Int(); n < s.Min || n > s.Max {
			lo, hi := s.Limits()
			return bad(s.Prop, "%s is out of range: %s to %s (0: the consumer's default)", text, lo, hi)
		}
	}
	return nil
}

// formatIceberg is the format whose output is an Iceberg table in a catalog (iceberg.go).
const formatIceberg = "iceberg"

// resolveConsumer checks the consumer's props and fills those the construct needs to know:
// the format and compression (Glue), the application name and namespace (metrics, alarms),
// and the Keyspaces region a stream ARN gives.
func (s *settings) resolveConsumer() error {
	if err := s.resolveStreamArn(); err != nil {
		return err
	}
	if s.ExistingBucket != nil && s.Prefix == "" && s.stackName != "" {
		// A given bucket may be shared with other stacks: keep this stack's keys apart.
		s.Prefix = s.stackName + "/"
	}
	for _, c := range consumerProps() {
		if c.Kind == config.Compression {
			continue // depends on the format: below
		}
		if err := checkConsumerProp(c, s.prop(c)); err != nil {
			return err
		}
	}
	defaults := config.Defaults()
	if s.Format == "" {
		s.Format = defaults.Format
	}
	if s.Compression == "" {
		s.Compression = config.DefaultCompression(s.Format)
	}
	if allowed := config.Compressions[s.Format]; !slices.Contains(allowed, s.Compression) {
		return bad("Compression", "%q is not allowed with Format %s: one of %s", s.Compression, s.Format, strings.Join(allowed, ", "))
	}
	if s.ApplicationName == "" {
		// Unique per stack and table, so two deployments never read each other's metrics.
		stack := s.stackName
		if stack == "" {
			stack = "stack" // Validate: the name is only checked
		}
		s.ApplicationName = applicationName(stack, s.Keyspace, s.Table)
	}
	if !appName.MatchString(s.ApplicationName) {
		return bad("ApplicationName", "%q is not allowed: 1-64 of letters, digits, '.', '_', '-'", s.ApplicationName)
	}
	if s.MetricsNamespace == "" {
		s.MetricsNamespace = defaults.MetricsNamespace
	}
	if !namespace.MatchString(s.MetricsNamespace) || strings.HasPrefix(s.MetricsNamespace, "AWS/") {
		return bad("MetricsNamespace", "%q is not a CloudWatch namespace (1-255 of letters, digits, . _ / # : -; not AWS/...)", s.MetricsNamespace)
	}
	return nil
}

// resolveStreamArn takes the keyspace, table and Keyspaces region from a given stream when
// they are not given (as the consumer does), and checks that given ones agree with it.
func (s *settings) resolveStreamArn() error {
	if s.StreamArn == "" {
		return nil
	}
	a, ok := config.ParseStreamARN(s.StreamArn)
	if !ok {
		arn, _ := config.Lookup("CDC_STREAM_ARN")
		return bad("StreamArn", "%q is not %s", s.StreamArn, arn.Shape)
	}
	if s.Keyspace == "" {
		s.Keyspace = a.Keyspace
	}
	if s.Table == "" {
		s.Table = a.Table
	}
	if a.Keyspace != s.Keyspace || a.Table != s.Table {
		return bad("StreamArn", "%q is a stream of %s.%s, not of Keyspace.Table %s.%s", s.StreamArn, a.Keyspace, a.Table, s.Keyspace, s.Table)
	}
	if s.KeyspacesRegion == "" {
		s.KeyspacesRegion = a.Region
	} else if s.KeyspacesRegion != a.Region {
		return bad("KeyspacesRegion", "%q differs from the region %q of StreamArn", s.KeyspacesRegion, a.Region)
	}
	return nil
}

// consumerEnvironment is the consumer's configuration, by the names of its contract
// (consumer/config): ExtraEnvironment, then what the construct sets (which wins).
func consumerEnvironment(scope constructs.Construct, s *settings, bucket awss3.IBucket, leaseTable *string) map[string]*string {
	env := map[string]*string{}
	for k, v := range s.ExtraEnvironment {
		env[k] = jsii.String(v)
	}
	maps.Copy(env, constructEnvironment(scope, s, bucket, leaseTable))
	return env
}

// constructEnvironment is what the construct sets: the resources it made or imported, its
// derived values, then every consumer prop that is set. Props left at zero are not set: the
// consumer's defaults apply.
func constructEnvironment(scope constructs.Construct, s *settings, bucket awss3.IBucket, leaseTable *string) map[string]*string {
	s3Region := awscdk.Stack_Of(scope).Region()
	if s.S3Region != "" {
		s3Region = jsii.String(s.S3Region)
	}
	env := map[string]*string{
		"CDC_KEYSPACES_REGION": keyspacesRegion(scope, s),
		"CDC_S3_REGION":        s3Region,
		"CDC_BUCKET":           bucket.BucketName(),
		"CDC_PREFIX":           jsii.String(s.Prefix),
		"CDC_LEASE_TABLE":      leaseTable,
		"CDC_HTTP_PORT":        jsii.String(strconv.Itoa(config.Defaults().HTTPPort)),
	}
	maps.Copy(env, s.icebergEnv)
	if _, own := s.ExtraEnvironment["GOMEMLIMIT"]; !own {
		// Go's collector lets the heap grow to twice its live size (GOGC=100); with many shards
		// under a backlog that can pass the task's memory and ECS kills the task. A soft limit
		// below it makes the collector work harder instead (docs/benchmarks.md, section pipeline).
		env["GOMEMLIMIT"] = jsii.String(strconv.Itoa(s.MemoryMiB*GoMemLimitPercent/100) + "MiB")
	}
	if s.stopTimeout != DefaultStopTimeout {
		// The consumer's own shutdown timeout fits the default stop timeout; a shorter one must
		// shorten its final flush too, or ECS kills it mid-upload.
		env["CDC_SHUTDOWN_TIMEOUT"] = jsii.String((s.stopTimeout * 5 / 6).String())
	}
	for _, c := range consumerProps() {
		if _, set := env[c.Env]; set {
			continue
		}
		if text := propText(c, s.prop(c)); text != "" {
			env[c.Env] = jsii.String(text)
		}
	}
	return env
}
