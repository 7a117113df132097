// End to end (slow): least privilege on ClickHouse. The server reads as a read-only user limited to
// the store's database (the harness creates it beside the writer, as the README says to), no
// password ever sits in a command line, and every read carries per-query memory and row limits.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseStore } from '../src/engines/clickhouse/index.ts';
import type { StoreTableSpec } from '../src/store/index.ts';
import { type CliRun, runCli, spawnServe } from './helpers/cli.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import {
  DEMO_METRICS,
  DEMO_POLICY,
  demoSyncArgs,
  type SyncedStore,
  syncedStore,
} from './helpers/synced-store.ts';

let cluster: ClickHouseCluster;
let s: SyncedStore;
const said: CliRun[] = [];
const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
  const r = await runCli(args, { env });
  said.push(r);
  return r;
};

beforeAll(async () => {
  [cluster, s] = await Promise.all([
    startClickHouseCluster(),
    syncedStore({ users: 300, days: 3, seed: 23 }),
  ]);
  const r = await cli(demoSyncArgs(s, cluster.url));
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await cluster?.stop();
  await s?.db.drop();
});

/** The cluster's HTTP interface as one user, the way any client of the server could use it. */
async function asUser(user: string, password: string, sql: string): Promise<{ ok: boolean; text: string }> {
  const r = await fetch(`http://127.0.0.1:${cluster.nodes[0]?.http}/?database=fv`, {
    method: 'POST',
    body: sql,
    headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': password },
  });
  return { ok: r.ok, text: await r.text() };
}

const serve = (store: string, state: string, ...extra: string[]) =>
  spawnServe(store, DEMO_METRICS, state, ...extra);

