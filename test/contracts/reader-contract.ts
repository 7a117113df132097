// The reader contract: the same rows on every engine give the same metric answers, the same
// status, the same refusals and the same guarded SQL. Each engine's test file runs it
// (src/engines/duckdb/duckdb-engine.test.ts, test/clickhouse-engine.e2e.test.ts). The numbers
// follow from the small store's table (test/helpers/small-store.ts), written by the engine's own
// writer. The k gate counts the people a value is computed from: for a measure with `where`, the
// users of the rows it keeps; for a column, the users of the rows where it is not NULL; for a
// ratio, each side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, engineFor, openMetricsReader } from '../../src/engines/index.ts';
import type { MetricAnswer, MetricQuery, MetricsReader } from '../../src/metrics/index.ts';
import { FEE, SMALL_METRICS, writeSmallStore } from '../helpers/small-store.ts';

const WEEK = '2026-10-05';
const FW = 'devices.firmware_version';
const ALL_FW = ['1.0', '2.0', '2.5', '9.9', 'p1', 'l1'];

/** The reader's contract on `engine`, over the small store written at `location()` (a store of its own). */
export function runReaderContract(engine: Engine, label: string, location: () => string): void {
  describe(`reader contract on ${label}`, () => {
    let reader: MetricsReader;
    let at: string;

    beforeAll(async () => {
      at = location();
      await writeSmallStore(engine, at);
      reader = await openMetricsReader(at, SMALL_METRICS);
    });
    afterAll(() => reader?.close());

    it('is the engine engineFor picks for its locations', () => {
      expect(engineFor(at)).toBe(engine);
    });

    const ask = (metric: string, by: string[]): Promise<MetricAnswer> =>
      reader.query({ metric, grain: 'week', by, from: WEEK, to: WEEK });
    const group = (a: MetricAnswer, dim: string | null) => a.groups.find((g) => g.dims[0] === dim);

    it('a count with where: users of the failing rows, and no group without a failing row', async () => {
      const a = await ask('connection_failures', ['error_code']);
      // E_DNS: 4 failing users. E_TLS 23, E_AUTH 36; the total (63) minus both would give E_DNS
      // back, so the smaller (E_TLS) is hidden too. No successful attempt reaches this metric, so
      // the NULL (no error) group of 212 users does not exist.
      expect(a.groups.map((g) => [g.dims[0], g.suppressed])).toEqual([
        ['E_AUTH', 'none'],
        ['E_DNS', 'below_k'],
        ['E_TLS', 'complement'],
      ]);
      expect(group(a, 'E_AUTH')).toMatchObject({ units: 36, values: { value: 36 } });
      expect(a.totals).toMatchObject([{ period: WEEK, units: 63, values: { value: 63 } }]);
    });

    it('a group with far more than k users but fewer than k behind the value is suppressed', async () => {
      const all = await ask('connection_attempts', ['devices.firmware_version']);
      expect(group(all, '2.5')).toMatchObject({ units: 47, suppressed: 'none' });
      const failures = await ask('connection_failures', ['devices.firmware_version']);
      expect(group(failures, '2.5')).toMatchObject({ units: null, suppressed: 'below_k' });
      expect(group(failures, '1.0')).toMatchObject({ units: 40, values: { value: 40 } });
      expect(group(failures, 'p1')).toBeUndefined();
    });

    it('count_distinct, sum and avg with where count the rows they aggregate', async () => {
      const devices = await ask('failing_devices', ['error_code']);
      expect(group(devices, 'E_AUTH')).toMatchObject({ units: 36, values: { value: 36 } });
      // The fails of users 25–30 have no duration: they are not behind the sum.
      const wait = await ask('failed_wait_ms', ['error_code']);
      expect(group(wait, 'E_AUTH')).toMatchObject({ units: 30, values: { value: 150_000 } });
      expect(wait.totals[0]).toMatchObject({ units: 57 });
      const signal = await ask('failing_signal', ['error_code']);
      expect(group(signal, 'E_AUTH')).toMatchObject({ units: 36, values: { value: -80 } });
      // Decimals of 20 integer digits: summed exactly, answered as the nearest number.
      const fees = group(await ask('failed_fees', ['error_code']), 'E_AUTH');
      expect(fees?.units).toBe(36);
      expect(fees?.values.value).toBeCloseTo(Number(BigInt(FEE.split('.')[0] as string) * 36n + 18n), -6);
      expect(group(await ask('mean_fee', ['error_code']), 'E_AUTH')?.values.value).toBeCloseTo(
        Number(FEE),
        -4,
      );
    });

    it('a ratio is gated on both sides and shows both', async () => {
      const a = await ask('failure_rate', ['devices.firmware_version']);
      expect(group(a, '1.0')).toMatchObject({
        units: 40,
        sides: { numerator: 40, denominator: 60 },
        values: { value: 40 / 160 },
        suppressed: 'none',
      });
      // 47 users, 5 of them failing: the numerator is under k.
      expect(group(a, '2.5')).toMatchObject({ suppressed: 'below_k', sides: { numerator: null } });
      // No one failed: a numerator of no one is under k as well.
      expect(group(a, 'p1')).toMatchObject({ suppressed: 'below_k' });
      // Both sides filtered: E_TLS fails over all fails, per region.
      const tls = await ask('tls_share_of_failures', ['devices.region']);
      expect(group(tls, 'eu')).toMatchObject({ units: 11, sides: { numerator: 11, denominator: 32 } });
      expect(group(tls, 'us')).toMatchObject({ units: 12, sides: { numerator: 12, denominator: 31 } });
    });

    it('a percentile counts the users whose rows have a value; a group without one does not appear', async () => {
      const a = await ask('attempt_duration', ['devices.product_model']);
      expect(group(a, 'cam')).toMatchObject({ units: 150, values: { p50: 100 } });
      expect(group(a, 'plug')).toMatchObject({ units: 39 });
      expect(group(a, 'lamp')).toBeUndefined();
    });

    it('answers every measure kind at every grain, by a dimension and in total', async () => {
      const q = (metric: string, grain: MetricQuery['grain'], by: string[] = []) =>
        reader.query({ metric, grain, by, from: WEEK, to: '2026-10-11' });
      const days = await q('connection_attempts', 'day');
      expect(days.totals.map((t) => [t.period, t.units, t.values.value])).toEqual([
        ['2026-10-06', 212, 424],
        ['2026-10-07', 63, 63],
      ]);
      for (const grain of ['week', 'month'] as const) {
        const a = await q('connection_attempts', grain);
        expect(a.totals.map((t) => [t.units, t.values.value])).toEqual([[212, 487]]);
      }
      const byModel = await q('connection_attempts', 'week', ['devices.product_model']);
      expect(byModel.groups.map((g) => [g.dims[0], g.units, g.values.value])).toEqual([
        ['cam', 150, 363],
        ['lamp', 12, 24],
        ['plug', 50, 100],
      ]);
      const p50 = await q('attempt_duration', 'day');
      expect(p50.totals.map((t) => [t.period, t.values.p50])).toEqual([
        ['2026-10-06', 100],
        ['2026-10-07', 5000],
      ]);
      const rate = await q('failure_rate', 'month');
      expect(rate.totals[0]).toMatchObject({
        values: { value: 63 / 487 },
        sides: { numerator: 63, denominator: 212 },
      });
    });

    it('reports the same status: the tables the sync wrote with their rows', async () => {
      expect(await reader.storeStatus()).toMatchObject({
        lastSync: null,
        tables: [
          { name: 'connection_events', rows: 487 },
          { name: 'devices', rows: 212 },
        ],
      });
      expect(await reader.meta('k')).toBe('10');
    });

    it('refuses the same queries, with the same codes', async () => {
      const base = { metric: 'connection_attempts', grain: 'week' as const, from: WEEK, to: WEEK };
      await expect(reader.query({ ...base, metric: 'nope' })).rejects.toMatchObject({
        code: 'FV_METRIC_UNKNOWN',
      });
      for (const bad of [
        { ...base, grain: 'year' as MetricQuery['grain'] },
        { ...base, by: ['owner'] },
        { ...base, to: '11/10/2026' },
        { ...base, from: '2026-10-12', to: '2026-10-01' },
        { ...base, filters: { [FW]: Array.from({ length: 101 }, (_, i) => String(i)) } },
      ]) {
        await expect(reader.query(bad), JSON.stringify(bad).slice(0, 80)).rejects.toMatchObject({
          code: 'FV_METRIC_QUERY',
        });
      }
      // The reported differencing attack: all firmware versions against all but one (3 users).
      for (const list of [ALL_FW, ALL_FW.filter((v) => v !== '9.9')]) {
        await expect(reader.query({ ...base, filters: { [FW]: list } })).rejects.toMatchObject({
          code: 'FV_METRIC_FILTER_UNSAFE',
        });
      }
      const one = await reader.query({ ...base, filters: { [FW]: ['1.0'] } });
      expect(one.totals[0]).toMatchObject({ units: 60, values: { value: 160 } });
    });

    it('runs analyst SQL through its one guard: answered, capped, and refused alike', async () => {
      const limits = { maxRows: 1000, timeoutMs: 60_000 };
      const ok = await engine.sql(
        at,
        'SELECT outcome, count(*) AS n FROM connection_events GROUP BY outcome ORDER BY outcome',
        limits,
      );
      expect(ok.columns).toEqual(['outcome', 'n']);
      expect(ok.rows.map((r) => [r[0], Number(r[1])])).toEqual([
        ['fail', 63],
        ['success', 424],
      ]);
      const capped = await engine.sql(at, 'SELECT id FROM devices', { ...limits, maxRows: 5 });
      expect(capped.rows).toHaveLength(5);
      // The server's /api/sql takes the same guard through the reader.
      expect(
        (await reader.sql('SELECT count(*) AS n FROM devices', limits)).rows.map((r) => Number(r[0])),
      ).toEqual([212]);
      for (const bad of [
        'INSERT INTO devices SELECT * FROM devices',
        'DELETE FROM devices',
        'SELECT 1; SELECT 2',
        'SHOW TABLES',
        'DESCRIBE devices',
        "COPY devices TO '/tmp/fv-out.csv'",
      ]) {
        await expect(engine.sql(at, bad, limits), bad).rejects.toMatchObject({ code: 'FV_SQL_REFUSED' });
      }
    });
  });
}
