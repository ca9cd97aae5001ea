package constructs

import (
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3tables"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/config"
)

// Format iceberg (docs/iceberg.md): the consumer creates its tables (their schema comes from
// the Keyspaces table's definition, which only it reads), <table>_changes and <table>, in a
// namespace the construct creates, and the construct gives it exactly the catalog calls and
// the files of those two tables. Maintenance is the catalog's own: with glue the consumer
// turns on the Glue table optimizers, run as a role the construct creates
// (CDC_ICEBERG_OPTIMIZER_ROLE_ARN); S3 Tables maintains its tables by itself.

// IcebergWarehouseFolder is the folder of the glue catalog's warehouse under Prefix in the
// bucket: a table's files are under <Prefix>_iceberg/<namespace>.db/<table>/. It starts with
// '_' like _errors/ and _schemas/, so no keyspace's data folder can be it.
const IcebergWarehouseFolder = "_iceberg"

// Catalogs of format iceberg the construct deploys.
const (
	catalogGlue     = "glue"
	catalogS3Tables = "s3tables"
)

var (
	notTableBucket = regexp.MustCompile(`[^a-z0-9-]+`)
	s3TablesName   = regexp.MustCompile(`^[a-z0-9_]+$`)
)

// iceberg says whether the table's format is iceberg.
func (s *settings) iceberg() bool { return s.Format == formatIceberg }

// resolveIceberg checks and defaults the catalog and namespace of format iceberg (after the
// consumer's props are checked against their settings).
func (s *settings) resolveIceberg() error {
	if !s.iceberg() {
		switch {
		case s.IcebergCatalog != "":
			return bad("IcebergCatalog", "applies to Format iceberg only, not %s", s.Format)
		case s.IcebergNamespace != "":
			return bad("IcebergNamespace", "applies to Format iceberg only, not %s", s.Format)
		}
		return nil
	}
	if s.IcebergCatalog == "" {
		s.IcebergCatalog = config.Defaults().IcebergCatalog
	}
	if s.IcebergCatalog != catalogGlue && s.IcebergCatalog != catalogS3Tables {
		return bad("IcebergCatalog", "%q is not deployable: glue or s3tables (sql is a local SQLite file, for runs outside AWS)", s.IcebergCatalog)
	}
	if s.IcebergNamespace == "" {
		s.IcebergNamespace = strings.ToLower(s.Keyspace)
	}
	if ns, _ := config.Lookup("CDC_ICEBERG_NAMESPACE"); !ns.Pattern.MatchString(s.IcebergNamespace) {
		return bad("IcebergNamespace", "%q (the keyspace, lowercase) is not %s", s.IcebergNamespace, ns.Shape)
	}
	if s.IcebergCatalog == catalogS3Tables && !s3TablesName.MatchString(s.Table) {
		return bad("Table", "%q is not an S3 Tables table name (lowercase letters, digits, _): IcebergCatalog s3tables names its tables after it", s.Table)
	}
	if s.GlueTable != nil {
		return bad("GlueTable", "not with Format iceberg: the Iceberg tables are in the catalog already (Athena reads them there)")
	}
	return nil
}

// icebergTables are the names of the consumer's two tables: the change log and the mirror,
// as the consumer names them (consumer/iceberg).
func (s *settings) icebergTables() []string {
	return []string{s.Table + "_changes", s.Table}
}

// icebergShared are the catalog resources the tables share: Glue databases (in
// shared.glueDBs), the table bucket and its namespaces.
type icebergShared struct {
	tableBucket awss3tables.CfnTableBucket
	namespaces  map[string]awss3tables.CfnNamespace
}

