import { describe, expect, it } from 'vitest';
import { type Cell, type MetricAnswer, suppress } from '../metrics/index.ts';
import { findRegressions } from './regressions.ts';
import { benjaminiHochberg, normalUpperTail } from './statistics.ts';

const WEEKS = ['2026-10-05', '2026-10-12', '2026-10-19', '2026-10-26', '2026-11-02'];
const K = 10;

/** A seeded generator, so the noise is the same on every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface RateGroup {
  readonly dims: string[];
  readonly users: number;
  /** The true failure share per week. */
  readonly rate: (week: number) => number;
}

/** A weekly failure-rate answer whose cells went through the k gate, as the metrics engine's do. */
function rateAnswer(by: string[], groups: readonly RateGroup[], seed = 1): MetricAnswer {
  const random = rng(seed);
  const cells: Cell[] = [];
  const totalCells: Cell[] = [];
  WEEKS.forEach((period, w) => {
    let failed = 0;
    let all = 0;
    for (const g of groups) {
      // Each user makes 10 attempts; the observed share is binomial around the true one.
      let fails = 0;
      let usersFailing = 0;
      for (let u = 0; u < g.users; u++) {
        let f = 0;
        for (let a = 0; a < 10; a++) if (random() < g.rate(w)) f++;
        fails += f;
        if (f > 0) usersFailing++;
      }
      cells.push({
        period,
        dims: g.dims,
        values: { value: fails / (g.users * 10) },
        units: [usersFailing, g.users],
      });
      failed += usersFailing;
      all += g.users;
    }
    totalCells.push({ period, dims: [], values: { value: 0 }, units: [failed, all] });
  });
  const totals = new Map(totalCells.map((c) => [c.period, c.units]));
  const sides = ['numerator', 'denominator'];
  return {
    metric: 'connection_failure_rate',
    description: 'Share of connection attempts that failed',
    format: 'ratio',
    grain: 'week',
    by,
    from: WEEKS[0] as string,
    to: '2026-11-09',
    k: K,
    outputs: ['value'],
    groups: suppress(cells, totals, K, sides),
    totals: suppress(totalCells, totals, K, sides),
  };
}

const flat = (p: number) => () => p;
const last = WEEKS.length - 1;