describe('ClickHouse least privilege', () => {
  it('serve reads as the read-only user, and refuses the user sync writes with', async () => {
    const state = join(s.dir, 'serve-state');
    const writer = serve(cluster.url, state);
    const code = await new Promise((r) => writer.child.once('exit', r));
    expect(code).toBe(1);
    expect(writer.out()).toMatch(/FV_STORE_PRIVILEGE: ClickHouse user fv can write/);
    const syncing = await cli([
      'serve',
      '--store',
      cluster.readerUrl,
      '--metrics',
      DEMO_METRICS,
      '--sync-every',
      '15m',
      '--state-dir',
      state,
      '--listen',
      '127.0.0.1:0',
    ]);
    expect(syncing.code).toBe(2);
    expect(syncing.stderr).toContain('does not sync');

    const made = await cli(['tokens', 'create', '--role', 'viewer', '--state-dir', state, '--json']);
    const token = JSON.parse(made.stdout).token as string;
    const reader = serve(cluster.readerUrl, state);
    try {
      const port = await reader.port;
      const auth = { authorization: `Bearer ${token}` };
      const metric = await fetch(
        `http://127.0.0.1:${port}/api/v1/metrics/connection_attempts?grain=week&from=2026-10-01&to=2026-11-30`,
        { headers: auth },
      );
      expect(metric.status).toBe(200);
      expect(((await metric.json()) as { groups: unknown[] }).groups.length).toBeGreaterThan(0);
      const status = await fetch(`http://127.0.0.1:${port}/api/v1/status`, { headers: auth });
      expect(status.status).toBe(200);
      // No password in any process's command line while the server runs.
      const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
      expect(ps).toContain('serve --store clickhouse://fv_reader@');
      for (const secret of [cluster.password, cluster.reader.password]) {
        expect(ps.includes(secret)).toBe(false);
        expect(readFileSync(`/proc/${reader.child.pid}/cmdline`, 'utf8').includes(secret)).toBe(false);
      }
    } finally {
      reader.child.kill('SIGTERM');
    }
    expect(reader.out()).not.toContain(cluster.reader.password);
  });

  it('the read-only user can change nothing and reach no other database', async () => {
    await cluster.database('other');
    await cluster.query(0, 'CREATE TABLE other.t (a Int32) ENGINE = Memory');
    const { user, password } = cluster.reader;
    expect((await asUser(user, password, 'SELECT count() FROM connection_events')).ok).toBe(true);
    for (const sql of [
      'INSERT INTO connection_events__fv_local (outcome) VALUES (1)',
      "ALTER TABLE connection_events__fv_local DELETE WHERE outcome = 'fail'",
      'DROP TABLE devices',
      'CREATE TABLE x (a Int8) ENGINE = Memory',
      'TRUNCATE TABLE _fv_meta',
      'RENAME TABLE devices TO d2',
      'SELECT count() FROM other.t',
      'SELECT 1 SETTINGS readonly = 0',
    ]) {
      const r = await asUser(user, password, sql);
      expect(r.ok, sql).toBe(false);
      expect(r.text, sql).toMatch(/readonly mode|Access denied|cannot be overrided/);
    }
    expect(
      await cluster.query(0, "SELECT count() FROM system.tables WHERE database = 'fv' AND name = 'devices'"),
    ).toBe('1\n');
  });

  it('a password never rides in a URL: refused before connecting, and only owner-readable files are read', async () => {
    const inUrl = cluster.url
      .replace('clickhouse://fv@', `clickhouse://fv:${cluster.password}@`)
      .replace(/&password_file=[^&]+/, '');
    const r = await cli([
      'metrics',
      'query',
      'connection_attempts',
      '--store',
      inUrl,
      '--metrics',
      DEMO_METRICS,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/FV_SECRET_IN_URL: --store holds a password/);
    const mqtt = await cli([
      'ingest',
      '--mqtt',
      'mqtt://dev:s3cret-broker@127.0.0.1:1',
      '--table',
      'connection_events',
      '--policy',
      DEMO_POLICY,
    ]);
    expect(mqtt.code).toBe(1);
    expect(mqtt.stderr).toMatch(/FV_SECRET_IN_URL: --mqtt holds a password/);
    // The same password from the environment, or from a file readable by its owner only.
    const bare = cluster.readerUrl.replace(/&password_file=[^&]+/, '');
    const query = (store: string, env: NodeJS.ProcessEnv = {}) =>
      cli(
        [
          'metrics',
          'query',
          'connection_attempts',
          '--grain',
          'month',
          '--store',
          store,
          '--metrics',
          DEMO_METRICS,
          '--json',
        ],
        env,
      );
    const viaEnv = await query(bare, { FLEETVAULT_CLICKHOUSE_PASSWORD: cluster.reader.password });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const file = join(s.dir, 'reader.pw');
    writeFileSync(file, `${cluster.reader.password}\n`, { mode: 0o600 });
    const viaFile = await query(bare, { FLEETVAULT_CLICKHOUSE_PASSWORD_FILE: file });
    expect(viaFile.stdout).toBe(viaEnv.stdout);
    chmodSync(file, 0o640);
    const open = await query(bare, { FLEETVAULT_CLICKHOUSE_PASSWORD_FILE: file });
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/FV_SECRET_FILE_INSECURE: .* is readable by group or others/);
    for (const run of said) {
      for (const secret of [cluster.password, cluster.reader.password, 's3cret-broker']) {
        expect((run.stdout + run.stderr).includes(secret)).toBe(false);
      }
    }
  });

  it('every metric read carries memory and row limits: metrics over 5M rows are stopped by memory or by their 1,000,000-group cap, clearly', async () => {
    const big: StoreTableSpec = {
      name: 'big',
      columns: [
        { name: 'id', kind: 'uuid', sourceType: 'bigint' },
        { name: 'user_id', kind: 'uuid', sourceType: 'bigint' },
        { name: 'ts', kind: 'timestamptz', sourceType: 'timestamp with time zone' },
        { name: 'n', kind: 'integer', sourceType: 'integer' },
      ],
      key: ['id'],
      shardBy: 'user_id',
    };
    const store = await ClickHouseStore.open(cluster.url);
    try {
      await store.openWriter(big, 'append');
      // What a sync records of its policy (the metrics file is checked against it): the new
      // table's identifier columns and their pseudonym domains.
      const ids = JSON.parse((await store.meta('identifiers')) ?? '{}') as Record<string, unknown>;
      await store.setMeta('privacy_unit', 'user');
      await store.setMeta('identifiers', JSON.stringify({ ...ids, big: { id: 'big', user_id: 'user' } }));
    } finally {
      await store.close();
    }
    for (const i of [0, 1]) {
      await cluster.query(
        i,
        `INSERT INTO fv.big__fv_local SELECT generateUUIDv4(), generateUUIDv4(), toDateTime('2026-11-02 00:00:00', 'UTC') + number % 86400, 0, toInt32((number * 2 + ${i}) % 1100000), 1, 0 FROM numbers(2500000)`,
      );
    }
    const limited = { FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: String(64 * 1024 * 1024) };
    // Analyst SQL over it, as the read-only user (whose profile forbids naming `readonly`): capped.
    const capped = await cli(['sql', '--store', cluster.readerUrl, '--json', 'SELECT id, n FROM big']);
    expect(capped.code, capped.stderr).toBe(0);
    expect(JSON.parse(capped.stdout)).toMatchObject({ truncated: true });
    expect(JSON.parse(capped.stdout).rows).toHaveLength(1000);

    const metrics = join(s.dir, 'big.metrics.yaml');
    writeFileSync(
      metrics,
      [
        'version: 1',
        'privacy_unit: user',
        'metrics:',
        '  big_rows:',
        '    description: Rows of the big table',
        '    from: big',
        '    unit: user_id',
        '    time: ts',
        '    measure: { count: rows }',
        '    dimensions: [n]',
        '',
      ].join('\n'),
    );
    const metric = (env: NodeJS.ProcessEnv = {}) =>
      cli(
        [
          'metrics',
          'query',
          'big_rows',
          '--grain',
          'month',
          '--by',
          'n',
          '--from',
          '2026-11-01',
          '--to',
          '2026-11-30',
          '--store',
          cluster.readerUrl,
          '--metrics',
          metrics,
        ],
        env,
      );
    const tooMany = await metric();
    expect(tooMany.code).toBe(1);
    expect(tooMany.stderr).toMatch(
      /FV_METRIC_QUERY: big_rows: the answer has more than 1,000,000 groups; narrow the range/,
    );
    const tooBig = await metric(limited);
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toMatch(/FV_METRIC_QUERY: big_rows: the query needed more than 64 MiB/);
  });
});
