// Package iceberg keeps a Keyspaces table's change log in an Apache Iceberg table,
// <table>_changes: the Parquet format's columns, partitioned by day of created_at, written
// as Parquet files with Iceberg field ids (encode.ParquetOptions) and appended by commits
// whose snapshot summary records, per shard, the last sequence number committed. The table's
// snapshots are the truth about what is stored: a new owner of a shard reads them
// (ChangeTable.Committed) before it writes, and a commit carries, per shard, the sequence
// number its writer believes was committed last, so a commit from a writer that lost the
// shard to another is refused (ChangeTable.Commit).
package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/uptrace/bun/driver/sqliteshim"

	// The S3 file IO (s3:// locations) registers itself.
	_ "github.com/apache/iceberg-go/io/gocloud/s3"
)

// Catalogs.
const (
	CatalogGlue     = "glue"
	CatalogS3Tables = "s3tables"
	CatalogSQL      = "sql"
)

// CatalogConfig says which catalog holds the tables and where their files go.
type CatalogConfig struct {
	// Type is the catalog: CatalogGlue (the AWS Glue Data Catalog), CatalogS3Tables (Amazon
	// S3 Tables' Iceberg REST endpoint, SigV4 with signing name s3tables) or CatalogSQL (a
	// SQLite file; pure Go, no cgo).
	Type string
	// URI is the SQL catalog's database (a SQLite file path); for glue and s3tables, an
	// endpoint that replaces the region's.
	URI string
	// Warehouse is where new tables go: s3://bucket/prefix for glue and sql (a table's files
	// are under <warehouse>/<namespace>.db/<table>/), the table bucket's ARN for s3tables.
	Warehouse string
	// AWS holds the credentials and region of the S3 calls of the file IO.
	AWS aws.Config
	// S3Endpoint overrides the S3 endpoint (a local server: AWS_ENDPOINT_URL_S3); requests
	// then use path-style addressing.
	S3Endpoint string
}

// Catalog is an open catalog with what its tables' file IO needs.
type Catalog struct {
	catalog.Catalog
	cfg CatalogConfig
}

// OpenCatalog opens the catalog. Close releases it.
func OpenCatalog(ctx context.Context, cfg CatalogConfig) (*Catalog, error) {
	if _, _, err := SplitS3(cfg.Warehouse); err != nil && cfg.Type != CatalogS3Tables {
		return nil, fmt.Errorf("iceberg warehouse: %w", err)
	}
	props := map[string]string{"warehouse": strings.TrimSuffix(cfg.Warehouse, "/")}
	if cfg.AWS.Region != "" {
		props[iceio.S3Region] = cfg.AWS.Region
	}
	if cfg.S3Endpoint != "" {
		props[iceio.S3EndpointURL] = cfg.S3Endpoint
	}
	var cat catalog.Catalog
	var err error
	switch cfg.Type {
	case CatalogGlue:
		cat, err = openGlue(cfg, props)
	case CatalogS3Tables:
		cat, err = openS3Tables(ctx, cfg, props)
	case CatalogSQL:
		cat, err = openSQL(cfg, props)
	default:
		err = fmt.Errorf("iceberg catalog %q: allowed values are glue, s3tables, sql", cfg.Type)
	}
	if err != nil {
		return nil, err
	}
	return &Catalog{Catalog: cat, cfg: cfg}, nil
}

func openGlue(cfg CatalogConfig, props map[string]string) (catalog.Catalog, error) {
	awsCfg := cfg.AWS.Copy()
	if cfg.URI != "" {
		awsCfg.BaseEndpoint = &cfg.URI
	}
	cat, err := glue.NewCatalog(glue.WithAwsConfig(awsCfg), glue.WithAwsProperties(props))
	if err != nil {
		return nil, fmt.Errorf("iceberg catalog glue: %w", err)
	}
	return cat, nil
}

// openS3Tables opens S3 Tables' Iceberg REST endpoint of the region (or cfg.URI), signing
// with SigV4 as service s3tables; the warehouse is the table bucket's ARN.
func openS3Tables(ctx context.Context, cfg CatalogConfig, props map[string]string) (catalog.Catalog, error) {
	uri := cfg.URI
	if uri == "" {
		uri = "https://s3tables." + cfg.AWS.Region + ".amazonaws.com/iceberg"
	}
	cat, err := rest.NewCatalog(ctx, "s3tables", uri, rest.WithSigV4RegionSvc(cfg.AWS.Region, "s3tables"),
		rest.WithAwsConfig(cfg.AWS), rest.WithWarehouseLocation(cfg.Warehouse), rest.WithAdditionalProps(props))
	if err != nil {
		return nil, fmt.Errorf("iceberg catalog s3tables %s: %w", uri, err)
	}
	return cat, nil
}

// openSQL opens a SQLite file as the catalog, with WAL and a busy timeout on every pooled
// connection: several workers (processes) commit to one file.
func openSQL(cfg CatalogConfig, props map[string]string) (catalog.Catalog, error) {
	if cfg.URI == "" {
		return nil, errors.New("iceberg catalog sql: the SQLite file (URI) is required")
	}
	dsn := "file:" + cfg.URI + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open(sqliteshim.ShimName, dsn)
	if err != nil {
		return nil, fmt.Errorf("iceberg catalog sql %s: %w", cfg.URI, err)
	}
	cat, err := sqlcat.NewCatalog("keyspaces-cdc-s3", db, sqlcat.SQLite, props)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("iceberg catalog sql %s: %w", cfg.URI, err)
	}
	return &ownedDB{Catalog: cat, db: db}, nil
}

// Close releases the catalog (and its database).
func (c *Catalog) Close() error {
	if cl, ok := c.Catalog.(catalog.Closer); ok {
		return cl.Close()
	}
	return nil
}

// withAWS gives ctx the AWS configuration the file IO reads (iceberg-go loads a table's
// file IO lazily, with the context of the call that needs it).
func (c *Catalog) withAWS(ctx context.Context) context.Context {
	cfg := c.cfg.AWS.Copy()
	return utils.WithAwsConfig(ctx, &cfg)
}

// ownedDB closes the database the SQL catalog was given (NewCatalog leaves it open).
type ownedDB struct {
	*sqlcat.Catalog
	db *sql.DB
}

func (o *ownedDB) Close() error {
	return errors.Join(o.Catalog.Close(), o.db.Close())
}

// SplitS3 splits s3://bucket/key into the bucket and the key.
func SplitS3(uri string) (bucket, key string, err error) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/prefix location", uri)
	}
	return u.Host, strings.TrimPrefix(u.Path, "/"), nil
}

// Interpose returns the catalog with its calls made through inner, which normally wraps this
// catalog's own (c.Catalog): for tests that number or fail the catalog's calls. The tables
// inner loads, creates and commits must be inner's (table.New with inner as their catalog).
func (c *Catalog) Interpose(inner catalog.Catalog) *Catalog {
	return &Catalog{Catalog: inner, cfg: c.cfg}
}
