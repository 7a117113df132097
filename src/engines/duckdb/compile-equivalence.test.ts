// The compiler's rewrites (integer periods, one row per unit before grouping) must not change a
// single answer: every measure kind, grain and option, over random data with NULLs, repeated
// users, several time types and times before 1970, against the compiler kept from before them
// (test/helpers/legacy-compile.ts). Where they differ, one is wrong.
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventMetricsYaml } from '../../../test/helpers/event-metrics.ts';
import { legacyCompileMetric } from '../../../test/helpers/legacy-compile.ts';
import {
  firstAfterRollup,
  GRAINS,
  type Grain,
  type MetricDefinition,
  type MetricRow,
  parseMetrics,
  rollupEligible,
  rollupsOf,
} from '../../metrics/index.ts';
import { compileMetric, rollupSelect } from './compile-duckdb.ts';

const FILE = parseMetrics(
  'version: 1\nprivacy_unit: user\nmetrics:\n' +
    eventMetricsYaml(
      [
        ['attempts', '{ count: rows }'],
        ['failures', '{ count: rows, where: { outcome: fail } }'],
        ['failing_devices', '{ count_distinct: device_id, where: { outcome: fail } }'],
        ['failing_users', '{ count_distinct: devices.user_id, where: { outcome: [fail, retry] } }'],
        ['wait', '{ sum: duration_ms, where: { outcome: fail } }'],
        ['all_wait', '{ sum: duration_ms }'],
        ['signal', '{ avg: rssi }'],
        ['fail_signal', '{ avg: rssi, where: { outcome: fail } }'],
        ['fail_rate', '{ ratio: [ { count: rows, where: { outcome: fail } }, { count: rows } ] }'],
        [
          'tls_share',
          '{ ratio: [ { count: rows, where: { error_code: E_TLS } }, { count: rows, where: { outcome: fail } } ] }',
        ],
        [
          'device_share',
          '{ ratio: [ { count_distinct: device_id, where: { outcome: fail } }, { count_distinct: device_id } ] }',
        ],
        ['wait_per_user', '{ ratio: [ { sum: duration_ms }, { count_distinct: devices.user_id } ] }'],
        ['duration', '{ percentiles: [0.5, 0.9], of: duration_ms }'],
      ],
      ['outcome', 'error_code', 'devices.product_model', 'devices.region'],
    ) +
    `  activations:
    from: devices
    unit: user_id
    time: activated_at
    measure: { count: rows }
    dimensions: [product_model, region]
  first_success:
    from: devices
    unit: user_id
    time: activated_at
    measure:
      percentiles: [0.5]
      of: { first_after: { table: connection_events, on: [id, device_id], time: ts, where: { outcome: success } } }
    dimensions: [product_model, region]
  linked:
    from: integrations
    unit: user_id
    time: linked_on
    measure: { count_distinct: user_id }
    dimensions: [provider]
`,
  'equivalence.metrics.yaml',
);

/** A random store (seeded): NULLs in every column, few users with many devices, three time types. */
async function randomStore(db: DuckDBConnection, seed: number): Promise<void> {
  await db.run(`SELECT setseed(${seed})`);
  for (const t of ['devices', 'connection_events', 'integrations']) await db.run(`DROP TABLE IF EXISTS ${t}`);
  await db.run(`CREATE TABLE devices AS SELECT i AS id,
      CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 60)::INTEGER END AS user_id,
      ['cam', 'plug', 'lamp', NULL][1 + (random() * 3.999)::INTEGER // 1] AS product_model,
      ['eu', 'us', NULL][1 + (random() * 2.999)::INTEGER // 1] AS region,
      TIMESTAMP '1969-12-20' + to_microseconds((random() * 86400e6 * 120)::BIGINT) AS activated_at
    FROM range(200) t(i)`);
  await db.run(`CREATE TABLE connection_events AS SELECT i AS id, (random() * 210)::INTEGER AS device_id,
      TIMESTAMPTZ '1969-12-15 00:00:00+00' + to_microseconds((random() * 86400e6 * 130)::BIGINT) AS ts,
      ['success', 'fail', 'retry', NULL][1 + (random() * 3.999)::INTEGER // 1] AS outcome,
      ['E_TLS', 'E_DNS', NULL][1 + (random() * 2.999)::INTEGER // 1] AS error_code,
      CASE WHEN random() < 0.2 THEN NULL ELSE (random() * -90)::INTEGER END AS rssi,
      CASE WHEN random() < 0.2 THEN NULL ELSE (random() * 5000)::INTEGER END AS duration_ms
    FROM range(4000) t(i)`);
  await db.run(`CREATE TABLE integrations AS SELECT
      CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 60)::INTEGER END AS user_id,
      ['alexa', 'ifttt', NULL][1 + (random() * 2.999)::INTEGER // 1] AS provider,
      DATE '1969-12-01' + (random() * 150)::INTEGER AS linked_on
    FROM range(300) t(i)`);
}

interface Comparison {
  def: MetricDefinition;
  grain: Grain;
  by: string[];
  filters: Array<[string, string[]]>;
  opts: object;
}

