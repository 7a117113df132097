import { describe, expect, it } from 'vitest';
import { eventMetrics } from '../../test/helpers/event-metrics.ts';
import { seededRandom } from '../privacy/dp/index.ts';
import { dpQuantities, noiseAnswer } from './dp-answer.ts';
import { parseMetrics } from './index.ts';
import { suppress } from './k-anonymity.ts';
import type { MetricRow } from './metrics-engine.ts';

const FILE = eventMetrics(
  [
    ['attempts', '{ count: rows }'],
    ['wait', '{ sum: duration_ms }'],
    ['fail_rate', '{ ratio: [ { count: rows, where: { outcome: fail } }, { count: rows } ] }'],
    ['duration', '{ percentiles: [0.5], of: duration_ms }'],
  ],
  ['devices.product_model'],
  'dp.metrics.yaml',
);
const def = (name: string) => FILE.metrics.get(name)!;
const BOUNDS = { maxRows: 1, maxGroups: 1, clamp: { 'connection_events.duration_ms': [0, 1000] as const } };
const plan = (epsilon: number) => ({ epsilon, delta: 1e-6, bounds: BOUNDS, periods: 1 });
const Z = 5;

describe('differentially private answers', () => {
  it('releases large groups with an interval, hides rare ones, and noises the totals', () => {
    // period, d0, num, units0, is_total
    const rows: MetricRow[] = [
      ['2026-11-30', 'cam', 5000, 5000, 0],
      ['2026-11-30', 'rare', 1, 1, 0],
      ['2026-11-30', null, 5001, 5001, 1],
    ];
    const { groups, totals } = noiseAnswer(rows, def('attempts'), 1, plan(1), seededRandom('answer'));
    // The rare group is left out, not listed: listing it would say that it exists.
    expect(groups.map((g) => [g.dims, g.suppressed])).toEqual([[['cam'], 'none']]);
    const cam = groups[0]!;
    const [lo, hi] = cam.intervals.value!;
    expect(lo).toBeLessThan(cam.values.value!);
    expect(hi).toBeGreaterThan(cam.values.value!);
    expect(Math.abs(cam.values.value! - 5000)).toBeLessThan(100);
    expect(totals).toHaveLength(1);
    expect(cam.units).toBeNull();
  });

  it('composes a ratio from a noised numerator and denominator', () => {
    const rows: MetricRow[] = [['2026-11-30', 300, 3000, 2800, 3000, 1]];
    const { totals } = noiseAnswer(rows, def('fail_rate'), 0, plan(1), seededRandom('ratio'));
    const v = totals[0]!.values.value!;
    const [lo, hi] = totals[0]!.intervals.value!;
    expect(Math.abs(v - 0.1)).toBeLessThan(0.02);
    expect(lo).toBeLessThan(v);
    expect(hi).toBeGreaterThan(v);
  });

  it('refuses percentiles and sums without clamp bounds', () => {
    const rows: MetricRow[] = [['2026-11-30', 1, 1, 1]];
    expect(() => noiseAnswer(rows, def('duration'), 0, plan(1), seededRandom('x'))).toThrow(
      expect.objectContaining({ code: 'FV_PRIVACY_UNSUPPORTED' }),
    );
    const unbounded = { ...plan(1), bounds: { ...BOUNDS, clamp: {} } };
    expect(() => noiseAnswer(rows, def('wait'), 0, unbounded, seededRandom('x'))).toThrow(
      expect.objectContaining({ code: 'FV_PRIVACY_UNSUPPORTED' }),
    );
  });

  it('stops the subtraction attack that recovers one user under k-anonymity', () => {
    // Two filtered answers whose populations differ by exactly one user (the victim): under
    // k-anonymity both pass (50 and 49 users ≥ k = 10) and their difference is the victim's value.
    const victim = 731;
    const others = 48_210;
    const withVictim = suppress(
      [{ period: 'p', dims: [], values: { value: others + victim }, units: [50] }],
      new Map([['p', [50]]]),
      10,
    );
    const without = suppress(
      [{ period: 'p', dims: [], values: { value: others }, units: [49] }],
      new Map([['p', [49]]]),
      10,
    );
    expect(Number(withVictim[0]!.values.value) - Number(without[0]!.values.value)).toBe(victim);

    // Under differential privacy (each answer ε = 0.5, the victim's contribution clamped to
    // [0, 1000]), the attacker guesses whether the victim's value is above the clamp's middle from
    // the difference. Pure ε-DP over both answers (ε = 1) caps any guess's accuracy at
    // e^ε / (1 + e^ε) ≈ 0.73, far from the certainty k-anonymity gave.
    const rng = seededRandom('subtraction-attack');
    const trials = 2000;
    let right = 0;
    let exact = 0;
    for (let i = 0; i < trials; i++) {
      const high = i % 2 === 0;
      const v = high ? 900 : 100;
      const a = noiseAnswer([['p', others + v, 50, 1]], def('wait'), 0, plan(0.5), rng).totals[0]!;
      const b = noiseAnswer([['p', others, 49, 1]], def('wait'), 0, plan(0.5), rng).totals[0]!;
      const diff = a.values.value! - b.values.value!;
      if (diff > 500 === high) right++;
      if (Math.abs(diff - v) < 1) exact++;
    }
    const bound = Math.exp(1) / (1 + Math.exp(1));
    expect(right / trials).toBeLessThan(bound + Z * Math.sqrt((bound * (1 - bound)) / trials));
    expect(exact / trials).toBeLessThan(0.01);
  });
});

describe('sensitivity of a ratio beside a distinct count of another column', () => {
  it('a count next to distinct devices takes max_rows rows per device row of a unit', () => {
    const file = parseMetrics(
      `version: 1
privacy_unit: user
metrics:
  per_device:
    measure: { ratio: [ { count: rows }, { count_distinct: device_id } ] }
    from: connection_events
    join: { devices: { on: [device_id, id] } }
    unit: devices.user_id
    time: ts
    dimensions: [devices.product_model]
`,
      'keyed.metrics.yaml',
    );
    const bounds = { maxRows: 3, maxGroups: 2, clamp: {} };
    expect(dpQuantities(file.metrics.get('per_device')!, bounds).map((q) => q.perPeriod)).toEqual([
      2 * 3 * 4,
      2 * 4,
    ]);
    expect(dpQuantities(def('fail_rate'), bounds).map((q) => q.perPeriod)).toEqual([2 * 4, 2 * 4]);
  });
});
