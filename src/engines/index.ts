import type { Store } from '../store/index.ts';
import { isClickHouseUrl } from './clickhouse/clickhouse-url.ts';
import { clickhouse } from './clickhouse/index.ts';
import { duckdb } from './duckdb/index.ts';
import type { Engine } from './engine.ts';

/** The engine holding the store a `--store` names: a `clickhouse://` URL, or else a DuckDB file path. */
export function engineFor(location: string): Engine {
  return isClickHouseUrl(location) ? clickhouse : duckdb;
}

/** Opens the store at `location` for writing, with the engine that holds it. */
export async function openStore(location: string): Promise<Store> {
  return engineFor(location).openStore(location);
}

export { clickhouse } from './clickhouse/index.ts';
export { duckdb } from './duckdb/index.ts';
export type { SandboxLimits } from './duckdb/read-only-sql.ts';
export type { GuardedResult, SqlLimits } from './duckdb/sql-guard.ts';
export type { CompiledMetric, Engine, MetricShape, StoredTables } from './engine.ts';
