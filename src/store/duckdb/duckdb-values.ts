import {
  type DuckDBAppender,
  DuckDBDateValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBUUIDValue,
} from '@duckdb/node-api';
import type { Value, ValueKind } from '../../policy/index.ts';

export const DUCKDB_TYPE: Readonly<Record<ValueKind, string>> = {
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

type Append = (a: DuckDBAppender, v: Value) => void;

function uuidOf(v: Value): DuckDBUUIDValue {
  return DuckDBUUIDValue.fromUint128(
    typeof v === 'bigint' ? v : BigInt(`0x${String(v).replaceAll('-', '')}`),
  );
}

const APPEND: Readonly<Record<ValueKind, Append>> = {
  integer: (a, v) => a.appendInteger(v as number),
  bigint: (a, v) => a.appendBigInt(BigInt(v as bigint)),
  float: (a, v) => a.appendDouble(v as number),
  boolean: (a, v) => a.appendBoolean(v as boolean),
  text: (a, v) => a.appendVarchar(String(v)),
  uuid: (a, v) => a.appendUUID(uuidOf(v)),
  date: (a, v) => a.appendDate(new DuckDBDateValue(v as number)),
  timestamp: (a, v) => a.appendTimestamp(new DuckDBTimestampValue(v as bigint)),
  timestamptz: (a, v) => a.appendTimestampTZ(new DuckDBTimestampTZValue(v as bigint)),
};

/** One appending function per column, chosen once, so the row loop never switches on kinds. */
export function appenders(kinds: readonly ValueKind[]): Append[] {
  return kinds.map((k) => {
    const f = APPEND[k];
    return (a, v) => (v === null ? a.appendNull() : f(a, v));
  });
}
