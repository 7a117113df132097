import { type DuckDBConnection, StatementType } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import type { GuardedResult, SqlLimits } from '../../store/index.ts';

export type { GuardedResult, SqlLimits };

/** Functions an analyst may never call: they read files, the environment, settings or the catalog. */
const DENIED_FUNCTIONS = new Set([
  'getenv',
  'current_setting',
  'current_database',
  'current_catalog',
  'current_schema',
  'current_schemas',
  'current_user',
  'session_user',
  'user',
  'version',
  'glob',
  'query',
  'query_table',
  'sql_auto_complete',
  'json_serialize_sql',
  'json_deserialize_sql',
  'json_execute_serialized_sql',
  'json_serialize_plan',
  'setseed',
  'which_secret',
  'load_extension',
  'col_description',
  'obj_description',
  'has_table_privilege',
  'has_schema_privilege',
  'has_column_privilege',
  'pg_get_viewdef',
  'pg_get_constraintdef',
  'pg_get_expr',
  'pg_table_is_visible',
  'pg_typeof',
  'format_pg_type',
  'nextval',
  'currval',
]);
const DENIED_PREFIXES = ['read_', 'duckdb_', 'pragma_', 'parquet_', 'iceberg_', 'delta_', 'pg_', 'sqlite_'];

/** Table functions that only generate values: no file, catalog or setting behind them. */
const GENERATORS = new Set(['range', 'generate_series', 'unnest']);

/**
 * Leaves of a bound (logical) plan that read no table: a constant row, an expression list, a CTE,
 * recursive CTE or correlated-subquery input, an empty result, and the value generators.
 */
const PLAN_LEAVES = new Set([
  'DUMMY_SCAN',
  'EXPRESSION_GET',
  'CHUNK_GET',
  'COLUMN_DATA_GET',
  'DELIM_GET',
  'CTE_REF',
  'CTE_SCAN',
  'REC_CTE_SCAN',
  'EMPTY_RESULT',
  'RANGE',
  'GENERATE_SERIES',
  'UNNEST',
]);

/** 64-bit and wider integer types, which DuckDB's JSON rows give as strings. */
const WIDE_INTEGERS = new Set(['BIGINT', 'UBIGINT', 'HUGEINT', 'UHUGEINT']);

/**
 * Counts are numbers: a wide integer that fits a double exactly (|n| ≤ 2^53) becomes a JSON
 * number; a larger one stays a string rather than being rounded.
 */
function wholeNumbers(rows: unknown[][], types: readonly string[]): unknown[][] {
  const wide = types.map((t) => WIDE_INTEGERS.has(t));
  if (!wide.includes(true)) return rows;
  return rows.map((r) =>
    r.map((v, i) => {
      if (!wide[i] || typeof v !== 'string') return v;
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : v;
    }),
  );
}

/** What one engine's guard adds to the portable checks. */
export interface GuardDialect {
  /** Functions refused on top of DENIED_FUNCTIONS, lower case, and prefixes. */
  readonly names: ReadonlySet<string>;
  readonly prefixes: readonly string[];
  /** Table functions allowed (lower case); DuckDB's value generators by default. */
  readonly generators: ReadonlySet<string>;
  /** Sees every node of the parse tree once the portable checks passed it (an engine's own rules). */
  readonly inspect?: (node: { readonly [key: string]: unknown }) => void;
}

const DUCKDB: GuardDialect = { names: new Set(), prefixes: [], generators: GENERATORS };

type Node = { [key: string]: unknown };

function refuse(reason: string): never {
  throw new FvError('FV_SQL_REFUSED', reason);
}

const QUERY_NODES = new Set(['SELECT_NODE', 'SET_OPERATION_NODE', 'RECURSIVE_CTE_NODE', 'CTE_NODE']);

/**
 * Walks a serialized statement with the CTE names in scope at each point, the way the binder sees
 * them: a CTE's body sees the CTEs before it (and, when its body is a recursive union, itself),
 * never its own name otherwise, so `WITH _fv_meta AS (FROM _fv_meta)` reads the table.
 */