// newIceberg creates what the table's format iceberg needs and returns the consumer's
// environment for it: the Glue database or the table bucket and namespace (shared), the task
// role's statements and, with glue, the optimizers' role. this is the construct, scope the
// table's.
func newIceberg(this, scope constructs.Construct, s *settings, sh *shared, role awsiam.Role) map[string]*string {
	env := map[string]*string{}
	if s.IcebergCatalog == catalogS3Tables {
		bucket := tableBucket(this, s, sh)
		ns := s3TablesNamespace(this, s, sh, bucket)
		grantS3Tables(role, s, bucket)
		role.Node().AddDependency(ns)
		env["CDC_ICEBERG_WAREHOUSE"] = bucket.AttrTableBucketArn()
		return env
	}
	db := icebergDatabase(this, s, sh)
	bucket := sh.storage.bucket
	optimizers := newOptimizerRole(scope, s, bucket)
	grantGlueCatalog(scope, role, s, bucket, optimizers)
	role.Node().AddDependency(db)
	env["CDC_ICEBERG_WAREHOUSE"] = jsii.Sprintf("s3://%s/%s%s", *bucket.BucketName(), s.Prefix, IcebergWarehouseFolder)
	env["CDC_ICEBERG_OPTIMIZER_ROLE_ARN"] = optimizers.RoleArn()
	return env
}

// icebergDatabase is the Glue database of the namespace, created once and shared by the
// tables (and Glue tables) that name it.
func icebergDatabase(this constructs.Construct, s *settings, sh *shared) awsglue.CfnDatabase {
	name := s.IcebergNamespace
	if db, ok := sh.glueDBs[name]; ok {
		return db
	}
	id := "IcebergDatabase"
	if s.id != "" {
		id += "-" + name
	}
	db := awsglue.NewCfnDatabase(this, jsii.String(id), &awsglue.CfnDatabaseProps{
		CatalogId: awscdk.Stack_Of(this).Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(name),
			Description: jsii.Sprintf("Apache Iceberg tables of Amazon Keyspaces changes kept by keyspaces-cdc-s3 (stack %s)", s.stackName),
		},
	})
	sh.glueDBs[name] = db
	return db
}

// glueArns are the Data Catalog, the database and the table's two Iceberg tables. Glue keeps
// table names in lowercase; a table name with capitals (a quoted CQL name) is named both ways,
// as the consumer's calls name it and as Glue stores it.
func glueArns(scope constructs.Construct, s *settings) []*string {
	stack := awscdk.Stack_Of(scope)
	prefix := "arn:" + *stack.Partition() + ":glue:" + *stack.Region() + ":" + *stack.Account() + ":"
	arns := []*string{jsii.String(prefix + "catalog"), jsii.String(prefix + "database/" + s.IcebergNamespace)}
	for _, t := range s.icebergTables() {
		arns = append(arns, jsii.String(prefix+"table/"+s.IcebergNamespace+"/"+strings.ToLower(t)))
		if t != strings.ToLower(t) {
			arns = append(arns, jsii.String(prefix+"table/"+s.IcebergNamespace+"/"+t))
		}
	}
	return arns
}

// icebergObjects are the key prefixes of the files of the table's two Iceberg tables (as
// iceberg-go places them: <warehouse>/<namespace>.db/<table>/).
func icebergObjects(s *settings) []string {
	var out []string
	for _, t := range s.icebergTables() {
		out = append(out, s.Prefix+IcebergWarehouseFolder+"/"+s.IcebergNamespace+".db/"+t+"/")
	}
	return out
}

// Catalog calls of the consumer through iceberg-go's Glue catalog: GetDatabase (the namespace
// exists; its properties), GetTable (load, and before each commit), CreateTable, UpdateTable
// (a commit: a new metadata location, with Glue's optimistic VersionId). Not granted:
// CreateDatabase (the construct creates it), GetTables (ListTables is never called),
// DeleteTable, GetDatabases.
var glueCatalogActions = []string{"glue:GetDatabase", "glue:GetTable", "glue:CreateTable", "glue:UpdateTable"}

// The consumer's calls for the optimizers (consumer/iceberg/optimizer.go).
var glueOptimizerActions = []string{"glue:CreateTableOptimizer", "glue:GetTableOptimizer", "glue:UpdateTableOptimizer"}

// Files of the tables: read metadata and manifests, write data, manifests and metadata, delete
// old metadata files (write.metadata.delete-after-commit), abort a failed multipart upload.
var icebergObjectActions = []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}

