// ClickHouse's run of the store and reader contracts (test/contracts/) on a two-shard cluster and on
// 2 shards × 2 replicas (ReplicatedReplacingMergeTree with ZooKeeper), and what is ClickHouse's
// own: owners placed on one shard with exact times, tables a killed run left half-made, values
// ClickHouse cannot hold, and clear failures on a wrong location.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseStore, clickhouse, unsettledMeta } from '../src/engines/clickhouse/index.ts';
import type { FvError } from '../src/errors/index.ts';
import { runDerivedContract } from './contracts/derived-contract.ts';
import { runReaderContract } from './contracts/reader-contract.ts';
import { devices, row, runStoreContract, uuid } from './contracts/store-contract.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './helpers/clickhouse-cluster.ts';

let cluster: ClickHouseCluster;
/** 2 shards × 2 replicas with ZooKeeper: the same contract on ReplicatedReplacingMergeTree. */
let replicated: ClickHouseCluster;
/** The reader contract's small store: a database of its own beside the store contract's. */
let small: string;
const dir = mkdtempSync(join(tmpdir(), 'fv-clickhouse-engine-'));

beforeAll(async () => {
  [cluster, replicated] = await Promise.all([
    startClickHouseCluster(),
    startClickHouseCluster(2, { replicas: 2 }),
  ]);
  small = await cluster.database('small');
});

afterAll(async () => {
  await cluster?.stop();
  await replicated?.stop();
});

/** The payments the store contract wrote, read on the first node (with replicas, the one written to). */
async function readDecimals(url: string): Promise<unknown[]> {
  const ch = await ClickHouseStore.open(url);
  try {
    return (
      (
        await ch.nodes[0]?.rows(
          'SELECT toString(sum(amount)), toString(sum(rate)), toTypeName(any(amount)) FROM payments',
          'test',
          { load_balancing: 'in_order' },
        )
      )?.[0] ?? []
    );
  } finally {
    await ch.close();
  }
}

runStoreContract(clickhouse, 'clickhouse', { location: () => cluster.url, readDecimals });
runStoreContract(clickhouse, 'clickhouse-replicated', { location: () => replicated.url, readDecimals });
runReaderContract(clickhouse, 'clickhouse', () => small);

/**
 * Settled: every table marked so, and no key with a second live version on any shard (what FINAL
 * would merge away), counted through the Distributed table.
 */
async function settled(url: string): Promise<boolean> {
  const ch = await ClickHouseStore.open(url);
  try {
    for (const t of ['connection_events', 'devices']) {
      if ((await ch.meta(unsettledMeta(t))) !== '0') return false;
      const n = async (final: string) =>
        (
          await ch.nodes[0]?.rows(`SELECT count() FROM ${t}__fv_all${final} WHERE _fv_deleted = 0`, 'test')
        )?.[0]?.[0];
      if ((await n('')) !== (await n(' FINAL'))) return false;
    }
    return true;
  } finally {
    await ch.close();
  }
}
let derived = 0;
runDerivedContract(
  clickhouse,
  'clickhouse',
  {
    location: () => cluster.database(`derived${derived++}`),
    derivedCurrent: settled,
  },
  [17],
);
runDerivedContract(
  clickhouse,
  'clickhouse-replicated',
  {
    location: () => replicated.database(`derived${derived++}`),
    derivedCurrent: settled,
  },
  [71],
);

