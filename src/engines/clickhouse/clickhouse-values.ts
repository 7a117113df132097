import type { Value, ValueKind } from '../../policy/index.ts';
import { decimalShape, decimalText, decimalUnits } from '../../store/decimal-shape.ts';
import type { StoreColumn } from '../../store/store.ts';
import { bigintIn, INT32, INT64, numberIn, type ValueLimits } from '../../store/value-limits.ts';

/**
 * Store column types on ClickHouse. Booleans are UInt8 (18.16 has no Bool); times are
 * DateTime('UTC') (18.16 has no DateTime64) with the microseconds kept beside them in a
 * `<column>__us` column, so metrics compute on the exact value as DuckDB does.
 */
const CLICKHOUSE_TYPE: Readonly<Record<Exclude<ValueKind, 'decimal'>, string>> = {
  integer: 'Int32',
  bigint: 'Int64',
  float: 'Float64',
  boolean: 'UInt8',
  text: 'String',
  uuid: 'UUID',
  date: 'Date',
  timestamp: "DateTime('UTC')",
  timestamptz: "DateTime('UTC')",
};

/** The ClickHouse type of a stored column: exact Decimal(p,s) for PostgreSQL numeric. */
export function clickHouseType(c: Pick<StoreColumn, 'kind' | 'sourceType'>): string {
  if (c.kind !== 'decimal') return CLICKHOUSE_TYPE[c.kind];
  const d = decimalShape(c.sourceType);
  return `Decimal(${d.precision}, ${d.scale})`;
}

export const isTime = (kind: ValueKind) => kind === 'timestamp' || kind === 'timestamptz';
export const microsColumn = (name: string) => `${name}__us`;

/** Physical columns of a store table: each logical column, plus the microseconds of each time. */
export function physicalColumns(
  columns: readonly StoreColumn[],
  key: readonly string[],
): Array<{ name: string; type: string }> {
  const out: Array<{ name: string; type: string }> = [];
  for (const c of columns) {
    const base = clickHouseType(c);
    // Sorting-key columns cannot be Nullable on 18.16; a primary key is never NULL anyway.
    out.push({ name: c.name, type: key.includes(c.name) ? base : `Nullable(${base})` });
    if (isTime(c.kind)) out.push({ name: microsColumn(c.name), type: 'UInt32' });
  }
  return out;
}

export const chIdent = (name: string) => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
export const chString = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

const tsvText = (s: string) =>
  s.replace(/[\\\t\n\r\0]/g, (c) =>
    c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : c === '\0' ? '\\0' : '\\\\',
  );

