import { kindOfPgType, type SourceColumn, type SourceTable } from './source-schema.ts';

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
       has_column_privilege(c.oid, a.attnum, 'SELECT') AS readable
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum`;

const PK_SQL = `
SELECT c.relname AS table_name, a.attname AS column_name
FROM pg_catalog.pg_index i
JOIN pg_catalog.pg_class c ON c.oid = i.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
WHERE n.nspname = $1 AND i.indisprimary
ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)`;

/** Every table of a schema with every column, whether or not the connected role may read it. */
export async function introspect(db: PgQueryable, schema: string): Promise<Map<string, SourceTable>> {
  const cols = await db.query<{
    table_name: string;
    column_name: string;
    type: string;
    base_type: string;
    readable: boolean;
  }>(COLUMNS_SQL, [schema]);
  const pks = await db.query<{ table_name: string; column_name: string }>(PK_SQL, [schema]);
  const columns = new Map<string, SourceColumn[]>();
  for (const r of cols.rows) {
    const list = columns.get(r.table_name) ?? [];
    list.push({ name: r.column_name, type: r.type, kind: kindOfPgType(r.base_type), readable: r.readable });
    columns.set(r.table_name, list);
  }
  const out = new Map<string, SourceTable>();
  for (const [name, list] of columns) {
    const primaryKey = pks.rows.filter((p) => p.table_name === name).map((p) => p.column_name);
    out.set(name, { schema, name, columns: list, primaryKey });
  }
  return out;
}
