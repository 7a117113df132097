import { type MetricsFile, MetricsReader, type PrivacyBudget } from '../metrics/index.ts';
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

/**
 * Opens the store at `location` read-only and answers `file`'s metrics from it (k-anonymous, or
 * under differential privacy paid from `budget` when the store's policy says so).
 */
export async function openMetricsReader(
  location: string,
  file: MetricsFile,
  opts: { budget?: PrivacyBudget } = {},
): Promise<MetricsReader> {
  return MetricsReader.over(await engineFor(location).openReader(location), file, opts);
}

export { clickhouse } from './clickhouse/index.ts';
export { duckdb } from './duckdb/index.ts';
export type { CompiledMetric, Engine, MetricShape, StoredTables } from './engine.ts';
