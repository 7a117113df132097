export { DuckDbStore } from './duckdb/duckdb-store.ts';
export { readOnlySql, type SqlResult } from './duckdb/read-only-sql.ts';
export { checkSql, type GuardedResult, guardedSql, type SqlLimits } from './duckdb/sql-guard.ts';
export type { Store, StoreColumn, StoreTableSpec, TableState, TableWriter, WriteMode } from './store.ts';
