// End to end (slow): contribution bounding on both engines, over the same synced demo data. With
// bounds that bind only rows, DuckDB and ClickHouse give the same bounded answers; with one group
// per unit and period, every engine's groups add up to exactly one row per active unit and period.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clickhouse, duckdb } from '../src/engines/index.ts';
import { type MetricRow, type MetricsEngine, readMetricsFile } from '../src/metrics/index.ts';
import { runCli } from './helpers/cli.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { DEMO_METRICS, demoSyncArgs, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

let cluster: ClickHouseCluster;
let s: SyncedStore;
let engines: Array<[string, MetricsEngine]> = [];

beforeAll(async () => {
  [cluster, s] = await Promise.all([
    startClickHouseCluster(),
    syncedStore({ users: 300, days: 10, seed: 29 }),
  ]);
  const r = await runCli(demoSyncArgs(s, cluster.url));
  expect(r.code, r.stderr).toBe(0);
  engines = [
    ['duckdb', await duckdb.openReader(s.store)],
    ['clickhouse', await clickhouse.openReader(cluster.url)],
  ];
}, 600_000);

afterAll(async () => {
  for (const [, e] of engines) e.close();
  await cluster?.stop();
  await s?.db.drop();
});

const file = readMetricsFile(DEMO_METRICS);
const range = { from: Date.parse('2000-01-03T00:00:00Z'), to: Date.parse('2100-01-04T00:00:00Z') };
const normal = (rows: MetricRow[]) =>
  rows
    .map((r) =>
      r.map((v, i) =>
        i === 0
          ? String(v).slice(0, 10)
          : v === null
            ? null
            : typeof v === 'string' && Number.isNaN(Number(v))
              ? v
              : // Bounded counts are scaled sums of doubles, added in each engine's order.
                Math.round(Number(v) * 1e6) / 1e6,
      ),
    )
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

describe('contribution bounding on DuckDB and ClickHouse', () => {
  for (const metric of [
    'connection_attempts',
    'connection_failure_rate',
    'active_devices',
    'integration_adoption',
    'time_to_first_connection',
  ]) {
    it(`${metric}: the same bounded rows on both engines when only rows bind`, async () => {
      const def = file.metrics.get(metric)!;
      const by = [def.dimensions[0] as string];
      const bounds = { maxRows: 2, maxGroups: 1000, clamp: {} };
      const [duck, click] = await Promise.all(
        engines.map(([, e]) => e.metricRows(def, 'week', by, [], range, { bounds })),
      );
      expect(duck!.length).toBeGreaterThan(0);
      expect(normal(click!)).toEqual(normal(duck!));
    }, 120_000);
  }

  it('with one group per unit and period, the groups hold one row per active unit and period', async () => {
    const def = file.metrics.get('connection_attempts')!;
    const bounds = { maxRows: 1, maxGroups: 1, clamp: {} };
    for (const [name, e] of engines) {
      const rows = await e.metricRows(def, 'week', ['devices.product_model'], [], range, { bounds });
      const groups = rows.filter((r) => Number(r[r.length - 1]) === 0);
      const totals = rows.filter((r) => Number(r[r.length - 1]) === 1);
      const sum = groups.reduce((a, r) => a + Number(r[2]), 0);
      // period, d0, num, units0, is_total: a total's units are the distinct active units.
      const units = totals.reduce((a, r) => a + Number(r[3]), 0);
      expect(sum, name).toBe(units);
      expect(
        totals.reduce((a, r) => a + Number(r[2]), 0),
        name,
      ).toBe(units);
    }
  }, 120_000);

  it('a percentile histogram holds at most one value per unit, group and period with maxRows 1', async () => {
    const def = file.metrics.get('time_to_first_connection')!;
    const bounds = { maxRows: 1, maxGroups: 1, clamp: {} };
    for (const [name, e] of engines) {
      // period, d0, bucket, n, is_total; a NULL bucket carries the group's distinct units.
      const rows = await e.metricRows(def, 'week', ['product_model'], [], range, { bounds });
      const sum = (keep: (r: MetricRow) => boolean) =>
        rows.filter(keep).reduce((a, r) => a + Number(r[3]), 0);
      const inGroups = sum((r) => Number(r[4]) === 0 && r[2] !== null);
      const units = sum((r) => Number(r[4]) === 0 && r[2] === null);
      expect(inGroups, name).toBeGreaterThan(0);
      expect(inGroups, name).toBe(units);
      expect(
        sum((r) => Number(r[4]) === 1),
        name,
      ).toBe(inGroups);
      expect(rows.every((r) => r[2] === null || (Number(r[2]) >= 0 && Number(r[2]) < 64))).toBe(true);
    }
  }, 120_000);
});