/** Every metric by every grain by eight groupings, filters and options. */
function comparisons(): Comparison[] {
  const out: Comparison[] = [];
  for (const def of FILE.metrics.values()) {
    const d0 = def.dimensions[0] as string;
    const d1 = def.dimensions[1] ?? d0;
    const dn = def.dimensions[def.dimensions.length - 1] as string;
    for (const grain of GRAINS) {
      const cases: Array<[string[], Array<[string, string[]]>, object]> = [
        [[], [], {}],
        [[d0], [], {}],
        [[...new Set([d0, d1])], [], {}],
        [[d1], [[d0, ['cam', 'fail', 'alexa', 'E_TLS']]], {}],
        [[d1], [[d0, ['cam', 'fail', 'alexa', 'E_TLS']]], { pieces: true }],
        [[d0], [[dn, ['eu', 'cam', 'ifttt']]], {}],
        [[d0], [[dn, ['eu', 'cam', 'ifttt']]], { pieces: true }],
        [[...new Set([d0, d1])], [], { unitsOnly: true }],
      ];
      for (const [by, filters, opts] of cases) out.push({ def, grain, by, filters, opts });
    }
  }
  return out;
}

/**
 * How many comparisons each seed runs: all of them (`npm test`), or FV_PROPERTY_RUNS, which
 * `npm run test:unit` sets (vitest.unit.config.ts) so the quick run stays quick.
 */
function propertyRuns(): number {
  const runs = Number(process.env.FV_PROPERTY_RUNS);
  return Number.isInteger(runs) && runs > 0 ? runs : Number.POSITIVE_INFINITY;
}

/** About `n` of the comparisons, spread so the sample still meets every grain and case shape. */
function sample(all: Comparison[], n: number): Comparison[] {
  if (n >= all.length) return all;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  let stride = Math.ceil(all.length / n);
  while (gcd(stride, 8 * GRAINS.length) !== 1) stride++;
  return all.filter((_, i) => i % stride === 0);
}

const RANGE = ['1969-12-01T00:00:00.000Z', '1970-05-01T00:00:00.000Z'];

async function rows(
  db: DuckDBConnection,
  c: { sql: string; params: readonly string[] },
  range: readonly string[] = RANGE,
): Promise<MetricRow[]> {
  return (await db.runAndReadAll(c.sql, [...range, ...c.params])).getRowsJson() as MetricRow[];
}

/** Monday to Monday: rollups by week answer whole weeks only (the reader passes them for such ranges). */
const WEEKS = ['1969-12-01T00:00:00.000Z', '1970-05-04T00:00:00.000Z'];

/** Periods as days, numbers as numbers; groups and totals apart, each in the order returned. */
function normal(rs: MetricRow[]): { groups: unknown[]; totals: unknown[] } {
  const out = rs.map((r) =>
    r.map((v, i) =>
      i === 0
        ? String(v).slice(0, 10)
        : typeof v === 'string' && /^-?\d+(\.\d+)?(e.*)?$/.test(v)
          ? Number(v)
          : v,
    ),
  );
  return {
    groups: out.filter((r) => Number(r[r.length - 1]) !== 1),
    totals: out.filter((r) => Number(r[r.length - 1]) === 1),
  };
}

function expectSame(a: MetricRow[], b: MetricRow[], label: string): void {
  const [x, y] = [normal(a), normal(b)];
  for (const part of ['groups', 'totals'] as const) {
    expect(y[part].length, `${label} ${part}`).toBe(x[part].length);
    x[part].forEach((row, i) => {
      const other = y[part][i] as unknown[];
      (row as unknown[]).forEach((v, j) => {
        const w = other[j];
        // Bounded counts are scaled doubles: summed in another order, 9 may come back 8.999….
        if (typeof v === 'number' && typeof w === 'number' && !(Number.isInteger(v) && Number.isInteger(w)))
          expect(
            Math.abs(v - w) <= 1e-9 * Math.max(1, Math.abs(v)),
            `${label} ${part} ${i}.${j}: ${v} vs ${w}`,
          ).toBe(true);
        else expect(w, `${label} ${part} ${i}.${j}`).toEqual(v);
      });
    });
  }
}

describe('the rewritten DuckDB compiler gives the answers of the one before it', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    db = await instance.connect();
    await db.run("SET TimeZone = 'UTC'");
  });
  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  for (const seed of [0.1, 0.7]) {
    it(`every metric, grain, grouping and option (seed ${seed})`, async () => {
      await randomStore(db, seed);
      const all = comparisons();
      const picked = sample(all, propertyRuns());
      let compared = 0;
      for (const { def, grain, by, filters, opts } of picked) {
        const label = `${def.name} ${grain} by ${by.join('+')} ${JSON.stringify(filters)} ${JSON.stringify(opts)}`;
        const old = await rows(db, legacyCompileMetric(def, grain, by, filters, opts));
        const now = await rows(db, compileMetric(def, grain, by, filters, opts));
        expectSame(old, now, label);
        compared += old.length;
      }
      // The full run compares thousands of rows; a sample (FV_PROPERTY_RUNS) still compares some.
      expect(compared).toBeGreaterThan(picked.length === all.length ? 5000 : 0);
    }, 300_000);
  }
});

