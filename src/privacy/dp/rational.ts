/** A non-negative rational number num/den, both integers, den ≥ 1. */
export interface Rational {
  readonly num: bigint;
  readonly den: bigint;
}

/**
 * The exact value of a finite non-negative double as a rational (every double is m·2^e): no
 * rounding enters the noise parameters.
 *
 * @example
 * exactRational(0.5); // { num: 1n, den: 2n }
 */
export function exactRational(x: number): Rational {
  if (!Number.isFinite(x) || x < 0) throw new RangeError('a noise parameter is a finite number ≥ 0');
  let num = x;
  let den = 1n;
  // Doubling is exact until the value is whole (at most 1074 steps for subnormals).
  while (!Number.isInteger(num)) {
    num *= 2;
    den *= 2n;
  }
  return reduce({ num: BigInt(num), den });
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

export function reduce(r: Rational): Rational {
  const g = gcd(r.num, r.den);
  return g <= 1n ? r : { num: r.num / g, den: r.den / g };
}

/** floor(sqrt(n)) for n ≥ 0, by Newton's method on integers. */
export function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n)))) + 1n;
  for (;;) {
    const y = (x + n / x) >> 1n;
    if (y >= x) break;
    x = y;
  }
  while (x * x > n) x -= 1n;
  while ((x + 1n) * (x + 1n) <= n) x += 1n;
  return x;
}
