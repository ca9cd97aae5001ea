package constructs

import (
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Metric names of the consumer's EMF output (contract: dimension Application on every metric).
const (
	MetricRecordsRead         = "RecordsRead"
	MetricRecordsWritten      = "RecordsWritten"
	MetricBytesWritten        = "BytesWritten"
	MetricFilesWritten        = "FilesWritten"
	MetricFlushLatency        = "FlushLatency"
	MetricGetRecordsThrottles = "GetRecordsThrottles"
	MetricErrors              = "Errors"
	MetricPoisonRecords       = "PoisonRecords"
	MetricTrimmedDataAccess   = "TrimmedDataAccess"
	MetricLeasesHeld          = "LeasesHeld"
	MetricMillisBehindLatest  = "MillisBehindLatest"
	MetricIteratorsAtTip      = "IteratorsAtTip"
)

// KindSchemaFallback is the Kind of the Errors metric that counts Avro schemas derived from the
// records alone (the consumer's metrics.KindSchemaFallback).
const KindSchemaFallback = "schema_fallback"

// runbooks is the page of the repository that says what each alarm means and what to do: an
// alarm's description names it with the alarm's anchor (its heading there, e.g. #lag).
const runbooks = "docs/operations.md"

// Alarms are the construct's alarms; a disabled one is nil.
type Alarms struct {
	Lag           awscloudwatch.Alarm
	Stalled       awscloudwatch.Alarm
	PoisonRecords awscloudwatch.Alarm
	TrimmedData   awscloudwatch.Alarm
	RunningTasks  awscloudwatch.Alarm
	Throttling    awscloudwatch.Alarm
	// SchemaFallback exists for Avro tables only.
	SchemaFallback awscloudwatch.Alarm
}

// all are the alarms that exist, in a fixed order.
func (a *Alarms) all() []awscloudwatch.Alarm {
	var out []awscloudwatch.Alarm
	for _, alarm := range []awscloudwatch.Alarm{a.Lag, a.Stalled, a.PoisonRecords, a.TrimmedData, a.RunningTasks, a.Throttling, a.SchemaFallback} {
		if alarm != nil {
			out = append(out, alarm)
		}
	}
	return out
}

// metrics builds the consumer's metrics in its namespace, for its application.
type metrics struct {
	namespace, app string
}

func (m metrics) metric(name, stat string, period time.Duration) awscloudwatch.Metric {
	return m.metricOfKind(name, "", stat, period)
}

// metricOfKind is a metric of one Kind (Errors by kind); "" is the metric without Kind.
func (m metrics) metricOfKind(name, kind, stat string, period time.Duration) awscloudwatch.Metric {
	dims := map[string]*string{"Application": jsii.String(m.app)}
	if kind != "" {
		dims["Kind"] = jsii.String(kind)
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:     jsii.String(m.namespace),
		MetricName:    jsii.String(name),
		DimensionsMap: &dims,
		Statistic:     jsii.String(stat),
		Period:        duration(period),
	})
}

// search sums a metric over every value of one extra dimension (ShardId, WorkerId, Kind).
func (m metrics) search(name, dimension, stat string) awscloudwatch.MathExpression {
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.Sprintf(`SEARCH('{%s,Application,%s} MetricName="%s" Application="%s"', '%s', 300)`,
			m.namespace, dimension, name, m.app, stat),
		Label:  jsii.Sprintf("%s ${PROP('Dim.%s')}", name, dimension),
		Period: awscdk.Duration_Minutes(jsii.Number(5)),
	})
}

func duration(d time.Duration) awscdk.Duration {
	return awscdk.Duration_Seconds(jsii.Number(d.Seconds()))
}

// tuned applies an AlarmConfig over the alarm's defaults.
func tuned(c AlarmConfig, threshold float64, periods int, period time.Duration) (float64, int, time.Duration) {
	if c.Threshold != 0 {
		threshold = c.Threshold
	}
	if c.EvaluationPeriods != 0 {
		periods = c.EvaluationPeriods
	}
	if c.Period != 0 {
		period = c.Period
	}
	return threshold, periods, period
}

