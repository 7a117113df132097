// HMAC-SHA256 with the key's inner and outer pad blocks hashed once, then two hash steps per value
// (one compression each for values up to 55 bytes) into reused buffers. Written by hand because
// node:crypto has no way to resume a hash from a saved state without a new object per value
// (`createHmac` per value was ~30% of a sync's CPU); output is identical to `createHmac`.

/** SHA-256's round constants (also hmac-lanes.ts's). */
export const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
  0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
  0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
  0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
  0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
  0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
  0xc67178f2,
]);
const IV = new Int32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

const W = new Int32Array(64);

/** One SHA-256 compression of the 64-byte block at `block[at…]` into `state`. */
function compress(state: Int32Array, block: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    W[i] =
      ((block[j] as number) << 24) |
      ((block[j + 1] as number) << 16) |
      ((block[j + 2] as number) << 8) |
      (block[j + 3] as number);
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15] as number;
    const b = W[i - 2] as number;
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = ((W[i - 16] as number) + s0 + (W[i - 7] as number) + s1) | 0;
  }
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  let e = state[4] as number;
  let f = state[5] as number;
  let g = state[6] as number;
  let h = state[7] as number;
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + (K[i] as number) + (W[i] as number)) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = ((state[0] as number) + a) | 0;
  state[1] = ((state[1] as number) + b) | 0;
  state[2] = ((state[2] as number) + c) | 0;
  state[3] = ((state[3] as number) + d) | 0;
  state[4] = ((state[4] as number) + e) | 0;
  state[5] = ((state[5] as number) + f) | 0;
  state[6] = ((state[6] as number) + g) | 0;
  state[7] = ((state[7] as number) + h) | 0;
}

/** HMAC-SHA256 under one key, truncated to its first 128 bits. */
export interface PaddedHmac {
  /**
   * The first 16 bytes of HMAC-SHA256(key, `bytes[start…end)`) as four big-endian 32-bit words in
   * `out[0…3]` (signed; `>>> 0` for unsigned). No allocation for values up to 1 KiB.
   */
  digest128(bytes: Uint8Array, start: number, end: number, out: Int32Array): void;
  /** The same over a string's UTF-8 bytes. */
  digest128Text(text: string, out: Int32Array): void;
}

/** SHA-256's state after the key's inner and outer pad blocks: where every value's two hashes start. */
export function padStates(key: Uint8Array): { inner: Int32Array; outer: Int32Array } {
  if (key.length > 64) throw new Error('paddedHmac: keys longer than one block are not supported');
  const pad = new Uint8Array(64);
  const inner = new Int32Array(IV);
  const outer = new Int32Array(IV);
  pad.fill(0x36);
  for (let i = 0; i < key.length; i++) pad[i] = (key[i] as number) ^ 0x36;
  compress(inner, pad, 0);
  pad.fill(0x5c);
  for (let i = 0; i < key.length; i++) pad[i] = (key[i] as number) ^ 0x5c;
  compress(outer, pad, 0);
  return { inner, outer };
}

/**
 * @example
 * const h = paddedHmac(domainKey);
 * const out = new Int32Array(4);
 * h.digest128Text('42', out); // out = first 128 bits of HMAC-SHA256(domainKey, '42')
 */
export function paddedHmac(key: Uint8Array): PaddedHmac {
  const { inner, outer } = padStates(key);
  const state = new Int32Array(8);
  let buf = new Uint8Array(1024 + 128);
  const outerBlock = new Uint8Array(64);
  // The outer message is always the 32-byte inner digest: its padding never changes.
  outerBlock[32] = 0x80;
  outerBlock[62] = 0x03; // (64 + 32) * 8 = 768 bits = 0x300
  const utf8 = new TextEncoder();

  /** Hashes `buf[0…len)` as the message after the inner pad block. */
  const finish = (len: number, out: Int32Array) => {
    const total = len + 1 + 8;
    const blocks = Math.ceil(total / 64);
    const end = blocks * 64;
    buf[len] = 0x80;
    buf.fill(0, len + 1, end);
    const bits = (64 + len) * 8;
    // Messages here are far below 2^32 bits: the high word of the length stays zero.
    buf[end - 4] = (bits >>> 24) & 0xff;
    buf[end - 3] = (bits >>> 16) & 0xff;
    buf[end - 2] = (bits >>> 8) & 0xff;
    buf[end - 1] = bits & 0xff;
    state.set(inner);
    for (let b = 0; b < blocks; b++) compress(state, buf, b * 64);
    for (let i = 0; i < 8; i++) {
      const w = state[i] as number;
      outerBlock[i * 4] = w >>> 24;
      outerBlock[i * 4 + 1] = (w >>> 16) & 0xff;
      outerBlock[i * 4 + 2] = (w >>> 8) & 0xff;
      outerBlock[i * 4 + 3] = w & 0xff;
    }
    state.set(outer);
    compress(state, outerBlock, 0);
    out[0] = state[0] as number;
    out[1] = state[1] as number;
    out[2] = state[2] as number;
    out[3] = state[3] as number;
  };
  const room = (len: number) => {
    if (buf.length < len + 72) buf = new Uint8Array(len + 72);
  };

  return {
    digest128(bytes, start, end, out) {
      const len = end - start;
      room(len);
      if (len <= 64) for (let i = 0; i < len; i++) buf[i] = bytes[start + i] as number;
      else buf.set(bytes.subarray(start, end), 0);
      finish(len, out);
    },
    digest128Text(text, out) {
      const n = text.length;
      let ascii = true;
      if (buf.length >= n + 72) {
        for (let i = 0; i < n; i++) {
          const c = text.charCodeAt(i);
          if (c >= 0x80) {
            ascii = false;
            break;
          }
          buf[i] = c;
        }
      } else ascii = false;
      if (ascii) {
        finish(n, out);
        return;
      }
      room(n * 3);
      const { written } = utf8.encodeInto(text, buf);
      finish(written, out);
    },
  };
}
