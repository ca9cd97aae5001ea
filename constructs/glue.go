package constructs

import (
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// DefaultProjectionStartDate is the first dt of the Glue table's partition projection.
const DefaultProjectionStartDate = "2025-01-01"

var notGlue = regexp.MustCompile(`[^a-z0-9_]`)

// dataLocation is where the files of the table land: <prefix><keyspace>/<table>/.
func dataLocation(bucket awss3.IBucket, s *settings) *string {
	return jsii.Sprintf("s3://%s/%s%s/%s/", *bucket.BucketName(), s.Prefix, s.Keyspace, s.Table)
}

// glueColumns follow the change event of every format. With json, keys/new_image/old_image
// are JSON text (the OpenX SerDe returns a nested object as its JSON when the column is a
// string): every CQL type keeps its exact value and a schema change needs no table change;
// query them with json_extract_scalar. created_at is the ISO-8601 text
// (from_iso8601_timestamp). With avro and parquet they are structs of the table's columns, and
// created_at is a timestamp (timestamp-millis; Parquet's TIMESTAMP(MILLIS, UTC)).
func glueColumns(s *settings) []*awsglue.CfnTable_ColumnProperty {
	col := func(name, typ, comment string) *awsglue.CfnTable_ColumnProperty {
		return &awsglue.CfnTable_ColumnProperty{Name: jsii.String(name), Type: jsii.String(typ), Comment: jsii.String(comment)}
	}
	image, keys, createdAt := "string", "string", "string"
	if s.tableSchema() {
		var all, key []string
		isKey := map[string]bool{}
		for _, k := range s.GlueTable.KeyColumns {
			isKey[k] = true
		}
		for _, c := range s.GlueTable.RowColumns {
			all = append(all, c.Name+":"+c.Type)
			if isKey[c.Name] {
				key = append(key, c.Name+":"+c.Type)
			}
		}
		image = "struct<" + strings.Join(all, ",") + ">"
		keys = image
		if len(key) > 0 {
			keys = "struct<" + strings.Join(key, ",") + ">"
		}
		createdAt = "timestamp"
	}
	return []*awsglue.CfnTable_ColumnProperty{
		col("keyspace", "string", "keyspace of the changed table"),
		col("table", "string", "changed table"),
		col("shard_id", "string", "stream shard of the record"),
		col("sequence_number", "string", "sequence number of the record in its shard"),
		col("created_at", createdAt, "UTC time of the change (ms)"),
		col("origin", "string", "USER, REPLICATION or TTL"),
		col("op", "string", "INSERT, UPDATE or DELETE (inferred from the images)"),
		col("keys", keys, "partition and clustering key columns"),
		col("new_image", image, "row after the change (null when absent)"),
		col("old_image", image, "row before the change (null when absent)"),
	}
}

// glueDatabase is the Glue database of that name, created once in the construct's scope and
// shared by the tables that name it.
func glueDatabase(this constructs.Construct, s *settings, sh *shared) awsglue.CfnDatabase {
	name := s.glueDatabaseName()
	if db, ok := sh.glueDBs[name]; ok {
		return db
	}
	id := "GlueDatabase"
	if s.id != "" && s.GlueTable.DatabaseName != "" {
		id += "-" + name // the default name keeps the one table's id
	}
	db := awsglue.NewCfnDatabase(this, jsii.String(id), &awsglue.CfnDatabaseProps{
		CatalogId: awscdk.Stack_Of(this).Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(name),
			Description: jsii.Sprintf("Changes of Amazon Keyspaces tables landed by keyspaces-cdc-s3 (stack %s)", s.stackName),
		},
	})
	sh.glueDBs[name] = db
	return db
}

