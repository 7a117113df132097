// HMAC-SHA256 of short values four at a time: a WebAssembly module, written out below as bytes,
// runs the SHA-256 compression on 128-bit vectors (one value per 32-bit lane). It takes DuckDB's
// 16-byte images of VARCHAR values (a length, then up to 12 inline bytes: every integer id) and
// answers each value's pseudonym in DuckDB's UUID storage, as `columnHasher` does one at a time.
// Node 20 has WebAssembly's 128-bit SIMD; node:crypto has no call that hashes many values at once.
import { K } from './padded-hmac.ts';

/** Rows hashed per call into the module. */
export const LANE_ROWS = 4096;
/** Memory layout: the key's two padded states, the length tables, the values in, the pseudonyms out. */
const INNER = 0;
const OUTER = 32;
const MASKS = 64; // 13 × 16 bytes: 0xff for each byte of a value of that length
const ENDS = 272; // 13 × 16 bytes: 0x80 right after a value of that length (SHA-256's padding)
const IN = 1024;
const OUT = IN + LANE_ROWS * 16 + 64;
const PAGES = Math.ceil((OUT + LANE_ROWS * 16) / 65536);

// WebAssembly encoding (https://webassembly.github.io/spec/core/binary/).
const I32 = 0x7f;
const V128 = 0x7b;
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
};
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const name = (s: string) => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

/** The function body's instructions. */
class Code {
  readonly bytes: number[] = [];
  private op(...b: number[]) {
    this.bytes.push(...b);
    return this;
  }
  private simd(code: number, ...rest: number[]) {
    return this.op(0xfd, ...uleb(code), ...rest);
  }
  get(l: number) {
    return this.op(0x20, ...uleb(l));
  }
  set(l: number) {
    return this.op(0x21, ...uleb(l));
  }
  i32(n: number) {
    return this.op(0x41, ...sleb(n | 0));
  }
  /** i32.load with a constant offset added to the address on the stack. */
  load32(offset: number) {
    return this.op(0x28, 2, ...uleb(offset));
  }
  addI32() {
    return this.op(0x6a);
  }
  mulI32() {
    return this.op(0x6c);
  }
  gtU() {
    return this.op(0x4b);
  }
  geU() {
    return this.op(0x4f);
  }
  select() {
    return this.op(0x1b);
  }
  block() {
    return this.op(0x02, 0x40);
  }
  loop() {
    return this.op(0x03, 0x40);
  }
  br(depth: number) {
    return this.op(0x0c, ...uleb(depth));
  }
  brIf(depth: number) {
    return this.op(0x0d, ...uleb(depth));
  }
  end() {
    return this.op(0x0b);
  }
  vload(offset: number) {
    return this.simd(0x00, 0, ...uleb(offset));
  }
  vstore(offset: number) {
    return this.simd(0x0b, 0, ...uleb(offset));
  }
  /** A vector of four equal 32-bit words. */
  splatConst(w: number) {
    const b: number[] = [];
    for (let i = 0; i < 4; i++) b.push(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, (w >>> 24) & 0xff);
    return this.simd(0x0c, ...b);
  }
  shuffle(bytes: number[]) {
    return this.simd(0x0d, ...bytes);
  }
  splat() {
    return this.simd(0x11);
  }
  replaceLane(lane: number) {
    return this.simd(0x1c, lane);
  }
  and() {
    return this.simd(0x4e);
  }
  or() {
    return this.simd(0x50);
  }
  xor() {
    return this.simd(0x51);
  }
  bitselect() {
    return this.simd(0x52);
  }
  shl(n: number) {
    return this.i32(n).simd(0xab);
  }
  shrU(n: number) {
    return this.i32(n).simd(0xad);
  }
  add() {
    return this.simd(0xae);
  }
  /** Rotates local `l`'s lanes right by `n` bits. */
  rotr(l: number, n: number) {
    return this.get(l)
      .shrU(n)
      .get(l)
      .shl(32 - n)
      .or();
  }
}

/** 32-bit lane picks for i8x16.shuffle: 0–3 from the first vector, 4–7 from the second. */
const lanes = (picks: number[]) => picks.flatMap((p) => [p * 4, p * 4 + 1, p * 4 + 2, p * 4 + 3]);
const BSWAP32 = [3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12];

