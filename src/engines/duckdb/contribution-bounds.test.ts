// Contribution bounding in the compiled DuckDB SQL: each unit adds at most max_rows rows to a
// group of a period and reaches at most max_groups groups of a period; sums are clamped per unit.
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventMetrics } from '../../../test/helpers/event-metrics.ts';
import type { MetricRow } from '../../metrics/index.ts';
import { compileMetric } from './compile-duckdb.ts';

const FILE = eventMetrics(
  [
    ['attempts', '{ count: rows }'],
    ['devices_seen', '{ count_distinct: device_id }'],
    ['users_seen', '{ count_distinct: devices.user_id }'],
    ['wait', '{ sum: duration_ms }'],
    ['fail_rate', '{ ratio: [ { count: rows, where: { outcome: fail } }, { count: rows } ] }'],
  ],
  ['devices.product_model'],
  'bounds.metrics.yaml',
);

const BOUNDS = { maxRows: 2, maxGroups: 2, clamp: { 'connection_events.duration_ms': [0, 100] as const } };
const RANGE = ['2026-01-05T00:00:00Z', '2026-01-12T00:00:00Z'];

describe('contribution bounding in DuckDB SQL', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    db = await instance.connect();
    await db.run("SET TimeZone = 'UTC'");
    // User 1: six devices in four products, 30 events each (a heavy user); users 2–4: one cam each.
    await db.run(`CREATE TABLE devices AS
      SELECT i AS id, 1 AS user_id, ['cam', 'plug', 'lamp', 'bulb'][1 + i % 4] AS product_model FROM range(6) t(i)
      UNION ALL SELECT 10 + i, 2 + i, 'cam' FROM range(3) t(i)`);
    await db.run(`CREATE TABLE connection_events AS
      SELECT d.id AS device_id, TIMESTAMPTZ '2026-01-06 10:00:00+00' + to_microseconds(j * 1000000) AS ts,
        CASE WHEN j % 3 = 0 THEN 'fail' ELSE 'success' END AS outcome, 5000 AS duration_ms
      FROM devices d, range(30) t(j)`);
  });
  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  const run = async (metric: string, bounded: boolean): Promise<MetricRow[]> => {
    const def = FILE.metrics.get(metric)!;
    const c = compileMetric(def, 'week', ['devices.product_model'], [], bounded ? { bounds: BOUNDS } : {});
    return (await db.runAndReadAll(c.sql, [...RANGE, ...c.params])).getRowsJson() as MetricRow[];
  };
  const byGroup = (rows: MetricRow[], col: number) =>
    Object.fromEntries(rows.map((r) => [r[r.length - 1] === 1 ? 'total' : String(r[1]), Number(r[col])]));

  it('caps the rows per unit, group and period, and the groups per unit and period', async () => {
    expect(byGroup(await run('attempts', false), 2)).toEqual({
      cam: 150,
      plug: 60,
      lamp: 30,
      bulb: 30,
      total: 270,
    });
    const bounded = byGroup(await run('attempts', true), 2);
    // User 1 keeps two of its four groups, two rows in each; the three cam users two rows each.
    expect(bounded.total).toBe(2 * 2 + 3 * 2);
    const heavy = Object.entries(bounded).filter(([g]) => g !== 'total');
    expect(heavy.reduce((s, [, v]) => s + v, 0)).toBe(10);
    for (const [g, v] of heavy) expect(v).toBeLessThanOrEqual(g === 'cam' ? 8 : 2);
  });

  it('caps the distinct values a unit adds (extra keys) and counts each unit once', async () => {
    const devices = byGroup(await run('devices_seen', true), 2);
    expect(devices.total).toBeLessThanOrEqual(2 * 2 + 3);
    const users = byGroup(await run('users_seen', true), 2);
    expect(users.total).toBe(4);
  });

  it("clamps a unit's sum to max_rows × the clamp bounds", async () => {
    const wait = byGroup(await run('wait', true), 2);
    // Each unit: at most 2 rows' worth of values clamped to [0, 100] per group, in two groups.
    expect(wait.total).toBe(2 * 2 * 100 + 3 * 2 * 100);
  });

  it("gives a ratio's numerator and denominator apart, both bounded", async () => {
    const rows = await run('fail_rate', true);
    const total = rows.find((r) => r[r.length - 1] === 1)!;
    // period, d0, num, den, units0, units1, is_total
    expect(total.length).toBe(7);
    expect(Number(total[3])).toBe(10);
    expect(Number(total[2])).toBeLessThanOrEqual(10);
  });
});
