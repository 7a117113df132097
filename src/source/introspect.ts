import {
  type ForeignKey,
  kindOfPgType,
  type RelationKind,
  type SourceColumn,
  type SourceTable,
} from './source-schema.ts';

/** The subset of `pg.Client` the source uses. */
export interface PgQueryable {
  query<R extends object = Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

// pg_catalog, not information_schema: information_schema.columns hides columns the role cannot
// read, and fail-closed classification must see every column.
const COLUMNS_SQL = `
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type,
       COALESCE(bt.typname, t.typname) AS base_type,
       has_column_privilege(c.oid, a.attnum, 'SELECT') AS readable,
       c.relkind AS relkind, c.relispopulated AS populated
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum`;

// Only the first indnkeyatts entries of indkey are the key; the rest are INCLUDE columns.
const PK_SQL = `
SELECT c.relname AS table_name, a.attname AS column_name
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, pos)
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
WHERE n.nspname = $1 AND i.indisprimary AND k.pos <= i.indnkeyatts
ORDER BY c.relname, k.pos`;

const FK_SQL = `
SELECT c.conname AS name, t.relname AS table_name, r.relname AS ref_table,
       array_agg(a.attname::text ORDER BY k.pos) AS columns, array_agg(ra.attname::text ORDER BY k.pos) AS ref_columns
FROM pg_catalog.pg_constraint c
JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
JOIN pg_catalog.pg_class r ON r.oid = c.confrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(att, ref_att, pos)
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.att
JOIN pg_catalog.pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = k.ref_att
WHERE n.nspname = $1 AND c.contype = 'f' AND r.relnamespace = t.relnamespace
GROUP BY c.conname, t.relname, r.relname
ORDER BY t.relname, c.conname`;

const RELATION: Readonly<Record<string, RelationKind>> = {
  r: 'table',
  p: 'table',
  v: 'view',
  m: 'materialized_view',
  f: 'foreign_table',
};

/** Every table of a schema with every column, whether or not the connected role may read it. */
export async function introspect(db: PgQueryable, schema: string): Promise<Map<string, SourceTable>> {
  const cols = await db.query<{
    table_name: string;
    column_name: string;
    type: string;
    base_type: string;
    readable: boolean;
    relkind: string;
    populated: boolean;
  }>(COLUMNS_SQL, [schema]);
  const pks = await db.query<{ table_name: string; column_name: string }>(PK_SQL, [schema]);
  const fks = await db.query<{
    table_name: string;
    ref_table: string;
    columns: string[];
    ref_columns: string[];
  }>(FK_SQL, [schema]);
  const columns = new Map<string, SourceColumn[]>();
  const kinds = new Map<string, { relation: RelationKind; populated: boolean }>();
  for (const r of cols.rows) {
    const list = columns.get(r.table_name) ?? [];
    list.push({
      name: r.column_name,
      type: r.type,
      kind: kindOfPgType(r.base_type),
      readable: r.readable,
      ...(r.base_type === 'bytea' ? { binary: true } : {}),
    });
    columns.set(r.table_name, list);
    kinds.set(r.table_name, { relation: RELATION[r.relkind] ?? 'table', populated: r.populated });
  }
  const out = new Map<string, SourceTable>();
  for (const [name, list] of columns) {
    const primaryKey = pks.rows.filter((p) => p.table_name === name).map((p) => p.column_name);
    const foreignKeys: ForeignKey[] = fks.rows
      .filter((f) => f.table_name === name)
      .map((f) => ({ columns: f.columns, refTable: f.ref_table, refColumns: f.ref_columns }));
    const k = kinds.get(name) as { relation: RelationKind; populated: boolean };
    out.set(name, {
      schema,
      name,
      columns: list,
      primaryKey,
      ...(k.relation !== 'table' ? { relation: k.relation } : {}),
      ...(k.relation === 'materialized_view' && !k.populated ? { populated: false } : {}),
      ...(foreignKeys.length > 0 ? { foreignKeys } : {}),
    });
  }
  return out;
}
