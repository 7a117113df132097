import { discreteLaplace } from './discrete-noise.ts';
import type { RandomSource } from './random-source.ts';
import { exactRational } from './rational.ts';

/** How a group is admitted: the noise budget and the chance a one-unit group slips through. */
export interface SelectionParams {
  readonly epsilon: number;
  readonly delta: number;
  /** At most this many groups of one period hold a unit (the contribution bound). */
  readonly maxGroups: number;
}

/**
 * The threshold τ on (distinct units + noise) above which a group is released. Each unit is in
 * at most maxGroups groups, so each group gets ε/maxGroups and δ/maxGroups. A group one unit
 * makes exist (1 unit) is released when its noise Z ≥ τ − 1, and for discrete Laplace of scale λ,
 * P(Z ≥ m) = e^{−m/λ}/(1 + e^{−1/λ}) ≤ e^{−m/λ}: τ = 1 + ⌈λ·ln(1/δ′)⌉ keeps that ≤ δ′
 * (Laplace thresholding, Korolova et al. 2009; Google's partition selection, Desfontaines et al. 2022).
 */
export function selectionThreshold(p: SelectionParams): number {
  const lambda = p.maxGroups / p.epsilon;
  return 1 + Math.ceil(lambda * Math.log(p.maxGroups / p.delta));
}

/**
 * Whether a group with `units` distinct privacy units is released: units plus discrete Laplace
 * noise of scale maxGroups/ε reaches the threshold. Rare groups stay hidden, and so does the fact
 * that they exist.
 *
 * @example
 * releaseGroup(cryptoRandom, 3, { epsilon: 0.5, delta: 1e-6, maxGroups: 1 }); // false (almost surely)
 */
export function releaseGroup(rng: RandomSource, units: number, p: SelectionParams): boolean {
  if (!(p.delta > 0 && p.delta < 1)) throw new RangeError('delta is in (0, 1)');
  const e = exactRational(p.epsilon);
  const z = discreteLaplace(rng, { num: BigInt(p.maxGroups) * e.den, den: e.num });
  return units + Number(z) >= selectionThreshold(p);
}