describe('findRegressions', () => {
  it('names the one group whose failure rate jumped, against its baseline and its siblings', () => {
    const answer = rateAnswer(
      ['product_model', 'firmware_version'],
      [
        { dims: ['cam', '3.1'], users: 400, rate: flat(0.05) },
        { dims: ['cam', '3.2'], users: 400, rate: (w) => (w === last ? 0.25 : 0.05) },
        { dims: ['plug', '5.4'], users: 600, rate: flat(0.03) },
        { dims: ['plug', '5.5'], users: 300, rate: flat(0.03) },
      ],
    );
    const report = findRegressions([answer], K);
    expect(report.period).toBe(WEEKS[last]);
    expect(report.regressions.map((r) => r.dims)).toEqual([['cam', '3.2']]);
    const found = report.regressions[0];
    expect(found?.comparisons.map((c) => c.against).sort()).toEqual(['baseline', 'siblings']);
    for (const c of found?.comparisons ?? []) {
      expect(c.q).toBeLessThanOrEqual(0.01);
      expect(c.expected).toBeGreaterThan(0.04);
      expect(c.expected).toBeLessThan(0.06);
    }
    expect(found?.value).toBeGreaterThan(0.2);
  });

  it('reports nothing when every group only wobbles around its own level', () => {
    const groups = Array.from({ length: 12 }, (_, i) => ({
      dims: [`p${i % 4}`, `fw${i}`],
      users: 200 + 50 * i,
      rate: flat(0.02 + 0.01 * (i % 5)),
    }));
    for (const seed of [1, 2, 3, 4, 5]) {
      const report = findRegressions([rateAnswer(['product_model', 'firmware_version'], groups, seed)], K);
      expect(report.tests).toBeGreaterThan(12);
      expect(report.regressions).toEqual([]);
    }
  });

  it('does not call a region that is always worse a regression (it did not move)', () => {
    const report = findRegressions(
      [
        rateAnswer(
          ['region'],
          [
            { dims: ['eu'], users: 800, rate: flat(0.03) },
            { dims: ['us'], users: 800, rate: flat(0.04) },
            { dims: ['ap'], users: 500, rate: flat(0.09) },
          ],
        ),
      ],
      K,
    );
    expect(report.regressions).toEqual([]);
  });

  it('never reads a group the k gate hid, however much it rose', () => {
    const answer = rateAnswer(
      ['product_model', 'firmware_version'],
      [
        { dims: ['cam', '3.1'], users: 400, rate: flat(0.05) },
        { dims: ['cam', '3.2'], users: 6, rate: (w) => (w === last ? 0.9 : 0.05) },
        { dims: ['cam', '3.3'], users: 5, rate: flat(0.05) },
        { dims: ['plug', '5.4'], users: 600, rate: flat(0.03) },
      ],
    );
    const report = findRegressions([answer], K);
    expect(report.regressions).toEqual([]);
    expect(report.groups.suppressed).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(report)).not.toContain('3.2');
  });

  it('ignores a rise too small to matter even when a huge group makes it significant', () => {
    const answer = rateAnswer(
      ['region'],
      [
        { dims: ['eu'], users: 20_000, rate: (w) => (w === last ? 0.055 : 0.05) },
        { dims: ['us'], users: 20_000, rate: flat(0.05) },
      ],
    );
    const report = findRegressions([answer], K);
    expect(report.regressions).toEqual([]);
  });

  it('needs at least max(k, 30) users on each side', () => {
    const answer = rateAnswer(
      ['region'],
      [
        { dims: ['eu'], users: 25, rate: (w) => (w === last ? 0.6 : 0.05) },
        { dims: ['us'], users: 400, rate: flat(0.05) },
      ],
    );
    const report = findRegressions([answer], K);
    expect(report.regressions).toEqual([]);
    expect(report.groups.tooSmall).toBe(1);
  });

  it('finds a time to first connection whose median doubled (log-normal median test)', () => {
    const cells: Cell[] = [];
    const totalCells: Cell[] = [];
    WEEKS.forEach((period, w) => {
      const slow = w === last;
      cells.push(
        { period, dims: ['cam', '3.1'], values: { p50: 3600, p90: 14_400 }, units: [300] },
        {
          period,
          dims: ['cam', '3.2'],
          values: { p50: slow ? 9000 : 3700, p90: slow ? 36_000 : 14_000 },
          units: [300],
        },
        { period, dims: ['plug', '5.4'], values: { p50: 1800, p90: 7200 }, units: [500] },
      );
      totalCells.push({ period, dims: [], values: { p50: 3000, p90: 12_000 }, units: [1100] });
    });
    const totals = new Map(totalCells.map((c) => [c.period, c.units]));
    const answer: MetricAnswer = {
      metric: 'time_to_first_connection',
      description: 'Time from activation to the first successful connection',
      format: 'seconds',
      grain: 'week',
      by: ['product_model', 'firmware_version'],
      from: WEEKS[0] as string,
      to: '2026-11-09',
      k: K,
      outputs: ['p50', 'p90'],
      groups: suppress(cells, totals, K),
      totals: suppress(totalCells, totals, K),
    };
    const report = findRegressions([answer], K);
    expect(report.regressions.map((r) => [r.metric, r.dims, r.output, r.value])).toEqual([
      ['time_to_first_connection', ['cam', '3.2'], 'p50', 9000],
    ]);
  });
});

describe('statistics', () => {
  it('has the normal tail and Benjamini–Hochberg right', () => {
    expect(normalUpperTail(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalUpperTail(0)).toBeCloseTo(0.5, 6);
    expect(normalUpperTail(-1.644854)).toBeCloseTo(0.95, 6);
    const q = benjaminiHochberg([0.01, 0.04, 0.03, 0.5]);
    expect(q[0]).toBeCloseTo(0.04, 10);
    expect(q[1]).toBeCloseTo(0.05333333, 6);
    expect(q[2]).toBeCloseTo(0.05333333, 6);
    expect(q[3]).toBeCloseTo(0.5, 10);
  });
});
