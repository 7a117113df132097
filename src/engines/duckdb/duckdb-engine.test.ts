// DuckDB's run of the store and reader contracts (test/contracts/), and what is DuckDB's own: a
// store is one file on this machine, read back through DuckDB itself.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import { runDerivedContract } from '../../../test/contracts/derived-contract.ts';
import { runReaderContract } from '../../../test/contracts/reader-contract.ts';
import { runStoreContract } from '../../../test/contracts/store-contract.ts';
import { queryStore } from '../../../test/helpers/store-dump.ts';
import { readMetricsFile, rollupsOf } from '../../metrics/index.ts';
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

describe('DuckDB engine', () => {
  it('is one file on this machine, and serve may sync it on a schedule', async () => {
    const path = file('own');
    expect(duckdb.files(path)).toEqual([path]);
    await expect(duckdb.checkServing(path, true)).resolves.toBeUndefined();
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