func newGlueTable(this, scope constructs.Construct, s *settings, sh *shared) awsglue.CfnTable {
	g := s.GlueTable
	account := awscdk.Stack_Of(scope).Account()
	db := glueDatabase(this, s, sh)
	dbName, tableName := s.glueDatabaseName(), s.glueTableName()
	start := g.ProjectionStartDate
	if start == "" {
		start = DefaultProjectionStartDate
	}
	bucket := sh.storage.bucket
	location := dataLocation(bucket, s)
	params := map[string]*string{
		"classification":               jsii.String(s.Format),
		"projection.enabled":           jsii.String("true"),
		"projection.dt.type":           jsii.String("date"),
		"projection.dt.format":         jsii.String("yyyy-MM-dd"),
		"projection.dt.range":          jsii.Sprintf("%s,NOW", start),
		"projection.dt.interval":       jsii.String("1"),
		"projection.dt.interval.unit":  jsii.String("DAYS"),
		"projection.hr.type":           jsii.String("integer"),
		"projection.hr.range":          jsii.String("0,23"),
		"projection.hr.digits":         jsii.String("2"),
		"storage.location.template":    jsii.Sprintf("%sdt=${dt}/hr=${hr}/", *location),
		"has_encrypted_data":           jsii.String("false"),
		"keyspaces_cdc_s3.compression": jsii.String(s.Compression),
		"keyspaces_cdc_s3.key_layout":  jsii.String("<prefix><keyspace>/<table>/dt=YYYY-MM-DD/hr=HH/<shard>-<first>-<last>.<ext>"),
	}
	cols := glueColumns(s)
	sd := &awsglue.CfnTable_StorageDescriptorProperty{Location: location, Columns: &cols}
	switch s.Format {
	case "parquet":
		sd.InputFormat = jsii.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat")
		sd.OutputFormat = jsii.String("org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")
		sd.SerdeInfo = &awsglue.CfnTable_SerdeInfoProperty{
			SerializationLibrary: jsii.String("org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"),
		}
	case "avro":
		sd.InputFormat = jsii.String("org.apache.hadoop.hive.ql.io.avro.AvroContainerInputFormat")
		sd.OutputFormat = jsii.String("org.apache.hadoop.hive.ql.io.avro.AvroContainerOutputFormat")
		serde := &awsglue.CfnTable_SerdeInfoProperty{SerializationLibrary: jsii.String("org.apache.hadoop.hive.serde2.avro.AvroSerDe")}
		if g.AvroSchema != "" {
			serde.Parameters = map[string]any{"avro.schema.literal": g.AvroSchema}
		}
		sd.SerdeInfo = serde
	default:
		// Text input: Athena decompresses .gz and .zst files by their extension.
		sd.InputFormat = jsii.String("org.apache.hadoop.mapred.TextInputFormat")
		sd.OutputFormat = jsii.String("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat")
		sd.SerdeInfo = &awsglue.CfnTable_SerdeInfoProperty{
			SerializationLibrary: jsii.String("org.openx.data.jsonserde.JsonSerDe"),
			Parameters:           map[string]any{"ignore.malformed.json": "false", "case.insensitive": "false"},
		}
	}
	table := awsglue.NewCfnTable(scope, jsii.String("GlueTable"), &awsglue.CfnTableProps{
		CatalogId:    account,
		DatabaseName: jsii.String(dbName),
		TableInput: &awsglue.CfnTable_TableInputProperty{
			Name:              jsii.String(tableName),
			Description:       jsii.Sprintf("Changes of %s.%s (%s), partitioned by dt/hr of created_at", s.Keyspace, s.Table, s.Format),
			TableType:         jsii.String("EXTERNAL_TABLE"),
			Parameters:        params,
			StorageDescriptor: sd,
			PartitionKeys: &[]*awsglue.CfnTable_ColumnProperty{
				{Name: jsii.String("dt"), Type: jsii.String("string"), Comment: jsii.String("UTC date of created_at, yyyy-MM-dd")},
				{Name: jsii.String("hr"), Type: jsii.String("string"), Comment: jsii.String("UTC hour of created_at, HH")},
			},
		},
	})
	table.Node().AddDependency(db)
	return table
}