describe('ClickHouse store on a cluster', () => {
  let store: ClickHouseStore;
  beforeAll(async () => {
    store = await ClickHouseStore.open(cluster.url);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('is on a server: no file on this machine', () => {
    expect(clickhouse.files(cluster.url)).toEqual([]);
  });

  it('places each owner on one shard and keeps exact times', async () => {
    const w = await store.openWriter(devices, 'upsert');
    const rows = Array.from({ length: 200 }, (_, i) => row(1000 + i, 5000 + (i % 40), 'm', 123));
    await w.writeBatch(rows, [], undefined);
    const owners = await Promise.all(
      store.nodes.map(async (n) =>
        (
          await n.rows(
            'SELECT DISTINCT toString(user_id) FROM devices__fv_local FINAL WHERE _fv_deleted = 0',
            'test',
          )
        ).map((r) => String(r[0])),
      ),
    );
    expect(owners.every((o) => o.length > 0)).toBe(true);
    const [a, b] = owners as [string[], string[]];
    expect(a.filter((x) => b.includes(x))).toEqual([]);
    const t = await store.nodes[0]?.rows(
      `SELECT toString(seen), seen__us FROM devices__fv_all FINAL WHERE _fv_deleted = 0 AND id = '${uuid(1000)}'`,
      'test',
    );
    expect(t).toEqual([['2026-02-11 16:00:00', '123000']]);
  });

  it('completes a table a killed run left half-created, on every shard', async () => {
    const spec = { ...devices, name: 'half' };
    await store.openWriter(spec, 'append');
    // As if killed mid-way: the second shard lost its tables, the first its view.
    await store.nodes[1]?.command('DROP TABLE half__fv_all', 'test');
    await store.nodes[1]?.command('DROP TABLE half__fv_local', 'test');
    await store.nodes[0]?.command('DROP TABLE half', 'test');
    const w = await store.openWriter(spec, 'append');
    await w.writeBatch(
      Array.from({ length: 60 }, (_, i) => row(100 + i, 700 + i, 'm')),
      [],
      'c1',
    );
    expect(await store.tableState('half')).toMatchObject({ rows: 60, checkpoint: 'c1' });
    for (const n of store.nodes) {
      const local = await n.rows('SELECT count() FROM half__fv_local', 'test');
      expect(Number(local[0]?.[0])).toBeGreaterThan(0);
    }
  });

  it('refuses a value ClickHouse cannot hold, naming the column and not the value, and hides no stored row', async () => {
    const w = await store.openWriter(devices, 'upsert');
    await w.writeBatch([row(9, 900, 'kept')], [], undefined);
    // Devices are routed by their owner: an upsert first hides the key on every shard, which a
    // refused batch must not have done (it erased the stored row before).
    const bad = row(9, 901, 'x');
    bad[4] = -5; // a date in 1969
    const e = await w.writeBatch([bad], [], undefined).catch((x: unknown) => x as FvError);
    expect(e).toMatchObject({ code: 'FV_STORE_VALUE' });
    expect((e as FvError).message).toContain('devices.day');
    expect((e as FvError).message).toContain('outside ClickHouse Date');
    expect((await store.erase('devices', 'user_id', [uuid(900)], 'model')).returned).toEqual(['kept']);
  });
});

async function openFailure(url: string): Promise<FvError> {
  const store = await ClickHouseStore.open(url).catch((x: unknown) => x as FvError);
  if (store instanceof ClickHouseStore) {
    await store.close();
    throw new Error('opened');
  }
  return store;
}

describe('ClickHouse store location', () => {
  it('fails clearly on a wrong password, an unknown cluster or a missing shard, never printing the password', async () => {
    const wrongFile = join(dir, 'wrong.pw');
    writeFileSync(wrongFile, 'not-the-password\n', { mode: 0o600 });
    const wrong = cluster.url.replace(/password_file=[^&]+/, `password_file=${wrongFile}`);
    const e1 = await openFailure(wrong);
    expect(e1).toMatchObject({ code: 'FV_STORE_OPEN' });
    expect(e1.message).not.toContain('not-the-password');
    expect(e1.message).toContain('Wrong password for user fv (code 193)');
    const e2 = await openFailure(cluster.url.replace('cluster=fv', 'cluster=nope'));
    expect(e2.message).toContain('cluster nope is not defined');
    expect(e2.message).not.toContain(cluster.password);
    const one = cluster.url.replace(/,127\.0\.0\.1:\d+/, '');
    const e3 = await openFailure(one);
    expect(e3.message).toContain('has 2 servers');
    const e4 = await openFailure(`clickhouse://fv@127.0.0.1:1/fv?password_file=${wrongFile}`);
    expect(e4).toMatchObject({ code: 'FV_STORE_OPEN' });
    expect(e4.message).toContain('127.0.0.1:1');
  });
});
