package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ValidateIn checks the props as Validate does, and also what depends on the stack the
// construct goes into (its region). Its error is a *ValidationError.
func (p *KeyspacesCdcToS3Props) ValidateIn(scope constructs.Construct) error {
	s, err := p.resolve()
	if err != nil {
		return err
	}
	return s.checkRegions(scope, false)
}

// remoteRegion is a region the consumer reaches that may differ from the stack's.
type remoteRegion struct {
	prop, region, what string
}

// checkRegions refuses what cannot reach its region:
//   - a created bucket lives in the stack's region, so another S3Region needs ExistingBucket;
//   - the created VPC is isolated (no NAT, no internet gateway) and VPC endpoints reach their
//     own region only, so a table or bucket in another region is out of reach.
//
// An environment-agnostic stack knows its region only at deploy time: with rules set, a
// CloudFormation rule then refuses a deployment in any other region before anything is made.
func (s *settings) checkRegions(scope constructs.Construct, rules bool) error {
	region := awscdk.Stack_Of(scope).Region()
	agnostic := *awscdk.Token_IsUnresolved(region)
	if s.ExistingBucket == nil && s.S3Region != "" && (agnostic || *region != s.S3Region) {
		return bad("S3Region", "needs ExistingBucket: a created bucket lives in the stack's region, and the stack's region is not %s", s.S3Region)
	}
	if !s.createVpc {
		return nil
	}
	remote := []remoteRegion{{"S3Region", s.S3Region, "the bucket"}, {"KeyspacesRegion", s.KeyspacesRegion, "the table's stream"}}
	for _, r := range remote {
		if r.region == "" {
			continue
		}
		why := fmt.Sprintf("the created VPC is isolated (no NAT gateway, no internet gateway) and VPC endpoints reach their own region only, "+
			"so the tasks would have no route to %s in %s. Deploy the stack in %s, or give ExistingVpc with subnets that route out (a NAT gateway)", r.what, r.region, r.region)
		switch {
		case !agnostic && *region != r.region:
			return bad(r.prop, "%s is not the stack's region %s: %s", r.region, *region, why)
		case agnostic && rules:
			awscdk.NewCfnRule(scope, jsii.String("SameRegionAs"+r.prop), &awscdk.CfnRuleProps{
				Assertions: &[]*awscdk.CfnRuleAssertion{{
					Assert:            awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), jsii.String(r.region)),
					AssertDescription: jsii.Sprintf("%s is %s, so this stack must be deployed in %s: %s.", r.prop, r.region, r.region, why),
				}},
			})
		}
	}
	return nil
}
