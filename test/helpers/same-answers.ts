// One engine's answers against another's on the same rows: where they differ, one is wrong.
import { expect } from 'vitest';
import { openMetricsReader } from '../../src/engines/index.ts';
import type {
  Grain,
  MetricAnswer,
  MetricQuery,
  MetricsFile,
  MetricsReader,
} from '../../src/metrics/index.ts';

/** Equal answers: same groups, same suppression, same units; values equal to 1e-9 relative. */
export function expectSameAnswer(a: MetricAnswer, b: MetricAnswer, label: string): void {
  const strip = (x: MetricAnswer) => ({ ...x, groups: [], totals: [] });
  expect(strip(a), label).toEqual(strip(b));
  for (const part of ['groups', 'totals'] as const) {
    expect(a[part].length, `${label} ${part}`).toBe(b[part].length);
    a[part].forEach((g, i) => {
      const d = b[part][i] as (typeof b)[typeof part][number];
      const where = `${label} ${part} ${g.period} ${g.dims.join('/')}`;
      expect({ ...g, values: {} }, where).toEqual({ ...d, values: {} });
      for (const [k, v] of Object.entries(g.values)) {
        const want = d.values[k] ?? null;
        if (v === null || want === null) expect(v, `${where} ${k}`).toBe(want);
        else
          expect(Math.abs(v - want), `${where} ${k}: ${v} vs ${want}`).toBeLessThanOrEqual(
            1e-9 * Math.max(1, Math.abs(want)),
          );
      }
    });
  }
}

/** Both readers answer a query the same, or both refuse it with the same `FV_` code. */
export async function expectSameOutcome(
  a: MetricsReader,
  b: MetricsReader,
  q: MetricQuery,
  label: string,
): Promise<'answered' | 'refused'> {
  const [x, y] = [await a.query(q).catch((e: unknown) => e), await b.query(q).catch((e: unknown) => e)];
  if (x instanceof Error || y instanceof Error) {
    expect((x as { code?: string }).code, `${label}: ${String(x)}`).toBe((y as { code?: string }).code);
    expect((x as { code?: string }).code, label).toMatch(/^FV_/);
    return 'refused';
  }
  expectSameAnswer(x as MetricAnswer, y as MetricAnswer, label);
  return 'answered';
}

/** The live rows per table of the store at `location`, as its status reports them. */
export async function storeCounts(location: string, file: MetricsFile): Promise<Record<string, number>> {
  const reader = await openMetricsReader(location, file);
  try {
    const status = (await reader.storeStatus()) as { tables: Array<{ name: string; rows: number }> };
    return Object.fromEntries(status.tables.map((t) => [t.name, t.rows]));
  } finally {
    reader.close();
  }
}

/** The same live rows per table, and the same answers for `metrics` at `grain` over Oct–Nov 2026. */
export async function expectSameStores(
  store: string,
  reference: string,
  file: MetricsFile,
  grain: Grain,
  metrics: readonly string[],
): Promise<void> {
  expect(await storeCounts(store, file)).toEqual(await storeCounts(reference, file));
  const a = await openMetricsReader(store, file);
  const b = await openMetricsReader(reference, file);
  try {
    for (const metric of metrics) {
      const q = { metric, grain, by: [], from: '2026-10-01', to: '2026-11-30' };
      expectSameAnswer(await a.query(q), await b.query(q), metric);
    }
  } finally {
    a.close();
    b.close();
  }
}
