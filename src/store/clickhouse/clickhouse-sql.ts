import type { DuckDBConnection } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import { checkSql, type GuardedResult, type SqlLimits } from '../duckdb/sql-guard.ts';
import { type ClickHouseNode, describeClickHouseError } from './clickhouse-node.ts';
import {
  clickHouseReadSettings,
  limitHit,
  limitMessage,
  type ReadonlyLevel,
} from './clickhouse-read-settings.ts';

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

/**
 * One analyst SELECT on ClickHouse. It is checked on a portable parse tree first (DuckDB's parser:
 * one SELECT, analytics tables only, no table functions, no denied function; ClickHouse-only
 * syntax such as SETTINGS or INTO OUTFILE does not parse and is refused), then run read-only
 * (the user's profile, or `readonly = 1`) with a row cap, a memory limit and a time limit
 * (`clickHouseReadSettings`).
 */
export async function clickHouseGuardedSql(
  parser: DuckDBConnection,
  node: ClickHouseNode,
  sql: string,
  tables: ReadonlySet<string>,
  limits: SqlLimits,
  level: ReadonlyLevel,
): Promise<GuardedResult> {
  await checkSql(parser, sql, tables, DENIED);
  try {
    const r = await node.json(
      sql,
      clickHouseReadSettings('analyst', level, { maxRows: limits.maxRows, timeoutMs: limits.timeoutMs }),
    );
    return {
      columns: r.meta.map((m) => m.name),
      rows: r.data.slice(0, limits.maxRows),
      truncated: r.data.length > limits.maxRows,
    };
  } catch (error) {
    const hit = limitHit(error);
    if (hit === 'time')
      throw new FvError('FV_SQL_REFUSED', `the query ran longer than ${limits.timeoutMs} ms and was stopped`);
    if (hit === 'memory') throw new FvError('FV_SQL_REFUSED', limitMessage(hit, 'analyst'));
    throw new FvError('FV_SQL_FAILED', describeClickHouseError(error));
  }
}
