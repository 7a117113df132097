import type { Value, ValueKind } from '../policy/index.ts';

const ESCAPES: Readonly<Record<string, string>> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };

function unescapeCopy(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(Number.parseInt(e, 8));
    return ESCAPES[e] ?? e;
  });
}

/** Turns one field of PostgreSQL's COPY text format into the in-flight value of its kind. */
export function parseField(field: string, kind: ValueKind): Value {
  if (field === '\\N') return null;
  switch (kind) {
    case 'integer':
    case 'float':
    case 'date':
      return Number(field);
    case 'bigint':
    case 'timestamp':
    case 'timestamptz':
      return BigInt(field);
    case 'boolean':
      return field === 't';
    default:
      return unescapeCopy(field);
  }
}

const TAB = 0x09;
const NL = 0x0a;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;
const ZERO = 0x30;

/** Reads one field's bytes `buf[s…e)` as the value of its kind. */
type FieldReader = (buf: Buffer, s: number, e: number) => Value;

/** Decimal digits with an optional minus, at most 15 of them (exact as a double), or undefined. */
function smallInteger(buf: Buffer, s: number, e: number): number | undefined {
  let i = s;
  const negative = buf[i] === MINUS;
  if (negative) i++;
  if (i === e || e - i > 15) return undefined;
  let n = 0;
  for (; i < e; i++) {
    const d = (buf[i] as number) - ZERO;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return negative ? -n : n;
}

const text: FieldReader = (buf, s, e) => {
  const v = buf.toString('utf8', s, e);
  const slash = buf.indexOf(BACKSLASH, s);
  return slash !== -1 && slash < e ? unescapeCopy(v) : v;
};

/** Field readers by kind, over bytes: no string is made for numbers, times, dates or booleans. */
const READERS: Readonly<Record<ValueKind, FieldReader>> = {
  integer: (buf, s, e) => smallInteger(buf, s, e) ?? Number(buf.toString('latin1', s, e)),
  date: (buf, s, e) => smallInteger(buf, s, e) ?? Number(buf.toString('latin1', s, e)),
  float: (buf, s, e) => smallInteger(buf, s, e) ?? Number(buf.toString('latin1', s, e)),
  bigint: big,
  timestamp: big,
  timestamptz: big,
  boolean: (buf, s, e) => e - s === 1 && buf[s] === 0x74,
  text,
  uuid: text,
  decimal: text,
};

function big(buf: Buffer, s: number, e: number): Value {
  const n = smallInteger(buf, s, e);
  return n === undefined ? BigInt(buf.toString('latin1', s, e)) : BigInt(n);
}

/**
 * Incremental parser for `COPY … TO STDOUT` text format: feed it chunks, it returns the rows
 * completed so far. Works on the bytes: fields split at tab and newline bytes (never part of a
 * multi-byte UTF-8 character), numbers read from their digits, text decoded field by field.
 */
export class CopyTextParser {
  private rest: Buffer | undefined;
  private readonly readers: readonly FieldReader[];

  constructor(private readonly kinds: readonly ValueKind[]) {
    this.readers = kinds.map((k) => READERS[k]);
  }

  push(chunk: Buffer): Value[][] {
    // Only the unfinished row of the previous chunk is copied, never the chunk's whole rows.
    let buf = chunk;
    if (this.rest) {
      buf = Buffer.concat([this.rest, chunk]);
      this.rest = undefined;
    }
    const rows: Value[][] = [];
    const width = this.kinds.length;
    const readers = this.readers;
    let start = 0;
    const end = buf.length;
    for (;;) {
      const nl = buf.indexOf(NL, start);
      if (nl === -1) break;
      const row: Value[] = new Array(width);
      let s = start;
      for (let i = 0; i < width; i++) {
        let e = s > nl ? nl : buf.indexOf(TAB, s);
        if (e === -1 || e > nl) e = nl;
        if (s > nl) row[i] = null;
        else if (e - s === 2 && buf[s] === BACKSLASH && buf[s + 1] === 0x4e) row[i] = null;
        else row[i] = (readers[i] as FieldReader)(buf, s, e);
        s = e + 1;
      }
      rows.push(row);
      start = nl + 1;
    }
    if (start < end) this.rest = Buffer.from(buf.subarray(start));
    return rows;
  }

  /** True when the stream ended on a row boundary. */
  get clean(): boolean {
    return this.rest === undefined || this.rest.length === 0;
  }
}
