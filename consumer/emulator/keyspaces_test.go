package emulator_test

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces"
	"github.com/aws/aws-sdk-go-v2/service/keyspaces/types"
	"github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/consumer/emulator"
)

// TestKeyspacesSDKReadsSchema points the real aws-sdk-go-v2 keyspaces client at the emulator.
func TestKeyspacesSDKReadsSchema(t *testing.T) {
	emu, _, url := start(t, emulator.Config{}, 1)
	arn, err := emu.CreateStream(emulator.StreamSpec{Keyspace: "media", Table: "media_content", ViewType: "NEW_IMAGE"})
	if err != nil {
		t.Fatal(err)
	}
	ks := keyspaces.NewFromConfig(awsConfig(1), func(o *keyspaces.Options) { o.BaseEndpoint = aws.String(url) })
	ctx := context.Background()

	tbl, err := ks.GetTable(ctx, &keyspaces.GetTableInput{KeyspaceName: aws.String("media"), TableName: aws.String("media_content")})
	if err != nil {
		t.Fatal(err)
	}
	want := emulator.MediaContent()
	def := tbl.SchemaDefinition
	if def == nil || len(def.AllColumns) != len(want.Columns) || aws.ToString(tbl.LatestStreamArn) != arn || tbl.Status != types.TableStatusActive {
		t.Fatalf("GetTable: %+v", tbl)
	}
	for i, col := range def.AllColumns {
		if aws.ToString(col.Name) != want.Columns[i].Name || aws.ToString(col.Type) != want.Columns[i].Type {
			t.Errorf("column %d: %s %s, want %+v", i, aws.ToString(col.Name), aws.ToString(col.Type), want.Columns[i])
		}
	}
	if len(def.PartitionKeys) != 2 || aws.ToString(def.PartitionKeys[1].Name) != "content_id" ||
		len(def.ClusteringKeys) != 2 || def.ClusteringKeys[1].OrderBy != types.SortOrderDesc ||
		len(def.StaticColumns) != 1 || aws.ToString(def.StaticColumns[0].Name) != "owner" {
		t.Fatalf("keys: %+v", def)
	}
	if tbl.CdcSpecification == nil || tbl.CdcSpecification.ViewType != types.ViewTypeNewImage || tbl.CreationTimestamp == nil {
		t.Fatalf("cdc specification %+v, created %v", tbl.CdcSpecification, tbl.CreationTimestamp)
	}

	typ, err := ks.GetType(ctx, &keyspaces.GetTypeInput{KeyspaceName: aws.String("media"), TypeName: aws.String("license")})
	if err != nil {
		t.Fatal(err)
	}
	if len(typ.FieldDefinitions) != 4 || aws.ToString(typ.FieldDefinitions[3].Type) != "frozen<tuple<date, date>>" || typ.Status != types.TypeStatusActive {
		t.Fatalf("GetType: %+v", typ)
	}

	_, err = ks.GetTable(ctx, &keyspaces.GetTableInput{KeyspaceName: aws.String("media"), TableName: aws.String("nope")})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("unknown table: %v, want a ResourceNotFoundException", err)
	}
	_, err = ks.GetType(ctx, &keyspaces.GetTypeInput{KeyspaceName: aws.String("media"), TypeName: aws.String("nope")})
	if !errors.As(err, &nf) {
		t.Fatalf("unknown type: %v, want a ResourceNotFoundException", err)
	}

	// denySchema: both calls are refused as for a role without cassandra:Select.
	if err := emu.SetFaults(emulator.Faults{DenySchema: true}); err != nil {
		t.Fatal(err)
	}
	var denied *types.AccessDeniedException
	_, err = ks.GetTable(ctx, &keyspaces.GetTableInput{KeyspaceName: aws.String("media"), TableName: aws.String("media_content")})
	if !errors.As(err, &denied) {
		t.Fatalf("GetTable with denySchema: %v, want an AccessDeniedException", err)
	}
	_, err = ks.GetType(ctx, &keyspaces.GetTypeInput{KeyspaceName: aws.String("media"), TypeName: aws.String("license")})
	if !errors.As(err, &denied) {
		t.Fatalf("GetType with denySchema: %v, want an AccessDeniedException", err)
	}
}
