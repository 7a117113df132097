import {
  BIGINT,
  BOOLEAN,
  DATE,
  DECIMAL,
  DOUBLE,
  type DuckDBAppender,
  DuckDBDataChunk,
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  type DuckDBType,
  DuckDBUUIDValue,
  type DuckDBValue,
  INTEGER,
  TIMESTAMP,
  TIMESTAMPTZ,
  UUID,
  VARCHAR,
} from '@duckdb/node-api';
import type { Value, ValueKind } from '../../policy/index.ts';
import { decimalShape, decimalUnits } from '../decimal-shape.ts';
import { bigintIn, INT32, INT64, numberIn, type ValueLimits } from '../value-limits.ts';

/** A stored column as the DuckDB writer needs it: its kind and, for decimals, its source type. */
export interface DuckColumn {
  readonly kind: ValueKind;
  readonly name?: string;
  readonly sourceType?: string;
}

const DUCKDB_TYPE: Readonly<Record<Exclude<ValueKind, 'decimal'>, string>> = {
  integer: 'INTEGER',
  bigint: 'BIGINT',
  float: 'DOUBLE',
  boolean: 'BOOLEAN',
  text: 'VARCHAR',
  uuid: 'UUID',
  date: 'DATE',
  timestamp: 'TIMESTAMP',
  timestamptz: 'TIMESTAMPTZ',
};

/** The SQL type of a stored column: exact DECIMAL(p,s) for PostgreSQL numeric. */
export function duckDbType(c: DuckColumn): string {
  if (c.kind !== 'decimal') return DUCKDB_TYPE[c.kind];
  const d = decimalShape(c.sourceType ?? 'numeric');
  return `DECIMAL(${d.precision},${d.scale})`;
}
/**
 * What DuckDB's columns hold. DATE and TIMESTAMP keep their extreme values for ±infinity, which a
 * value must never become by accident; TIMESTAMP starts in 290309 BC.
 */
export const DUCKDB_LIMITS: ValueLimits = {
  integer: INT32,
  bigint: INT64,
  float: undefined,
  boolean: undefined,
  text: undefined,
  uuid: undefined,
  date: numberIn(-(2 ** 31) + 2, 2 ** 31 - 2, 'DuckDB DATE'),
  timestamp: bigintIn(-9_223_372_022_400_000_000n, 2n ** 63n - 2n, 'DuckDB TIMESTAMP'),
  timestamptz: bigintIn(-9_223_372_022_400_000_000n, 2n ** 63n - 2n, 'DuckDB TIMESTAMP'),
};

/** The DuckDB type of each value kind, for data chunks. */
const CHUNK_TYPE: Readonly<Record<Exclude<ValueKind, 'decimal'>, DuckDBType>> = {
  integer: INTEGER,
  bigint: BIGINT,
  float: DOUBLE,
  boolean: BOOLEAN,
  text: VARCHAR,
  uuid: UUID,
  date: DATE,
  timestamp: TIMESTAMP,
  timestamptz: TIMESTAMPTZ,
};

type ToDuck = (v: NonNullable<Value>) => DuckDBValue;

/** Each kind's values as DuckDB values (uuids as 128-bit integers or text, times in microseconds). */
const TO_DUCK: Readonly<Record<Exclude<ValueKind, 'decimal'>, ToDuck>> = {
  integer: (v) => v as number,
  bigint: (v) => BigInt(v as bigint),
  float: (v) => v as number,
  boolean: (v) => v as boolean,
  text: (v) => String(v),
  uuid: (v) =>
    DuckDBUUIDValue.fromUint128(typeof v === 'bigint' ? v : BigInt(`0x${String(v).replaceAll('-', '')}`)),
  date: (v) => new DuckDBDateValue(v as number),
  timestamp: (v) => new DuckDBTimestampValue(v as bigint),
  timestamptz: (v) => new DuckDBTimestampTZValue(v as bigint),
};

/** Rows per data chunk: DuckDB's vector size. */
const CHUNK_ROWS = 2048;

/**
 * Appends `count` rows, whose cells `cell(row, column)` gives, a data chunk at a time: columns are
 * filled in JavaScript and handed over in one copy each, where appending value by value makes a
 * native DuckDB value per cell (README, "How this scales further", has the before and after).
 */
export function appendChunked(
  appender: DuckDBAppender,
  columns: readonly DuckColumn[],
  count: number,
  cell: (row: number, column: number) => Value,
  table = 'table',
): void {
  const types = columns.map((c): DuckDBType => {
    if (c.kind !== 'decimal') return CHUNK_TYPE[c.kind];
    const d = decimalShape(c.sourceType ?? 'numeric');
    return DECIMAL(d.precision, d.scale);
  });
  const convert = columns.map((c): ToDuck => {
    if (c.kind !== 'decimal') return TO_DUCK[c.kind];
    const d = decimalShape(c.sourceType ?? 'numeric');
    const where = `${table}.${c.name ?? 'column'}`;
    return (v) => new DuckDBDecimalValue(decimalUnits(v, d, where), d.precision, d.scale);
  });
  for (let start = 0; start < count; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, count - start);
    const columns = convert.map((to, c) => {
      const out = new Array<DuckDBValue>(n);
      for (let i = 0; i < n; i++) {
        const v = cell(start + i, c);
        out[i] = v === null ? null : to(v);
      }
      return out;
    });
    const chunk = DuckDBDataChunk.create(types, n);
    chunk.setColumns(columns);
    appender.appendDataChunk(chunk);
  }
}