function walk(
  node: unknown,
  scope: ReadonlySet<string>,
  visit: (n: Node, scope: ReadonlySet<string>) => void,
) {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, scope, visit);
    return;
  }
  if (!node || typeof node !== 'object') return;
  const n = node as Node;
  let inner = scope;
  if (QUERY_NODES.has(String(n.type))) {
    const entries = (n.cte_map as { map?: Array<{ key: string; value?: { query?: { node?: unknown } } }> })
      ?.map;
    const seen = new Set(scope);
    for (const e of entries ?? []) {
      walk(e.value?.query?.node, new Set(seen), visit);
      seen.add(e.key.toLowerCase());
    }
    inner = seen;
  }
  visit(n, inner);
  // A recursive CTE's anchor (left) does not see its own name; its recursive part (right) does.
  const self =
    n.type === 'RECURSIVE_CTE_NODE' ? new Set([...inner, String(n.cte_name).toLowerCase()]) : inner;
  for (const [k, v] of Object.entries(n)) if (k !== 'cte_map') walk(v, k === 'right' ? self : inner, visit);
}

/**
 * Checks one analyst statement on DuckDB's own parse tree: a single SELECT (no SHOW, DESCRIBE,
 * SUMMARIZE or PRAGMA) whose every table is an analytics table or a CTE in scope, with no table
 * function but the value generators and no function that reaches files, the environment, settings
 * or the catalog. Throws FV_SQL_REFUSED saying why. On its own it decides on names as written;
 * `checkPlan` then decides on what DuckDB binds.
 */
export async function checkSql(
  db: DuckDBConnection,
  sql: string,
  tables: ReadonlySet<string>,
  dialect: GuardDialect = DUCKDB,
): Promise<void> {
  if (sql.length > 20_000) refuse('the statement is longer than 20,000 characters');
  let count: number;
  try {
    count = (await db.extractStatements(sql)).count;
  } catch {
    refuse('the statement does not parse');
  }
  if (count !== 1) refuse(`exactly one statement is allowed (got ${count})`);
  let ast: { error: boolean; statements?: unknown[] };
  try {
    ast = JSON.parse(
      String((await db.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql])).getRows()[0]?.[0]),
    ) as typeof ast;
  } catch {
    // DuckDB could not serialize it (or wrote JSON that does not parse): nothing to check, so no.
    refuse('the statement cannot be checked');
  }
  if (ast.error) refuse('only a read-only SELECT statement is allowed');
  walk(ast.statements, new Set(), (n, scope) => {
    if (n.type === 'SHOW_REF') refuse('SHOW, DESCRIBE and SUMMARIZE are not allowed');
    if (n.type === 'BASE_TABLE') {
      const name = String(n.table_name);
      const schema = String(n.schema_name ?? '');
      if (n.catalog_name || (schema && schema !== 'main'))
        refuse(`table ${schema ? `${schema}.` : ''}${name} is outside the analytics tables`);
      if (!tables.has(name) && !(schema === '' && scope.has(name.toLowerCase())))
        refuse(`table ${name} is not an analytics table`);
    }
    if (n.type === 'TABLE_FUNCTION') {
      const name = String((n.function as Node | undefined)?.function_name ?? '').toLowerCase();
      if (!dialect.generators.has(name)) refuse(`table function ${name} is not allowed`);
    }
    if (n.class === 'FUNCTION') {
      const name = String(n.function_name).toLowerCase();
      if (
        DENIED_FUNCTIONS.has(name) ||
        dialect.names.has(name) ||
        [...DENIED_PREFIXES, ...dialect.prefixes].some((p) => name.startsWith(p))
      )
        refuse(`function ${name} is not allowed`);
    }
    dialect.inspect?.(n);
  });
}

type PlanNode = { name: string; children?: PlanNode[]; extra_info?: Record<string, unknown> };

/** `catalog.schema.name` as a plan prints it (a part quoted when it must be) → its parts. */
export function qualifiedParts(text: string): string[] {
  const parts: string[] = [];
  const re = /"((?:[^"]|"")*)"|([^."]+)/y;
  for (let at = 0; at < text.length; ) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (!m) return [text];
    parts.push(m[1] !== undefined ? m[1].replaceAll('""', '"') : (m[2] as string));
    at = re.lastIndex;
    if (text[at] === '.') at++;
    else if (at < text.length) return [text];
  }
  return parts;
}

