import { discreteLaplace } from './discrete-noise.ts';
import type { RandomSource } from './random-source.ts';
import { exactRational, type Rational } from './rational.ts';

/** A noised value with the half-width of its two-sided confidence interval. */
export interface NoisyValue {
  readonly value: number;
  /** value ± halfWidth holds the exact value with probability ≥ 1 − alpha. */
  readonly halfWidth: number;
}

/** Confidence level of every interval shown: 95 %. */
export const ALPHA = 0.05;

/**
 * Half-width h of the central interval of discrete Laplace noise with scale λ (in steps):
 * P(|Z| ≥ m) = 2e^{−m/λ}/(1 + e^{−1/λ}) for m ≥ 1, so the smallest h with P(|Z| > h) ≤ α.
 * The interval is no privacy matter (it depends on public parameters only): doubles are fine here.
 */
export function laplaceHalfWidth(scale: number, alpha = ALPHA): number {
  const m = Math.ceil(scale * Math.log(2 / (alpha * (1 + Math.exp(-1 / scale)))));
  return Math.max(0, m - 1);
}

/** λ = Δ/ε as an exact rational (Δ a positive integer). */
function scaleOf(sensitivity: bigint, epsilon: number): Rational {
  const e = exactRational(epsilon);
  if (e.num === 0n) throw new RangeError('epsilon is positive');
  return { num: sensitivity * e.den, den: e.num };
}

/**
 * An integer (a count, a bounded sum of whole numbers) plus discrete Laplace noise of scale Δ/ε:
 * ε-differentially private when one privacy unit changes x by at most Δ.
 *
 * @example
 * noisyInteger(cryptoRandom, 1234, 3, 0.5); // { value: 1229, halfWidth: 17 }
 */
export function noisyInteger(
  rng: RandomSource,
  x: number,
  sensitivity: number,
  epsilon: number,
  alpha = ALPHA,
): NoisyValue {
  if (!Number.isSafeInteger(x)) throw new RangeError('an integer answer is a safe integer');
  if (!Number.isSafeInteger(sensitivity) || sensitivity < 1)
    throw new RangeError('sensitivity is a whole ≥ 1');
  const z = discreteLaplace(rng, scaleOf(BigInt(sensitivity), epsilon));
  return { value: x + Number(z), halfWidth: laplaceHalfWidth(sensitivity / epsilon, alpha) };
}

/** Noise steps per unit of scale: the granularity is the power of two near scale/2^STEPS_BITS. */
const STEPS_BITS = 20;

/**
 * A real value with noise, by discretization (as Google's differential-privacy library does for
 * its secure noise): x is rounded to a multiple of a power-of-two granularity g, integer discrete
 * Laplace noise is added in steps of g, and the result is that multiple of g. Rounding moves two
 * neighbouring answers at most one step further apart, so the sensitivity in steps is ⌊Δ/g⌋ + 1.
 * The output is an exact multiple of g: its low bits carry nothing about x.
 *
 * @example
 * noisyReal(cryptoRandom, 41.7, 10, 1); // { value: 44.21…, halfWidth: 30.0… }
 */
export function noisyReal(
  rng: RandomSource,
  x: number,
  sensitivity: number,
  epsilon: number,
  alpha = ALPHA,
): NoisyValue {
  if (!Number.isFinite(x)) throw new RangeError('a real answer is finite');
  if (!(sensitivity > 0) || !Number.isFinite(sensitivity)) throw new RangeError('sensitivity is positive');
  const g = 2 ** (Math.ceil(Math.log2(sensitivity / epsilon)) - STEPS_BITS);
  const steps = Math.floor(sensitivity / g) + 1;
  const z = discreteLaplace(rng, scaleOf(BigInt(steps), epsilon));
  const value = (Math.round(x / g) + Number(z)) * g;
  return { value, halfWidth: laplaceHalfWidth(steps / epsilon, alpha) * g };
}

/**
 * A ratio from a noised numerator and denominator (each with its own share of ε): the interval
 * is the range of n/d over both intervals, each at α/2 (Bonferroni), so it holds with ≥ 1 − α.
 * A denominator whose interval reaches 0 gives an unbounded interval (null value when ≤ 0).
 */
export function noisyRatio(
  num: NoisyValue,
  den: NoisyValue,
): { readonly value: number | null; readonly low: number; readonly high: number } {
  if (den.value <= 0) return { value: null, low: Number.NEGATIVE_INFINITY, high: Number.POSITIVE_INFINITY };
  const value = num.value / den.value;
  const dLow = den.value - den.halfWidth;
  if (dLow <= 0) return { value, low: Number.NEGATIVE_INFINITY, high: Number.POSITIVE_INFINITY };
  const ends = [num.value - num.halfWidth, num.value + num.halfWidth].flatMap((n) => [
    n / dLow,
    n / (den.value + den.halfWidth),
  ]);
  return { value, low: Math.min(...ends), high: Math.max(...ends) };
}
