import { describe, expect, it } from 'vitest';
import { bernoulliExp, discreteGaussian, discreteLaplace } from './discrete-noise.ts';
import { laplaceHalfWidth, noisyInteger, noisyRatio, noisyReal } from './noise.ts';
import { releaseGroup, selectionThreshold } from './partition-selection.ts';
import { seededRandom } from './random-source.ts';
import { exactRational } from './rational.ts';

/*
 * Statistical tests with fixed seeds: deterministic on every run. Each check is set so that a
 * correct sampler would fail it with probability below 1e-6 on a fresh seed (z = 5 for means,
 * chi-square at the 1 − 1e-6 quantile), so a seed change cannot make the suite flaky in practice.
 */
const Z = 5;
const N = 20_000;

/** The chi-square quantile at 1 − 1e-6 (Wilson–Hilferty, z = 4.753). */
function chiSquareCritical(df: number): number {
  const z = 4.753;
  return df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
}

/** Chi-square of samples against a pmf on the integers; bins with expected count < 5 are lumped. */
function chiSquare(samples: readonly number[], pmf: (x: number) => number, span: number) {
  const counts = new Map<number, number>();
  for (const s of samples) counts.set(s, (counts.get(s) ?? 0) + 1);
  let stat = 0;
  let df = -1;
  let restObserved = samples.length;
  let restExpected = samples.length;
  for (let x = -span; x <= span; x++) {
    const expected = pmf(x) * samples.length;
    if (expected < 5) continue;
    const observed = counts.get(x) ?? 0;
    stat += (observed - expected) ** 2 / expected;
    restObserved -= observed;
    restExpected -= expected;
    df += 1;
  }
  if (restExpected >= 5) {
    stat += (restObserved - restExpected) ** 2 / restExpected;
    df += 1;
  }
  return { stat, df };
}

function moments(samples: readonly number[]) {
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  const variance = samples.reduce((a, b) => a + (b - mean) ** 2, 0) / (samples.length - 1);
  return { mean, variance };
}

function laplacePmf(scale: number) {
  const q = Math.exp(-1 / scale);
  return (x: number) => ((1 - q) / (1 + q)) * q ** Math.abs(x);
}

function gaussianPmf(sigma2: number) {
  let norm = 0;
  for (let x = -2000; x <= 2000; x++) norm += Math.exp(-(x * x) / (2 * sigma2));
  return (x: number) => Math.exp(-(x * x) / (2 * sigma2)) / norm;
}

/** Mean, variance and fourth central moment of a symmetric pmf. */
function pmfMoments(pmf: (x: number) => number, span: number) {
  let m2 = 0;
  let m4 = 0;
  for (let x = -span; x <= span; x++) {
    m2 += pmf(x) * x * x;
    m4 += pmf(x) * x ** 4;
  }
  return { m2, m4 };
}

function checkAgainstPmf(samples: number[], pmf: (x: number) => number, span: number) {
  const { m2, m4 } = pmfMoments(pmf, span * 4);
  const { mean, variance } = moments(samples);
  expect(Math.abs(mean)).toBeLessThan(Z * Math.sqrt(m2 / samples.length));
  expect(Math.abs(variance - m2)).toBeLessThan(Z * Math.sqrt((m4 - m2 * m2) / samples.length));
  const { stat, df } = chiSquare(samples, pmf, span);
  expect(df).toBeGreaterThan(3);
  expect(stat).toBeLessThan(chiSquareCritical(df));
}

describe('exact rationals', () => {
  it('turns a double into its exact value', () => {
    expect(exactRational(0.5)).toEqual({ num: 1n, den: 2n });
    expect(exactRational(3)).toEqual({ num: 3n, den: 1n });
    const r = exactRational(0.1);
    expect(Number(r.num) / Number(r.den)).toBe(0.1);
    expect(r.den).toBe(2n ** 55n);
  });
});

describe('Bernoulli(exp(−γ))', () => {
  for (const gamma of [0.3, 1, 2.5]) {
    it(`has mean exp(−${gamma})`, () => {
      const rng = seededRandom(`bernoulli-${gamma}`);
      const g = exactRational(gamma);
      let hits = 0;
      for (let i = 0; i < N; i++) if (bernoulliExp(rng, g)) hits++;
      const p = Math.exp(-gamma);
      expect(Math.abs(hits / N - p)).toBeLessThan(Z * Math.sqrt((p * (1 - p)) / N));
    });
  }
});

