package constructs

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// alarms returns the alarms by the prefix of their logical id (Lag, Stalled, ...).
func (s synthesized) alarms() map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.resources("AWS::CloudWatch::Alarm") {
		name := strings.TrimPrefix(id, "Cdc")
		name = name[:strings.Index(name, "Alarm")]
		out[name] = r["Properties"].(map[string]any)
	}
	return out
}

func TestDashboardAndAlarms(t *testing.T) {
	props := baseProps()
	props.ApplicationName, props.MetricsNamespace = "media-cdc", "Media/Cdc"
	props.AlarmEmails = []string{"oncall@example.com"}
	props.Alarms.Lag = AlarmConfig{Threshold: 120_000, EvaluationPeriods: 5}
	props.ImageUri = "public.ecr.aws/example/cdc:latest"
	s := synth(t, props, stackOptions{nag: true})
	alarms := s.alarms()

	want := map[string]struct {
		metrics   []string // metric names the alarm reads
		threshold float64
		periods   float64
	}{
		"Lag":           {[]string{"MillisBehindLatest"}, 120_000, 5},
		"Stalled":       {[]string{"RecordsRead", "FilesWritten"}, 1, 3},
		"PoisonRecords": {[]string{"PoisonRecords"}, 1, 1},
		"TrimmedData":   {[]string{"TrimmedDataAccess"}, 1, 1},
		"RunningTasks":  {[]string{"DesiredTaskCount", "RunningTaskCount"}, 1, 5},
		"Throttling":    {[]string{"GetRecordsThrottles"}, 60, 3},
	}
	if len(alarms) != len(want) {
		t.Errorf("alarms %v, want %d", len(alarms), len(want))
	}
	runbookPage, err := os.ReadFile("../" + runbooks)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		a, ok := alarms[name]
		if !ok {
			t.Errorf("no %s alarm", name)
			continue
		}
		text := jsonText(a)
		for _, m := range w.metrics {
			if !strings.Contains(text, `"MetricName":"`+m+`"`) {
				t.Errorf("%s alarm does not read %s: %s", name, m, text)
			}
		}
		if name != "RunningTasks" && !strings.Contains(text, `"Namespace":"Media/Cdc"`) {
			t.Errorf("%s alarm is not in the namespace Media/Cdc", name)
		}
		if name != "RunningTasks" && !strings.Contains(text, `{"Name":"Application","Value":"media-cdc"}`) {
			t.Errorf("%s alarm lacks the Application dimension", name)
		}
		if a["AlarmName"] != "media-cdc-"+name {
			t.Errorf("%s alarm is named %v, want media-cdc-%s (the table's ApplicationName)", name, a["AlarmName"], name)
		}
		if a["Threshold"] != w.threshold || a["EvaluationPeriods"] != w.periods {
			t.Errorf("%s alarm threshold %v periods %v, want %v and %v", name, a["Threshold"], a["EvaluationPeriods"], w.threshold, w.periods)
		}
		// The description names the alarm's runbook: a heading of docs/operations.md whose
		// anchor is the alarm's name.
		if desc, _ := a["AlarmDescription"].(string); !strings.Contains(desc, "docs/operations.md#"+strings.ToLower(name)) {
			t.Errorf("%s alarm's description %q does not point at its runbook", name, desc)
		}
		if !strings.Contains(string(runbookPage), "\n#### `"+name+"`\n") {
			t.Errorf("docs/operations.md has no runbook heading for the %s alarm", name)
		}
		if !strings.Contains(jsonText(a["AlarmActions"]), "CdcAlarmTopic") || !strings.Contains(jsonText(a["OKActions"]), "CdcAlarmTopic") {
			t.Errorf("%s alarm does not notify the topic", name)
		}
	}
	check(t, func() {
		s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]any{"Protocol": "email", "Endpoint": "oncall@example.com"})
		s.template.ResourceCountIs(jsii.String("AWS::SNS::Topic"), jsii.Number(1))
	})

	dash := jsonText(s.only(t, "AWS::CloudWatch::Dashboard")["DashboardBody"])
	for _, m := range []string{"RecordsRead", "RecordsWritten", "BytesWritten", "FilesWritten", "MillisBehindLatest", "IteratorsAtTip",
		"Errors", "PoisonRecords", "TrimmedDataAccess", "GetRecordsThrottles", "FlushLatency", "LeasesHeld", "CPUUtilization", "MemoryUtilization", "RunningTaskCount"} {
		if !strings.Contains(dash, m) {
			t.Errorf("dashboard lacks %s", m)
		}
	}
	if !strings.Contains(dash, "docs/operations.md") {
		t.Errorf("the dashboard does not point at the runbooks: %s", dash)
	}
	for _, dim := range []string{"WorkerId", "Kind", "ShardId"} {
		if !strings.Contains(dash, "Application,"+dim) {
			t.Errorf("dashboard does not break a metric down by %s", dim)
		}
	}
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
	}

	t.Run("disabled alarms and no dashboard", func(t *testing.T) {
		props := baseProps()
		props.Alarms.Stalled.Disabled, props.Alarms.Throttling.Disabled = true, true
		props.Dashboard = jsii.Bool(false)
		s := synth(t, props, stackOptions{})
		var names []string
		for n, a := range s.alarms() {
			names = append(names, n)
			// The topic is created without AlarmEmails too: every alarm has an action.
			if !strings.Contains(jsonText(a["AlarmActions"]), "CdcAlarmTopic") {
				t.Errorf("%s alarm does not notify the created topic", n)
			}
		}
		var warnings []string
		check(t, func() {
			for _, m := range *assertions.Annotations_FromStack(s.stack).FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("notify nobody"))) {
				warnings = append(warnings, fmt.Sprint(m.Entry.Data))
			}
		})
		if len(warnings) != 1 {
			t.Errorf("warnings %v, want one saying the alarms notify nobody", warnings)
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"Lag", "PoisonRecords", "RunningTasks", "TrimmedData"}) {
			t.Errorf("alarms %v", names)
		}
		if n := len(s.resources("AWS::CloudWatch::Dashboard")); n != 0 {
			t.Errorf("%d dashboards, want none", n)
		}
	})
	t.Run("avro adds SchemaFallback", func(t *testing.T) {
		props := baseProps()
		props.Format = "avro"
		a, ok := synth(t, props, stackOptions{}).alarms()["SchemaFallback"]
		if !ok {
			t.Fatal("no SchemaFallback alarm for an Avro table")
		}
		text := jsonText(a)
		for _, want := range []string{`"MetricName":"Errors"`, `{"Name":"Kind","Value":"schema_fallback"}`, `"Threshold":1`, "docs/operations.md#schemafallback"} {
			if !strings.Contains(text, want) {
				t.Errorf("SchemaFallback alarm lacks %s: %s", want, text)
			}
		}
	})
	t.Run("tuned period", func(t *testing.T) {
		props := baseProps()
		props.Alarms.PoisonRecords = AlarmConfig{Period: 15 * time.Minute, Threshold: 10}
		a := synth(t, props, stackOptions{}).alarms()["PoisonRecords"]
		if a["Period"] != float64(900) || a["Threshold"] != float64(10) {
			t.Errorf("poison alarm period %v threshold %v", a["Period"], a["Threshold"])
		}
	})
}

