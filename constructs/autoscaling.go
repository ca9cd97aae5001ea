package constructs

import (
	"fmt"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// The scale-in rule of the autoscaling (newAutoscaling says why each number is what it is).
const (
	// ScaleInLagFraction of LagThresholdMillis: lag must stay below it to remove a task.
	ScaleInLagFraction = 0.1
	// ScaleInCPUFraction of TargetCpuPercent: CPU must stay below it to remove a task.
	ScaleInCPUFraction = 0.5
	// ScaleInMinutes the lag and the CPU must both stay low before a task is removed.
	ScaleInMinutes = 15
	// ScaleInCooldown between two removals.
	ScaleInCooldown = 10 * time.Minute
)

// newAutoscaling scales the service between MinTasks and MaxTasks.
//
// Application Auto Scaling does not wait for every policy to agree before scaling in: of the
// policies that fire it applies the one giving the largest capacity, and a step scaling
// policy's scale-in is not blocked by a target tracking policy, which may then scale out again
// (PutScalingPolicy, Application Auto Scaling API Reference). So the design leaves no room for
// a conflict:
//   - the floor is the standby: MinTasks is at least DesiredCount (validation), so scaling in
//     never removes the task that takes over leases;
//   - both signals only scale out: CPU target tracking with scale-in disabled, and lag steps
//     (one task more above LagThresholdMillis, two above 5×);
//   - one policy scales in, one task at a time, when lag has stayed under a tenth of the
//     threshold and CPU under half the target for ScaleInMinutes. Removing one of n ≥ 2 tasks
//     raises the average CPU by n/(n-1) ≤ 2, so it stays under the target and the CPU policy
//     has no reason to add the task back; lag 10× below the scale-out threshold leaves the
//     same margin for the lag steps.
//
// MaxTasks should not exceed the shard count: a task without a shard holds no lease.
func newAutoscaling(scope constructs.Construct, s *settings, c *compute, m metrics) awsecs.ScalableTaskCount {
	a := s.Autoscaling
	scaling := c.service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(float64(a.MinTasks)),
		MaxCapacity: jsii.Number(float64(a.MaxTasks)),
	})
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{
		TargetUtilizationPercent: jsii.Number(a.TargetCpuPercent),
		DisableScaleIn:           jsii.Bool(true),
		ScaleOutCooldown:         awscdk.Duration_Minutes(jsii.Number(2)),
	})
	scaling.ScaleOnMetric(jsii.String("Lag"), &awsapplicationautoscaling.BasicStepScalingPolicyProps{
		Metric: m.metric(MetricMillisBehindLatest, "Maximum", time.Minute),
		ScalingSteps: &[]*awsapplicationautoscaling.ScalingInterval{
			{Lower: jsii.Number(a.LagThresholdMillis), Change: jsii.Number(1)},
			{Lower: jsii.Number(a.LagThresholdMillis * 5), Change: jsii.Number(2)},
		},
		AdjustmentType: awsapplicationautoscaling.AdjustmentType_CHANGE_IN_CAPACITY,
		Cooldown:       awscdk.Duration_Minutes(jsii.Number(5)),
	})
	target, ok := scaling.Node().FindChild(jsii.String("Target")).(awsapplicationautoscaling.ScalableTarget)
	if !ok {
		panic("the service's scalable task count has no ScalableTarget child named Target")
	}
	scaleIn := awsapplicationautoscaling.NewStepScalingAction(scope, jsii.String("ScaleInWhenIdle"), &awsapplicationautoscaling.StepScalingActionProps{
		ScalingTarget:         target,
		AdjustmentType:        awsapplicationautoscaling.AdjustmentType_CHANGE_IN_CAPACITY,
		Cooldown:              duration(ScaleInCooldown),
		MetricAggregationType: awsapplicationautoscaling.MetricAggregationType_MAXIMUM,
	})
	scaleIn.AddAdjustment(&awsapplicationautoscaling.AdjustmentTier{Adjustment: jsii.Number(-1), LowerBound: jsii.Number(0)})
	idle := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		// No datapoint (a metric missing) is no scale-in.
		Expression: jsii.Sprintf("IF(lag < %g AND cpu < %g, 1, 0)", a.LagThresholdMillis*ScaleInLagFraction, a.TargetCpuPercent*ScaleInCPUFraction),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"lag": m.metric(MetricMillisBehindLatest, "Maximum", time.Minute),
			"cpu": c.service.MetricCpuUtilization(&awscloudwatch.MetricOptions{Statistic: jsii.String("Average"), Period: duration(time.Minute)}),
		},
		Label:  jsii.String("lag and CPU low enough to remove a task"),
		Period: duration(time.Minute),
	})
	alarm := awscloudwatch.NewAlarm(scope, jsii.String("ScaleInWhenIdleAlarm"), &awscloudwatch.AlarmProps{
		Metric:             idle,
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(ScaleInMinutes),
		DatapointsToAlarm:  jsii.Number(ScaleInMinutes),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		AlarmDescription: jsii.String(fmt.Sprintf("Scaling, not an incident: removes one task (never below %d) while lag < %g ms and CPU < %g %% for %d minutes (%s).",
			a.MinTasks, a.LagThresholdMillis*ScaleInLagFraction, a.TargetCpuPercent*ScaleInCPUFraction, ScaleInMinutes, s.ApplicationName)),
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewApplicationScalingAction(scaleIn))
	return scaling
}