describe('discrete Laplace', () => {
  for (const [num, den] of [
    [3n, 1n],
    [5n, 2n],
  ] as const) {
    it(`matches the exact pmf at scale ${num}/${den} (mean, variance, chi-square)`, () => {
      const rng = seededRandom(`laplace-${num}-${den}`);
      const samples = Array.from({ length: N }, () => Number(discreteLaplace(rng, { num, den })));
      checkAgainstPmf(samples, laplacePmf(Number(num) / Number(den)), 40);
    });
  }

  it('stays inside its 95 % interval about 95 % of the time, never less than that', () => {
    const rng = seededRandom('laplace-tail');
    const scale = 4;
    const h = laplaceHalfWidth(scale);
    let outside = 0;
    for (let i = 0; i < N; i++)
      if (Math.abs(Number(discreteLaplace(rng, { num: 4n, den: 1n }))) > h) outside++;
    // The interval is the smallest with P(outside) ≤ 5 %: the rate is at most 5 % (plus sampling).
    expect(outside / N).toBeLessThan(0.05 + Z * Math.sqrt((0.05 * 0.95) / N));
    expect(outside / N).toBeGreaterThan(0.02);
  });
});

describe('discrete Gaussian', () => {
  for (const [num, den] of [
    [4n, 1n],
    [9n, 4n],
    [50n, 1n],
  ] as const) {
    it(`matches the exact pmf at σ² = ${num}/${den}`, () => {
      const rng = seededRandom(`gaussian-${num}-${den}`);
      const samples = Array.from({ length: N }, () => Number(discreteGaussian(rng, { num, den })));
      checkAgainstPmf(samples, gaussianPmf(Number(num) / Number(den)), 60);
    });
  }
});

describe('noised answers', () => {
  it('noises an integer around its value with the stated interval', () => {
    const rng = seededRandom('noisy-integer');
    const draws = Array.from({ length: 5000 }, () => noisyInteger(rng, 1000, 2, 0.5));
    expect(draws.every((d) => Number.isInteger(d.value))).toBe(true);
    const { mean } = moments(draws.map((d) => d.value));
    expect(Math.abs(mean - 1000)).toBeLessThan(Z * Math.sqrt((2 * 16) / 5000) + 0.01);
    const covered = draws.filter((d) => Math.abs(d.value - 1000) <= d.halfWidth).length / draws.length;
    expect(covered).toBeGreaterThan(0.95 - Z * Math.sqrt((0.05 * 0.95) / 5000));
  });

  it('noises a real value on a power-of-two grid, unbiased, covered by its interval', () => {
    const rng = seededRandom('noisy-real');
    const x = 41.734;
    const draws = Array.from({ length: 5000 }, () => noisyReal(rng, x, 10, 1));
    const g = 2 ** (Math.ceil(Math.log2(10)) - 20);
    expect(draws.every((d) => Number.isInteger(d.value / g))).toBe(true);
    const { mean, variance } = moments(draws.map((d) => d.value));
    // Laplace of scale ≈ 10: variance ≈ 200.
    expect(Math.abs(mean - x)).toBeLessThan(Z * Math.sqrt(200 / 5000));
    expect(variance).toBeGreaterThan(150);
    expect(variance).toBeLessThan(260);
    const covered = draws.filter((d) => Math.abs(d.value - x) <= d.halfWidth).length / draws.length;
    expect(covered).toBeGreaterThan(0.95 - Z * Math.sqrt((0.05 * 0.95) / 5000));
  });

  it('bounds a ratio by its parts', () => {
    const r = noisyRatio({ value: 20, halfWidth: 5 }, { value: 100, halfWidth: 10 });
    expect(r.value).toBe(0.2);
    expect(r.low).toBeCloseTo(15 / 110);
    expect(r.high).toBeCloseTo(25 / 90);
    expect(noisyRatio({ value: 1, halfWidth: 1 }, { value: 5, halfWidth: 6 }).high).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});

describe('private partition selection', () => {
  it('releases a one-unit group with probability at most δ per group', () => {
    const p = { epsilon: 1, delta: 0.05, maxGroups: 1 };
    const rng = seededRandom('selection-rare');
    let released = 0;
    for (let i = 0; i < N; i++) if (releaseGroup(rng, 1, p)) released++;
    expect(released / N).toBeLessThan(0.05 + Z * Math.sqrt((0.05 * 0.95) / N));
  });

  it('releases a large group almost always and splits the budget over the groups a unit can reach', () => {
    const p = { epsilon: 1, delta: 1e-6, maxGroups: 2 };
    expect(selectionThreshold(p)).toBe(1 + Math.ceil(2 * Math.log(2e6)));
    const rng = seededRandom('selection-large');
    let released = 0;
    for (let i = 0; i < 1000; i++) if (releaseGroup(rng, 200, p)) released++;
    expect(released).toBe(1000);
  });
});
