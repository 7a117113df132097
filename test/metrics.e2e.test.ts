// End to end (slow): metrics from the store equal plain SQL on production, and no answer shows a
// group under k or lets one be recovered from the rest of the answer.
import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { columnRef, fromParts } from '../src/engines/duckdb/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import {
  type Grain,
  type MetricAnswer,
  type MetricDefinition,
  type MetricsFile,
  type MetricsReader,
  parseMetrics,
  readMetricsFile,
} from '../src/metrics/index.ts';
import { runCli } from './helpers/cli.ts';
import { FILTERED_METRICS_YAML, FILTERED_TWINS, PRODUCTION_SQL, type Twin } from './helpers/metric-twins.ts';
import type { TestDatabase } from './helpers/pg.ts';
import { DEMO_METRICS as METRICS, syncedStore } from './helpers/synced-store.ts';

describe('metrics', () => {
  let db: TestDatabase;
  let store: string;
  let file: MetricsFile;
  let reader: MetricsReader;
  /** Measures with `where` of every kind, beside the shipped ones (test/helpers/metric-twins.ts). */
  let filtered: MetricsFile;
  let filteredReader: MetricsReader;

  beforeAll(async () => {
    ({ db, store } = await syncedStore({ users: 4000, days: 21, seed: 11 }));
    // The store holds production's live data: soft-deleted users left with their devices and
    // events. Removing them from production too makes the raw-id twins answer the same question.
    await db.query('DELETE FROM users WHERE deleted_at IS NOT NULL');
    file = readMetricsFile(METRICS);
    reader = await openMetricsReader(store, file);
    filtered = parseMetrics(FILTERED_METRICS_YAML, 'filtered.metrics.yaml');
    filteredReader = await openMetricsReader(store, filtered);
  });

  afterAll(async () => {
    reader?.close();
    filteredReader?.close();
    await db?.drop();
  });

  it('every shipped metric has a hand-written production twin', () => {
    expect(Object.keys(PRODUCTION_SQL).sort()).toEqual([...file.metrics.keys()].sort());
  });

  it('every filtered measure kind has a hand-written production twin', () => {
    expect(Object.keys(FILTERED_TWINS).sort()).toEqual([...filtered.metrics.keys()].sort());
  });

  /** A metric's answer against its twin: the same groups, values, and users behind each value. */
  async function compareTwins(r: MetricsReader, twins: Record<string, Twin>, grain: 'week' | 'month') {
    let all = 0;
    for (const [name, twin] of Object.entries(twins)) {
      const answer = await r.query({
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
      const expected = new Map(prod.rows.map((row) => [`${row.p}|${row.d}`, row]));
      let compared = 0;
      for (const g of answer.groups) {
        if (g.suppressed !== 'none') continue;
        const row = expected.get(`${g.period}|${g.dims[0]}`);
        expect(row, `${name} ${g.period} ${g.dims[0]}`).toBeDefined();
        const value = Object.values(g.values)[0] as number;
        expect(value, `${name} ${g.period} ${g.dims[0]}`).toBeCloseTo(Number(row.v), 6);
        expect(g.units, `${name} ${g.period} ${g.dims[0]} users`).toBe(Number(row.u));
        if (row.n !== undefined)
          expect(g.sides).toEqual({ numerator: Number(row.n), denominator: Number(row.m) });
        compared++;
      }
      // Weekly integrations are too few at this size to show; monthly ones must all be compared.
      if (grain === 'month') expect(compared, name).toBeGreaterThan(0);
      all += compared;
      // Groups without a row behind the value (no failing attempt: no error code) do not appear.
      expect(answer.groups.length, name).toBe(prod.rows.length);
    }
    return all;
  }

  for (const grain of ['week', 'month'] as const) {
    it(`each metric from the store equals plain SQL on production for every unsuppressed group (${grain})`, async () => {
      expect(await compareTwins(reader, PRODUCTION_SQL, grain)).toBeGreaterThan(20);
    });

    it(`each filtered measure equals its twin, users counted on the rows behind the value (${grain})`, async () => {
      expect(await compareTwins(filteredReader, FILTERED_TWINS, grain)).toBeGreaterThan(10);
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

  /**
   * The rows behind each side of a metric's value, written here from the definition alone (not by
   * the compiler): its `where`, and the aggregated column not NULL.
   */
  function sidesOf(def: MetricDefinition): string[] {
    const lit = (v: unknown) => (typeof v === 'string' ? `'${v.replaceAll("'", "''")}'` : String(v));
    const side = (a: Record<string, unknown>) => {
      const parts = Object.entries((a.where ?? {}) as Record<string, unknown>).map(([c, v]) =>
        Array.isArray(v) ? `${columnRef(c)} IN (${v.map(lit).join(', ')})` : `${columnRef(c)} = ${lit(v)}`,
      );
      for (const k of ['count_distinct', 'sum', 'avg'])
        if (typeof a[k] === 'string') parts.push(`${columnRef(a[k] as string)} IS NOT NULL`);
      return parts.join(' AND ') || 'TRUE';
    };
    const m = def.measure as Record<string, unknown>;
    if (Array.isArray(m.ratio)) return (m.ratio as Record<string, unknown>[]).map(side);
    if (Array.isArray(m.percentiles))
      return [typeof m.of === 'string' ? `${columnRef(m.of)} IS NOT NULL` : 'TRUE'];
    return [side(m)];
  }

  it('no answer shows a group under k on any side of its value, and suppressed groups cannot be recovered from the rest (property)', async () => {
    const instance = await DuckDBInstance.create(store, { access_mode: 'READ_ONLY' });
    const duck = await instance.connect();
    await duck.run("SET TimeZone = 'UTC'");
    const readers = new Map<string, MetricsReader>();
    for (const name of file.metrics.keys()) readers.set(name, reader);
    for (const name of filtered.metrics.keys()) readers.set(name, filteredReader);
    const defOf = (name: string) =>
      (file.metrics.get(name) ?? filtered.metrics.get(name)) as MetricDefinition;
    const checked = { groups: 0, suppressedPeriods: 0, narrow: 0, refused: 0 };
    const count = async (sql: string) => (await duck.runAndReadAll(sql)).getRows()[0]?.map(Number) ?? [];
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...readers.keys()),
          fc.constantFrom<Grain>('day', 'week', 'month'),
          fc.nat(),
          fc.integer({ min: 0, max: 40 }),
          fc.integer({ min: 0, max: 40 }),
          fc.boolean(),
          async (name, grain, dimSeed, a, b, withFilter) => {
            const def = defOf(name);
            const dims = def.dimensions.filter((_, i) => (dimSeed >> i) & 1).slice(0, 2);
            // The data runs to 2026-10-31: ranges end up to 40 days before 2026-11-01.
            const day = (n: number) =>
              new Date(Date.UTC(2026, 10, 1) - n * 86_400_000).toISOString().slice(0, 10);
            const filter: Record<string, string[]> = {};
            const { ctes, joins } = fromParts(def);
            const from = `${ctes.length ? `WITH ${ctes.join(', ')} ` : ''}SELECT`;
            const tables = `FROM "${def.from}" b ${joins.join(' ')}`;
            if (withFilter && def.dimensions[0]) {
              const v = await duck.runAndReadAll(
                `SELECT ${columnRef(def.dimensions[0])}::VARCHAR FROM "${def.from}" b ${joins.filter((j) => !j.includes(' fa ')).join(' ')} WHERE ${columnRef(def.dimensions[0])} IS NOT NULL LIMIT 1`,
              );
              filter[def.dimensions[0]] = [String(v.getRows()[0]?.[0])];
            }
            let answer: MetricAnswer;
            try {
              answer = await (readers.get(name) as MetricsReader).query({
                metric: name,
                grain,
                by: dims,
                from: day(Math.max(a, b)),
                to: day(Math.min(a, b)),
                filters: filter,
              });
            } catch (error) {
              // A filter that could be subtracted from another answer is refused whole.
              expect((error as { code?: string }).code).toBe('FV_METRIC_FILTER_UNSAFE');
              checked.refused++;
              return;
            }
            const sides = sidesOf(def);
            const filt = Object.entries(filter)
              .map(
                ([d, vs]) =>
                  `${columnRef(d)}::VARCHAR IN (${vs.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')})`,
              )
              .join(' AND ');
            const inPeriod = (period: string) =>
              `CAST(date_trunc('${grain}', ${columnRef(def.time)}) AS DATE)::VARCHAR = '${period}'${filt ? ` AND ${filt}` : ''}`;
            const matchOf = (g: { dims: readonly (string | null)[] }) =>
              `(${dims.map((d, i) => (g.dims[i] === null ? `${columnRef(d)} IS NULL` : `${columnRef(d)}::VARCHAR = '${String(g.dims[i]).replaceAll("'", "''")}'`)).join(' AND ') || 'TRUE'})`;
            /** Exact distinct units behind each side, and of every row, in the groups matched. */
            const exact = (period: string, match: string) =>
              count(
                `${from} ${[...sides.map((c) => `count(DISTINCT ${columnRef(def.unit)}) FILTER (WHERE ${c})`), `count(DISTINCT ${columnRef(def.unit)})`].join(', ')} ${tables} WHERE ${inPeriod(period)} AND (${match})`,
              );
            for (const g of [...answer.groups, ...answer.totals]) {
              if (g.suppressed === 'none') expect(g.units!).toBeGreaterThanOrEqual(answer.k);
              else expect(Object.values(g.values).every((v) => v === null)).toBe(true);
              checked.groups++;
            }
            // Every group's exact units in one scan: per side, and of all its rows.
            const perGroup = new Map(
              (
                await duck.runAndReadAll(
                  `${from} CAST(date_trunc('${grain}', ${columnRef(def.time)}) AS DATE)::VARCHAR, ${[...dims.map((d) => `${columnRef(d)}::VARCHAR`), ...sides.map((c) => `count(DISTINCT ${columnRef(def.unit)}) FILTER (WHERE ${c})`), `count(DISTINCT ${columnRef(def.unit)})`].join(', ')} ${tables} WHERE ${columnRef(def.time)} >= '${answer.from}'::TIMESTAMPTZ AND ${columnRef(def.time)} < '${answer.to}'::TIMESTAMPTZ${filt ? ` AND ${filt}` : ''} GROUP BY ALL`,
                )
              )
                .getRowsJson()
                .map((r) => [
                  JSON.stringify(r.slice(0, 1 + dims.length)),
                  r.slice(1 + dims.length).map(Number),
                ]),
            );
            for (const g of answer.groups) {
              const units = perGroup.get(JSON.stringify([g.period, ...g.dims])) ?? [];
              const behind = units.slice(0, sides.length);
              if (g.suppressed === 'none') {
                for (const u of behind)
                  expect(u, `${name} ${g.period} ${g.dims.join()}`).toBeGreaterThanOrEqual(answer.k);
                expect(g.units).toBe(Math.min(...behind));
              } else if (g.suppressed === 'below_k' && (units[sides.length] as number) >= answer.k) {
                // The group has k users or more; those behind its value do not.
                expect(Math.min(...behind)).toBeLessThan(answer.k);
                checked.narrow++;
              }
            }
            // Exact distinct units behind the suppressed groups of each period, taken together, per side.
            for (const period of new Set(
              answer.groups.filter((g) => g.suppressed !== 'none').map((g) => g.period),
            )) {
              const hidden = answer.groups.filter((g) => g.period === period && g.suppressed !== 'none');
              const units = await exact(period, hidden.map(matchOf).join(' OR '));
              const total = answer.totals.find((t) => t.period === period);
              if (total?.suppressed === 'none')
                for (const u of units.slice(0, sides.length))
                  expect(u, `${name} ${period}`).toBeGreaterThanOrEqual(answer.k);
              checked.suppressedPeriods++;
            }
          },
        ),
        {
          numRuns: 60,
          seed: 2019,
          // Filtered measures whose groups hold k users or more while fewer stand behind the value.
          examples: [
            ['connection_failures', 'day', 0b1000, 14, 0, false],
            ['connection_failure_rate', 'day', 0b10, 14, 0, false],
            ['failed_wait_ms', 'week', 0b100, 30, 0, false],
            ['tls_share_of_failures', 'day', 0b1000, 10, 0, false],
          ],
        },
      );
    } finally {
      duck.closeSync();
      instance.closeSync();
    }
    expect(checked.groups).toBeGreaterThan(100);
    expect(checked.suppressedPeriods).toBeGreaterThan(5);
    expect(checked.narrow, 'groups over k whose value has fewer than k users behind it').toBeGreaterThan(0);
  }, 600_000);

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

  it('metrics query on the CLI refuses a malformed --filter and a day that does not exist, never answering without them', async () => {
    const query = (...more: string[]) =>
      runCli(['metrics', 'query', 'activations', '--metrics', METRICS, '--store', store, '--json', ...more]);
    const byRegion = await reader.query({ metric: 'activations', grain: 'month', by: ['region'] });
    const region = byRegion.groups.find((g) => typeof g.dims[0] === 'string')?.dims[0] as string;
    expect(region).toBeTruthy();
    // The well-formed filter is the filter the reader is asked: the same answer, or the same
    // refusal (a filter leaving out fewer than k users is FV_METRIC_FILTER_UNSAFE).
    const good = await query('--grain', 'month', '--filter', `region=${region}`);
    const direct = await reader
      .query({ metric: 'activations', grain: 'month', by: [], filters: { region: [region] } })
      .then(
        (a) => ({ code: 0, groups: a.groups }),
        (e: { code: string }) => ({ code: e.code, groups: [] }),
      );
    if (direct.code === 0) {
      expect(good.code, good.stderr).toBe(0);
      expect(JSON.parse(good.stdout).groups).toEqual(JSON.parse(JSON.stringify(direct.groups)));
    } else expect(good.stderr).toContain(`error ${direct.code}: `);
    for (const [args, says] of [
      [['--filter', `region:${region}`], 'it has ":" where "=" belongs'],
      [['--filter', 'region'], 'it has no "="'],
      [['--filter', 'region='], 'a value is empty'],
      [['--filter', `region=${region}`, '--filter', `region=${region}`], 'region is filtered twice'],
      [['--from', '2026-02-30'], 'start date must be a day written YYYY-MM-DD'],
      [['--to', '2026-13-01'], 'end date must be a day written YYYY-MM-DD'],
      [['--from', '2026-04-31', '--to', '2026-05-02'], 'start date must be a day written YYYY-MM-DD'],
    ] as const) {
      const r = await query(...args);
      expect(r.code, `${args.join(' ')}: ${r.stdout}`).toBe(1);
      expect(r.stdout, 'no answer is printed').not.toContain('"groups"');
      expect(r.stderr).toContain('error FV_METRIC_QUERY: ');
      expect(r.stderr).toContain(says);
      if (args[0] === '--filter')
        expect(r.stderr).toMatch(/--filter (number 2 )?must be written dimension=value\[,value…\]/);
    }
    // Real days at month ends still answer.
    const leap = await query('--grain', 'day', '--from', '2024-02-29', '--to', '2024-03-01');
    expect(leap.code, leap.stderr).toBe(0);
  });
});
