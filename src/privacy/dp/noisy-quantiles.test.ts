import { describe, expect, it } from 'vitest';
import { noisyQuantiles, prefixErrorBounds } from './noisy-quantiles.ts';
import { seededRandom } from './random-source.ts';

/** 64 buckets, 0 then 1 s … 10⁷ s on a log scale (as percentile-domain.ts makes them). */
const EDGES = [0, ...Array.from({ length: 64 }, (_, k) => 10 ** ((7 * k) / 63))];

/** The bucket holding a value (values past the top counted in the last). */
const bucketOf = (v: number) => {
  for (let i = 1; i < EDGES.length - 1; i++) if (v < (EDGES[i] as number)) return i - 1;
  return EDGES.length - 2;
};

/** A histogram of `n` values, log-normal around `median` seconds, from a seeded stream. */
function histogram(n: number, median: number, seed: string): { counts: number[]; values: number[] } {
  const rng = seededRandom(seed);
  const u = () => (Number(rng.below(1n << 52n)) + 0.5) / 2 ** 52;
  const values = Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
    return median * Math.exp(z);
  });
  const counts = Array.from({ length: 64 }, () => 0);
  for (const v of values) counts[bucketOf(v)] = (counts[bucketOf(v)] as number) + 1;
  return { counts, values: values.sort((a, b) => a - b) };
}

const exactBucket = (values: number[], q: number) =>
  bucketOf(values[Math.min(values.length - 1, Math.floor(q * (values.length - 1)))] as number);

describe('private quantiles from a noised histogram', () => {
  it('bounds every prefix by the smaller of the per-count and the summed-Laplace bound', () => {
    const b = prefixErrorBounds(64, 10, 0.05);
    expect(b[0]).toBeGreaterThan(0);
    for (const [i, x] of b.entries()) expect(x).toBeLessThanOrEqual((i + 1) * (b[0] as number));
    // Past a few buckets the summed bound grows like √j, far below j times one count's.
    expect(b[63]).toBeLessThan(64 * (b[0] as number));
    expect(b[63]).toBeLessThan(10 * Math.sqrt(8 * 64 * Math.log((2 * 64) / 0.05)) + 65);
  });

  it('lands near the exact median of a large group, inside its interval', () => {
    const { counts, values } = histogram(5000, 600, 'quantile-large');
    const [p50, p90] = noisyQuantiles(seededRandom('q-noise-1'), counts, EDGES, [0.5, 0.9], 5, 0.3, 0.05);
    const median = values[2500] as number;
    expect(p50?.value).not.toBeNull();
    // One bucket is ×1.29: within two buckets of the exact median.
    expect(Math.abs(Math.log((p50?.value as number) / median))).toBeLessThan(2 * Math.log(1.3));
    expect(p50?.low).toBeLessThanOrEqual(median);
    expect(p50?.high).toBeGreaterThanOrEqual(median);
    expect(p90?.value as number).toBeGreaterThan(p50?.value as number);
  });

  it('covers the exact quantile at least 95 % of the time over many noised releases', () => {
    const { counts, values } = histogram(300, 120, 'quantile-small');
    const rng = seededRandom('q-noise-coverage');
    const trials = 400;
    let covered = 0;
    for (let t = 0; t < trials; t++) {
      const [p50] = noisyQuantiles(rng, counts, EDGES, [0.5], 2, 0.5, 0.05);
      const j = exactBucket(values, 0.5);
      if ((p50?.low as number) <= (EDGES[j] as number) && (p50?.high as number) >= (EDGES[j + 1] as number))
        covered++;
    }
    // The bound is conservative: with the fixed seed, every release covers it.
    expect(covered / trials).toBeGreaterThanOrEqual(0.95);
  });

  it('says nothing (null) about an empty histogram, and keeps its interval wide', () => {
    const zeros = Array.from({ length: 64 }, () => 0);
    const rng = seededRandom('q-empty');
    let nulls = 0;
    for (let t = 0; t < 50; t++) {
      const [p] = noisyQuantiles(rng, zeros, EDGES, [0.5], 1, 1, 0.05);
      if (p?.value === null) nulls++;
      expect(p?.low).toBe(0);
    }
    // Noise alone rarely adds up to a positive total: mostly null, never a confident value.
    expect(nulls).toBeGreaterThan(0);
  });

  it('refuses edges that do not fit the histogram', () => {
    expect(() => noisyQuantiles(seededRandom('x'), [1, 2], [0, 1], [0.5], 1, 1, 0.05)).toThrow(RangeError);
  });
});
