module github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/infra

go 1.25