// The synthesized policies keep the standby and cannot fight each other: every scale-in goes
// through one alarm that needs lag and CPU low enough that neither scale-out policy fires
// after the task is gone, and Application Auto Scaling never goes below MinCapacity, which is
// the standby count.
func TestAutoscalingKeepsTheStandbyAndDoesNotOscillate(t *testing.T) {
	props := baseProps()
	props.Autoscaling = &AutoscalingConfig{MaxTasks: 8, TargetCpuPercent: 60, LagThresholdMillis: 30_000}
	s := synth(t, props, stackOptions{nag: true})
	target := s.only(t, "AWS::ApplicationAutoScaling::ScalableTarget")
	if target["MinCapacity"] != float64(DefaultDesiredCount) || target["MaxCapacity"] != float64(8) {
		t.Errorf("capacity %v to %v, want the standby (DesiredCount %d) to 8", target["MinCapacity"], target["MaxCapacity"], DefaultDesiredCount)
	}
	minimum, maximum := target["MinCapacity"].(float64), target["MaxCapacity"].(float64)

	var scaleIns []string // logical ids of the policies that remove tasks
	var lagOut float64    // lowest lag that adds a task
	scaleInAlarms := 0
	for id, r := range s.resources("AWS::ApplicationAutoScaling::ScalingPolicy") {
		p := r["Properties"].(map[string]any)
		if tt, ok := p["TargetTrackingScalingPolicyConfiguration"].(map[string]any); ok {
			if tt["DisableScaleIn"] != true || tt["TargetValue"] != float64(60) {
				t.Errorf("target tracking %s: %s, want CPU 60 %% with scale-in disabled", id, jsonText(tt))
			}
			continue
		}
		for _, adj := range p["StepScalingPolicyConfiguration"].(map[string]any)["StepAdjustments"].([]any) {
			if adj.(map[string]any)["ScalingAdjustment"].(float64) < 0 {
				scaleIns = append(scaleIns, id)
			}
		}
	}
	if len(scaleIns) != 1 || !strings.Contains(scaleIns[0], "ScaleInWhenIdle") {
		t.Fatalf("policies that remove tasks %v, want only ScaleInWhenIdle", scaleIns)
	}
	for id, r := range s.resources("AWS::CloudWatch::Alarm") {
		a := r["Properties"].(map[string]any)
		actions := jsonText(a["AlarmActions"])
		switch {
		case strings.Contains(actions, scaleIns[0]):
			scaleInAlarms++
			checkScaleInAlarm(t, a, 60, 30_000, minimum, maximum)
		case strings.Contains(actions, "LagUpperPolicy"):
			lagOut = a["Threshold"].(float64)
		case strings.Contains(id, "LagLower"):
			t.Errorf("lag alarm %s scales in", id)
		}
	}
	if lagOut != 30_000 || scaleInAlarms != 1 {
		t.Errorf("lag scale-out threshold %v, %d scale-in alarms: want 30000 and 1", lagOut, scaleInAlarms)
	}
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
	}

	t.Run("the floor is the standby", func(t *testing.T) {
		props := baseProps()
		props.DesiredCount = ptr(3)
		props.Autoscaling = &AutoscalingConfig{MaxTasks: 6}
		if got := synth(t, props, stackOptions{}).only(t, "AWS::ApplicationAutoScaling::ScalableTarget")["MinCapacity"]; got != float64(3) {
			t.Errorf("MinCapacity %v, want DesiredCount 3", got)
		}
		props.Autoscaling = &AutoscalingConfig{MinTasks: 2, MaxTasks: 6}
		if err := props.Validate(); err == nil || !strings.Contains(err.Error(), "Autoscaling.MinTasks") || !strings.Contains(err.Error(), "standby") {
			t.Errorf("MinTasks below DesiredCount: %v, want an error naming the standby", err)
		}
	})
}

