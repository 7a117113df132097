// ClickHouse 26 (chdb 3.4.0 behind ClickHouse's HTTP interface, test/helpers/chdb-server.ts):
// the store, reader and derived-rows contracts (test/contracts/) on the current dialect, one server.
import { afterAll, beforeAll } from 'vitest';
import { ClickHouseStore, clickhouse, ROLLUP_DIRTY } from '../src/engines/clickhouse/index.ts';
import { runDerivedContract } from './contracts/derived-contract.ts';
import { runReaderContract } from './contracts/reader-contract.ts';
import { runStoreContract } from './contracts/store-contract.ts';
import { type ChdbServer, startChdbServer } from './helpers/chdb-server.ts';

let chdb: ChdbServer;
/** The reader contract's small store: a database of its own beside the store contract's. */
let small: string;

beforeAll(async () => {
  chdb = await startChdbServer();
  small = await chdb.database('small');
});

afterAll(async () => {
  await chdb?.stop();
});

/** The payments the store contract wrote, as text and amount's type name. */
async function readDecimals(url: string): Promise<unknown[]> {
  const ch = await ClickHouseStore.open(url);
  try {
    return (
      (
        await ch.nodes[0]?.rows(
          'SELECT toString(sum(amount)), toString(sum(rate)), toTypeName(any(amount)) FROM payments',
          'test',
        )
      )?.[0] ?? []
    );
  } finally {
    await ch.close();
  }
}

runStoreContract(clickhouse, 'clickhouse-26 (chdb)', {
  location: () => chdb.url,
  readDecimals,
  decimalsWithoutTrailingZeros: true,
});
runReaderContract(clickhouse, 'clickhouse-26 (chdb)', () => small);

/**
 * Rollups built, with no write pending since their refresh. Not whether the tables are settled:
 * the chdb test server refuses settings on OPTIMIZE (the settling step's), so a table an upsert
 * unsettled stays read with FINAL here and its rollups unread (the answers must be equal all the
 * same); a first copy of new keys stays settled, and the rollups answer after it.
 */
async function current(url: string): Promise<boolean> {
  const ch = await ClickHouseStore.open(url);
  try {
    const one = async (sql: string) => Number((await ch.nodes[0]?.rows(sql, 'test'))?.[0]?.[0]);
    if ((await one("SELECT count() FROM _fv_meta FINAL WHERE key LIKE 'rollup:%' AND value != ''")) === 0)
      return false;
    return (await one(`SELECT count() FROM ${ROLLUP_DIRTY} FINAL WHERE done = 0`)) === 0;
  } finally {
    await ch.close();
  }
}
let derived = 0;
runDerivedContract(
  clickhouse,
  'clickhouse-26 (chdb)',
  { location: () => chdb.database(`derived${derived++}`), derivedCurrent: current },
  [17],
);
