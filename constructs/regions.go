package constructs

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// ValidateIn checks the props as Validate does, and also what depends on the stack the
// construct goes into (its name and region). Its error is a *ValidationError.
func (p *KeyspacesCdcToS3Props) ValidateIn(scope constructs.Construct) error {
	d, err := p.resolve(stackNameOf(scope))
	if err != nil {
		return err
	}
	return d.checkRegions(scope, false)
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
func (d *deployment) checkRegions(scope constructs.Construct, rules bool) error {
	region := awscdk.Stack_Of(scope).Region()
	agnostic := *awscdk.Token_IsUnresolved(region)
	s := d.shared()
	if s.ExistingBucket == nil && s.S3Region != "" && (agnostic || *region != s.S3Region) {
		return bad("S3Region", "needs ExistingBucket: a created bucket lives in the stack's region, and the stack's region is not %s", s.S3Region)
	}
	if !s.createVpc {
		return nil
	}
	var required *remoteRegion // the region every remote one must be, with the created VPC
	for i, t := range d.tables {
		for _, r := range []remoteRegion{{"S3Region", t.S3Region, "the bucket"}, {"KeyspacesRegion", t.KeyspacesRegion, "the table's stream"}} {
			if r.region == "" {
				continue
			}
			if d.multi && r.prop == "KeyspacesRegion" && t.KeyspacesRegion != s.KeyspacesRegion {
				r.prop = fmt.Sprintf("Tables[%d].KeyspacesRegion", i)
			}
			why := fmt.Sprintf("the created VPC is isolated (no NAT gateway, no internet gateway) and VPC endpoints reach their own region only, "+
				"so the tasks would have no route to %s in %s. Deploy the stack in %s, or give ExistingVpc with subnets that route out (a NAT gateway)", r.what, r.region, r.region)
			switch {
			case !agnostic && *region != r.region:
				return bad(r.prop, "%s is not the stack's region %s: %s", r.region, *region, why)
			case required != nil && required.region != r.region:
				return bad(r.prop, "%s is not %s (%s): one stack is in one region, and %s", r.region, required.prop, required.region, why)
			case agnostic && required == nil:
				required = &r
				if rules {
					awscdk.NewCfnRule(scope, jsii.String("SameRegionAs"+r.prop), &awscdk.CfnRuleProps{
						Assertions: &[]*awscdk.CfnRuleAssertion{{
							Assert:            awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), jsii.String(r.region)),
							AssertDescription: jsii.Sprintf("%s is %s, so this stack must be deployed in %s: %s.", r.prop, r.region, r.region, why),
						}},
					})
				}
			}
		}
	}
	return nil
}
