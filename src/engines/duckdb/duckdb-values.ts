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
import { decimalShape, decimalUnits } from '../../store/decimal-shape.ts';
import { bigintIn, INT32, INT64, numberIn, type ValueLimits } from '../../store/value-limits.ts';

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
 * The parts of node-api's vectors the writer fills directly (its JavaScript-side buffers, copied
 * to DuckDB in one call by `flush`): typed items, or a DataView for UUIDs and booleans, and the
 * validity bitmask. A vector without them (strings, decimals, another driver version) is filled
 * value by value through `setItem`.
 */
interface RawVector {
  readonly items?: BigInt64Array | Int32Array | Float64Array;
  readonly dataView?: DataView;
  readonly validity?: { data: BigUint64Array | null };
  setItem(index: number, value: DuckDBValue): void;
  flush(): void;
}

type Fill = (vector: RawVector, n: number, get: (i: number) => Value) => boolean;

const HIGH_BIT = 0x8000000000000000n;

let maskWords: BigUint64Array | undefined;
let maskHalves: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/** Marks item `i` NULL in the vector's validity mask (created all-valid on the first NULL). */
function setNull(vector: RawVector, i: number): void {
  const validity = vector.validity as { data: BigUint64Array | null };
  if (!validity.data) {
    const words = new BigUint64Array(CHUNK_ROWS / 64);
    words.fill(0xffffffffffffffffn);
    validity.data = words;
  }
  const d = validity.data;
  if (d !== maskWords) {
    maskWords = d;
    // Little-endian 64-bit words: bit i is bit (i % 32) of 32-bit word i / 32.
    maskHalves = new Uint32Array(d.buffer, d.byteOffset, d.length * 2);
  }
  const u32 = maskHalves;
  u32[i >>> 5] = (u32[i >>> 5] as number) & ~(1 << (i & 31));
}

/** Direct fillers by kind; each answers false when the vector lacks the buffers it writes. */
const FILL: Partial<Record<ValueKind, Fill>> = {
  integer: fillItems,
  date: fillItems,
  float: fillItems,
  bigint: fillItems,
  timestamp: fillItems,
  timestamptz: fillItems,
  uuid: (vector, n, get) => {
    const view = vector.dataView;
    if (!view || !vector.validity || view.byteLength < n * 16) return false;
    for (let i = 0; i < n; i++) {
      const v = get(i);
      if (v === null) {
        setNull(vector, i);
        continue;
      }
      const u = typeof v === 'bigint' ? v : BigInt(`0x${String(v).replaceAll('-', '')}`);
      // DuckDB's UUID storage: the 128-bit value with its top bit flipped, as a signed hugeint.
      view.setBigUint64(i * 16, BigInt.asUintN(64, u), true);
      view.setBigUint64(i * 16 + 8, BigInt.asUintN(64, u >> 64n) ^ HIGH_BIT, true);
    }
    return true;
  },
  boolean: (vector, n, get) => {
    const view = vector.dataView;
    if (!view || !vector.validity || view.byteLength < n) return false;
    for (let i = 0; i < n; i++) {
      const v = get(i);
      if (v === null) setNull(vector, i);
      else view.setUint8(i, v ? 1 : 0);
    }
    return true;
  },
};

function fillItems(vector: RawVector, n: number, get: (i: number) => Value): boolean {
  const items = vector.items;
  if (!items || !vector.validity || items.length < n) return false;
  if (items instanceof BigInt64Array) {
    for (let i = 0; i < n; i++) {
      const v = get(i);
      if (v === null) setNull(vector, i);
      else items[i] = typeof v === 'bigint' ? v : BigInt(v as number);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = get(i);
      if (v === null) setNull(vector, i);
      else items[i] = v as number;
    }
  }
  return true;
}

/**
 * Appends `count` rows, whose cells `cell(row, column)` gives, a data chunk at a time. Fixed-width
 * columns (numbers, times, UUIDs) are written straight into each vector's buffer, with no value
 * object per cell; text and decimals go value by value. The values were checked against the
 * column's limits before (`batchChecker`).
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
  const fills = columns.map((c) => FILL[c.kind]);
  for (let start = 0; start < count; start += CHUNK_ROWS) {
    const n = Math.min(CHUNK_ROWS, count - start);
    const chunk = DuckDBDataChunk.create(types, n);
    chunk.rowCount = n;
    for (let c = 0; c < columns.length; c++) {
      const vector = chunk.getColumnVector(c) as unknown as RawVector;
      const get = (i: number) => cell(start + i, c);
      const fill = fills[c];
      if (!fill?.(vector, n, get)) {
        const to = convert[c] as ToDuck;
        for (let i = 0; i < n; i++) {
          const v = get(i);
          vector.setItem(i, v === null ? null : to(v));
        }
      }
      vector.flush();
    }
    appender.appendDataChunk(chunk);
  }
}

/**
 * DuckDB's kind of error (`Out of Memory Error`, `IO Error`) from one of its errors, never its
 * message (which may quote a value); undefined for anything that is not DuckDB's.
 */
export function duckDbErrorKind(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return /^([A-Z][A-Za-z]*(?: [A-Za-z]+){0,4} Error):/.exec(error.message)?.[1];
}
