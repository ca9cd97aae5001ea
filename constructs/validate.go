package constructs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ValidationError names the prop that is wrong and why, with the allowed values.
type ValidationError struct {
	// Prop is the field of KeyspacesCdcToS3Props (dotted for nested configs, e.g. "Autoscaling.MaxTasks").
	Prop string
	// Message says what is wrong and what is allowed.
	Message string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("KeyspacesCdcToS3: %s: %s", e.Prop, e.Message)
}

var (
	// Keyspaces names: https://docs.aws.amazon.com/keyspaces/latest/APIReference/API_GetTable.html
	cqlName    = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_]{0,47}$`)
	regionName = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)
	streamArn  = regexp.MustCompile(`^arn:aws[a-z-]*:cassandra:([a-z0-9-]+):(\d{12}):/keyspace/([^/]+)/table/([^/]+)/stream/(.+)$`)
	appName    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,64}$`)
	namespace  = regexp.MustCompile(`^[a-zA-Z0-9._/#:-]{1,255}$`)
	glueName   = regexp.MustCompile(`^[a-z0-9_]{1,255}$`)
	hiveType   = regexp.MustCompile(`^[a-z][a-z0-9_<>,:() ]*$`)
	dateYMD    = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	envName    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	cidr16to24 = regexp.MustCompile(`^(\d{1,3}\.){3}\d{1,3}/(1[6-9]|2[0-4])$`)
)

// fargateMemory lists the valid memory sizes (MiB) for each Fargate CPU size.
var fargateMemory = map[int][]int{
	256:   {512, 1024, 2048},
	512:   stepRange(1024, 4096, 1024),
	1024:  stepRange(2048, 8192, 1024),
	2048:  stepRange(4096, 16384, 1024),
	4096:  stepRange(8192, 30720, 1024),
	8192:  stepRange(16384, 61440, 4096),
	16384: stepRange(32768, 122880, 8192),
}

