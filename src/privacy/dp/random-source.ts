import { createHmac, randomBytes } from 'node:crypto';

/** Uniform integers from a stream of random bytes: the only randomness the noise uses. */
export interface RandomSource {
  /** A uniform integer in [0, n), n ≥ 1. */
  below(n: bigint): bigint;
}

/** Uniform in [0, n) by rejection from whole bytes: no modulo bias, no floating point. */
function uniformBelow(n: bigint, bytes: (count: number) => Buffer): bigint {
  if (n < 1n) throw new RangeError('the bound of a uniform integer is at least 1');
  if (n === 1n) return 0n;
  const bits = (n - 1n).toString(2).length;
  const count = Math.ceil(bits / 8);
  const mask = (1n << BigInt(bits)) - 1n;
  for (;;) {
    const x = BigInt(`0x${bytes(count).toString('hex')}`) & mask;
    if (x < n) return x;
  }
}

/**
 * The operating system's cryptographic generator (node:crypto): what every served answer uses.
 *
 * @example
 * cryptoRandom.below(6n); // a fair die, 0..5
 */
export const cryptoRandom: RandomSource = { below: (n) => uniformBelow(n, randomBytes) };

/**
 * A deterministic stream, HMAC-SHA256(seed, counter) in blocks (the HMAC-DRBG idea, without its
 * reseeding): the same seed gives the same noise. For tests and benchmarks only; an answer noised
 * from a known seed protects nothing.
 *
 * @example
 * const rng = seededRandom('noise-test-1');
 */
export function seededRandom(seed: string): RandomSource {
  let counter = 0n;
  let pool = Buffer.alloc(0);
  const bytes = (count: number): Buffer => {
    while (pool.length < count) {
      const block = createHmac('sha256', seed).update(counter.toString()).digest();
      counter += 1n;
      pool = Buffer.concat([pool, block]);
    }
    const out = pool.subarray(0, count);
    pool = pool.subarray(count);
    return out;
  };
  return { below: (n) => uniformBelow(n, bytes) };
}
