// DuckDB's run of the store and reader contracts (test/contracts/), and what is DuckDB's own: a
// store is one file on this machine, read back through DuckDB itself.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDerivedContract } from '../../../test/contracts/derived-contract.ts';
import { runReaderContract } from '../../../test/contracts/reader-contract.ts';
import { runStoreContract } from '../../../test/contracts/store-contract.ts';
import { queryStore } from '../../../test/helpers/store-dump.ts';
import { FvError } from '../../errors/index.ts';
import { readMetricsFile, rollupsOf } from '../../metrics/index.ts';
import { rollupWindowRows, writeFailure } from './duckdb-store.ts';
import { duckdb } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'fv-duckdb-engine-'));
const file = (name: string) => join(dir, `${name}-${Math.random().toString(36).slice(2)}.duckdb`);

runStoreContract(duckdb, 'duckdb', {
  location: () => file('store'),
  readDecimals: async (path) =>
    (
      await queryStore(
        path,
        'SELECT sum(amount)::VARCHAR, sum(rate)::VARCHAR, typeof(any_value(amount)) FROM payments',
      )
    )[0] as unknown[],
});

runReaderContract(duckdb, 'duckdb', () => file('reader'));

runDerivedContract(duckdb, 'duckdb', {
  location: () => file('derived'),
  // Rollups are kept, and none has a day written since its last refresh.
  derivedCurrent: async (path) => {
    const [[kept, stale]] = (await queryStore(
      path,
      'SELECT (SELECT count(*) FROM _fv_rollups), (SELECT count(*) FROM _fv_rollup_dirty)',
    )) as [[unknown, unknown]];
    return Number(kept) > 0 && Number(stale) === 0;
  },
});

// The same contract with rollups grouped a few days at a time (rollupWindows), as a table of
// 100M rows is: windows of 40 base rows here.
describe('DuckDB rollups grouped in windows', () => {
  const before = process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS;
  beforeAll(() => {
    process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS = '40';
  });
  afterAll(() => {
    if (before === undefined) delete process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS;
    else process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS = before;
  });
  runDerivedContract(
    duckdb,
    'duckdb, 40 rows a window',
    {
      location: () => file('windows'),
      derivedCurrent: async (path) => {
        const [[stale]] = (await queryStore(path, 'SELECT count(*) FROM _fv_rollup_dirty')) as [[unknown]];
        return Number(stale) === 0;
      },
    },
    [29],
  );
});

describe('FLEETVAULT_ROLLUP_WINDOW_ROWS', () => {
  it('is a whole number of rows above 0, or a usage error naming it, before the store opens', async () => {
    expect(rollupWindowRows({})).toBe(10_000_000);
    expect(rollupWindowRows({ FLEETVAULT_ROLLUP_WINDOW_ROWS: '40' })).toBe(40);
    for (const bad of ['0', '-5', '2.5', 'ten', '1e400'])
      expect(() => rollupWindowRows({ FLEETVAULT_ROLLUP_WINDOW_ROWS: bad })).toThrow(
        expect.objectContaining({
          code: 'FV_USAGE',
          message: expect.stringContaining('FLEETVAULT_ROLLUP_WINDOW_ROWS'),
        }),
      );
    const before = process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS;
    process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS = 'ten';
    const path = file('bad-window');
    try {
      await expect(duckdb.openStore(path)).rejects.toMatchObject({ code: 'FV_USAGE' });
    } finally {
      if (before === undefined) delete process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS;
      else process.env.FLEETVAULT_ROLLUP_WINDOW_ROWS = before;
    }
    expect(existsSync(path)).toBe(false);
  });
});

describe('DuckDB engine', () => {
  it('is one file on this machine, and serve may sync it on a schedule', async () => {
    const path = file('own');
    expect(duckdb.files(path)).toEqual([path]);
    await expect(duckdb.checkServing(path, true)).resolves.toBeUndefined();
  });
});

describe('DuckDB store failures', () => {
  it("DuckDB's errors while writing are FV_STORE_WRITE naming the table and DuckDB's kind of error, never a value", async () => {
    // Real DuckDB errors: a constraint error quotes the key, an out-of-memory error the pool's use.
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    const caught = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      );
    await db.run('CREATE TABLE t (id VARCHAR PRIMARY KEY)');
    const constraint = await caught(db.run(`INSERT INTO t VALUES ('fvcanary-key'), ('fvcanary-key')`));
    await db.run(`SET memory_limit = '2MB'`);
    const memory = await caught(db.run('SELECT list(range) FROM range(10000000)'));
    db.closeSync();
    instance.closeSync();
    for (const [error, kind] of [
      [constraint, 'Constraint Error'],
      [memory, 'Out of Memory Error'],
    ] as const) {
      expect(String(error)).toContain(kind);
      const mapped = writeFailure('notes', error);
      expect(mapped).toMatchObject({ code: 'FV_STORE_WRITE' });
      expect((mapped as Error).message).toBe(
        `DuckDB store: writing notes failed (${kind}); the next run resumes from the table's last checkpoint`,
      );
    }
    // fleetvault's own errors, and failures that are not DuckDB's, pass as they are.
    const own = new FvError('FV_STORE_VALUE', 'notes.id holds a value outside Int32');
    expect(writeFailure('notes', own)).toBe(own);
    const other = new TypeError('x is not a function');
    expect(writeFailure('notes', other)).toBe(other);
  });
});

describe('DuckDB rollups', () => {
  it('are rebuilt whatever the writer pool: 300k events group in a store opened with a 16 MB pool', async () => {
    // At 64 MB with two threads, grouping 10M events by (day, device, …) ran out of memory; a
    // 16 MB pool does the same at 300k rows. refreshDerived raises the pool while it rebuilds.
    const path = file('pool');
    const instance = await DuckDBInstance.create(path);
    const db = await instance.connect();
    await db.run(
      `CREATE TABLE connection_events AS SELECT uuid() AS id,
         ('00000000-0000-4000-8000-' || lpad(((i * 7919) % 150000)::VARCHAR, 12, '0'))::UUID AS device_id,
         TIMESTAMPTZ '2026-10-01 00:00:00+00' + to_seconds(i % 2592000) AS ts,
         CASE WHEN i % 3 = 0 THEN 'failure' ELSE 'success' END AS outcome,
         CASE WHEN i % 3 = 0 THEN 'E' || (i % 17) END AS error_code
       FROM range(300000) t(i)`,
    );
    db.closeSync();
    instance.closeSync();
    const rollups = rollupsOf(readMetricsFile(join(process.cwd(), 'examples/demo/fleetvault.metrics.yaml')));
    const before = process.env.FLEETVAULT_STORE_MEMORY;
    process.env.FLEETVAULT_STORE_MEMORY = '16MB';
    try {
      const store = await duckdb.openStore(path);
      try {
        await store.refreshDerived(rollups);
      } finally {
        await store.close();
      }
    } finally {
      if (before === undefined) delete process.env.FLEETVAULT_STORE_MEMORY;
      else process.env.FLEETVAULT_STORE_MEMORY = before;
    }
    const byDay = rollups.find((r) => r.grain === 'day' && r.columns.length === 1);
    const [[rows, dirty, expected]] = (await queryStore(
      path,
      `SELECT (SELECT count(*) FROM "${byDay?.name}"), (SELECT count(*) FROM _fv_rollup_dirty),
              (SELECT count(*) FROM (SELECT DISTINCT device_id, epoch_us(ts) // 86400000000 FROM connection_events))`,
    )) as [[unknown, unknown, unknown]];
    expect(Number(dirty)).toBe(0);
    expect(Number(rows)).toBe(Number(expected));
  });
});
