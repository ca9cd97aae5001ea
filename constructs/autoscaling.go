package constructs

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/jsii-runtime-go"
)

// newAutoscaling scales the service between MinTasks and MaxTasks: CPU target tracking, plus
// steps on lag (one task more above the threshold, two above 5×; one less below a tenth).
// Application Auto Scaling scales in only when every policy agrees, so the two combine safely.
// MaxTasks should not exceed the shard count: a task without a shard holds no lease.
func newAutoscaling(s *settings, c *compute) awsecs.ScalableTaskCount {
	a := s.Autoscaling
	scaling := c.service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(float64(a.MinTasks)),
		MaxCapacity: jsii.Number(float64(a.MaxTasks)),
	})
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{
		TargetUtilizationPercent: jsii.Number(a.TargetCpuPercent),
		ScaleInCooldown:          awscdk.Duration_Minutes(jsii.Number(5)),
		ScaleOutCooldown:         awscdk.Duration_Minutes(jsii.Number(2)),
	})
	m := metrics{namespace: s.MetricsNamespace, app: s.ApplicationName}
	scaling.ScaleOnMetric(jsii.String("Lag"), &awsapplicationautoscaling.BasicStepScalingPolicyProps{
		Metric: m.metric(MetricMillisBehindLatest, "Maximum", time.Minute),
		ScalingSteps: &[]*awsapplicationautoscaling.ScalingInterval{
			{Upper: jsii.Number(a.LagThresholdMillis / 10), Change: jsii.Number(-1)},
			{Lower: jsii.Number(a.LagThresholdMillis), Change: jsii.Number(1)},
			{Lower: jsii.Number(a.LagThresholdMillis * 5), Change: jsii.Number(2)},
		},
		AdjustmentType: awsapplicationautoscaling.AdjustmentType_CHANGE_IN_CAPACITY,
		Cooldown:       awscdk.Duration_Minutes(jsii.Number(5)),
	})
	return scaling
}
