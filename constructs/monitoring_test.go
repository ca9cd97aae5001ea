package constructs

import (
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
	props.CreateAlarmTopic, props.AlarmEmails = true, []string{"oncall@example.com"}
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
			if _, ok := a["AlarmActions"]; ok {
				t.Errorf("%s alarm has actions without a topic", n)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, []string{"Lag", "PoisonRecords", "RunningTasks", "TrimmedData"}) {
			t.Errorf("alarms %v", names)
		}
		if n := len(s.resources("AWS::CloudWatch::Dashboard")); n != 0 {
			t.Errorf("%d dashboards, want none", n)
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

func TestAutoscalingIsCappedAtMaxTasks(t *testing.T) {
	props := baseProps()
	props.Autoscaling = &AutoscalingConfig{MinTasks: 2, MaxTasks: 8, TargetCpuPercent: 60, LagThresholdMillis: 30_000}
	s := synth(t, props, stackOptions{nag: true})
	check(t, func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalableTarget"), map[string]any{
			"MinCapacity": 2, "MaxCapacity": 8, "ScalableDimension": "ecs:service:DesiredCount",
		})
		s.template.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), map[string]any{
			"PolicyType": "TargetTrackingScaling",
			"TargetTrackingScalingPolicyConfiguration": assertions.Match_ObjectLike(&map[string]any{
				"TargetValue":                   60,
				"PredefinedMetricSpecification": map[string]any{"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
			}),
		})
	})
	// Lag steps: the alarms of the step policy read MillisBehindLatest at the threshold.
	var steps []float64
	for id, a := range s.resources("AWS::CloudWatch::Alarm") {
		props := a["Properties"].(map[string]any)
		if !strings.HasPrefix(id, "CdcLagAlarm") && props["MetricName"] == "MillisBehindLatest" {
			steps = append(steps, props["Threshold"].(float64))
		}
	}
	slices.Sort(steps)
	if !slices.Equal(steps, []float64{3000, 30000}) {
		t.Errorf("lag step alarm thresholds %v, want scale in below 3000 and out above 30000", steps)
	}
	if errs := s.nagErrors(t); len(errs) > 0 {
		t.Errorf("cdk-nag errors:\n%s", strings.Join(errs, "\n"))
	}
}

func TestGlueTableOverTheFiles(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		props := baseProps()
		props.Prefix = "cdc/"
		props.GlueTable = &GlueTableConfig{}
		s := synth(t, props, stackOptions{nag: true})
		if db := s.only(t, "AWS::Glue::Database"); jsonText(db["DatabaseInput"]) == "" || !strings.Contains(jsonText(db), `"Name":"keyspaces_cdc_s3"`) {
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
}
