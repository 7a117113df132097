import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacLanes, LANE_ROWS } from './hmac-lanes.ts';
import { padStates } from './padded-hmac.ts';
import { columnHasher } from './pseudonym-hash.ts';

/** DuckDB's 16-byte images of short VARCHAR values: the length (little-endian), then the bytes. */
function images(values: Uint8Array[]): Uint8Array {
  const cells = new Uint8Array(values.length * 16);
  const view = new DataView(cells.buffer);
  values.forEach((v, i) => {
    view.setUint32(i * 16, v.length, true);
    cells.set(v, i * 16 + 4);
  });
  return cells;
}

/** The UUID storage of HMAC-SHA256's first 128 bits: words 3, 2, 1, 0 little-endian, the top bit flipped. */
function expected(key: Uint8Array, value: Uint8Array): number[] {
  const d = createHmac('sha256', key).update(value).digest();
  const w = [0, 1, 2, 3].map((i) => d.readInt32BE(i * 4));
  const out = Buffer.alloc(16);
  out.writeInt32LE(w[3] as number, 0);
  out.writeInt32LE(w[2] as number, 4);
  out.writeInt32LE(w[1] as number, 8);
  out.writeInt32LE((w[0] as number) ^ (0x80000000 | 0), 12);
  return [...out];
}

describe('hmacLanes', () => {
  it('equals node:crypto HMAC-SHA256 for any key, any values of 0 to 12 bytes, any row count (property)', () => {
    const lanes = hmacLanes();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 64 }),
        fc.array(fc.uint8Array({ minLength: 0, maxLength: 12 }), { minLength: 1, maxLength: 23 }),
        fc.nat(3),
        (key, values, from) => {
          const cells = images([
            ...Array.from({ length: from }, () => new Uint8Array(12).fill(7)),
            ...values,
          ]);
          const out = new Uint8Array(cells.length).fill(0xee);
          const { inner, outer } = padStates(key);
          lanes.hash(inner, outer, cells, out, from, values.length);
          expect([...out.subarray(0, from * 16)]).toEqual(new Array(from * 16).fill(0xee));
          values.forEach((v, i) => {
            expect([...out.subarray((from + i) * 16, (from + i + 1) * 16)]).toEqual(expected(key, v));
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('hashes more rows than one call into the module holds, with every length and the bytes after a value ignored', () => {
    const key = Buffer.alloc(32, 9);
    const rows = LANE_ROWS * 2 + 5;
    const values = Array.from({ length: rows }, (_, i) => Buffer.from(String(i * 7919).slice(0, i % 13)));
    const cells = images(values);
    // Bytes after each value's length (DuckDB does not promise zeros there) change nothing.
    for (let i = 0; i < rows; i++) cells.fill(0xab, i * 16 + 4 + (values[i] as Buffer).length, i * 16 + 16);
    const out = new Uint8Array(cells.length);
    const { inner, outer } = padStates(key);
    hmacLanes().hash(inner, outer, cells, out, 0, rows);
    for (let i = 0; i < rows; i++)
      expect([...out.subarray(i * 16, i * 16 + 16)], `row ${i}`).toEqual(expected(key, values[i] as Buffer));
  });

  it('leaves NULLs zero and hashes values longer than 12 bytes in columnHasher', () => {
    const key = Buffer.alloc(32, 4);
    const short = Buffer.from('12345');
    const long = 'a-value-longer-than-twelve';
    const cells = images([short, short, new Uint8Array(0)]);
    // The long row's image holds its length and a prefix and pointer, never hashed as bytes.
    new DataView(cells.buffer).setUint32(16, long.length, true);
    cells.fill(0x55, 20, 32);
    const out = new Uint8Array(
      columnHasher()({
        id: 1,
        key,
        cells: cells.buffer as ArrayBuffer,
        valid: new Uint8Array([1, 1, 0]),
        long: [long],
        rows: 3,
      }),
    );
    expect([...out.subarray(0, 16)]).toEqual(expected(key, short));
    expect([...out.subarray(16, 32)]).toEqual(expected(key, Buffer.from(long)));
    expect([...out.subarray(32, 48)]).toEqual(new Array(16).fill(0));
  });
});
