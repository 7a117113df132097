import type { Value, ValueKind } from '../policy/index.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * A JSON field as the in-flight value the sync would have read from PostgreSQL for a column of
 * this kind (times as microseconds, dates as days since 1970), or `undefined` when it is not one.
 */
export function jsonValue(v: unknown, kind: ValueKind): Value | undefined {
  if (v === null || v === undefined) return null;
  switch (kind) {
    case 'text':
      return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
    case 'integer':
    case 'float': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
      if (!Number.isFinite(n) || (kind === 'integer' && !Number.isInteger(n))) return undefined;
      return n;
    }
    case 'decimal':
      if (typeof v === 'number' && Number.isFinite(v)) return String(v);
      return typeof v === 'string' && /^-?\d+(?:\.\d+)?$/.test(v.trim()) ? v.trim() : undefined;
    case 'bigint':
      if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
      return typeof v === 'string' && /^-?\d{1,19}$/.test(v) ? BigInt(v) : undefined;
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'uuid':
      return typeof v === 'string' && UUID.test(v) ? v.toLowerCase() : undefined;
    case 'date': {
      const m = typeof v === 'string' ? DATE.exec(v) : null;
      if (!m) return undefined;
      const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      return Number.isNaN(ms) ? undefined : ms / 86_400_000;
    }
    case 'timestamp':
    case 'timestamptz': {
      const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : Number.NaN;
      return Number.isFinite(ms) ? BigInt(Math.round(ms)) * 1000n : undefined;
    }
  }
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
