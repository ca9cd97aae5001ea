module github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/infra

go 1.25.0

require (
	github.com/aws/aws-cdk-go/awscdk/v2 v2.270.0
	github.com/aws/constructs-go/constructs/v10 v10.6.0
	github.com/aws/jsii-runtime-go v1.139.0
	github.com/cdklabs/cdk-nag-go/cdknag/v2 v2.35.0
	github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer v0.0.0
	github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs v0.0.0
)

require (
	github.com/Masterminds/semver/v3 v3.5.0 // indirect
	github.com/cdklabs/awscdk-asset-awscli-go/awscliv1/v2 v2.2.292 // indirect
	github.com/cdklabs/awscdk-asset-node-proxy-agent-go/nodeproxyagentv6/v2 v2.1.2 // indirect
	github.com/cdklabs/cloud-assembly-schema-go/awscdkcloudassemblyschema/v54 v54.11.0 // indirect
)

// The pinned CDK CLI (npm) ships Go templates that are not Go packages.
ignore ./node_modules

// The construct and consumer/config (the table of settings) are this repository's own
// modules (joined by go.work); the replaces make it build without go.work too.
replace github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/constructs => ../constructs

replace github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer => ../consumer
