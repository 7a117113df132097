import { createHmac } from 'node:crypto';
import type { MasterKey } from './key-file.ts';

/** Turns identifiers of one domain into 128-bit keyed pseudonyms. */
export interface Pseudonymizer {
  readonly domain: string;
  /** The pseudonym as an unsigned 128-bit integer (stored as a native UUID). */
  pseudonym(value: string): bigint;
}

const DEFAULT_CACHE = 200_000;

/**
 * HMAC-SHA256 under a per-domain key derived from the master key, truncated to 128 bits.
 * Deterministic per key and domain, unlinkable across domains, useless without the key.
 * A bounded cache pays off because event tables repeat the same ids heavily.
 *
 * @example
 * const users = hmacPseudonymizer(key, 'user');
 * users.pseudonym('42'); // the same bigint for every '42' under this key
 */
export function hmacPseudonymizer(key: MasterKey, domain: string, cacheSize = DEFAULT_CACHE): Pseudonymizer {
  const domainKey = key.derive(`pseudonym:${domain}`);
  let cache = new Map<string, bigint>();
  return {
    domain,
    pseudonym(value: string): bigint {
      const hit = cache.get(value);
      if (hit !== undefined) return hit;
      const hex = createHmac('sha256', domainKey).update(value).digest('hex');
      const out = BigInt(`0x${hex.slice(0, 32)}`);
      if (cacheSize === 0) return out;
      if (cache.size >= cacheSize) cache = new Map();
      cache.set(value, out);
      return out;
    },
  };
}

/** Formats a 128-bit pseudonym the way DuckDB prints a UUID. */
export function pseudonymToUuid(p: bigint): string {
  const h = p.toString(16).padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
