import { FvError } from '../../errors/index.ts';
import type { Engine } from '../engine.ts';
import { requireReadOnlyClickHouseUser } from './clickhouse-read-settings.ts';
import { ClickHouseMetricsEngine } from './clickhouse-reader.ts';
import { ClickHouseStore } from './clickhouse-store.ts';
import { compileClickHouseMetric } from './compile-clickhouse.ts';

/** ClickHouse: one server or a cluster, named by a `clickhouse://` URL. */
export const clickhouse: Engine = {
  name: 'clickhouse',
  openStore: (url) => ClickHouseStore.open(url),
  openReader: (url) => ClickHouseMetricsEngine.open(url, clickhouse.compile),
  compile: (def, shape, tables, opts) => ({
    ...compileClickHouseMetric(def, shape.grain, shape.by, shape.filters, shape.range, tables, opts),
    params: [],
  }),
  async sql(url, text, limits) {
    const reader = await ClickHouseMetricsEngine.open(url, clickhouse.compile);
    try {
      return await reader.sql(text, limits);
    } finally {
      reader.close();
    }
  },
  files: () => [],
  async checkServing(url, scheduledSync) {
    // Least privilege: the process that answers requests holds no write access to the store.
    if (scheduledSync) {
      throw new FvError(
        'FV_USAGE',
        'on ClickHouse, serve reads as a read-only user and does not sync: run `fleetvault sync` with the writer user on its own schedule (ClickHouse takes its writes while serve reads)',
      );
    }
    await requireReadOnlyClickHouseUser(url);
  },
};

export { metricReadSettings } from './clickhouse-read-settings.ts';
export { ROLLUP_DIRTY, rollupMeta } from './clickhouse-rollups.ts';
export { ClickHouseStore, layoutMeta, readableTable, unsettledMeta } from './clickhouse-store.ts';
export { parseClickHouseUrl } from './clickhouse-url.ts';
export { CLICKHOUSE_LIMITS, encoders } from './clickhouse-values.ts';