func grantGlueCatalog(scope constructs.Construct, role awsiam.Role, s *settings, bucket awss3.IBucket, optimizers awsiam.Role) {
	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &resources}
		if conditions != nil {
			props.Conditions = &conditions
		}
		role.AddToPolicy(awsiam.NewPolicyStatement(props))
	}
	arns := glueArns(scope, s)
	add("IcebergCatalog", glueCatalogActions, arns, nil)
	add("IcebergOptimizers", glueOptimizerActions, arns, nil)
	add("PassOptimizerRole", []string{"iam:PassRole"}, []*string{optimizers.RoleArn()},
		map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "glue.amazonaws.com"}})
	var objects []*string
	for _, p := range icebergObjects(s) {
		objects = append(objects, bucket.ArnForObjects(jsii.String(p+"*")))
	}
	add("IcebergFiles", icebergObjectActions, objects, nil)
}

// newOptimizerRole is the role Glue's table optimizers of the table run as (Glue: "Table
// optimization prerequisites"): the tables' files (compaction and retention write and delete
// them, orphan file deletion lists and deletes), GetTable and UpdateTable on the two tables,
// and the optimizers' own log groups.
func newOptimizerRole(scope constructs.Construct, s *settings, bucket awss3.IBucket) awsiam.Role {
	stack := awscdk.Stack_Of(scope)
	role := awsiam.NewRole(scope, jsii.String("IcebergOptimizerRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("glue.amazonaws.com"), nil),
		Description: jsii.Sprintf("Glue table optimizers of the Iceberg tables of %s.%s (keyspaces-cdc-s3)", s.Keyspace, s.Table),
	})
	add := func(sid string, actions []string, resources []*string, conditions map[string]any) {
		props := &awsiam.PolicyStatementProps{Sid: jsii.String(sid), Actions: jsii.Strings(actions...), Resources: &resources}
		if conditions != nil {
			props.Conditions = &conditions
		}
		role.AddToPolicy(awsiam.NewPolicyStatement(props))
	}
	var objects []*string
	var prefixes []any
	for _, p := range icebergObjects(s) {
		objects = append(objects, bucket.ArnForObjects(jsii.String(p+"*")))
		prefixes = append(prefixes, strings.TrimSuffix(p, "/"), p+"*")
	}
	add("TableFiles", []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, objects, nil)
	add("ListTableFiles", []string{"s3:ListBucket"}, []*string{bucket.BucketArn()},
		map[string]any{"StringLike": map[string]any{"s3:prefix": prefixes}})
	arns := glueArns(scope, s)
	add("Tables", []string{"glue:GetTable", "glue:UpdateTable"}, arns, nil)
	var logs []*string
	for _, kind := range []string{"compaction", "retention", "orphan-file-deletion"} {
		logs = append(logs, jsii.Sprintf("arn:%s:logs:%s:%s:log-group:/aws-glue/iceberg-%s/logs:*", *stack.Partition(), *stack.Region(), *stack.Account(), kind))
	}
	add("Logs", []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, logs, nil)
	if s.BucketEncryptionKey != nil {
		s.BucketEncryptionKey.Grant(role, jsii.String("kms:GenerateDataKey"), jsii.String("kms:Decrypt"))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The object ARNs are the folders of the table's two Iceberg tables only (compaction and retention rewrite and delete their files); " +
			"the log ARNs are the log streams of Glue's own optimizer log groups (/aws-glue/iceberg-<optimizer>/logs), which Glue names."),
		AppliesTo: &[]any{
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::(<[A-Za-z0-9.]+>|arn:<AWS::Partition>:s3:::[a-z0-9.-]+)\/.*_iceberg\/.*\*$/`)},
			cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:\/aws-glue\/iceberg-[a-z-]+\/logs:\*$/`)},
		},
	}}, jsii.Bool(true))
	return role
}

// tableBucket is the deployment's S3 table bucket, created once: unreferenced file removal
// on (S3 Tables' defaults: files no snapshot references are deleted after 3 days, noncurrent
// ones after 10); compaction and snapshot management are on for every table by default.
func tableBucket(this constructs.Construct, s *settings, sh *shared) awss3tables.CfnTableBucket {
	if sh.iceberg.tableBucket != nil {
		return sh.iceberg.tableBucket
	}
	name := strings.Trim(notTableBucket.ReplaceAllString(strings.ToLower(s.stackName+"-cdc"), "-"), "-")
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	b := awss3tables.NewCfnTableBucket(this, jsii.String("TableBucket"), &awss3tables.CfnTableBucketProps{
		TableBucketName:         jsii.String(name),
		UnreferencedFileRemoval: &awss3tables.CfnTableBucket_UnreferencedFileRemovalProperty{Status: jsii.String("Enabled")},
	})
	b.ApplyRemovalPolicy(removal(s), nil)
	sh.iceberg.tableBucket = b
	return b
}