describe('answers from rollups are the answers from the base tables', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    db = await instance.connect();
    await db.run("SET TimeZone = 'UTC'");
  });
  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  for (const seed of [0.3, 0.9]) {
    it(`every metric, grain, grouping and option, bounded too (seed ${seed})`, async () => {
      await randomStore(db, seed);
      const rollups = rollupsOf(FILE);
      for (const r of rollups) await db.run(`CREATE OR REPLACE TABLE "${r.name}" AS ${rollupSelect(r)}`);
      const picked = sample(comparisons(), propertyRuns());
      let used = 0;
      const bounds = {
        bounds: { maxRows: 3, maxGroups: 2, clamp: { 'connection_events.duration_ms': [0, 4000] } },
      };
      for (const { def, grain, by, filters, opts } of picked) {
        for (const o of [opts, { ...opts, ...bounds }]) {
          const label = `${def.name} ${grain} by ${by.join('+')} ${JSON.stringify(filters)} ${JSON.stringify(o)}`;
          const base = compileMetric(def, grain, by, filters, o);
          const fromRollup = compileMetric(def, grain, by, filters, o, rollups);
          if (fromRollup.sql.includes('_fv_rollup_')) used++;
          // Every eligible metric unbounded has a rollup (bounded: not of two partial sides).
          else expect(rollupEligible(def) && !('bounds' in o), label).toBe(false);
          expectSame(await rows(db, base, WEEKS), await rows(db, fromRollup, WEEKS), label);
        }
      }
      expect(used).toBeGreaterThan(0);
    }, 300_000);
  }
});

describe('a first-match search read from a rollup finds what the search of the rows finds', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    db = await instance.connect();
    await db.run("SET TimeZone = 'UTC'");
  });
  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  const def = FILE.metrics.get('first_success') as MetricDefinition;
  const searches = rollupsOf(FILE).filter((r) => firstAfterRollup(def, [r]) !== undefined);

  /** One device per case, activated on Wednesday 1970-01-07 at noon (its week from Monday the 5th). */
  const CASES: Array<[string, string[]]> = [
    [
      'a success before and after activation in its week (split)',
      ['1970-01-06 10:00:00', '1970-01-09 08:00:00'],
    ],
    ['the same day on both sides (split)', ['1970-01-07 11:59:00', '1970-01-07 12:00:00.000001']],
    ['only before activation in its week, then a later week', ['1970-01-05 00:00:00', '1970-01-20 03:00:00']],
    ['only before activation', ['1970-01-06 23:00:00']],
    ['exactly at activation', ['1970-01-07 12:00:00']],
    ['after activation only, twice', ['1970-01-08 01:00:00', '1970-01-07 18:00:00']],
    ['first in a later month', ['1970-02-11 09:00:00', '1970-03-02 09:00:00']],
    ['none at all', []],
  ];

  it('splits, periods without a match after activation, none, and ranges that cut a week', async () => {
    await db.run(
      'CREATE OR REPLACE TABLE devices (id INTEGER, user_id INTEGER, product_model VARCHAR, region VARCHAR, activated_at TIMESTAMP)',
    );
    await db.run(
      'CREATE OR REPLACE TABLE connection_events (id INTEGER, device_id INTEGER, ts TIMESTAMPTZ, outcome VARCHAR, error_code VARCHAR, rssi INTEGER, duration_ms INTEGER)',
    );
    let e = 0;
    for (const [i, [, times]] of CASES.entries()) {
      // Ten users per case's model, so the answer is the case's alone.
      await db.run(`INSERT INTO devices VALUES (${i}, ${i}, 'm${i}', 'eu', TIMESTAMP '1970-01-07 12:00')`);
      for (const t of times) {
        const event = (ts: string, outcome: string) =>
          db.run(
            `INSERT INTO connection_events VALUES (${e++}, ${i}, ${ts}, '${outcome}', NULL, NULL, NULL)`,
          );
        await event(`TIMESTAMPTZ '${t}+00'`, 'success');
        // A failure just before each success: not a match, but in the same periods.
        await event(`TIMESTAMPTZ '${t}+00' - INTERVAL 1 MINUTE`, 'fail');
      }
    }
    expect(searches.map((r) => r.grain).sort()).toEqual(['day', 'week']);
    for (const r of searches) await db.run(`CREATE OR REPLACE TABLE "${r.name}" AS ${rollupSelect(r)}`);
    for (const range of [RANGE, WEEKS, ['1970-01-07T00:00:00.000Z', '1970-01-08T00:00:00.000Z']]) {
      const base = await rows(db, compileMetric(def, 'month', ['product_model'], []), range);
      // Every case is in the answer: one value per model (k is the reader's, not the compiler's).
      if (range !== RANGE) expect(base.filter((x) => Number(x[x.length - 1]) === 0).length).toBe(6);
      for (const r of searches) {
        const c = compileMetric(def, 'month', ['product_model'], [], {}, [], [r]);
        expect(c.sql).toContain(r.name);
        expectSame(base, await rows(db, c, range), `${r.grain} ${range.join('–')}`);
      }
    }
  });
});
