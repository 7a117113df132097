/*
 * Exact samplers for the discrete Laplace and discrete Gaussian distributions, following
 * C. L. Canonne, G. Kamath, T. Steinke, "The Discrete Gaussian for Differential Privacy",
 * NeurIPS 2020 (arXiv:2004.00010), Algorithms 1–3. Every step is integer or rational arithmetic on
 * BigInt fed by uniform integers (random-source.ts): no floating point touches the noise, so the
 * attacks on textbook floating-point Laplace (Mironov, CCS 2012: the low bits of a double reveal
 * the value it was added to) have nothing to read. Google's differential-privacy library and
 * OpenDP take the same route (integer noise on a value rounded to a granularity); see noise.ts.
 */
import type { RandomSource } from './random-source.ts';
import { isqrt, type Rational } from './rational.ts';

/** Bernoulli(num/den), 0 ≤ num ≤ den. */
export function bernoulli(rng: RandomSource, p: Rational): boolean {
  return rng.below(p.den) < p.num;
}

/** Bernoulli(exp(−γ)) for a rational γ ≥ 0 (CKS20 Algorithm 1). */
export function bernoulliExp(rng: RandomSource, gamma: Rational): boolean {
  let { num, den } = gamma;
  // exp(−γ) = exp(−1)^⌊γ⌋ · exp(−(γ − ⌊γ⌋)): each whole unit is one Bernoulli(exp(−1)).
  while (num > den) {
    if (!bernoulliExpUnit(rng, { num: 1n, den: 1n })) return false;
    num -= den;
  }
  return bernoulliExpUnit(rng, { num, den });
}

/** Bernoulli(exp(−γ)) for γ in [0, 1]: the parity of the first k whose Bernoulli(γ/k) fails. */
function bernoulliExpUnit(rng: RandomSource, gamma: Rational): boolean {
  let k = 1n;
  while (bernoulli(rng, { num: gamma.num, den: gamma.den * k })) k += 1n;
  return k % 2n === 1n;
}

/**
 * One sample of the discrete Laplace distribution with scale t/s, P(x) ∝ exp(−|x|·s/t)
 * (CKS20 Algorithm 2). Its variance is 2e^{−s/t}/(1−e^{−s/t})².
 *
 * @example
 * discreteLaplace(cryptoRandom, { num: 10n, den: 1n }); // scale 10: ε = 0.1 for a count
 */
export function discreteLaplace(rng: RandomSource, scale: Rational): bigint {
  const t = scale.num;
  const s = scale.den;
  if (t < 1n || s < 1n) throw new RangeError('the scale of discrete Laplace noise is positive');
  for (;;) {
    const u = rng.below(t);
    if (!bernoulliExp(rng, { num: u, den: t })) continue;
    let v = 0n;
    while (bernoulliExp(rng, { num: 1n, den: 1n })) v += 1n;
    const y = (u + t * v) / s;
    const negative = rng.below(2n) === 1n;
    if (negative && y === 0n) continue;
    return negative ? -y : y;
  }
}

/**
 * One sample of the discrete Gaussian N_Z(0, σ²), σ² = sigma2 rational, P(x) ∝ exp(−x²/2σ²)
 * (CKS20 Algorithm 3: discrete Laplace proposals with scale ⌊σ⌋+1, accepted with probability
 * exp(−(|y| − σ²/t)²/2σ²)). Its variance is at most σ².
 *
 * @example
 * discreteGaussian(cryptoRandom, { num: 25n, den: 1n }); // σ = 5
 */
export function discreteGaussian(rng: RandomSource, sigma2: Rational): bigint {
  const { num: a, den: b } = sigma2;
  if (a < 1n || b < 1n) throw new RangeError('the variance of discrete Gaussian noise is positive');
  const t = isqrt(a / b) + 1n;
  for (;;) {
    const y = discreteLaplace(rng, { num: t, den: 1n });
    const absY = y < 0n ? -y : y;
    // (|y| − a/(bt))² / (2a/b) = (|y|·b·t − a)² / (2·a·b·t²), exactly.
    const d = absY * b * t - a;
    if (bernoulliExp(rng, { num: d * d, den: 2n * a * b * t * t })) return y;
  }
}
