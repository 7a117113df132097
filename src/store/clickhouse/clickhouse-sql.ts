import type { DuckDBConnection } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import { checkSql, type GuardedResult, type SqlLimits } from '../duckdb/sql-guard.ts';
import { type ClickHouseNode, describeClickHouseError } from './clickhouse-node.ts';

/** ClickHouse functions that reach dictionaries, other servers, files or the server's own facts. */
const DENIED = {
  names: new Set([
    'joinget',
    'getmacro',
    'hostname',
    'fqdn',
    'version',
    'uptime',
    'currentuser',
    'currentdatabase',
    'getsetting',
    'sleep',
    'sleepeachrow',
    'file',
    'url',
    'remote',
    'remotesecure',
    'cluster',
    'input',
  ]),
  prefixes: ['dict', 'filesystem', 'system', 'bitmap'],
};

const TIMEOUT_CODE = '159';

/**
 * One analyst SELECT on ClickHouse. It is checked on a portable parse tree first (DuckDB's parser:
 * one SELECT, analytics tables only, no table functions, no denied function; ClickHouse-only
 * syntax such as SETTINGS or INTO OUTFILE does not parse and is refused), then run with
 * `readonly = 1` (the server refuses any write or setting change), a row cap and a time limit.
 */
export async function clickHouseGuardedSql(
  parser: DuckDBConnection,
  node: ClickHouseNode,
  sql: string,
  tables: ReadonlySet<string>,
  limits: SqlLimits,
): Promise<GuardedResult> {
  await checkSql(parser, sql, tables, DENIED);
  try {
    const r = await node.json(sql, {
      readonly: '1',
      max_result_rows: String(limits.maxRows + 1),
      result_overflow_mode: 'break',
      max_execution_time: Math.max(1, Math.ceil(limits.timeoutMs / 1000)),
    });
    return {
      columns: r.meta.map((m) => m.name),
      rows: r.data.slice(0, limits.maxRows),
      truncated: r.data.length > limits.maxRows,
    };
  } catch (error) {
    const why = describeClickHouseError(error);
    if (why.endsWith(`(code ${TIMEOUT_CODE})`))
      throw new FvError('FV_SQL_REFUSED', `the query ran longer than ${limits.timeoutMs} ms and was stopped`);
    throw new FvError('FV_SQL_FAILED', why);
  }
}
