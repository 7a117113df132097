// What ClickHouse's analyst SQL guard and read limits must do on every ClickHouse the tests run
// (a cluster of 18.16, and 26 by chdb), beyond what the reader contract asks of every engine.
import { expect } from 'vitest';
import type { MetricsReader } from '../../src/metrics/index.ts';
import type { CliRun } from './cli.ts';

/** Reaches only ClickHouse has: system and shard tables, table functions, settings, dictionaries, internal state. */
export const CLICKHOUSE_ONLY_REFUSED = [
  'SELECT * FROM system.tables',
  'SELECT * FROM devices__fv_local',
  "SELECT * FROM url('http://127.0.0.1:1/x', CSV, 'a String')",
  'SELECT 1 SETTINGS readonly = 0',
  "SELECT dictGetString('d', 'a', toUInt64(1))",
  'SELECT * FROM fv.devices',
  'SELECT * FROM _fv_tables',
  // A CTE named after a protected table does not hide it from its own body.
  'WITH _fv_meta AS (SELECT * FROM _fv_meta) SELECT * FROM _fv_meta',
  'WITH devices AS (SELECT * FROM _fv_forgotten) SELECT * FROM devices',
  'SELECT * FROM numbers(10)',
  // DuckDB nests block comments, ClickHouse does not: what the guard read and what the server ran
  // differed (an outsider read system tables, reached url() and lifted the limits this way).
  'SELECT 1 AS a /* /* */ , (SELECT count() FROM system.tables) AS n -- */',
  "SELECT 1 AS a /* /* */ FROM url('http://127.0.0.1:1/x', CSV, 'a String') -- */",
  'SELECT 1 AS a /* /* */ SETTINGS max_memory_usage = 0 -- */',
  // A backslash escapes a quote in ClickHouse's strings, not in DuckDB's.
  "SELECT 'a\\' AS a, (SELECT count() FROM system.tables) AS n, ' ' AS b",
  'SELECT $$system.tables$$ AS a',
  // A bare name as the set of an IN is a table to ClickHouse, a column to DuckDB.
  'SELECT 0 IN system.one AS a',
  'SELECT 0 IN (system.one) AS a',
  "SELECT ('k', '10') IN (_fv_meta) AS a",
  'SELECT count() AS n FROM devices WHERE 0 NOT IN (devices__fv_local)',
  'SELECT "in"(0, system.one) AS a',
  'SELECT globalNotIn(0, system.one) AS a',
  "SELECT hasColumnInTable('system', 'one', 'dummy') AS a",
  // Words DuckDB reads as constants or calls, and 18.16 as names: true has no literal there.
  'SELECT 0 IN (true) AS a',
  'SELECT 1 AS "true", 0 IN (true) AS a',
  'SELECT count() AS n FROM devices WHERE 0 IN (false, 1)',
  'SELECT count() AS n FROM devices WHERE activated_at IN (current_date)',
  // A call alone as the set may be a table function to ClickHouse, a scalar one to DuckDB.
  'SELECT 0 IN numbers(10) AS a',
  "SELECT 0 IN (merge('system', '^one$')) AS a",
] as const;

/** Each statement, run by `sql` (the CLI), fails with FV_SQL_REFUSED. */
export async function expectRefused(sql: (text: string) => Promise<CliRun>, statements: readonly string[]) {
  for (const bad of statements) {
    const r = await sql(bad);
    expect(r.code, bad).not.toBe(0);
    expect(r.stderr, bad).toMatch(/FV_SQL_REFUSED/);
  }
}

/**
 * The server stops a statement past its memory or rows-read limit (and, with `deadline`, past its
 * time) with FV_SQL_LIMIT, over the demo's events; within them it answers.
 */
export async function expectSqlLimits(reader: MetricsReader, { deadline }: { deadline: boolean }) {
  const limits = { maxRows: 10, timeoutMs: 20_000 };
  const big = 'SELECT length(groupArray(toString(id))) AS n FROM connection_events';
  await expect(reader.sql(big, limits)).resolves.toMatchObject({ columns: ['n'] });
  await expect(reader.sql(big, { ...limits, memoryMb: 1 })).rejects.toMatchObject({ code: 'FV_SQL_LIMIT' });
  await expect(reader.sql(big, { ...limits, maxRowsToRead: 100 })).rejects.toMatchObject({
    code: 'FV_SQL_LIMIT',
  });
  if (!deadline) return;
  const cross = 'SELECT count() AS n FROM connection_events a CROSS JOIN connection_events b';
  await expect(reader.sql(cross, { ...limits, timeoutMs: 1000 })).rejects.toMatchObject({
    code: 'FV_SQL_LIMIT',
  });
}