// newAlarmTopic is where every table's alarms notify: AlarmTopic, else a created topic (SSL
// only, AlarmEmails subscribed). A created topic, not none: every alarm then has an action
// (Control Tower's CT.CLOUDWATCH.PR.1) and whoever is on call subscribes without a redeploy;
// a topic costs nothing without messages. Without a subscription, synth warns.
func newAlarmTopic(scope constructs.Construct, s *settings) awssns.ITopic {
	if s.AlarmTopic != nil {
		return s.AlarmTopic
	}
	if len(s.AlarmEmails) == 0 {
		awscdk.Annotations_Of(scope).AddWarningV2(jsii.String("keyspaces-cdc-s3:alarmsNotifyNobody"),
			jsii.String("The alarms publish to the created SNS topic (output AlarmTopicArn), which has no subscription: they notify nobody. "+
				"Give AlarmEmails (context alarmEmails), pass your own AlarmTopic, or subscribe a chat or pager integration to the topic."))
	}
	topic := awssns.NewTopic(scope, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.Sprintf("keyspaces-cdc-s3 alarms of %s", s.stackName),
		EnforceSSL:  jsii.Bool(true),
	})
	for _, e := range s.AlarmEmails {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(e), nil))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(topic, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SNS2"),
		Reason: jsii.String("CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key, and alarm notifications carry no data; " +
			"pass AlarmTopic to use a topic encrypted with your own key."),
	}}, jsii.Bool(false))
	return topic
}

// insightsMetrics returns the service's Container Insights metrics by name (minimum per
// minute): running versus desired tasks is right during autoscaling too.
func insightsMetrics(cluster awsecs.Cluster, service awsecs.FargateService) func(name string) awscloudwatch.Metric {
	return func(name string) awscloudwatch.Metric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:  jsii.String("ECS/ContainerInsights"),
			MetricName: jsii.String(name),
			DimensionsMap: &map[string]*string{
				"ClusterName": cluster.ClusterName(),
				"ServiceName": service.ServiceName(),
			},
			Statistic: jsii.String("Minimum"),
			Period:    awscdk.Duration_Minutes(jsii.Number(1)),
		})
	}
}

// alarmMaker creates the construct's alarms, notifying the topic (when there is one) of
// alarm and OK.
type alarmMaker struct {
	scope constructs.Construct
	app   string
	topic awssns.ITopic
}

func (am alarmMaker) alarm(id, description string, metric awscloudwatch.IMetric, threshold float64, periods int, op awscloudwatch.ComparisonOperator) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(am.scope, jsii.String(id+"Alarm"), &awscloudwatch.AlarmProps{
		// The table's ApplicationName is unique per stack and table: so is the alarm's name.
		AlarmName:          jsii.String(am.app + "-" + id),
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(float64(periods)),
		ComparisonOperator: op,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		AlarmDescription:   jsii.String(fmt.Sprintf("%s (%s). Runbook: %s#%s in the keyspaces-cdc-s3 repository.", description, am.app, runbooks, strings.ToLower(id))),
	})
	if am.topic != nil {
		a.AddAlarmAction(awscloudwatchactions.NewSnsAction(am.topic))
		a.AddOkAction(awscloudwatchactions.NewSnsAction(am.topic))
	}
	return a
}

