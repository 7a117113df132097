import type { Value, ValueKind } from '../policy/index.ts';

/** A JSON field read as a column's value, or why it is not one (never quoting it). */
export type JsonField = { readonly value: Value } | { readonly why: string };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const INTEGER_TEXT = /^-?\d{1,30}$/;

/**
 * What the source column's type could hold, so that a message carries only values production
 * could (what a sync would have read). Times and dates start where PostgreSQL's do (4714 BC) and
 * end where JavaScript's dates do (275760), which the time transforms compute with.
 */
const PG_MIN_DAY = -2_440_588; // 4714-11-24 BC, PostgreSQL's Julian day 0
const JS_MAX_DAY = 100_000_000; // 275760-09-13
const PG_MIN_US = BigInt(PG_MIN_DAY) * 86_400_000_000n;
const JS_MAX_US = BigInt(JS_MAX_DAY) * 86_400_000_000n;
const INT_RANGE: Readonly<Record<string, readonly [number, number]>> = {
  smallint: [-32_768, 32_767],
  integer: [-(2 ** 31), 2 ** 31 - 1],
};
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const FLOAT4_MAX = 3.4028234663852886e38;

const not = (kind: ValueKind): JsonField => ({ why: `is not ${kind}` });
const outside = (type: string): JsonField => ({ why: `outside ${type}` });

function days(y: number, m: number, d: number): number | undefined {
  const t = Date.UTC(y, m - 1, d);
  const back = new Date(t);
  // Date.UTC rolls 2026-02-31 over into March: a date that does not exist is not a date.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== m - 1 || back.getUTCDate() !== d)
    return undefined;
  return t / 86_400_000;
}

/** ISO 8601 (UTC unless an offset is given) or epoch milliseconds, as microseconds since 1970. */
function micros(v: unknown): bigint | undefined {
  if (typeof v === 'number') return Number.isFinite(v * 1000) ? BigInt(Math.round(v * 1000)) : undefined;
  if (typeof v !== 'string') return undefined;
  const m = TIME.exec(v);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const day = days(y, mo, d);
  if (day === undefined || h > 23 || mi > 59 || s > 59) return undefined;
  let offsetMinutes = 0;
  const zone = m[8];
  if (zone && zone.toUpperCase() !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone);
    const oh = Number(z?.[2]);
    const om = Number(z?.[3] ?? 0);
    if (!z || oh > 15 || om > 59) return undefined;
    offsetMinutes = (z[1] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fraction = BigInt((m[7] ?? '').padEnd(6, '0'));
  const seconds = BigInt(day) * 86_400n + BigInt(h * 3600 + mi * 60 + s - offsetMinutes * 60);
  return seconds * 1_000_000n + fraction;
}

/**
 * A JSON field as the in-flight value the sync would have read from PostgreSQL for a column of
 * this kind and source type (times as microseconds, dates as days since 1970), or why it is not:
 * the wrong type (`is not integer`) or beyond what the source type holds (`outside smallint`).
 */
export function jsonValue(v: unknown, kind: ValueKind, sourceType: string): JsonField {
  if (v === null || v === undefined) return { value: null };
  switch (kind) {
    case 'text':
      return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
        ? { value: String(v) }
        : not(kind);
    case 'integer':
    case 'float': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
      if (!Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) return not(kind);
      const range = kind === 'integer' ? (INT_RANGE[sourceType] ?? INT_RANGE.integer) : undefined;
      if (range && (n < range[0] || n > range[1])) return outside(sourceType || 'integer');
      if (sourceType === 'real' && Math.abs(n) > FLOAT4_MAX) return outside('real');
      return { value: n };
    }
    case 'bigint': {
      // Beyond 2^53 a JSON number has already lost digits: such ids must come as strings.
      let b: bigint;
      if (typeof v === 'number' && Number.isSafeInteger(v)) b = BigInt(v);
      else if (typeof v === 'string' && INTEGER_TEXT.test(v)) b = BigInt(v);
      else return not(kind);
      return b < INT64_MIN || b > INT64_MAX ? outside('bigint') : { value: b };
    }
    case 'decimal': {
      // Exact decimals travel as their text, as a sync reads them; the store checks the width.
      if (typeof v === 'number' && Number.isFinite(v)) return { value: String(v) };
      return typeof v === 'string' && /^-?\d+(?:\.\d+)?$/.test(v.trim()) ? { value: v.trim() } : not(kind);
    }
    case 'boolean':
      return typeof v === 'boolean' ? { value: v } : not(kind);
    case 'uuid':
      return typeof v === 'string' && UUID.test(v) ? { value: v.toLowerCase() } : not(kind);
    case 'date': {
      const m = typeof v === 'string' ? DATE.exec(v) : null;
      const d = m ? days(Number(m[1]), Number(m[2]), Number(m[3])) : undefined;
      if (d === undefined) return not(kind);
      return d < PG_MIN_DAY ? outside('date') : { value: d };
    }
    case 'timestamp':
    case 'timestamptz': {
      const us = micros(v);
      if (us === undefined) return not(kind);
      return us < PG_MIN_US || us > JS_MAX_US ? outside(sourceType || kind) : { value: us };
    }
  }
}

/**
 * A pseudonymized identifier travels as the text PostgreSQL gives for it (what the sync computes
 * the pseudonym over): an integer id in its decimal form, a uuid in lower case, so `"017"`, `17.0`
 * or an id beyond its type cannot make a second pseudonym for the same device.
 */
export function jsonIdentifier(v: unknown, sourceKind: ValueKind, sourceType: string): JsonField {
  if (sourceKind !== 'integer' && sourceKind !== 'bigint' && sourceKind !== 'uuid')
    return jsonValue(v, 'text', '');
  const r = jsonValue(v, sourceKind, sourceType);
  return 'why' in r || r.value === null ? r : { value: String(r.value) };
}

/** The value kind a recorded PostgreSQL type name (`format_type`) travels as. */
export function kindOfFormattedType(type: string): ValueKind {
  if (type === 'bigint') return 'bigint';
  if (type === 'integer' || type === 'smallint') return 'integer';
  if (type === 'double precision' || type === 'real') return 'float';
  if (type.startsWith('numeric')) return 'decimal';
  if (type === 'boolean') return 'boolean';
  if (type === 'uuid') return 'uuid';
  if (type === 'date') return 'date';
  if (type === 'timestamp with time zone') return 'timestamptz';
  if (type.startsWith('timestamp')) return 'timestamp';
  return 'text';
}