/** The module: `hash(groups)` hashes `groups` × 4 values from IN into OUT. */
function moduleBytes(): Uint8Array {
  // Locals: 0 = groups (the parameter), then i32s, then vectors.
  const GROUPS = 0;
  const G = 1;
  const P = 2;
  const Q = 3;
  const LEN = 4;
  const i32Locals = 4;
  let next = 1 + i32Locals;
  const v = () => next++;
  const W = Array.from({ length: 16 }, v);
  const S = Array.from({ length: 8 }, v); // working state a…h, renamed round by round
  const D = Array.from({ length: 8 }, v); // the inner digest
  const LANE = Array.from({ length: 4 }, v);
  const T = Array.from({ length: 4 }, v);
  const BITS = v();
  const T1 = v();
  const vLocals = next - 1 - i32Locals;
  const c = new Code();

  /** Transposes four vectors of four words: out[i] = (in0[i], in1[i], in2[i], in3[i]). */
  const transpose = (src: number[], dst: number[]) => {
    const [a, b, x, y] = src as [number, number, number, number];
    c.get(a)
      .get(b)
      .shuffle(lanes([0, 4, 1, 5]))
      .set(T[0] as number);
    c.get(x)
      .get(y)
      .shuffle(lanes([0, 4, 1, 5]))
      .set(T[1] as number);
    c.get(a)
      .get(b)
      .shuffle(lanes([2, 6, 3, 7]))
      .set(T[2] as number);
    c.get(x)
      .get(y)
      .shuffle(lanes([2, 6, 3, 7]))
      .set(T[3] as number);
    c.get(T[0] as number)
      .get(T[1] as number)
      .shuffle(lanes([0, 1, 4, 5]))
      .set(dst[0] as number);
    c.get(T[0] as number)
      .get(T[1] as number)
      .shuffle(lanes([2, 3, 6, 7]))
      .set(dst[1] as number);
    c.get(T[2] as number)
      .get(T[3] as number)
      .shuffle(lanes([0, 1, 4, 5]))
      .set(dst[2] as number);
    c.get(T[2] as number)
      .get(T[3] as number)
      .shuffle(lanes([2, 3, 6, 7]))
      .set(dst[3] as number);
  };

  /** 64 rounds over the block in W, from the state at memory `init`, the result added into `into`. */
  const compress = (init: number, into: number[]) => {
    for (let k = 0; k < 8; k++)
      c.i32(0)
        .load32(init + k * 4)
        .splat()
        .set(S[k] as number);
    let [a, b, cc, d, e, f, g, h] = S as [number, number, number, number, number, number, number, number];
    for (let i = 0; i < 64; i++) {
      const w = W[i % 16] as number;
      if (i >= 16) {
        // W[i] = W[i-16] + σ0(W[i-15]) + W[i-7] + σ1(W[i-2]), in place of W[i-16].
        const w15 = W[(i - 15) % 16] as number;
        const w2 = W[(i - 2) % 16] as number;
        c.get(w);
        c.rotr(w15, 7).rotr(w15, 18).xor().get(w15).shrU(3).xor();
        c.add()
          .get(W[(i - 7) % 16] as number)
          .add();
        c.rotr(w2, 17).rotr(w2, 19).xor().get(w2).shrU(10).xor();
        c.add().set(w);
      }
      // T1 = h + Σ1(e) + Ch(e, f, g) + K[i] + W[i]
      c.get(h);
      c.rotr(e, 6).rotr(e, 11).xor().rotr(e, 25).xor().add();
      c.get(f).get(g).get(e).bitselect().add();
      c.splatConst(K[i] as number).add();
      c.get(w).add().set(T1);
      // d += T1; h = T1 + Σ0(a) + Maj(a, b, c)
      c.get(d).get(T1).add().set(d);
      c.get(T1);
      c.rotr(a, 2).rotr(a, 13).xor().rotr(a, 22).xor().add();
      c.get(b).get(a).get(a).get(cc).xor().bitselect().add();
      c.set(h);
      [a, b, cc, d, e, f, g, h] = [h, a, b, cc, d, e, f, g];
    }
    // After 64 renamings (a multiple of 8) each name is back in its own local.
    for (let k = 0; k < 8; k++)
      c.get(S[k] as number)
        .i32(0)
        .load32(init + k * 4)
        .splat()
        .add()
        .set(into[k] as number);
  };

  c.block().loop();
  c.get(G).get(GROUPS).geU().brIf(1);
  // Each lane's padded message block: the value's bytes (at most 12), 0x80, zeros, its bit length.
  for (let j = 0; j < 4; j++) {
    c.get(P)
      .load32(j * 16)
      .set(LEN);
    c.i32(12).get(LEN).get(LEN).i32(12).gtU().select().set(LEN);
    c.get(P).vload(j * 16 + 4);
    c.get(LEN).i32(16).mulI32().vload(MASKS).and();
    c.get(LEN).i32(16).mulI32().vload(ENDS).or();
    // Big-endian words (the shuffle's second operand, any vector, is not picked from).
    c.get(LANE[j] as number)
      .shuffle(BSWAP32)
      .set(LANE[j] as number);
    // Bits of inner pad block + value: (64 + len) × 8.
    if (j === 0) c.get(LEN).i32(64).addI32().i32(8).mulI32().splat().set(BITS);
    else c.get(BITS).get(LEN).i32(64).addI32().i32(8).mulI32().replaceLane(j).set(BITS);
  }
  transpose(LANE, W.slice(0, 4));
  for (let i = 4; i < 15; i++) c.splatConst(0).set(W[i] as number);
  c.get(BITS).set(W[15] as number);
  compress(INNER, D);
  // The outer block: the inner digest, 0x80, zeros, (64 + 32) × 8 bits.
  for (let i = 0; i < 8; i++) c.get(D[i] as number).set(W[i] as number);
  c.splatConst(0x80000000).set(W[8] as number);
  for (let i = 9; i < 15; i++) c.splatConst(0).set(W[i] as number);
  c.splatConst(768).set(W[15] as number);
  compress(OUTER, D);
  // DuckDB's UUID: the first 128 bits as a little-endian hugeint, its top bit flipped: words 3, 2, 1, 0.
  c.get(D[0] as number)
    .splatConst(0x80000000)
    .xor()
    .set(D[0] as number);
  transpose([D[3], D[2], D[1], D[0]] as number[], LANE);
  for (let j = 0; j < 4; j++)
    c.get(Q)
      .get(LANE[j] as number)
      .vstore(j * 16);
  c.get(P).i32(64).addI32().set(P);
  c.get(Q).i32(64).addI32().set(Q);
  c.get(G).i32(1).addI32().set(G);
  c.br(0).end().end().end();

  // Before the loop: P = IN, Q = OUT, G = 0 (locals start at zero).
  const prologue = new Code();
  prologue.i32(IN).set(P).i32(OUT).set(Q);
  const fn = [
    ...vec([
      [...uleb(i32Locals), I32],
      [...uleb(vLocals), V128],
    ]),
    ...prologue.bytes,
    ...c.bytes,
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec([[0x60, 1, I32, 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0x00, ...uleb(PAGES)]])),
    ...section(
      7,
      vec([
        [...name('memory'), 0x02, 0],
        [...name('hash'), 0x00, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(fn.length), ...fn]])),
  ]);
}

