/** The upper tail of the standard normal, P(Z > z), to about 1e-7 (Abramowitz & Stegun 7.1.26 on erfc). */
export function normalUpperTail(z: number): number {
  if (Number.isNaN(z)) return 1;
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erfc = poly * Math.exp(-x * x);
  return z >= 0 ? erfc / 2 : 1 - erfc / 2;
}

/**
 * Benjamini–Hochberg adjusted p-values (q-values), in the order given: rejecting every test whose
 * q is at most α keeps the expected share of false discoveries among them at most α.
 *
 * @example
 * benjaminiHochberg([0.01, 0.04, 0.03]); // [0.03, 0.04, 0.04]
 */
export function benjaminiHochberg(pValues: readonly number[]): number[] {
  const m = pValues.length;
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const q = new Array<number>(m).fill(1);
  let min = 1;
  for (let rank = m; rank >= 1; rank--) {
    const [p, i] = order[rank - 1] as readonly [number, number];
    min = Math.min(min, (p * m) / rank);
    q[i] = min;
  }
  return q;
}
