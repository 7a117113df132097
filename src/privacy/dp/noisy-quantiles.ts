import { laplaceHalfWidth, noisyInteger } from './noise.ts';
import type { RandomSource } from './random-source.ts';

/** A quantile read from a noised histogram, with the range that holds the exact one. */
export interface NoisyQuantile {
  /** The midpoint of the bucket where the noised cumulative count reaches q·n; null when the noised n ≤ 0. */
  readonly value: number | null;
  readonly low: number;
  readonly high: number;
}

/**
 * How far the first j noised counts' sum can be from the exact sum, for every j at once with
 * probability ≥ 1 − α, when each count has discrete Laplace noise of scale t. Two bounds, the
 * smaller taken, each over a union of the B prefixes (α/B each):
 * - each count within its own α/B half-width h, so a prefix within j·h;
 * - discrete Laplace is ⌊E₁⌋ − ⌊E₂⌋ for exponentials E of mean t (a geometric is a floored
 *   exponential), so a sum of j of them is within j of a sum of j Laplace(t), which exceeds λ with
 *   probability ≤ 2·exp(−λ²/(8jt²)) for λ < 2√2·j·t (Chan, Shi, Song, "Private and Continual
 *   Release of Statistics", 2011, Lemma 2.8).
 */
export function prefixErrorBounds(buckets: number, scale: number, alpha: number): number[] {
  const share = alpha / buckets;
  const h = laplaceHalfWidth(scale, share);
  const log = Math.log(2 / share);
  return Array.from({ length: buckets }, (_, i) => {
    const j = i + 1;
    const lambda = scale * Math.sqrt(8 * j * log);
    const summed = lambda < 2 * Math.SQRT2 * j * scale ? Math.ceil(lambda) + j : Number.POSITIVE_INFINITY;
    return Math.min(j * h, summed);
  });
}

/**
 * Quantiles under differential privacy from a histogram over a bounded, bucketed domain: each
 * bucket's count (every bucket, empty ones too) gets discrete Laplace noise of scale Δ/ε, where Δ
 * bounds how many values one privacy unit adds to the histogram; every quantile is then read from
 * the noised cumulative counts, which is post-processing and spends nothing more. This is the
 * histogram (CDF) approach to private quantiles, as in Google's differential-privacy library's
 * bounded quantiles (a tree of noised counts there, one level here) and Smith, "Privacy-preserving
 * statistical estimation with optimal convergence rates" (STOC 2011) for the bucketed domain.
 *
 * The interval: with probability ≥ 1 − α every noised prefix sum is within its bound of the exact
 * one (prefixErrorBounds); the exact quantile's bucket then lies between the first bucket whose
 * upper prefix bound reaches q·(lowest total) and the first whose lower bound reaches q·(highest
 * total). Values outside the domain were clamped into its end buckets before counting.
 *
 * @example
 * noisyQuantiles(cryptoRandom, counts, edges, [0.5, 0.9], 5, 0.3);
 */
export function noisyQuantiles(
  rng: RandomSource,
  counts: readonly number[],
  edges: readonly number[],
  quantiles: readonly number[],
  sensitivity: number,
  epsilon: number,
  alpha: number,
): NoisyQuantile[] {
  const buckets = counts.length;
  if (edges.length !== buckets + 1) throw new RangeError('a histogram of B buckets has B + 1 edges');
  const noised = counts.map((c) => noisyInteger(rng, c, sensitivity, epsilon).value);
  const bounds = prefixErrorBounds(buckets, sensitivity / epsilon, alpha);
  const prefix: number[] = [];
  const clamped: number[] = [];
  let raw = 0;
  let kept = 0;
  for (const n of noised) {
    raw += n;
    kept += Math.max(0, n);
    prefix.push(raw);
    clamped.push(kept);
  }
  const at = (i: number) => edges[i] as number;
  const first = (ok: (j: number) => boolean) => {
    for (let j = 0; j < buckets; j++) if (ok(j)) return j;
    return buckets - 1;
  };
  const totalLow = Math.max(0, raw - (bounds[buckets - 1] as number));
  const totalHigh = raw + (bounds[buckets - 1] as number);
  return quantiles.map((q) => {
    // The value: none when the noised total is not positive; otherwise negative noised counts read
    // as 0 (post-processing) and the bucket reaching q·n.
    const value =
      raw <= 0 || kept <= 0
        ? null
        : (() => {
            const j = first((i) => (clamped[i] as number) >= q * kept);
            return (at(j) + at(j + 1)) / 2;
          })();
    const lowBucket = first((i) => (prefix[i] as number) + (bounds[i] as number) >= q * totalLow);
    const highBucket = first((i) => (prefix[i] as number) - (bounds[i] as number) >= q * totalHigh);
    return { value, low: at(lowBucket), high: at(highBucket + 1) };
  });
}
