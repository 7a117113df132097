import type { MasterKey } from './key-file.ts';
import { paddedHmac } from './padded-hmac.ts';

/** Turns identifiers of one domain into 128-bit keyed pseudonyms. */
export interface Pseudonymizer {
  readonly domain: string;
  /** The pseudonym as an unsigned 128-bit integer (stored as a native UUID). */
  pseudonym(value: string): bigint;
}

// Hashing is cheap now (two compressions); the cache is kept for ids that repeat (devices in
// events) and bounded so that it never dominates a sync's memory.
const DEFAULT_CACHE = 100_000;

/**
 * HMAC-SHA256 under a per-domain key derived from the master key, truncated to 128 bits
 * (computed with precomputed pads, see `paddedHmac`; byte-identical to `createHmac`).
 * Deterministic per key and domain, unlinkable across domains, useless without the key.
 * A bounded cache pays off because event tables repeat the same ids heavily.
 *
 * @example
 * const users = hmacPseudonymizer(key, 'user');
 * users.pseudonym('42'); // the same bigint for every '42' under this key
 */
export function hmacPseudonymizer(key: MasterKey, domain: string, cacheSize = DEFAULT_CACHE): Pseudonymizer {
  const hmac = paddedHmac(key.derive(`pseudonym:${domain}`));
  const words = new Int32Array(4);
  const view = new DataView(new ArrayBuffer(16));
  let cache = new Map<string, bigint>();
  return {
    domain,
    pseudonym(value: string): bigint {
      const hit = cache.get(value);
      if (hit !== undefined) return hit;
      hmac.digest128Text(value, words);
      const out = uint128(words, view);
      if (cacheSize === 0) return out;
      if (cache.size >= cacheSize) cache = new Map();
      cache.set(value, out);
      return out;
    },
  };
}

/** A 128-bit digest's four big-endian words as one unsigned bigint (two 64-bit reads, no text). */
function uint128(words: Int32Array, view: DataView): bigint {
  view.setInt32(0, words[0] as number);
  view.setInt32(4, words[1] as number);
  view.setInt32(8, words[2] as number);
  view.setInt32(12, words[3] as number);
  return (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
}

/** A pseudonym from its UUID text (`pseudonymToUuid`'s inverse). */
export function uuidToPseudonym(uuid: string): bigint {
  return BigInt(`0x${uuid.replaceAll('-', '')}`);
}

/** Formats a 128-bit pseudonym the way DuckDB prints a UUID. */
export function pseudonymToUuid(p: bigint): string {
  const h = p.toString(16).padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
