import { ClickHouseStore } from './clickhouse/clickhouse-store.ts';
import { isClickHouseUrl } from './clickhouse/clickhouse-url.ts';
import { DuckDbStore } from './duckdb/duckdb-store.ts';
import type { Store } from './store.ts';

/** Opens the store a `--store` names: a `clickhouse://` URL, or else a DuckDB file path. */
export async function openStore(location: string): Promise<Store> {
  return isClickHouseUrl(location) ? ClickHouseStore.open(location) : DuckDbStore.open(location);
}
