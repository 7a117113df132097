// End to end: replicas that fetch parts from each other over interserver HTTPS only, as a real
// multi-machine deployment should (README, "Interserver TLS"): one shard on two servers with
// ZooKeeper, a CA made for the run, each server's interserver port HTTPS with that CA's
// certificate, verified by the fetching server, and replication credentials. Rows fleetvault
// writes to one replica reach the other; the interserver port speaks no plain HTTP.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseCluster, startClickHouseCluster } from '../bench/clickhouse-cluster.ts';
import { ClickHouseStore } from '../src/engines/clickhouse/index.ts';
import type { StoreTableSpec } from '../src/store/index.ts';

let cluster: ClickHouseCluster;

const spec: StoreTableSpec = {
  name: 'events',
  columns: [
    { name: 'id', kind: 'uuid', sourceType: 'bigint' },
    { name: 'outcome', kind: 'text', sourceType: 'text' },
  ],
  key: ['id'],
};
const uuid = (n: number) =>
  BigInt(`0x${`00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`.replaceAll('-', '')}`);

/** Whether the interserver port answers a TLS handshake checked against `ca` (any HTTP status). */
function httpsAnswers(port: number, ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', ca, method: 'GET' }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

describe('ClickHouse replicas over interserver HTTPS', () => {
  beforeAll(async () => {
    cluster = await startClickHouseCluster(1, { replicas: 2, tls: true });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('replicates what fleetvault writes over HTTPS with the run’s CA, and the port refuses plain HTTP', async () => {
    const ca = readFileSync(cluster.https?.caFile as string);
    for (const n of cluster.nodes) {
      expect(await httpsAnswers(n.inter, ca), `interserver port of replica ${n.replica}`).toBe(true);
      const plain = await fetch(`http://127.0.0.1:${n.inter}/`).then(
        (r) => r.status,
        () => 'refused',
      );
      expect(plain, 'plain HTTP on the interserver port').toBe('refused');
    }
    // The servers' own configuration: HTTPS only between replicas, with credentials.
    const config = readFileSync(join(cluster.nodes[0]?.dir as string, 'config.xml'), 'utf8');
    expect(config).toContain('<interserver_https_port>');
    expect(config).not.toContain('<interserver_http_port>');
    expect(config).toContain('<interserver_http_credentials>');

    const store = await ClickHouseStore.open(cluster.url);
    try {
      expect(store.replicated).toBe(true);
      const w = await store.openWriter(spec, 'append');
      await w.writeBatch(
        Array.from({ length: 500 }, (_, i) => [uuid(i + 1), i % 3 === 0 ? 'fail' : 'success']),
        [],
        'c1',
      );
      await w.finish('c1');
    } finally {
      await store.close();
    }
    // Each replica holds every row: the one the insert did not reach fetched it over HTTPS.
    for (let i = 0; i < cluster.nodes.length; i++) {
      await cluster.query(i, 'SYSTEM SYNC REPLICA fv.events__fv_local');
      expect(
        Number(await cluster.query(i, 'SELECT count() FROM fv.events__fv_local FINAL')),
        `replica ${i + 1}`,
      ).toBe(500);
    }
    // Parts were fetched, not written twice: the second replica took them from the first.
    const fetched = await Promise.all(
      cluster.nodes.map(async (_, i) =>
        Number(
          await cluster.query(
            i,
            "SELECT sum(value) FROM system.events WHERE event = 'ReplicatedPartFetches'",
          ),
        ),
      ),
    );
    expect(fetched.reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
  }, 180_000);
});
