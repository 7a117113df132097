// ClickHouse 26 (chdb 3.4.0 behind ClickHouse's HTTP interface, test/helpers/chdb-server.ts):
// the store and reader contracts (test/contracts/) on the current dialect, one server.
import { afterAll, beforeAll } from 'vitest';
import { ClickHouseStore, clickhouse } from '../src/engines/clickhouse/index.ts';
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