/**
 * Makes a connection ready for checkPlan and for analyst SQL: times in UTC, EXPLAIN showing the
 * bound plan beside the physical one, then every setting locked.
 */
export async function lockForAnalysts(db: DuckDBConnection): Promise<void> {
  await db.run("SET TimeZone = 'UTC'");
  await db.run("SET explain_output = 'all'");
  await db.run('SET lock_configuration = true');
}

/**
 * Decides on what DuckDB actually binds. Nothing runs: EXPLAIN gives the bound plan (before any
 * optimizer folds a count into a constant) and the physical plan. In both, every table scanned
 * must be an analytics table in `catalog`'s main schema and every table function a value
 * generator; every leaf of the bound plan must be such a scan or read no table at all (a
 * constant, VALUES, a CTE). Views, catalog views, replacement scans and CTEs named after a table
 * all show here as what they really read. The connection must have gone through
 * lockForAnalysts. Throws FV_SQL_REFUSED saying what the statement would read.
 */
export async function checkPlan(
  db: DuckDBConnection,
  sql: string,
  tables: ReadonlySet<string>,
  catalog: string,
): Promise<void> {
  let plans: Map<string, PlanNode[]>;
  try {
    const r = await db.runAndReadAll(`EXPLAIN (FORMAT json) ${sql}`);
    plans = new Map(r.getRows().map((row) => [String(row[0]), JSON.parse(String(row[1])) as PlanNode[]]));
  } catch (error) {
    throw new FvError('FV_SQL_FAILED', String((error as Error).message).split('\n')[0] ?? 'cannot plan');
  }
  const bound = plans.get('logical_plan');
  const physical = plans.get('physical_plan');
  if (!bound || !physical) refuse('the statement has no plan to check');
  const ours = (table: string) => {
    const [c, s, t, ...rest] = qualifiedParts(table);
    return rest.length === 0 && c === catalog && s === 'main' && t !== undefined && tables.has(t);
  };
  const visit = (n: PlanNode, isBound: boolean) => {
    const table = n.extra_info?.Table;
    const fn = n.extra_info?.Function;
    if (table !== undefined && !ours(String(table)))
      refuse(`the statement reads ${String(table)}, which is not an analytics table`);
    if (fn !== undefined && !GENERATORS.has(String(fn).toLowerCase()))
      refuse(`the statement reads ${String(fn).toLowerCase()}, which is not an analytics table`);
    const children = n.children ?? [];
    if (isBound && children.length === 0 && table === undefined && !PLAN_LEAVES.has(n.name))
      refuse(`the statement reads ${n.name.toLowerCase()}, which is not an analytics table`);
    for (const c of children) visit(c, isBound);
  };
  for (const n of bound) visit(n, true);
  for (const n of physical) visit(n, false);
}

/**
 * Checks a statement (parse tree, then bound plan) and runs it with a row cap. Meant for a
 * connection nothing else uses: read-only-sql.ts runs it in a child process with its own memory
 * and time limits, which kill the work rather than ask it to stop.
 *
 * @example
 * await guardedSql(db, 'SELECT outcome, count(*) FROM connection_events GROUP BY 1', tables, 'store', 1000);
 */
export async function guardedSql(
  db: DuckDBConnection,
  sql: string,
  tables: ReadonlySet<string>,
  catalog: string,
  maxRows: number,
): Promise<GuardedResult> {
  await checkSql(db, sql, tables);
  await checkPlan(db, sql, tables, catalog);
  try {
    const prepared = await db.prepare(sql);
    // The plan check saw a SELECT; this is the statement that runs, so ask again.
    if (prepared.statementType !== StatementType.SELECT)
      refuse('only a read-only SELECT statement is allowed');
    const reader = await prepared.runAndReadUntil(maxRows + 1);
    const rows = wholeNumbers(reader.getRowsJson(), reader.columnTypes().map(String));
    return { columns: reader.columnNames(), rows: rows.slice(0, maxRows), truncated: rows.length > maxRows };
  } catch (error) {
    if (error instanceof FvError) throw error;
    throw new FvError('FV_SQL_FAILED', String((error as Error).message).split('\n')[0] ?? 'query failed');
  }
}