func stepRange(from, to, step int) []int {
	var out []int
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

// FargateCPUs lists the valid task CPU sizes, ascending.
func FargateCPUs() []int {
	cpus := make([]int, 0, len(fargateMemory))
	for c := range fargateMemory {
		cpus = append(cpus, c)
	}
	slices.Sort(cpus)
	return cpus
}

// settings are the props with every default applied, as the construct uses them.
type settings struct {
	KeyspacesCdcToS3Props
	desiredCount int
	architecture string // ARM64 | X86_64
	stopTimeout  time.Duration
	createVpc    bool
}

// Validate checks the props without building anything, so apps can report a bad parameter
// before synth. Its error is a *ValidationError.
func (p *KeyspacesCdcToS3Props) Validate() error {
	_, err := p.resolve()
	return err
}

func bad(prop, format string, args ...any) error {
	return &ValidationError{Prop: prop, Message: fmt.Sprintf(format, args...)}
}

func oneOf(prop, value string, allowed []string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	return bad(prop, "%q is not allowed: one of %s", value, strings.Join(allowed, ", "))
}

// resolve validates the props and applies the defaults.
func (p *KeyspacesCdcToS3Props) resolve() (*settings, error) {
	if p == nil {
		return nil, bad("Keyspace", "required: the keyspace of the table to read (props are nil)")
	}
	s := &settings{KeyspacesCdcToS3Props: *p}

	switch {
	case s.Keyspace == "":
		return nil, bad("Keyspace", "required: the keyspace of the table to read")
	case !cqlName.MatchString(s.Keyspace):
		return nil, bad("Keyspace", "%q is not a keyspace name (a letter or digit, then letters, digits, _; at most 48)", s.Keyspace)
	case s.Table == "":
		return nil, bad("Table", "required: the table whose changes are read")
	case !cqlName.MatchString(s.Table):
		return nil, bad("Table", "%q is not a table name (a letter or digit, then letters, digits, _; at most 48)", s.Table)
	}
	if s.StreamArn != "" {
		m := streamArn.FindStringSubmatch(s.StreamArn)
		if m == nil {
			return nil, bad("StreamArn", "%q is not a Keyspaces stream ARN (arn:aws:cassandra:<region>:<account>:/keyspace/<keyspace>/table/<table>/stream/<label>)", s.StreamArn)
		}
		if m[3] != s.Keyspace || m[4] != s.Table {
			return nil, bad("StreamArn", "%q is a stream of %s.%s, not of Keyspace.Table %s.%s", s.StreamArn, m[3], m[4], s.Keyspace, s.Table)
		}
		if s.KeyspacesRegion == "" {
			s.KeyspacesRegion = m[1]
		} else if s.KeyspacesRegion != m[1] {
			return nil, bad("KeyspacesRegion", "%q differs from the region %q of StreamArn", s.KeyspacesRegion, m[1])
		}
	}
	for prop, region := range map[string]string{"KeyspacesRegion": s.KeyspacesRegion, "S3Region": s.S3Region} {
		if region != "" && !regionName.MatchString(region) {
			return nil, bad(prop, "%q is not a region name (e.g. us-east-1)", region)
		}
	}

	if s.ExistingBucket != nil && (s.LifecycleRules != nil || s.BucketRemovalPolicyDestroy) {
		return nil, bad("ExistingBucket", "give either ExistingBucket or the props of a created bucket (LifecycleRules, BucketRemovalPolicyDestroy), not both")
	}
	if strings.HasPrefix(s.Prefix, "/") {
		return nil, bad("Prefix", "%q must not start with '/'", s.Prefix)
	}
	if s.Format == "" {
		s.Format = DefaultFormat
	}
	if err := oneOf("Format", s.Format, Formats); err != nil {
		return nil, err
	}
	if s.Compression == "" {
		s.Compression = Compressions[s.Format][0]
	}
	if !slices.Contains(Compressions[s.Format], s.Compression) {
		return nil, bad("Compression", "%q is not allowed with Format %s: one of %s", s.Compression, s.Format, strings.Join(Compressions[s.Format], ", "))
	}

	if s.ApplicationName == "" {
		s.ApplicationName = DefaultApplicationName
	}
	if !appName.MatchString(s.ApplicationName) {
		return nil, bad("ApplicationName", "%q is not allowed: 1-64 of letters, digits, '.', '_', '-'", s.ApplicationName)
	}
	if s.StartPosition != "" {
		if err := oneOf("StartPosition", s.StartPosition, StartPositions); err != nil {
			return nil, err
		}
	}
	if s.FlushRecords < 0 || s.FlushRecords > 1_000_000 {
		return nil, bad("FlushRecords", "%d is out of range: 1 to 1000000 (0: the consumer's default)", s.FlushRecords)
	}
	if s.FlushBytes < 0 {
		return nil, bad("FlushBytes", "%d is out of range: a positive number of bytes (0: the consumer's default)", s.FlushBytes)
	}
	if s.FlushInterval != 0 && (s.FlushInterval < 100*time.Millisecond || s.FlushInterval > time.Hour) {
		return nil, bad("FlushInterval", "%s is out of range: 100ms to 1h (0: the consumer's default)", s.FlushInterval)
	}
	if s.MaxLeasesPerWorker < 0 {
		return nil, bad("MaxLeasesPerWorker", "%d is out of range: 0 (no cap) or more", s.MaxLeasesPerWorker)
	}
	if s.MaxStealsPerCycle < 0 || s.MaxStealsPerCycle > 1000 {
		return nil, bad("MaxStealsPerCycle", "%d is out of range: 1 to 1000 (0: the consumer's default, 1)", s.MaxStealsPerCycle)
	}
	if s.LogLevel != "" {
		if err := oneOf("LogLevel", s.LogLevel, []string{"debug", "info", "warn", "error"}); err != nil {
			return nil, err
		}
	}
	if s.MetricsNamespace == "" {
		s.MetricsNamespace = DefaultMetricsNamespace
	}
	if !namespace.MatchString(s.MetricsNamespace) || strings.HasPrefix(s.MetricsNamespace, "AWS/") {
		return nil, bad("MetricsNamespace", "%q is not a CloudWatch namespace (1-255 of letters, digits, . _ / # : -; not AWS/...)", s.MetricsNamespace)
	}
	for k := range s.ExtraEnvironment {
		if !envName.MatchString(k) {
			return nil, bad("ExtraEnvironment", "%q is not an environment variable name", k)
		}
	}

	images := 0
	for _, set := range []bool{s.ContainerImage != nil, s.ImageUri != "", s.SourceDirectory != ""} {
		if set {
			images++
		}
	}
	if images > 1 {
		return nil, bad("ContainerImage", "give one of ContainerImage, ImageUri or SourceDirectory, not several")
	}

	s.desiredCount = DefaultDesiredCount
	if s.DesiredCount != nil {
		s.desiredCount = *s.DesiredCount
	}
	if s.desiredCount < 0 || s.desiredCount > 1000 {
		return nil, bad("DesiredCount", "%d is out of range: 0 to 1000", s.desiredCount)
	}
	if s.Cpu == 0 {
		s.Cpu = DefaultCPU
	}
	mems, ok := fargateMemory[s.Cpu]
	if !ok {
		return nil, bad("Cpu", "%d is not a Fargate CPU size: one of %s", s.Cpu, joinInts(FargateCPUs()))
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = max(DefaultMemoryMiB, mems[0])
		if !slices.Contains(mems, s.MemoryMiB) {
			s.MemoryMiB = mems[0]
		}
	}
	if !slices.Contains(mems, s.MemoryMiB) {
		return nil, bad("MemoryMiB", "%d is not allowed with Cpu %d: one of %s", s.MemoryMiB, s.Cpu, joinInts(mems))
	}
	s.architecture = strings.ToUpper(s.Architecture)
	switch s.architecture {
	case "":
		s.architecture = DefaultArchitecture
	case "AMD64", "X86-64":
		s.architecture = "X86_64"
	}
	if err := oneOf("Architecture", s.architecture, Architectures); err != nil {
		return nil, bad("Architecture", "%q is not allowed: one of %s", s.Architecture, strings.Join(Architectures, ", "))
	}
	s.stopTimeout = DefaultStopTimeout
	if s.StopTimeout != 0 {
		s.stopTimeout = s.StopTimeout
	}
	if s.stopTimeout < 2*time.Second || s.stopTimeout > 120*time.Second {
		return nil, bad("StopTimeout", "%s is out of range: 2s to 120s (the Fargate maximum)", s.stopTimeout)
	}

	s.createVpc = s.ExistingVpc == nil
	if s.createVpc && (s.VpcSubnets != nil || len(s.SecurityGroups) > 0 || len(s.RouteTableIds) > 0) {
		return nil, bad("ExistingVpc", "VpcSubnets, SecurityGroups and RouteTableIds apply to ExistingVpc only: the created VPC brings its own")
	}
	if !s.createVpc && (s.VpcCidr != "" || s.MaxAzs != 0) {
		return nil, bad("ExistingVpc", "give either ExistingVpc or the props of a created VPC (VpcCidr, MaxAzs), not both")
	}
	if s.VpcCidr != "" && !cidr16to24.MatchString(s.VpcCidr) {
		return nil, bad("VpcCidr", "%q is not an IPv4 CIDR block from /16 to /24 (e.g. 10.20.0.0/16)", s.VpcCidr)
	}
	if s.MaxAzs < 0 || s.MaxAzs > 6 {
		return nil, bad("MaxAzs", "%d is out of range: 1 to 6 (0: 2)", s.MaxAzs)
	}

	if err := s.validateOps(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *settings) validateOps() error {
	alarms := map[string]AlarmConfig{
		"Alarms.Lag": s.Alarms.Lag, "Alarms.Stalled": s.Alarms.Stalled,
		"Alarms.PoisonRecords": s.Alarms.PoisonRecords, "Alarms.TrimmedData": s.Alarms.TrimmedData,
		"Alarms.RunningTasks": s.Alarms.RunningTasks, "Alarms.Throttling": s.Alarms.Throttling,
	}
	for name, a := range alarms {
		switch {
		case a.Threshold < 0:
			return bad(name+".Threshold", "%v is out of range: 0 or more", a.Threshold)
		case a.EvaluationPeriods < 0 || a.EvaluationPeriods > 100:
			return bad(name+".EvaluationPeriods", "%d is out of range: 1 to 100 (0: the default)", a.EvaluationPeriods)
		case a.Period != 0 && (a.Period < time.Minute || a.Period%time.Minute != 0 || a.Period > 24*time.Hour):
			return bad(name+".Period", "%s is not allowed: whole minutes from 1m to 24h (0: the default)", a.Period)
		}
	}
	if s.AlarmTopic != nil && (s.CreateAlarmTopic || len(s.AlarmEmails) > 0) {
		return bad("AlarmTopic", "give either AlarmTopic or CreateAlarmTopic/AlarmEmails, not both")
	}
	if len(s.AlarmEmails) > 0 && !s.CreateAlarmTopic {
		return bad("AlarmEmails", "need CreateAlarmTopic (or subscribe them to your own AlarmTopic)")
	}
	for _, e := range s.AlarmEmails {
		if !strings.Contains(e, "@") {
			return bad("AlarmEmails", "%q is not an email address", e)
		}
	}
	if s.Autoscaling != nil {
		a := *s.Autoscaling // defaults go into a copy: the caller's config stays as given
		s.Autoscaling = &a
		if a.MinTasks == 0 {
			a.MinTasks = 1
		}
		if a.TargetCpuPercent == 0 {
			a.TargetCpuPercent = 70
		}
		if a.LagThresholdMillis == 0 {
			a.LagThresholdMillis = 60000
		}
		switch {
		case a.MinTasks < 1:
			return bad("Autoscaling.MinTasks", "%d is out of range: 1 or more", a.MinTasks)
		case a.MaxTasks < a.MinTasks || a.MaxTasks > 1000:
			return bad("Autoscaling.MaxTasks", "%d is out of range: MinTasks (%d) to 1000, and no more than the stream's shard count", a.MaxTasks, a.MinTasks)
		case a.TargetCpuPercent < 1 || a.TargetCpuPercent > 100:
			return bad("Autoscaling.TargetCpuPercent", "%v is out of range: 1 to 100 (0: 70)", a.TargetCpuPercent)
		case a.LagThresholdMillis < 1:
			return bad("Autoscaling.LagThresholdMillis", "%v is out of range: 1 or more (0: 60000)", a.LagThresholdMillis)
		}
	}
	if g := s.GlueTable; g != nil {
		if g.DatabaseName != "" && !glueName.MatchString(g.DatabaseName) {
			return bad("GlueTable.DatabaseName", "%q is not allowed: lowercase letters, digits, _", g.DatabaseName)
		}
		if g.TableName != "" && !glueName.MatchString(g.TableName) {
			return bad("GlueTable.TableName", "%q is not allowed: lowercase letters, digits, _", g.TableName)
		}
		if g.ProjectionStartDate != "" && !dateYMD.MatchString(g.ProjectionStartDate) {
			return bad("GlueTable.ProjectionStartDate", "%q is not a date (yyyy-MM-dd)", g.ProjectionStartDate)
		}
		if s.Format == "avro" && len(g.RowColumns) == 0 {
			return bad("GlueTable.RowColumns", "required with Format avro: the table's columns as Hive types type keys/new_image/old_image")
		}
		names := map[string]bool{}
		for _, c := range g.RowColumns {
			if !cqlName.MatchString(c.Name) || !hiveType.MatchString(c.Type) {
				return bad("GlueTable.RowColumns", "%q %q is not a column name and Hive type (e.g. id string)", c.Name, c.Type)
			}
			names[c.Name] = true
		}
		for _, k := range g.KeyColumns {
			if !names[k] {
				return bad("GlueTable.KeyColumns", "%q is not one of RowColumns", k)
			}
		}
	}
	return nil
}

func joinInts(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
