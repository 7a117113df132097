import type { ValueKind } from '../policy/index.ts';

/** One column as the source catalog describes it, including columns the role cannot read. */
export interface SourceColumn {
  readonly name: string;
  /** The PostgreSQL type as `format_type` prints it, e.g. `timestamp with time zone`. */
  readonly type: string;
  readonly kind: ValueKind;
  /** Whether the connected role may SELECT this column. */
  readonly readable: boolean;
  /** Binary (`bytea`): photos, documents. Never read: its values cannot be scanned. */
  readonly binary?: boolean;
}

/** What kind of relation the catalog says a table is. */
export type RelationKind = 'table' | 'view' | 'materialized_view' | 'foreign_table';

/** A foreign key: `columns` of this table reference `refColumns` of `refTable`. */
export interface ForeignKey {
  readonly columns: readonly string[];
  readonly refTable: string;
  readonly refColumns: readonly string[];
}

export interface SourceTable {
  readonly schema: string;
  readonly name: string;
  readonly columns: readonly SourceColumn[];
  /** The primary key's key columns (never its INCLUDE columns). */
  readonly primaryKey: readonly string[];
  /** Absent: a table. */
  readonly relation?: RelationKind;
  /** False for a materialized view that was never populated (reading it fails). */
  readonly populated?: boolean;
  readonly foreignKeys?: readonly ForeignKey[];
}

const KIND_BY_TYPE: Readonly<Record<string, ValueKind>> = {
  int2: 'integer',
  int4: 'integer',
  int8: 'bigint',
  float4: 'float',
  float8: 'float',
  numeric: 'decimal',
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
