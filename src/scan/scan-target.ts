import { holdsStore, isBookkeeping, openReadOnlyFile } from '../engines/duckdb/index.ts';
import { connectSource, introspect, quoteIdent, sourceError } from '../source/index.ts';

export interface ScanColumn {
  readonly name: string;
  readonly type: string;
  /** Whether values are text, so the value detectors apply. */
  readonly text: boolean;
  /** Numbers: sampled too, for the bare forms a column's name gives meaning (phone, ip). */
  readonly numeric?: boolean;
  /** Binary: never sampled. */
  readonly binary?: boolean;
}

/** A database to profile: PostgreSQL (any schema) or a DuckDB file (ours or another team's). */
export interface ScanTarget {
  readonly kind: 'postgres' | 'duckdb';
  /** A fleetvault store: its column names were reviewed in a policy, so only values are evidence. */
  readonly fleetvaultStore: boolean;
  /** Every relation; `unreadable` says why one cannot be read (a never-populated materialized view). */
  tables(): Promise<Array<{ name: string; columns: ScanColumn[]; unreadable?: string }>>;
  /** Up to `n` non-null values of one column, as text. Never leaves the scanner. */
  sample(table: string, column: string, n: number): Promise<string[]>;
  close(): Promise<void>;
}

export async function pgTarget(url: string, schema: string): Promise<ScanTarget> {
  const client = await connectSource(url);
  return {
    kind: 'postgres',
    fleetvaultStore: false,
    async tables() {
      const catalog = await introspect(client, schema);
      return [...catalog.values()].map((t) => ({
        name: t.name,
        columns: t.columns.map((c) => ({
          name: c.name,
          type: c.type,
          text: c.kind === 'text' && !c.binary,
          numeric: c.kind === 'integer' || c.kind === 'bigint' || c.kind === 'float' || c.kind === 'decimal',
          ...(c.binary ? { binary: true } : {}),
        })),
        ...(t.populated === false
          ? { unreadable: 'materialized view never populated (REFRESH MATERIALIZED VIEW to scan it)' }
          : {}),
      }));
    },
    async sample(table, column, n) {
      const c = quoteIdent(column);
      try {
        const r = await client.query<{ v: string }>(
          `SELECT ${c}::text AS v FROM ${quoteIdent(schema)}.${quoteIdent(table)} WHERE ${c} IS NOT NULL LIMIT ${Math.floor(n)}`,
        );
        return r.rows.map((row) => row.v);
      } catch (error) {
        throw sourceError(error, { relation: `${schema}.${table}` }) ?? error;
      }
    },
    close: () => client.end(),
  };
}

export async function duckDbTarget(path: string): Promise<ScanTarget> {
  const instance = await openReadOnlyFile(path, `${path} read-only`);
  const db = await instance.connect();
  const names = (
    await db.runAndReadAll("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1")
  )
    .getRows()
    .map((r) => String(r[0]));
  const fleetvaultStore = holdsStore(names);
  return {
    kind: 'duckdb',
    fleetvaultStore,
    async tables() {
      const cols = (
        await db.runAndReadAll(
          "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' ORDER BY table_name, column_index",
        )
      ).getRows();
      return names
        .filter((t) => !isBookkeeping(t))
        .map((t) => ({
          name: t,
          columns: cols
            .filter((c) => c[0] === t)
            .map((c) => ({
              name: String(c[1]),
              type: String(c[2]),
              text: String(c[2]) === 'VARCHAR',
              numeric: /^(BIGINT|INTEGER|SMALLINT|HUGEINT|DOUBLE|FLOAT|DECIMAL)/.test(String(c[2])),
              ...(String(c[2]) === 'BLOB' ? { binary: true } : {}),
            })),
        }));
    },
    async sample(table, column, n) {
      const c = quoteIdent(column);
      const r = await db.runAndReadAll(
        `SELECT ${c}::VARCHAR FROM ${quoteIdent(table)} WHERE ${c} IS NOT NULL LIMIT ${Math.floor(n)}`,
      );
      return r.getRows().map((row) => String(row[0]));
    },
    async close() {
      db.closeSync();
      instance.closeSync();
    },
  };
}
