// Analyst SQL in its own process: the guard's answers come back, and the worst statements are
// killed at their memory cap or deadline instead of growing or running on. Runs the built worker
// (`npm run build` first; `npm test` does).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { beforeAll, describe, expect, it } from 'vitest';
import { smallStore, WORST_SQL as WORST } from '../../../test/helpers/small-store.ts';
import { readOnlySql } from './read-only-sql.ts';

describe('analyst SQL sandbox', () => {
  let store: string;
  beforeAll(async () => {
    store = await smallStore();
  });
  const limits = { maxRows: 100, timeoutMs: 20_000 };

  it('answers a SELECT over the analytics tables, capped in rows', async () => {
    const r = await readOnlySql(
      store,
      'SELECT region, count(*) AS n FROM devices GROUP BY 1 ORDER BY 1',
      limits,
    );
    expect(r).toEqual({
      columns: ['region', 'n'],
      rows: [
        ['eu', 106],
        ['us', 106],
      ],
      truncated: false,
    });
    const capped = await readOnlySql(store, 'SELECT id FROM devices', { ...limits, maxRows: 5 });
    expect(capped.rows.length).toBe(5);
    expect(capped.truncated).toBe(true);
  });

  it('refuses what the guard refuses, internal state included', async () => {
    for (const sql of ['WITH _fv_meta AS (FROM _fv_meta) FROM _fv_meta', 'FROM _fv_tables', 'SHOW TABLES']) {
      await expect(readOnlySql(store, sql, limits)).rejects.toMatchObject({ code: 'FV_SQL_REFUSED' });
    }
  });

  it('kills the worst statement at its memory cap, not after minutes', async () => {
    await expect(
      readOnlySql(store, WORST, { ...limits, timeoutMs: 120_000, memoryMb: 384 }),
    ).rejects.toMatchObject({
      code: 'FV_SQL_LIMIT',
      message: expect.stringMatching(/used more than 384 MB/),
    });
  });

  it('kills a statement at its deadline even when it would never check for an interrupt', async () => {
    // One long-running expression with little memory: only a kill stops it.
    const sql = 'SELECT sum(hash(i)) FROM range(0, 100000000000) t(i)';
    await expect(readOnlySql(store, sql, { ...limits, timeoutMs: 1500 })).rejects.toMatchObject({
      code: 'FV_SQL_LIMIT',
      message: expect.stringMatching(/ran longer than 1500 ms/),
    });
  });

  it('offers no table at all in a DuckDB file fleetvault did not write', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fv-foreign-')), 'x.duckdb');
    const i = await DuckDBInstance.create(path);
    const c = await i.connect();
    await c.run('CREATE TABLE t AS SELECT 1 AS x');
    c.closeSync();
    i.closeSync();
    await expect(readOnlySql(path, 'SELECT * FROM t', limits)).rejects.toMatchObject({
      code: 'FV_SQL_REFUSED',
    });
    await expect(readOnlySql(path, 'SELECT 42 AS x', limits)).resolves.toMatchObject({ rows: [[42]] });
  });
});
