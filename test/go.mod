module github.com/keyspaces-cdc-s3/keyspaces-cdc-s3/test

go 1.25