/** The part of the WebAssembly API used here (the ES library declares none of it). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

let compiled: object | undefined;

/** A hasher of up to LANE_ROWS values per call, under padded states set per call. */
export interface HmacLanes {
  /**
   * Pseudonyms of `rows` DuckDB string images at `cells[from*16…]` into `out[from*16…]`, each the
   * first 128 bits of HMAC-SHA256 under the key whose padded states are `inner`/`outer`, in UUID
   * storage. A value longer than 12 bytes gets a meaningless answer: the caller replaces it.
   */
  hash(
    inner: Int32Array,
    outer: Int32Array,
    cells: Uint8Array,
    out: Uint8Array,
    from: number,
    rows: number,
  ): void;
}

export function hmacLanes(): HmacLanes {
  compiled ??= new WebAssembly.Module(moduleBytes());
  const instance = new WebAssembly.Instance(compiled, {});
  const memory = instance.exports.memory as { buffer: ArrayBuffer };
  const run = instance.exports.hash as (groups: number) => void;
  const bytes = new Uint8Array(memory.buffer);
  const words = new Int32Array(memory.buffer);
  for (let len = 0; len <= 12; len++) {
    for (let i = 0; i < len; i++) bytes[MASKS + len * 16 + i] = 0xff;
    bytes[ENDS + len * 16 + len] = 0x80;
  }
  return {
    hash(inner, outer, cells, out, from, rows) {
      words.set(inner, INNER / 4);
      words.set(outer, OUTER / 4);
      for (let at = 0; at < rows; at += LANE_ROWS) {
        const n = Math.min(LANE_ROWS, rows - at);
        const start = (from + at) * 16;
        bytes.set(cells.subarray(start, start + n * 16), IN);
        run(Math.ceil(n / 4));
        out.set(bytes.subarray(OUT, OUT + n * 16), start);
      }
    },
  };
}