// checkScaleInAlarm checks the one alarm that removes tasks: lag and CPU both low for 15
// minutes, low enough that after removing one of n tasks (minimum < n ≤ maximum) neither the
// CPU target nor the lag step would add it back.
func checkScaleInAlarm(t *testing.T, a map[string]any, cpuTarget, lagOut, minimum, maximum float64) {
	t.Helper()
	if a["EvaluationPeriods"] != float64(ScaleInMinutes) || a["DatapointsToAlarm"] != float64(ScaleInMinutes) || a["TreatMissingData"] != "notBreaching" {
		t.Errorf("scale-in alarm %v of %v, missing data %v: want %d of %d, not breaching", a["DatapointsToAlarm"], a["EvaluationPeriods"], a["TreatMissingData"], ScaleInMinutes, ScaleInMinutes)
	}
	var lagIn, cpuIn float64
	for _, m := range a["Metrics"].([]any) {
		if e, ok := m.(map[string]any)["Expression"].(string); ok {
			if _, err := fmt.Sscanf(e, "IF(lag < %g AND cpu < %g, 1, 0)", &lagIn, &cpuIn); err != nil {
				t.Fatalf("scale-in expression %q: %v", e, err)
			}
		}
	}
	if lagIn <= 0 || lagIn*5 > lagOut {
		t.Errorf("scale-in below lag %v, scale-out above %v: no margin between them", lagIn, lagOut)
	}
	for n := minimum + 1; n <= maximum; n++ {
		if after := cpuIn * n / (n - 1); after >= cpuTarget {
			t.Errorf("removing one of %v tasks at CPU %v%% leaves %v%%: the CPU policy (target %v%%) would add it back", n, cpuIn, after, cpuTarget)
		}
	}
}

