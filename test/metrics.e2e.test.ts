// End to end (slow): metrics from the store equal plain SQL on production, and no answer shows a
// group under k or lets one be recovered from the rest of the answer.
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PRODUCTION_SQL } from '../bench/metric-twins.ts';
import {
  columnRef,
  fromParts,
  type Grain,
  type MetricAnswer,
  type MetricsFile,
  MetricsReader,
  readMetricsFile,
} from '../src/metrics/index.ts';
import { runCli } from './helpers/cli.ts';
import type { TestDatabase } from './helpers/pg.ts';
import { DEMO_METRICS as METRICS, syncedStore } from './helpers/synced-store.ts';

describe('metrics', () => {
  let db: TestDatabase;
  let store: string;
  let file: MetricsFile;
  let reader: MetricsReader;

  beforeAll(async () => {
    ({ db, store } = await syncedStore({ users: 4000, days: 21, seed: 11 }));
    // The store holds production's live data: soft-deleted users left with their devices and
    // events. Removing them from production too makes the raw-id twins answer the same question.
    await db.query('DELETE FROM users WHERE deleted_at IS NOT NULL');
    file = readMetricsFile(METRICS);
    reader = await MetricsReader.open(store, file);
  });

  afterAll(async () => {
    reader?.close();
    await db?.drop();
  });

  it('every shipped metric has a hand-written production twin', () => {
    expect(Object.keys(PRODUCTION_SQL).sort()).toEqual([...file.metrics.keys()].sort());
  });

  for (const grain of ['week', 'month'] as const) {
    it(`each metric from the store equals plain SQL on production for every unsuppressed group (${grain})`, async () => {
      let all = 0;
      for (const [name, twin] of Object.entries(PRODUCTION_SQL)) {
        const answer = await reader.query({
          metric: name,
          grain,
          by: [twin.dim],
          from: '2026-09-01',
          to: '2026-10-31',
        });
        const prod = await db.query(twin.sql(grain, twin.pgDim), [
          `${answer.from}T00:00:00Z`,
          `${answer.to}T00:00:00Z`,
        ]);
        const expected = new Map(prod.rows.map((r) => [`${r.p}|${r.d}`, r]));
        let compared = 0;
        for (const g of answer.groups) {
          if (g.suppressed !== 'none') continue;
          const row = expected.get(`${g.period}|${g.dims[0]}`);
          expect(row, `${name} ${g.period} ${g.dims[0]}`).toBeDefined();
          const value = Object.values(g.values)[0] as number;
          expect(value).toBeCloseTo(Number(row.v), 6);
          expect(g.units).toBe(Number(row.u));
          compared++;
        }
        // Weekly integrations are too few at this size to show; monthly ones must all be compared.
        if (grain === 'month') expect(compared, name).toBeGreaterThan(0);
        all += compared;
        expect(answer.groups.length, name).toBe(prod.rows.length);
      }
      expect(all).toBeGreaterThan(20);
    });
  }

  it('time to first connection over a range inside the data equals the search over the whole history', async () => {
    // The compiled query looks for first connections only among devices activated in the range
    // and from its start on; this twin searches every event of every device.
    const answer = await reader.query({
      metric: 'time_to_first_connection',
      grain: 'day',
      by: [],
      from: '2026-10-19',
      to: '2026-10-31',
    });
    const whole = await db.query(
      `SELECT (d.activated_at AT TIME ZONE 'UTC')::date::text p,
              percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fa.t) - extract(epoch FROM d.activated_at)) v50,
              percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM fa.t) - extract(epoch FROM d.activated_at)) v90
         FROM devices d JOIN (SELECT e.device_id k, min(e.ts) t FROM connection_events e JOIN devices y ON y.id = e.device_id
                               WHERE e.outcome = 'success' AND e.ts >= y.activated_at GROUP BY 1) fa ON fa.k = d.id
        WHERE d.activated_at >= '2026-10-19' AND d.activated_at < '2026-11-01' GROUP BY 1`,
    );
    const expected = new Map(whole.rows.map((r) => [r.p, r]));
    expect(answer.totals.map((t) => t.period).sort()).toEqual([...expected.keys()].sort());
    let compared = 0;
    for (const t of answer.totals.filter((x) => x.suppressed === 'none')) {
      const row = expected.get(t.period);
      expect(t.values.p50, t.period).toBeCloseTo(Number(row.v50), 6);
      expect(t.values.p90, t.period).toBeCloseTo(Number(row.v90), 6);
      compared++;
    }
    expect(compared).toBeGreaterThan(5);
  });

  it('a bad firmware release stands out in the failure rate', async () => {
    const a = await reader.query({
      metric: 'connection_failure_rate',
      grain: 'month',
      by: ['devices.firmware_version'],
      filters: { 'devices.product_model': ['cam-outdoor-3'] },
    });
    const rate = (fw: string) =>
      a.groups.find((g) => g.dims[0] === fw && g.period === '2026-10-01')?.values.value ?? 0;
    expect(rate('3.2.0')).toBeGreaterThan(2 * rate('3.1.4'));
  });

  it('no answer shows a group under k, and suppressed groups cannot be recovered from the rest (property)', async () => {
    const instance = await DuckDBInstance.create(store, { access_mode: 'READ_ONLY' });
    const duck = await instance.connect();
    await duck.run("SET TimeZone = 'UTC'");
    const names = [...file.metrics.keys()];
    const checked = { groups: 0, suppressedPeriods: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...names),
          fc.constantFrom<Grain>('day', 'week', 'month'),
          fc.nat(),
          fc.integer({ min: 0, max: 40 }),
          fc.integer({ min: 0, max: 40 }),
          fc.boolean(),
          async (name, grain, dimSeed, a, b, filtered) => {
            const def = file.metrics.get(name)!;
            const dims = def.dimensions.filter((_, i) => (dimSeed >> i) & 1).slice(0, 2);
            const day = (n: number) =>
              new Date(Date.UTC(2026, 9, 1) - n * 86_400_000).toISOString().slice(0, 10);
            const filter = filtered && def.dimensions[0] ? { [def.dimensions[0]]: [] as string[] } : {};
            if (filtered && def.dimensions[0]) {
              const ref = columnRef(def.dimensions[0]);
              const { joins } = fromParts(def);
              const v = await duck.runAndReadAll(
                `SELECT ${ref}::VARCHAR FROM "${def.from}" b ${joins.filter((j) => !j.includes(' fa ')).join(' ')} LIMIT 1`,
              );
              (filter as Record<string, string[]>)[def.dimensions[0]] = [String(v.getRows()[0]?.[0])];
            }
            const answer: MetricAnswer = await reader.query({
              metric: name,
              grain,
              by: dims,
              from: day(Math.max(a, b)),
              to: day(Math.min(a, b)),
              filters: filter,
            });
            for (const g of [...answer.groups, ...answer.totals]) {
              if (g.suppressed === 'none') expect(g.units!).toBeGreaterThanOrEqual(answer.k);
              else expect(Object.values(g.values).every((v) => v === null)).toBe(true);
              checked.groups++;
            }
            // Exact distinct units behind the suppressed groups of each period, taken together.
            for (const period of new Set(
              answer.groups.filter((g) => g.suppressed !== 'none').map((g) => g.period),
            )) {
              const hidden = answer.groups.filter((g) => g.period === period && g.suppressed !== 'none');
              const { ctes, joins } = fromParts(def);
              const match = hidden
                .map(
                  (g) =>
                    `(${dims.map((d, i) => (g.dims[i] === null ? `${columnRef(d)} IS NULL` : `${columnRef(d)}::VARCHAR = '${String(g.dims[i]).replaceAll("'", "''")}'`)).join(' AND ') || 'TRUE'})`,
                )
                .join(' OR ');
              const filt = Object.entries(filter)
                .map(
                  ([d, vs]) =>
                    `${columnRef(d)}::VARCHAR IN (${vs.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')})`,
                )
                .join(' AND ');
              const sql = `${ctes.length ? `WITH ${ctes.join(', ')} ` : ''}SELECT count(DISTINCT ${columnRef(def.unit)}) FROM "${def.from}" b ${joins.join(' ')} WHERE CAST(date_trunc('${grain}', ${columnRef(def.time)}) AS DATE)::VARCHAR = '${period}' AND (${match})${filt ? ` AND ${filt}` : ''}`;
              const units = Number((await duck.runAndReadAll(sql)).getRows()[0]?.[0]);
              const total = answer.totals.find((t) => t.period === period);
              if (total?.suppressed === 'none')
                expect(units, `${name} ${period}`).toBeGreaterThanOrEqual(answer.k);
              checked.suppressedPeriods++;
            }
          },
        ),
        { numRuns: 60, seed: 2019 },
      );
    } finally {
      duck.closeSync();
      instance.closeSync();
    }
    expect(checked.groups).toBeGreaterThan(100);
    expect(checked.suppressedPeriods).toBeGreaterThan(5);
  });

  it('metrics query on the CLI prints suppressed groups as suppressed, never as zero', async () => {
    const r = await runCli([
      'metrics',
      'query',
      'activations',
      '--metrics',
      METRICS,
      '--store',
      store,
      '--grain',
      'day',
      '--by',
      'product_model,region',
      '--from',
      '2026-10-01',
      '--to',
      '2026-10-07',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('suppressed');
    const j = await runCli([
      'metrics',
      'query',
      'activations',
      '--metrics',
      METRICS,
      '--store',
      store,
      '--json',
      '--by',
      'nope',
    ]);
    expect(j.code).toBe(1);
    expect(j.stderr).toContain('FV_METRIC_QUERY');
  });
});
