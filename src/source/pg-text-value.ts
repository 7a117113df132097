import type { Value, ValueKind } from '../policy/index.ts';

const TS =
  /^(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$/;
const DATE = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;

/**
 * A value in PostgreSQL's text output (ISO DateStyle) as the in-flight value the COPY reader
 * produces for that kind: times as exact microseconds since 1970 UTC, dates as days. Answers
 * `undefined` for text it cannot read, so the caller can name the column.
 */
export function pgTextValue(text: string, kind: ValueKind): Value | undefined {
  switch (kind) {
    case 'text':
    case 'uuid':
      return text;
    case 'decimal':
      return /^-?\d+(?:\.\d+)?$/.test(text) ? text : undefined;
    case 'integer':
    case 'float': {
      const n = Number(text);
      return Number.isFinite(n) || text === 'NaN' ? n : undefined;
    }
    case 'bigint':
      return /^-?\d+$/.test(text) ? BigInt(text) : undefined;
    case 'boolean':
      return text === 't' ? true : text === 'f' ? false : undefined;
    case 'date': {
      const m = DATE.exec(text);
      if (!m || m[4]) return undefined;
      return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 86_400_000;
    }
    case 'timestamp':
    case 'timestamptz': {
      const m = TS.exec(text);
      if (!m || m[12]) return undefined;
      const ms = Date.UTC(
        Number(m[1]),
        Number(m[2]) - 1,
        Number(m[3]),
        Number(m[4]),
        Number(m[5]),
        Number(m[6]),
      );
      const frac = BigInt((m[7] ?? '').padEnd(6, '0') || '0');
      const sign = m[8] === '-' ? -1 : 1;
      const offset = m[8] ? sign * (Number(m[9]) * 3600 + Number(m[10] ?? 0) * 60 + Number(m[11] ?? 0)) : 0;
      return (BigInt(ms) / 1000n - BigInt(offset)) * 1_000_000n + frac;
    }
  }
}
