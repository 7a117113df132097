import type { DuckDBConnection } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';

/** Functions an analyst may never call: they read files, the environment, settings or the catalog. */
const DENIED_FUNCTIONS = new Set([
  'getenv',
  'current_setting',
  'glob',
  'query',
  'query_table',
  'sql_auto_complete',
  'json_serialize_sql',
  'json_deserialize_sql',
  'json_execute_serialized_sql',
  'setseed',
  'which_secret',
  'load_extension',
]);
const DENIED_PREFIXES = ['read_', 'duckdb_', 'pragma_', 'parquet_', 'iceberg_', 'delta_'];

export interface SqlLimits {
  readonly maxRows: number;
  readonly timeoutMs: number;
}

export interface GuardedResult {
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>;
  readonly truncated: boolean;
}

type Node = { [key: string]: unknown };

function walk(node: unknown, visit: (n: Node) => void): void {
  if (Array.isArray(node)) for (const x of node) walk(x, visit);
  else if (node && typeof node === 'object') {
    visit(node as Node);
    for (const v of Object.values(node)) walk(v, visit);
  }
}

function refuse(reason: string): never {
  throw new FvError('FV_SQL_REFUSED', reason);
}

/**
 * Checks one analyst statement on DuckDB's own parse tree: a single SELECT whose every table is an
 * analytics table (or a CTE), with no table functions and no function that reaches files, the
 * environment or settings. Throws FV_SQL_REFUSED saying why.
 */
export async function checkSql(
  db: DuckDBConnection,
  sql: string,
  tables: ReadonlySet<string>,
  denied: { readonly names: ReadonlySet<string>; readonly prefixes: readonly string[] } = {
    names: new Set(),
    prefixes: [],
  },
): Promise<void> {
  if (sql.length > 20_000) refuse('the statement is longer than 20,000 characters');
  let count: number;
  try {
    count = (await db.extractStatements(sql)).count;
  } catch {
    refuse('the statement does not parse');
  }
  if (count !== 1) refuse(`exactly one statement is allowed (got ${count})`);
  const ast = JSON.parse(
    String((await db.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql])).getRows()[0]?.[0]),
  ) as {
    error: boolean;
    error_message?: string;
    statements?: unknown[];
  };
  if (ast.error) refuse('only a read-only SELECT statement is allowed');
  const ctes = new Set<string>();
  walk(ast.statements, (n) => {
    const map = (n.cte_map as { map?: Array<{ key: string }> } | undefined)?.map;
    for (const e of map ?? []) ctes.add(e.key.toLowerCase());
  });
  walk(ast.statements, (n) => {
    if (n.type === 'BASE_TABLE') {
      const name = String(n.table_name);
      const schema = String(n.schema_name ?? '');
      if (n.catalog_name || (schema && schema !== 'main'))
        refuse(`table ${schema ? `${schema}.` : ''}${name} is outside the analytics tables`);
      if (!tables.has(name) && !(schema === '' && ctes.has(name.toLowerCase())))
        refuse(`table ${name} is not an analytics table`);
    }
    if (n.type === 'TABLE_FUNCTION')
      refuse(
        `table function ${String((n.function as Node | undefined)?.function_name ?? '')} is not allowed`,
      );
    if (n.class === 'FUNCTION') {
      const name = String(n.function_name).toLowerCase();
      if (
        DENIED_FUNCTIONS.has(name) ||
        denied.names.has(name) ||
        [...DENIED_PREFIXES, ...denied.prefixes].some((p) => name.startsWith(p))
      )
        refuse(`function ${name} is not allowed`);
    }
  });
}

/**
 * Runs a checked statement with a row cap and a time limit (the query is interrupted).
 *
 * @example
 * await guardedSql(db, 'SELECT outcome, count(*) FROM connection_events GROUP BY 1', tables, { maxRows: 1000, timeoutMs: 5000 });
 */
export async function guardedSql(
  db: DuckDBConnection,
  sql: string,
  tables: ReadonlySet<string>,
  limits: SqlLimits,
): Promise<GuardedResult> {
  await checkSql(db, sql, tables);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    db.interrupt();
  }, limits.timeoutMs);
  try {
    const reader = await db.runAndReadUntil(sql, limits.maxRows + 1);
    const rows = reader.getRowsJson();
    return {
      columns: reader.columnNames(),
      rows: rows.slice(0, limits.maxRows),
      truncated: rows.length > limits.maxRows,
    };
  } catch (error) {
    if (timedOut)
      throw new FvError('FV_SQL_REFUSED', `the query ran longer than ${limits.timeoutMs} ms and was stopped`);
    throw new FvError('FV_SQL_FAILED', String((error as Error).message).split('\n')[0] ?? 'query failed');
  } finally {
    clearTimeout(timer);
  }
}
