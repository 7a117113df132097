import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyFromBytes } from './key-file.ts';
import { paddedHmac } from './padded-hmac.ts';
import { hmacPseudonymizer, pseudonymToUuid } from './pseudonymizer.ts';

const hex = (w: Int32Array) => [...w].map((x) => (x >>> 0).toString(16).padStart(8, '0')).join('');

describe('paddedHmac', () => {
  it('equals node:crypto HMAC-SHA256 (first 128 bits) for any key and value, text or bytes (property)', () => {
    const out = new Int32Array(4);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 80 })),
        (key, value) => {
          const want = createHmac('sha256', key).update(value).digest('hex').slice(0, 32);
          const h = paddedHmac(key);
          h.digest128Text(value, out);
          expect(hex(out)).toBe(want);
          const bytes = Buffer.from(`xx${value}yy`);
          h.digest128(bytes, 2, bytes.length - 2, out);
          expect(hex(out)).toBe(want);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('covers every padding boundary (values of 0 to 200 bytes)', () => {
    const key = Buffer.alloc(32, 5);
    const h = paddedHmac(key);
    const out = new Int32Array(4);
    for (let n = 0; n <= 200; n++) {
      const v = 'a'.repeat(n);
      h.digest128Text(v, out);
      expect(hex(out)).toBe(createHmac('sha256', key).update(v).digest('hex').slice(0, 32));
    }
  });
});

describe('pseudonyms stay byte-identical to the stores already built', () => {
  it('gives the pseudonyms the createHmac implementation gave (fixed vectors)', () => {
    const key = keyFromBytes(Buffer.alloc(32, 1));
    // Computed with the previous implementation: createHmac(...).digest('hex').slice(0, 32).
    const vectors: Array<[string, string, string]> = [
      ['user', '42', 'd5ab6a9d-df88-0f34-8c2a-3bee1e4fa71e'],
      ['device', 'AA:BB:CC:DD:EE:FF', '1a621915-6cf9-7ccd-cbea-9e71660ee016'],
      ['event', '', 'ba5c61f9-cabc-e942-b135-f0ebb6fef38c'],
      ['user', 'Émile-Ωx'.repeat(12), '81fc1c8f-63f6-c540-1dad-6253815ad360'],
    ];
    for (const [domain, value, uuid] of vectors) {
      expect(pseudonymToUuid(hmacPseudonymizer(key, domain).pseudonym(value))).toBe(uuid);
      expect(pseudonymToUuid(hmacPseudonymizer(key, domain, 0).pseudonym(value))).toBe(uuid);
    }
  });

  it('equals the createHmac pseudonym for random values (property)', () => {
    const key = keyFromBytes(Buffer.alloc(32, 3));
    const p = hmacPseudonymizer(key, 'device', 0);
    const domainKey = key.derive('pseudonym:device');
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), (v) => {
        const old = BigInt(`0x${createHmac('sha256', domainKey).update(v).digest('hex').slice(0, 32)}`);
        expect(p.pseudonym(v)).toBe(old);
      }),
      { numRuns: 1000 },
    );
  });
});
