// DuckDB's run of the store and reader contracts (test/contracts/), and what is DuckDB's own: a
// store is one file on this machine, read back through DuckDB itself.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDerivedContract } from '../../../test/contracts/derived-contract.ts';
import { runReaderContract } from '../../../test/contracts/reader-contract.ts';
import { runStoreContract } from '../../../test/contracts/store-contract.ts';
import { queryStore } from '../../../test/helpers/store-dump.ts';
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