func removal(s *settings) awscdk.RemovalPolicy {
	if s.BucketRemovalPolicyDestroy {
		return awscdk.RemovalPolicy_DESTROY
	}
	return awscdk.RemovalPolicy_RETAIN
}

// s3TablesNamespace is the namespace in the table bucket, created once per name.
func s3TablesNamespace(this constructs.Construct, s *settings, sh *shared, bucket awss3tables.CfnTableBucket) awss3tables.CfnNamespace {
	if ns, ok := sh.iceberg.namespaces[s.IcebergNamespace]; ok {
		return ns
	}
	id := "TableBucketNamespace"
	if s.id != "" {
		id += "-" + s.IcebergNamespace
	}
	ns := awss3tables.NewCfnNamespace(this, jsii.String(id), &awss3tables.CfnNamespaceProps{
		Namespace: jsii.String(s.IcebergNamespace), TableBucketArn: bucket.AttrTableBucketArn(),
	})
	ns.ApplyRemovalPolicy(removal(s), nil)
	sh.iceberg.namespaces[s.IcebergNamespace] = ns
	return ns
}

// S3 Tables' Iceberg REST endpoint authorizes each call by S3 Tables actions (S3 User Guide,
// "Accessing tables using the Amazon S3 Tables Iceberg REST endpoint"): getConfig is
// GetTableBucket, the namespace's HEAD and GET are GetNamespace, createTable is CreateTable
// and PutTableData, loadTable is GetTableMetadataLocation and GetTableData, updateTable
// (a commit) is UpdateTableMetadataLocation, GetTableData and PutTableData; the data files are
// read and written through S3 under GetTableData and PutTableData. Not granted: namespace and
// table creation outside the namespace, listing, deletion, renames, policies, maintenance.
var (
	s3TablesBucketActions = []string{"s3tables:GetTableBucket", "s3tables:GetNamespace"}
	s3TablesTableActions  = []string{
		"s3tables:GetTable", "s3tables:GetTableMetadataLocation", "s3tables:UpdateTableMetadataLocation",
		"s3tables:GetTableData", "s3tables:PutTableData",
	}
)

func grantS3Tables(role awsiam.Role, s *settings, bucket awss3tables.CfnTableBucket) {
	names := make([]any, 0, 2)
	for _, t := range s.icebergTables() {
		names = append(names, t)
	}
	arn := bucket.AttrTableBucketArn()
	statements := []*awsiam.PolicyStatementProps{
		{Sid: jsii.String("IcebergCatalog"), Actions: jsii.Strings(s3TablesBucketActions...), Resources: &[]*string{arn}},
		{Sid: jsii.String("IcebergCreateTables"), Actions: jsii.Strings("s3tables:CreateTable"), Resources: &[]*string{arn},
			Conditions: &map[string]any{"StringEquals": map[string]any{"s3tables:namespace": s.IcebergNamespace}}},
		{Sid: jsii.String("IcebergTables"), Actions: jsii.Strings(s3TablesTableActions...), Resources: &[]*string{jsii.Sprintf("%s/table/*", *arn)},
			Conditions: &map[string]any{"StringEquals": map[string]any{"s3tables:namespace": s.IcebergNamespace, "s3tables:tableName": names}}},
	}
	for _, st := range statements {
		role.AddToPolicy(awsiam.NewPolicyStatement(st))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("S3 Tables names a table's ARN by its id, which exists only once the consumer created the table: table/* of the deployment's " +
			"table bucket, narrowed by the conditions s3tables:namespace and s3tables:tableName to the table's two Iceberg tables."),
		AppliesTo: &[]any{cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<[A-Za-z0-9.]+>\/table\/\*$/`)}},
	}}, jsii.Bool(true))
}
