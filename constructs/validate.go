package constructs

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
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

// settings are the props of one table with every default applied, as the construct uses
// them. The shared props (network, bucket, image...) are the same in every table's settings.
type settings struct {
	KeyspacesCdcToS3Props
	desiredCount int
	architecture string // ARM64 | X86_64
	stopTimeout  time.Duration
	createVpc    bool
	stackName    string // the stack's name, "" when unknown (Validate)
	id           string // the table's scope id with Tables ("<keyspace>.<table>"); "" for the one table
	// icebergEnv is the consumer's environment of format iceberg (the warehouse, the
	// optimizers' role), set when the table's resources are built.
	icebergEnv map[string]*string
}

// Validate checks the props without building anything, so apps can report a bad parameter
// before synth. Its error is a *ValidationError. ValidateIn also checks what depends on the
// stack.
func (p *KeyspacesCdcToS3Props) Validate() error {
	_, err := p.resolve("")
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

// resolveTable validates the props of one table and applies the defaults, into a copy.
func resolveTable(p KeyspacesCdcToS3Props, stackName, id string) (*settings, error) {
	s := &settings{KeyspacesCdcToS3Props: p, stackName: stackName, id: id}
	steps := []func() error{
		s.resolveConsumer, s.resolveIceberg, s.checkBucket, s.checkExtraEnvironment, s.checkImage,
		s.resolveCompute, s.resolveNetwork,
		s.checkAlarms, s.checkAlarmTopic, s.resolveAutoscaling, s.checkGlueTable,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkBucket: a given bucket excludes the props of a created one.
func (s *settings) checkBucket() error {
	if s.ExistingBucket != nil && (s.LifecycleRules != nil || s.BucketRemovalPolicyDestroy) {
		return bad("ExistingBucket", "give either ExistingBucket or the props of a created bucket (LifecycleRules, BucketRemovalPolicyDestroy), not both")
	}
	return nil
}

func (s *settings) checkExtraEnvironment() error {
	for k := range s.ExtraEnvironment {
		if !envName.MatchString(k) {
			return bad("ExtraEnvironment", "%q is not an environment variable name", k)
		}
	}
	return nil
}

// checkImage: at most one source of the image.
func (s *settings) checkImage() error {
	images := 0
	for _, set := range []bool{s.ContainerImage != nil, s.ImageUri != "", s.SourceDirectory != ""} {
		if set {
			images++
		}
	}
	if images > 1 {
		return bad("ContainerImage", "give one of ContainerImage, ImageUri or SourceDirectory, not several")
	}
	return nil
}

// resolveCompute checks and defaults the task count, size, architecture and stop timeout.
func (s *settings) resolveCompute() error {
	s.desiredCount = DefaultDesiredCount
	if s.DesiredCount != nil {
		s.desiredCount = *s.DesiredCount
	}
	if s.desiredCount < 0 || s.desiredCount > 1000 {
		return bad("DesiredCount", "%d is out of range: 0 to 1000", s.desiredCount)
	}
	if err := s.resolveSize(); err != nil {
		return err
	}
	s.architecture = strings.ToUpper(s.Architecture)
	switch s.architecture {
	case "":
		s.architecture = DefaultArchitecture
	case "AMD64", "X86-64":
		s.architecture = "X86_64"
	}
	if !slices.Contains(Architectures, s.architecture) {
		return bad("Architecture", "%q is not allowed: one of %s", s.Architecture, strings.Join(Architectures, ", "))
	}
	s.stopTimeout = DefaultStopTimeout
	if s.StopTimeout != 0 {
		s.stopTimeout = s.StopTimeout
	}
	if s.stopTimeout < 2*time.Second || s.stopTimeout > 120*time.Second {
		return bad("StopTimeout", "%s is out of range: 2s to 120s (the Fargate maximum)", s.stopTimeout)
	}
	return nil
}

// resolveSize checks and defaults the Fargate CPU and memory.
func (s *settings) resolveSize() error {
	if s.Cpu == 0 {
		s.Cpu = DefaultCPU
	}
	mems, ok := fargateMemory[s.Cpu]
	if !ok {
		return bad("Cpu", "%d is not a Fargate CPU size: one of %s", s.Cpu, joinInts(FargateCPUs()))
	}
	if s.MemoryMiB == 0 {
		s.MemoryMiB = max(DefaultMemoryMiB, mems[0])
		if !slices.Contains(mems, s.MemoryMiB) {
			s.MemoryMiB = mems[0]
		}
	}
	if !slices.Contains(mems, s.MemoryMiB) {
		return bad("MemoryMiB", "%d is not allowed with Cpu %d: one of %s", s.MemoryMiB, s.Cpu, joinInts(mems))
	}
	return nil
}

// resolveNetwork: a created VPC takes its own props, a given one its subnets, groups and
// route tables.
func (s *settings) resolveNetwork() error {
	s.createVpc = s.ExistingVpc == nil
	switch {
	case s.createVpc && (s.VpcSubnets != nil || len(s.SecurityGroups) > 0 || len(s.RouteTableIds) > 0):
		return bad("ExistingVpc", "VpcSubnets, SecurityGroups and RouteTableIds apply to ExistingVpc only: the created VPC brings its own")
	case !s.createVpc && (s.VpcCidr != "" || s.MaxAzs != 0):
		return bad("ExistingVpc", "give either ExistingVpc or the props of a created VPC (VpcCidr, MaxAzs), not both")
	case s.VpcCidr != "" && !cidr16to24.MatchString(s.VpcCidr):
		return bad("VpcCidr", "%q is not an IPv4 CIDR block from /16 to /24 (e.g. 10.20.0.0/16)", s.VpcCidr)
	case s.MaxAzs < 0 || s.MaxAzs > 6:
		return bad("MaxAzs", "%d is out of range: 1 to 6 (0: 2)", s.MaxAzs)
	}
	gateway := (s.S3Endpoint != nil && *s.S3Endpoint) || (s.DynamoDbEndpoint != nil && *s.DynamoDbEndpoint)
	if !s.createVpc && gateway && len(s.RouteTableIds) == 0 && !routeTablesKnown(s.ExistingVpc, existingSubnets(s)) {
		return bad("RouteTableIds", "required with ExistingVpc and S3Endpoint or DynamoDbEndpoint: a gateway endpoint goes into route tables, "+
			"and the given VPC does not know the route tables of its subnets (imported without them); give the route tables of the tasks' subnets, "+
			"or leave the gateway endpoints off")
	}
	return nil
}

// routeTablesKnown says whether the subnets the gateway endpoints would take their route
// tables from know them: a VPC imported without route table ids does not (and CDK would stop
// with "Can't add a gateway endpoint to VPC; route table IDs are not available").
func routeTablesKnown(vpc awsec2.IVpc, subnets *awsec2.SubnetSelection) (known bool) {
	defer func() {
		if recover() != nil {
			known = false
		}
	}()
	selected := vpc.SelectSubnets(subnets).Subnets
	if selected == nil || len(*selected) == 0 {
		return false
	}
	for _, sn := range *selected {
		if rt := sn.RouteTable(); rt == nil || rt.RouteTableId() == nil || *rt.RouteTableId() == "" {
			return false
		}
	}
	return true
}

func (s *settings) checkAlarms() error {
	alarms := map[string]AlarmConfig{
		"Alarms.Lag": s.Alarms.Lag, "Alarms.Stalled": s.Alarms.Stalled,
		"Alarms.PoisonRecords": s.Alarms.PoisonRecords, "Alarms.TrimmedData": s.Alarms.TrimmedData,
		"Alarms.RunningTasks": s.Alarms.RunningTasks, "Alarms.Throttling": s.Alarms.Throttling,
		"Alarms.SchemaFallback": s.Alarms.SchemaFallback,
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
	return nil
}

func (s *settings) checkAlarmTopic() error {
	if s.AlarmTopic != nil && (s.CreateAlarmTopic || len(s.AlarmEmails) > 0) {
		return bad("AlarmTopic", "give either AlarmTopic or AlarmEmails (subscribed to the created topic), not both")
	}
	for _, e := range s.AlarmEmails {
		if !strings.Contains(e, "@") {
			return bad("AlarmEmails", "%q is not an email address", e)
		}
	}
	return nil
}

// resolveAutoscaling checks and defaults the autoscaling config, in a copy: the caller's
// config stays as given.
func (s *settings) resolveAutoscaling() error {
	if s.Autoscaling == nil {
		return nil
	}
	a := *s.Autoscaling
	s.Autoscaling = &a
	if a.MinTasks == 0 {
		a.MinTasks = max(s.desiredCount, 1)
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
	case a.MinTasks < s.desiredCount:
		return bad("Autoscaling.MinTasks", "%d is below DesiredCount %d: scaling in would remove the standby task that takes over leases (lower DesiredCount to run fewer tasks)", a.MinTasks, s.desiredCount)
	case a.MaxTasks < a.MinTasks || a.MaxTasks > 1000:
		return bad("Autoscaling.MaxTasks", "%d is out of range: MinTasks (%d) to 1000, and no more than the stream's shard count", a.MaxTasks, a.MinTasks)
	case a.TargetCpuPercent < 1 || a.TargetCpuPercent > 100:
		return bad("Autoscaling.TargetCpuPercent", "%v is out of range: 1 to 100 (0: 70)", a.TargetCpuPercent)
	case a.LagThresholdMillis < 1:
		return bad("Autoscaling.LagThresholdMillis", "%v is out of range: 1 or more (0: 60000)", a.LagThresholdMillis)
	}
	return nil
}

func (s *settings) checkGlueTable() error {
	g := s.GlueTable
	if g == nil {
		return nil
	}
	switch {
	case g.DatabaseName != "" && !glueName.MatchString(g.DatabaseName):
		return bad("GlueTable.DatabaseName", "%q is not allowed: lowercase letters, digits, _", g.DatabaseName)
	case g.TableName != "" && !glueName.MatchString(g.TableName):
		return bad("GlueTable.TableName", "%q is not allowed: lowercase letters, digits, _", g.TableName)
	case g.ProjectionStartDate != "" && !dateYMD.MatchString(g.ProjectionStartDate):
		return bad("GlueTable.ProjectionStartDate", "%q is not a date (yyyy-MM-dd)", g.ProjectionStartDate)
	case s.tableSchema() && len(g.RowColumns) == 0:
		return bad("GlueTable.RowColumns", "required with Format %s: the table's columns as Hive types type keys/new_image/old_image", s.Format)
	}
	names := map[string]bool{}
	for _, c := range g.RowColumns {
		if !config.CQLName.MatchString(c.Name) || !hiveType.MatchString(c.Type) {
			return bad("GlueTable.RowColumns", "%q %q is not a column name and Hive type (e.g. id string)", c.Name, c.Type)
		}
		names[c.Name] = true
	}
	for _, k := range g.KeyColumns {
		if !names[k] {
			return bad("GlueTable.KeyColumns", "%q is not one of RowColumns", k)
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