// newAlarms creates every alarm that is not disabled, tuned by its AlarmConfig.
func newAlarms(am alarmMaker, s *settings, m metrics, insights func(string) awscloudwatch.Metric) Alarms {
	var alarms Alarms
	cfgs := s.Alarms
	if cfg := cfgs.SchemaFallback; !cfg.Disabled && s.tableSchema() {
		th, n, p := tuned(cfg, 1, 1, 5*time.Minute)
		alarms.SchemaFallback = am.alarm("SchemaFallback", "A schema was derived from the records alone: the table's definition (Keyspaces GetTable) is unavailable",
			m.metricOfKind(MetricErrors, KindSchemaFallback, "Sum", p), th, n, awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
	}
	gte := awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD
	if cfg := cfgs.Lag; !cfg.Disabled {
		th, n, p := tuned(cfg, 300_000, 3, time.Minute)
		alarms.Lag = am.alarm("Lag", fmt.Sprintf("The newest record read is older than %.0f ms: the consumer falls behind the stream", th),
			m.metric(MetricMillisBehindLatest, "Maximum", p), th, n, awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD)
	}
	if cfg := cfgs.Stalled; !cfg.Disabled {
		_, n, p := tuned(cfg, 1, 3, 5*time.Minute)
		stalled := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression: jsii.String("IF(FILL(r, 0) > 0 AND FILL(f, 0) == 0, 1, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{
				"r": m.metric(MetricRecordsRead, "Sum", p),
				"f": m.metric(MetricFilesWritten, "Sum", p),
			},
			Label:  jsii.String("records read but no file written"),
			Period: duration(p),
		})
		alarms.Stalled = am.alarm("Stalled", "Records are read but no file is written: uploads or checkpoints fail", stalled, 1, n, gte)
	}
	if cfg := cfgs.PoisonRecords; !cfg.Disabled {
		th, n, p := tuned(cfg, 1, 1, 5*time.Minute)
		alarms.PoisonRecords = am.alarm("PoisonRecords", "Records could not be converted and went to the _errors/ prefix",
			m.metric(MetricPoisonRecords, "Sum", p), th, n, gte)
	}
	if cfg := cfgs.TrimmedData; !cfg.Disabled {
		th, n, p := tuned(cfg, 1, 1, 5*time.Minute)
		alarms.TrimmedData = am.alarm("TrimmedData", "Reads hit the 24-hour trim horizon: changes older than the retention were lost",
			m.metric(MetricTrimmedDataAccess, "Sum", p), th, n, gte)
	}
	if cfg := cfgs.RunningTasks; !cfg.Disabled {
		_, n, p := tuned(cfg, 1, 5, time.Minute)
		missing := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
			Expression:   jsii.String("IF(desired - running > 0, 1, 0)"),
			UsingMetrics: &map[string]awscloudwatch.IMetric{"desired": insights("DesiredTaskCount"), "running": insights("RunningTaskCount")},
			Label:        jsii.String("tasks missing"),
			Period:       duration(p),
		})
		alarms.RunningTasks = am.alarm("RunningTasks", "Fewer tasks run than desired: shards wait for a worker", missing, 1, n, gte)
	}
	if cfg := cfgs.Throttling; !cfg.Disabled {
		th, n, p := tuned(cfg, 60, 3, 5*time.Minute)
		alarms.Throttling = am.alarm("Throttling", "GetRecords is throttled, sustained: too many readers per shard or polling too fast",
			m.metric(MetricGetRecordsThrottles, "Sum", p), th, n, gte)
	}
	return alarms
}

// dashboardSection is what the dashboard shows of one table.
type dashboardSection struct {
	s        *settings
	m        metrics
	service  awsecs.FargateService
	insights func(string) awscloudwatch.Metric
	alarms   *Alarms
}

func graph(title string, left []awscloudwatch.IMetric, right []awscloudwatch.IMetric, width float64) awscloudwatch.GraphWidget {
	props := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(width), Height: jsii.Number(6)}
	if right != nil {
		props.Right = &right
	}
	return awscloudwatch.NewGraphWidget(props)
}

// newDashboard is the one dashboard of the deployment: the one table in full, or a compact
// section per table (a dashboard holds at most 500 widgets).
func newDashboard(scope constructs.Construct, s *settings, multi bool, sections []*dashboardSection) awscloudwatch.Dashboard {
	props := &awscloudwatch.DashboardProps{DefaultInterval: awscdk.Duration_Hours(jsii.Number(3))}
	if s.DashboardName != "" {
		props.DashboardName = jsii.String(s.DashboardName)
	}
	d := awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), props)
	if !multi {
		fullSection(d, sections[0])
		return d
	}
	d.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.Sprintf("# keyspaces-cdc-s3: %d tables → S3\nPer table: throughput and lag, errors, the service, the alarms. Alarms and what to do: %s, section Alarms and runbooks.",
			len(sections), runbooks),
		Width: jsii.Number(24), Height: jsii.Number(2),
	}))
	for _, sec := range sections {
		compactSection(d, sec)
	}
	return d
}

