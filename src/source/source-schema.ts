import type { ValueKind } from '../policy/index.ts';

/** One column as the source catalog describes it, including columns the role cannot read. */
export interface SourceColumn {
  readonly name: string;
  /** The PostgreSQL type as `format_type` prints it, e.g. `timestamp with time zone`. */
  readonly type: string;
  readonly kind: ValueKind;
  /** Whether the connected role may SELECT this column. */
  readonly readable: boolean;
}

export interface SourceTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly SourceColumn[];
  readonly primaryKey: readonly string[];
}

const KIND_BY_TYPE: Readonly<Record<string, ValueKind>> = {
  int2: 'integer',
  int4: 'integer',
  int8: 'bigint',
  float4: 'float',
  float8: 'float',
  numeric: 'float',
  bool: 'boolean',
  uuid: 'uuid',
  date: 'date',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
};

/** The value kind for a PostgreSQL base type name; anything else travels as text. */
export function kindOfPgType(typname: string): ValueKind {
  return KIND_BY_TYPE[typname] ?? 'text';
}