func TestGlueTableOverTheFiles(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		props := baseProps()
		props.Prefix = "cdc/"
		props.GlueTable = &GlueTableConfig{}
		s := synth(t, props, stackOptions{nag: true})
		// The database is named after the stack ("Test"): unique in the account and region.
		if db := s.only(t, "AWS::Glue::Database"); jsonText(db["DatabaseInput"]) == "" || !strings.Contains(jsonText(db), `"Name":"test"`) {
			t.Errorf("database %s", jsonText(db))
		}
		input := s.only(t, "AWS::Glue::Table")["TableInput"].(map[string]any)
		if input["Name"] != "media_media_content" {
			t.Errorf("table name %v", input["Name"])
		}
		params := input["Parameters"].(map[string]any)
		for k, v := range map[string]string{
			"projection.enabled": "true", "projection.dt.type": "date", "projection.dt.format": "yyyy-MM-dd",
			"projection.dt.range": "2025-01-01,NOW", "projection.hr.type": "integer", "projection.hr.range": "0,23", "projection.hr.digits": "2",
		} {
			if params[k] != v {
				t.Errorf("parameter %s = %v, want %s", k, params[k], v)
			}
		}
		if tpl := jsonText(params["storage.location.template"]); !strings.Contains(tpl, `/cdc/media/media_content/dt=${dt}/hr=${hr}/`) {
			t.Errorf("location template %s", tpl)
		}
		sd := input["StorageDescriptor"].(map[string]any)
		if got := jsonText(sd["SerdeInfo"]); !strings.Contains(got, "org.openx.data.jsonserde.JsonSerDe") {
			t.Errorf("serde %s", got)
		}
		var cols []string
		for _, c := range sd["Columns"].([]any) {
			col := c.(map[string]any)
			cols = append(cols, col["Name"].(string)+" "+col["Type"].(string))
		}
		want := []string{"keyspace string", "table string", "shard_id string", "sequence_number string", "created_at string",
			"origin string", "op string", "keys string", "new_image string", "old_image string"}
		if !slices.Equal(cols, want) {
			t.Errorf("columns %v, want %v", cols, want)
		}
		if got := jsonText(input["PartitionKeys"]); !strings.Contains(got, `"Name":"dt"`) || !strings.Contains(got, `"Name":"hr"`) {
			t.Errorf("partition keys %s", got)
		}
		if errs := s.nagErrors(t); len(errs) > 0 {
			t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
		}
	})
	t.Run("avro", func(t *testing.T) {
		props := baseProps()
		props.Format = "avro"
		props.GlueTable = &GlueTableConfig{
			DatabaseName: "media_cdc", TableName: "content_changes",
			RowColumns: []GlueColumn{{"id", "string"}, {"title", "string"}, {"views", "bigint"}},
			KeyColumns: []string{"id"},
		}
		input := synth(t, props, stackOptions{}).only(t, "AWS::Glue::Table")["TableInput"].(map[string]any)
		sd := jsonText(input["StorageDescriptor"])
		for _, want := range []string{"org.apache.hadoop.hive.serde2.avro.AvroSerDe", "AvroContainerInputFormat",
			`{"Comment":"partition and clustering key columns","Name":"keys","Type":"struct\u003cid:string\u003e"}`,
			`"Name":"new_image","Type":"struct\u003cid:string,title:string,views:bigint\u003e"`,
			`"Name":"created_at","Type":"timestamp"`} {
			if !strings.Contains(sd, want) {
				t.Errorf("storage descriptor lacks %s: %s", want, sd)
			}
		}
	})
	t.Run("parquet", func(t *testing.T) {
		props := baseProps()
		props.Format = "parquet"
		props.GlueTable = &GlueTableConfig{
			RowColumns: []GlueColumn{{"id", "string"}, {"rank", "tinyint"}, {"views", "bigint"}},
			KeyColumns: []string{"id"},
		}
		s := synth(t, props, stackOptions{})
		input := s.only(t, "AWS::Glue::Table")["TableInput"].(map[string]any)
		sd := jsonText(input["StorageDescriptor"])
		for _, want := range []string{"org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
			"MapredParquetInputFormat", "MapredParquetOutputFormat",
			`{"Comment":"partition and clustering key columns","Name":"keys","Type":"struct\u003cid:string\u003e"}`,
			`"Name":"new_image","Type":"struct\u003cid:string,rank:tinyint,views:bigint\u003e"`,
			`"Name":"created_at","Type":"timestamp"`} {
			if !strings.Contains(sd, want) {
				t.Errorf("storage descriptor lacks %s: %s", want, sd)
			}
		}
		if got := jsonText(input["Parameters"]); !strings.Contains(got, `"classification":"parquet"`) {
			t.Errorf("parameters %s", got)
		}
		// Parquet reads the table's schema: the control plane's endpoint and the fallback alarm.
		if _, ok := s.alarms()["SchemaFallback"]; !ok {
			t.Errorf("no SchemaFallback alarm with Parquet: %v", s.alarms())
		}
		if eps := strings.Join(s.endpointServices(), " "); !strings.Contains(eps, ".cassandra") {
			t.Errorf("no cassandra endpoint with Parquet: %s", eps)
		}
		if errs := s.nagErrors(t); len(errs) > 0 {
			t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
		}
	})
}