export function uuidText(v: Value): string {
  if (typeof v !== 'bigint') return String(v);
  const h = v.toString(16).padStart(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const DAY = 86_400_000;
const MAX_DATE_DAYS = 49_710; // 2106-02-07: ClickHouse Date and DateTime end there
const RANGE = '1970-01-01…2106-02-06';

/**
 * What ClickHouse's columns hold. Checked before anything is sent: an Int32 column would store
 * 2147483648 as -2147483648 without a word, and Date/DateTime hold 1970 to 2106 only.
 */
export const CLICKHOUSE_LIMITS: ValueLimits = {
  integer: INT32,
  bigint: INT64,
  float: undefined,
  boolean: undefined,
  text: undefined,
  uuid: undefined,
  date: numberIn(0, MAX_DATE_DAYS - 1, `ClickHouse Date (${RANGE})`),
  timestamp: bigintIn(0n, BigInt(MAX_DATE_DAYS) * 86_400_000_000n - 1n, `ClickHouse DateTime (${RANGE})`),
  timestamptz: bigintIn(0n, BigInt(MAX_DATE_DAYS) * 86_400_000_000n - 1n, `ClickHouse DateTime (${RANGE})`),
};

const pad = (n: number) => String(n).padStart(2, '0');

function dateTimeText(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

type Encode = (v: Value) => string;

export function floatText(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  return String(v);
}

/**
 * One TabSeparated encoder per logical column (times yield two fields), chosen once so the row
 * loop never switches on kinds. Values are checked against CLICKHOUSE_LIMITS first (`batchChecker`).
 */
export function encoders(table: string, columns: readonly StoreColumn[]): Encode[] {
  return columns.map((c): Encode => {
    const k = c.kind;
    if (isTime(k)) {
      return (v) => {
        if (v === null) return '\\N\t0';
        const us = BigInt(v as bigint);
        const ms = Number(us / 1000n);
        return `${dateTimeText(new Date(ms - (ms % 1000)))}\t${Number(us % 1_000_000n)}`;
      };
    }
    if (k === 'decimal') {
      const d = decimalShape(c.sourceType);
      const where = `${table}.${c.name}`;
      return (v) => (v === null ? '\\N' : decimalText(decimalUnits(v, d, where), d.scale));
    }
    const f: Encode =
      k === 'boolean'
        ? (v) => (v ? '1' : '0')
        : k === 'uuid'
          ? uuidText
          : k === 'date'
            ? (v) => new Date(Number(v) * DAY).toISOString().slice(0, 10)
            : k === 'float'
              ? (v) => floatText(Number(v))
              : k === 'text'
                ? (v) => tsvText(String(v))
                : (v) => String(v);
    return (v) => (v === null ? '\\N' : f(v));
  });
}

/** Splits one TabSeparated line into fields, `\N` as null. */
export function parseTsvLine(line: string): Array<string | null> {
  return line
    .split('\t')
    .map((f) =>
      f === '\\N'
        ? null
        : f.replace(/\\(.)/g, (_, c: string) =>
            c === 't' ? '\t' : c === 'n' ? '\n' : c === 'r' ? '\r' : c === '0' ? '\0' : c,
          ),
    );
}

/** The staging database's function that writes a double as `floatText` does. */
export const FLOAT_TEXT = 'fv_float_text';

/**
 * The staged sync path's form of `encoders`: one row's TabSeparated fields as a DuckDB SQL
 * expression over the transformed row's columns (`ident` names each), the fields the row path
 * writes for the same values (test/clickhouse-staged.e2e.test.ts compares the stored tables).
 * The staging database renders the lines; no JavaScript value is made per cell.
 */
export function tsvFieldsSql(columns: readonly StoreColumn[], ident: (name: string) => string): string {
  const tab = 'chr(9)';
  const fields = columns.map((c) => {
    const x = ident(c.name);
    switch (c.kind) {
      case 'integer':
      case 'bigint':
      case 'uuid':
      case 'date':
      // A DECIMAL(p,s)'s text has exactly s decimals, as `decimalText` writes it.
      case 'decimal':
        return `coalesce(CAST(${x} AS VARCHAR), '\\N')`;
      case 'float':
        // As `floatText` writes a JavaScript number (`fv_float_text`, the staged path's function):
        // DuckDB's own text of a double is not always the shortest, and ClickHouse can read two
        // texts of one double as two doubles a unit apart.
        return `coalesce(${FLOAT_TEXT}(${x}), '\\N')`;
      case 'boolean':
        return `CASE WHEN ${x} IS NULL THEN '\\N' WHEN ${x} THEN '1' ELSE '0' END`;
      case 'text':
        // As `tsvText`: the backslash first, then tab, newline, carriage return and NUL.
        return `coalesce(replace(replace(replace(replace(replace(${x}, '\\', '\\\\'), chr(9), '\\t'), chr(10), '\\n'), chr(13), '\\r'), chr(0), '\\0'), '\\N')`;
      case 'timestamp':
      case 'timestamptz': {
        // Whole seconds, then the microseconds of the second (the `__us` column); NULL as `\N` and 0.
        const us = `epoch_us(${x})`;
        return `coalesce(strftime(make_timestamp(${us} - ${us} % 1000000), '%Y-%m-%d %H:%M:%S') || ${tab} || CAST(${us} % 1000000 AS VARCHAR), '\\N' || ${tab} || '0')`;
      }
      default:
        throw new Error(`tsvFieldsSql: no staged form for kind ${c.kind}`);
    }
  });
  return fields.length === 0 ? `''` : `concat(${fields.join(`, ${tab}, `)})`;
}

/**
 * For each column whose values CLICKHOUSE_LIMITS bounds beyond its DuckDB type (dates and times:
 * 1970 to 2106), a DuckDB SQL condition true when the row's value is outside, and the words
 * `batchChecker` refuses it with (never the value).
 */
export function limitsSql(
  columns: readonly StoreColumn[],
  ident: (name: string) => string,
): Array<{ column: string; outside: string; why: string }> {
  const out: Array<{ column: string; outside: string; why: string }> = [];
  for (const c of columns) {
    const x = ident(c.name);
    if (c.kind === 'date')
      out.push({
        column: c.name,
        outside: `(${x} < DATE '1970-01-01' OR ${x} > DATE '1970-01-01' + ${MAX_DATE_DAYS - 1})`,
        why: CLICKHOUSE_LIMITS.date?.(-1) as string,
      });
    else if (isTime(c.kind))
      out.push({
        column: c.name,
        outside: `(epoch_us(${x}) < 0 OR epoch_us(${x}) > ${BigInt(MAX_DATE_DAYS) * 86_400_000_000n - 1n})`,
        why: CLICKHOUSE_LIMITS.timestamp?.(-1n) as string,
      });
  }
  return out;
}
