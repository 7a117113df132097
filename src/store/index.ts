export { ClickHouseNode, clickHouseEntry, describeClickHouseError } from './clickhouse/clickhouse-node.ts';
export {
  limitHit,
  limitMessage,
  METRIC_READ_LIMITS,
  metricMemoryBytes,
  metricReadSettings,
  type ReadonlyLevel,
  readonlyLevel,
  requireReadOnlyClickHouseUser,
} from './clickhouse/clickhouse-read-settings.ts';
export { clickHouseGuardedSql } from './clickhouse/clickhouse-sql.ts';
export { ClickHouseStore, readableTable } from './clickhouse/clickhouse-store.ts';
export { isClickHouseUrl, parseClickHouseUrl } from './clickhouse/clickhouse-url.ts';
export { DuckDbStore } from './duckdb/duckdb-store.ts';
export { readOnlySql, SANDBOX_DEFAULTS, type SandboxLimits } from './duckdb/read-only-sql.ts';
export {
  checkPlan,
  checkSql,
  type GuardDialect,
  type GuardedResult,
  guardedSql,
  lockForAnalysts,
  type SqlLimits,
} from './duckdb/sql-guard.ts';
export { ingestedRows, ingestedRowsError, ingestedRowsMeta } from './ingested-rows.ts';
export { openStore } from './open-store.ts';
export type { Store, StoreColumn, StoreTableSpec, TableState, TableWriter, WriteMode } from './store.ts';
export {
  rowChecker,
  type ValueCheck,
  type ValueLimits,
  type ValueProblem,
} from './value-limits.ts';
