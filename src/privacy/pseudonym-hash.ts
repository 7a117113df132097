// One batch column's pseudonyms from DuckDB's VARCHAR vector images: the padded HMAC of each
// value (four at a time for values of up to 12 bytes, hmac-lanes.ts), written in DuckDB's UUID storage. Run on the pseudonym thread or in place (pseudonym-hasher.ts).
import { hmacLanes } from './hmac-lanes.ts';
import { type PaddedHmac, paddedHmac, padStates } from './padded-hmac.ts';

/** One column of one batch: DuckDB's VARCHAR vector images, 16 bytes a row. */
export interface HashRequest {
  readonly id: number;
  readonly key: Uint8Array;
  /** Each row's 16-byte string image: its length (little-endian u32), then its bytes when they fit in 12. */
  readonly cells: ArrayBuffer;
  /** 1 where the row holds a value, 0 for NULL (nothing is computed for it). */
  readonly valid: Uint8Array;
  /** The values longer than 12 bytes, in row order. */
  readonly long: readonly string[];
  readonly rows: number;
}

const HIGH_BIT = 0x80000000 | 0;

/**
 * A hasher of batch columns, keeping each key's padded HMAC. Its answer holds 16 bytes a row:
 * the pseudonym as DuckDB stores a UUID (a hugeint, little-endian, its top bit flipped); a NULL
 * row's 16 bytes are zero.
 */
export function columnHasher(): (m: HashRequest) => ArrayBuffer {
  const byKey = new Map<string, { hmac: PaddedHmac; inner: Int32Array; outer: Int32Array }>();
  const lanes = hmacLanes();
  const w = new Int32Array(4);
  return (m) => {
    const id = Buffer.from(m.key).toString('base64');
    let h = byKey.get(id);
    if (!h) {
      h = { hmac: paddedHmac(m.key), ...padStates(m.key) };
      byKey.set(id, h);
    }
    const cells = new Uint8Array(m.cells);
    const data = new DataView(m.cells);
    const out = new ArrayBuffer(m.rows * 16);
    const bytes = new Uint8Array(out);
    const view = new DataView(out);
    // Every row as a value of at most 12 bytes, four at a time; then NULLs and longer values mended.
    lanes.hash(h.inner, h.outer, cells, bytes, 0, m.rows);
    let long = 0;
    for (let i = 0; i < m.rows; i++) {
      const at = i * 16;
      if (m.valid[i] === 0) {
        bytes.fill(0, at, at + 16);
        continue;
      }
      if (data.getUint32(at, true) <= 12) continue;
      h.hmac.digest128Text(m.long[long++] as string, w);
      view.setInt32(at, w[3] as number, true);
      view.setInt32(at + 4, w[2] as number, true);
      view.setInt32(at + 8, w[1] as number, true);
      view.setInt32(at + 12, (w[0] as number) ^ HIGH_BIT, true);
    }
    return out;
  };
}
