// The reader under differential privacy, on a small DuckDB store file recorded as a sync under a
// policy with a privacy section records it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { PrivacyBudget, parseMetrics } from '../../metrics/index.ts';
import { openMetricsReader } from '../index.ts';

const FILE = parseMetrics(
  `version: 1
privacy_unit: user
metrics:
  activations:
    description: Devices activated
    from: devices
    unit: user_id
    time: activated_at
    measure: { count: rows }
    dimensions: [product_model]
  wait:
    description: Time waited
    from: devices
    unit: user_id
    time: activated_at
    measure: { sum: wait_s }
    dimensions: [product_model]
  delay:
    description: Delay percentiles
    from: devices
    unit: user_id
    time: activated_at
    measure: { percentiles: [0.5, 0.9], of: delay_s }
    dimensions: [product_model]
  wait_p:
    description: Wait percentiles
    from: devices
    unit: user_id
    time: activated_at
    measure: { percentiles: [0.5], of: wait_s }
    dimensions: [product_model]
`,
  'dp-reader.metrics.yaml',
);
const DP = {
  model: 'differential_privacy',
  epsilon: 2,
  delta: 1e-6,
  window: 'day',
  epsilonPerAnswer: 1,
  maxRows: 1,
  maxGroups: 1,
  clamp: { 'devices.delay_s': [0, 64] },
};

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fv-dp-reader-'));
  const i = await DuckDBInstance.create(join(dir, 'store.duckdb'));
  const c = await i.connect();
  // 500 users activated in the week of 2026-11-02, nobody in the week of 2026-11-09.
  await c.run(`CREATE TABLE devices AS SELECT i AS id, i AS user_id, 'cam' AS product_model, 30 AS wait_s,
    i % 60 AS delay_s,
    TIMESTAMPTZ '2026-11-03 10:00:00+00' AS activated_at FROM range(500) t(i)`);
  await c.run(
    `CREATE TABLE _fv_meta AS SELECT * FROM (VALUES ('k', '10'), ('privacy', '${JSON.stringify(DP)}')) t(key, value)`,
  );
  await c.run("CREATE TABLE _fv_tables AS SELECT 'devices' AS name, '[]' AS columns");
  c.closeSync();
  i.closeSync();
});

describe('the metrics reader under differential privacy', () => {
  it('gives every period of the range a noised total, an empty one too', async () => {
    const reader = await openMetricsReader(join(dir, 'store.duckdb'), FILE);
    try {
      expect(reader.privacy.model).toBe('differential_privacy');
      const a = await reader.query({
        metric: 'activations',
        grain: 'week',
        from: '2026-11-02',
        to: '2026-11-15',
      });
      expect(a.totals.map((t) => t.period)).toEqual(['2026-11-02', '2026-11-09']);
      expect(a.privacy).toMatchObject({ model: 'differential_privacy', epsilon: 1, delta: 5e-7 });
      const [full, empty] = a.totals as [(typeof a.totals)[0], (typeof a.totals)[0]];
      // One unit, one row, two periods: noise of scale 2 · (1 + 1) / 1 = 4.
      expect(Math.abs(Number(full.values.value) - 500)).toBeLessThan(150);
      expect(Math.abs(Number(empty.values.value))).toBeLessThan(150);
    } finally {
      reader.close();
    }
  });

  it('answers percentiles from a noised histogram over the clamp bounds, with intervals', async () => {
    const reader = await openMetricsReader(join(dir, 'store.duckdb'), FILE);
    try {
      const a = await reader.query({
        metric: 'delay',
        grain: 'week',
        by: ['product_model'],
        from: '2026-11-02',
        to: '2026-11-08',
      });
      expect(a.outputs).toEqual(['p50', 'p90']);
      const [total] = a.totals as [(typeof a.totals)[0]];
      const [group] = a.groups as [(typeof a.groups)[0]];
      // 500 values 0…59 (each about 8 times), one per unit: the exact median is 29, p90 53.
      // Buckets are 1 wide; noise of scale 3 per bucket (ε 1/3) moves a cumulative count by about
      // 25 values (3 buckets) in one standard deviation: 15 buckets off is beyond 5 of them.
      expect(Math.abs(Number(total.values.p50) - 29.5)).toBeLessThanOrEqual(15);
      expect(Math.abs(Number(total.values.p90) - 53.5)).toBeLessThanOrEqual(15);
      const intervals = (total as unknown as { intervals: Record<string, [number, number]> }).intervals;
      for (const o of ['p50', 'p90']) {
        const [lo = Number.NaN, hi = Number.NaN] = intervals[o] ?? [];
        expect(0 <= lo && lo < hi && hi <= 64, `${o} interval ${lo}..${hi}`).toBe(true);
      }
      // 500 units in the one group: released (the threshold is a few dozen).
      expect(group.suppressed).toBe('none');
      expect(group.units).toBeNull();
      await expect(reader.query({ metric: 'wait_p', grain: 'week' })).rejects.toMatchObject({
        code: 'FV_PRIVACY_UNSUPPORTED',
        message: expect.stringContaining('no clamp bounds'),
      });
    } finally {
      reader.close();
    }
  });

  it('refuses a sum without clamp bounds before querying, and any answer nobody pays for', async () => {
    const budget = new PrivacyBudget(join(dir, 'budget.json'));
    const reader = await openMetricsReader(join(dir, 'store.duckdb'), FILE, { budget });
    try {
      await expect(
        reader.query({ metric: 'wait', grain: 'week' }, { principal: 'user:a' }),
      ).rejects.toMatchObject({
        code: 'FV_PRIVACY_UNSUPPORTED',
      });
      await expect(reader.query({ metric: 'activations', grain: 'week' })).rejects.toMatchObject({
        code: 'FV_PRIVACY_UNSUPPORTED',
      });
      expect((await reader.budgetOf('user:a'))?.remaining).toBe(2);
    } finally {
      reader.close();
    }
  });
});
