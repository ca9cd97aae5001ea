// Runs one SQL statement with DuckDB (npm @duckdb/node-api, pinned in test/package.json) and
// prints the rows as a JSON array of objects, for tests that read Parquet files with a
// reader nobody here wrote: node test/duckdb/read.mjs "SELECT ... FROM read_parquet('f')".
//
// Values are DuckDB's JSON forms: BIGINT and wider integers as strings (exact), TIMESTAMP
// WITH TIME ZONE and DATE as ISO text, BLOB as text with \x escapes, LIST as an array,
// STRUCT as an object, MAP as an array of {key, value}.
import { DuckDBInstance } from '@duckdb/node-api';

const sql = process.argv[2];
if (!sql) {
  console.error('usage: node read.mjs SQL');
  process.exit(2);
}
const instance = await DuckDBInstance.create(':memory:');
const conn = await instance.connect();
try {
  const reader = await conn.runAndReadAll(sql);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()) + '\n');
} catch (err) {
  console.error(String(err && err.message ? err.message : err));
  process.exitCode = 1;
} finally {
  conn.closeSync();
  instance.closeSync();
}