// fullSection shows every metric of the table.
func fullSection(d awscloudwatch.Dashboard, sec *dashboardSection) {
	s, m, insights, five := sec.s, sec.m, sec.insights, 5*time.Minute
	d.AddWidgets(
		awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
			Markdown: jsii.Sprintf("# %s: %s.%s → S3\nThroughput, lag, errors, leases and the service. Alarms and what to do: %s, section Alarms and runbooks.",
				s.ApplicationName, s.Keyspace, s.Table, runbooks),
			Width: jsii.Number(24), Height: jsii.Number(2),
		}),
	)
	d.AddWidgets(
		graph("Throughput (records / 5 min)",
			[]awscloudwatch.IMetric{m.metric(MetricRecordsRead, "Sum", five), m.metric(MetricRecordsWritten, "Sum", five)},
			[]awscloudwatch.IMetric{m.metric(MetricBytesWritten, "Sum", five), m.metric(MetricFilesWritten, "Sum", five)}, 12),
		graph("Lag (ms behind the newest record) and iterators at tip",
			[]awscloudwatch.IMetric{m.metric(MetricMillisBehindLatest, "Maximum", time.Minute), m.search(MetricMillisBehindLatest, "ShardId", "Maximum")},
			[]awscloudwatch.IMetric{m.metric(MetricIteratorsAtTip, "Sum", five)}, 12),
	)
	d.AddWidgets(
		graph("Errors by kind, poison records, trimmed reads, throttles",
			[]awscloudwatch.IMetric{m.search(MetricErrors, "Kind", "Sum"), m.metric(MetricPoisonRecords, "Sum", five), m.metric(MetricTrimmedDataAccess, "Sum", five)},
			[]awscloudwatch.IMetric{m.metric(MetricGetRecordsThrottles, "Sum", five)}, 12),
		graph("Flush latency (ms) and leases per worker",
			[]awscloudwatch.IMetric{m.metric(MetricFlushLatency, "p50", five), m.metric(MetricFlushLatency, "p99", five)},
			[]awscloudwatch.IMetric{m.search(MetricLeasesHeld, "WorkerId", "Maximum")}, 12),
	)
	d.AddWidgets(
		graph("Service CPU and memory (%)",
			[]awscloudwatch.IMetric{sec.service.MetricCpuUtilization(nil), sec.service.MetricMemoryUtilization(nil)}, nil, 12),
		graph("Tasks: running and desired",
			[]awscloudwatch.IMetric{insights("RunningTaskCount"), insights("DesiredTaskCount")}, nil, 12),
	)
	alarmStatus(d, sec, "Alarms")
}

// compactSection shows a table in five widgets: its name, throughput and lag, errors, the
// service, the alarms.
func compactSection(d awscloudwatch.Dashboard, sec *dashboardSection) {
	s, m, insights, five := sec.s, sec.m, sec.insights, 5*time.Minute
	d.AddWidgets(awscloudwatch.NewTextWidget(&awscloudwatch.TextWidgetProps{
		Markdown: jsii.Sprintf("## %s.%s (%s)", s.Keyspace, s.Table, s.ApplicationName),
		Width:    jsii.Number(24), Height: jsii.Number(1),
	}))
	d.AddWidgets(
		graph("Records / 5 min; lag (ms)",
			[]awscloudwatch.IMetric{m.metric(MetricRecordsRead, "Sum", five), m.metric(MetricRecordsWritten, "Sum", five)},
			[]awscloudwatch.IMetric{m.metric(MetricMillisBehindLatest, "Maximum", time.Minute)}, 8),
		graph("Errors, poison, trimmed; throttles",
			[]awscloudwatch.IMetric{m.search(MetricErrors, "Kind", "Sum"), m.metric(MetricPoisonRecords, "Sum", five), m.metric(MetricTrimmedDataAccess, "Sum", five)},
			[]awscloudwatch.IMetric{m.metric(MetricGetRecordsThrottles, "Sum", five)}, 8),
		graph("CPU and memory (%); tasks running",
			[]awscloudwatch.IMetric{sec.service.MetricCpuUtilization(nil), sec.service.MetricMemoryUtilization(nil)},
			[]awscloudwatch.IMetric{insights("RunningTaskCount")}, 8),
	)
	alarmStatus(d, sec, s.Keyspace+"."+s.Table+" alarms")
}

func alarmStatus(d awscloudwatch.Dashboard, sec *dashboardSection, title string) {
	var states []interfacesawscloudwatch.IAlarmRef
	for _, alarm := range sec.alarms.all() {
		states = append(states, alarm)
	}
	if len(states) > 0 {
		d.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
			Title: jsii.String(title), Alarms: &states, Width: jsii.Number(24),
		}))
	}
}
