// End to end (slow): least privilege on ClickHouse. The server reads as a read-only user limited to
// the store's database (the harness creates it beside the writer, as the README says to), no
// password ever sits in a command line, and every read carries per-query memory and row limits.
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClickHouseNode } from '../src/engines/clickhouse/clickhouse-node.ts';
import { ClickHouseMetricsEngine } from '../src/engines/clickhouse/clickhouse-reader.ts';
import { ClickHouseStore } from '../src/engines/clickhouse/index.ts';
import { type MetricDefinition, nextPeriod, periodStart, readMetricsFile } from '../src/metrics/index.ts';
import type { StoreTableSpec } from '../src/store/index.ts';
import { type CliRun, runCli, spawnServe } from './helpers/cli.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { comparableRows, recordingCompile } from './helpers/recording-compile.ts';
import {
  DEMO_METRICS,
  DEMO_POLICY,
  demoSyncArgs,
  type SyncedStore,
  syncedStore,
} from './helpers/synced-store.ts';

/** Rows of the weekly table per shard: 150,000 a week. */
const WEEKLY_ROWS = 4 * 150_000 + 50_000;

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

/**
 * Creates `spec` in the store, as a sync would: its tables, and what a sync records of its policy
 * (the metrics file is checked against it): privacy unit user, and its `id` and `user_id` columns
 * as pseudonyms of domains `spec.name` and user.
 */
async function addUserTable(spec: StoreTableSpec): Promise<void> {
  const store = await ClickHouseStore.open(cluster.url);
  try {
    await store.openWriter(spec, 'append');
    const ids = JSON.parse((await store.meta('identifiers')) ?? '{}') as Record<string, unknown>;
    await store.setMeta('privacy_unit', 'user');
    await store.setMeta(
      'identifiers',
      JSON.stringify({ ...ids, [spec.name]: { id: spec.name, user_id: 'user' } }),
    );
  } finally {
    await store.close();
  }
}

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
    await addUserTable(big);
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

  it('a metric stopped by the memory limit is asked again one period at a time: the answer without the limit; a period still too big is refused', async () => {
    // Four weeks, each with its own 300,000 users (the per-user step's keys grow with the weeks
    // asked together), and a smaller fifth week.
    const weekly: StoreTableSpec = {
      name: 'weekly',
      columns: [
        { name: 'id', kind: 'uuid', sourceType: 'bigint' },
        { name: 'user_id', kind: 'uuid', sourceType: 'bigint' },
        { name: 'ts', kind: 'timestamptz', sourceType: 'timestamp with time zone' },
        { name: 'kind', kind: 'text', sourceType: 'text' },
      ],
      key: ['id'],
      shardBy: 'user_id',
    };
    await addUserTable(weekly);
    for (const i of [0, 1]) {
      await cluster.query(
        i,
        `INSERT INTO fv.weekly__fv_local SELECT generateUUIDv4(), generateUUIDv4(), toDateTime('2026-10-05 00:00:00', 'UTC') + intDiv(number, 150000) * 604800 + number % 86400, 0, if(number % 3 = 0, 'a', 'b'), 1, 0 FROM numbers(${WEEKLY_ROWS})`,
      );
    }
    const metrics = join(s.dir, 'weekly.metrics.yaml');
    writeFileSync(
      metrics,
      [
        'version: 1',
        'privacy_unit: user',
        'metrics:',
        '  weekly_rows:',
        '    description: Rows of the weekly table',
        '    from: weekly',
        '    unit: user_id',
        '    time: ts',
        '    measure: { count: rows }',
        '    dimensions: [kind]',
        '',
      ].join('\n'),
    );
    const query = (env: NodeJS.ProcessEnv, to = '2026-11-08') =>
      cli(
        [
          'metrics',
          'query',
          'weekly_rows',
          '--grain',
          'week',
          '--by',
          'kind',
          '--from',
          '2026-10-05',
          '--to',
          to,
          '--store',
          cluster.readerUrl,
          '--metrics',
          metrics,
          '--json',
        ],
        env,
      );
    const unlimited = await query({});
    expect(unlimited.code, unlimited.stderr).toBe(0);
    const answer = JSON.parse(unlimited.stdout);
    expect(answer.totals.map((t: { units: number }) => t.units)).toEqual([
      300_000, 300_000, 300_000, 300_000, 100_000,
    ]);
    // Measured here (peak per query): 253 MB for the five weeks together, 84 MB for one week.
    const limit = { FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: String(150 * 1024 ** 2) };
    // Four of those weeks as one month, a single period: refused at this limit.
    const month = await cli(
      [
        'metrics',
        'query',
        'weekly_rows',
        '--grain',
        'month',
        '--by',
        'kind',
        '--from',
        '2026-10-01',
        '--to',
        '2026-10-31',
        '--store',
        cluster.readerUrl,
        '--metrics',
        metrics,
        '--json',
      ],
      limit,
    );
    expect(month.code).toBe(1);
    expect(month.stderr).toMatch(/FV_METRIC_QUERY: weekly_rows: the query needed more than 150 MiB/);
    // By week, the same five weeks answer under it, one week at a time, exactly as without it.
    const split = await query(limit);
    expect(split.code, split.stderr).toBe(0);
    expect(JSON.parse(split.stdout)).toEqual(answer);
    // In one reader: the whole range is tried once; the same shape is asked by week at once later.
    const ranges: string[] = [];
    const saved = process.env.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY;
    process.env.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY = limit.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY;
    const compile = recordingCompile([]);
    const reader = await ClickHouseMetricsEngine.open(cluster.readerUrl, (def, shape, tables, opts) => {
      ranges.push(
        `${new Date(shape.range.from).toISOString().slice(0, 10)}/${new Date(shape.range.to).toISOString().slice(0, 10)}`,
      );
      return compile(def, shape, tables, opts);
    });
    if (saved === undefined) delete process.env.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY;
    else process.env.FLEETVAULT_CLICKHOUSE_QUERY_MEMORY = saved;
    try {
      const def = readMetricsFile(metrics).metrics.get('weekly_rows') as MetricDefinition;
      const range = { from: Date.parse('2026-10-05T00:00:00Z'), to: Date.parse('2026-11-09T00:00:00Z') };
      const first = await reader.metricRows(def, 'week', ['kind'], [], range);
      expect(ranges).toEqual([
        '2026-10-05/2026-11-09',
        '2026-10-05/2026-10-12',
        '2026-10-12/2026-10-19',
        '2026-10-19/2026-10-26',
        '2026-10-26/2026-11-02',
        '2026-11-02/2026-11-09',
      ]);
      ranges.length = 0;
      expect(await reader.metricRows(def, 'week', ['kind'], [], range)).toEqual(first);
      expect(ranges).toHaveLength(5);
      expect(ranges[0]).toBe('2026-10-05/2026-10-12');
    } finally {
      reader.close();
    }
    // A week that alone needs more than the limit: refused, as before.
    const tooBig = await query({ FLEETVAULT_CLICKHOUSE_QUERY_MEMORY: String(40 * 1024 ** 2) });
    expect(tooBig.code).toBe(1);
    expect(tooBig.stderr).toMatch(/FV_METRIC_QUERY: weekly_rows: the query needed more than 40 MiB/);
  });
});

describe('ClickHouse reader round trips', () => {
  it('a metric costs two requests (bookkeeping, then the answer), and a store lacking a bookkeeping table answers the same, part by part', async () => {
    const def = readMetricsFile(DEMO_METRICS).metrics.get('connection_failure_rate') as MetricDefinition;
    const by = ['devices.product_model'];
    // The store keeps the demo metrics' rollups from now on.
    const synced = await cli(demoSyncArgs(s, cluster.url, '--metrics', DEMO_METRICS));
    expect(synced.code, synced.stderr).toBe(0);
    /** Rollups the compiler was offered, per compiled statement. */
    const offered: number[] = [];
    const compile = recordingCompile([], (t) => {
      offered.push(t.rollups?.length ?? 0);
      return t;
    });
    const reader = await ClickHouseMetricsEngine.open(cluster.readerUrl, compile);
    const requests = vi.spyOn(ClickHouseNode.prototype, 'rows');
    try {
      const latest = Date.parse(`${await reader.latestDay(def)}T00:00:00Z`);
      const range = {
        from: periodStart(latest - 35 * 86_400_000, 'week'),
        to: nextPeriod(periodStart(latest, 'week'), 'week'),
      };
      const answer = await reader.metricRows(def, 'week', by, [], range); // reads the table list once
      expect(answer.length).toBeGreaterThan(0);
      requests.mockClear();
      offered.length = 0;
      expect(await reader.latestDay(def)).toBe(new Date(latest).toISOString().slice(0, 10));
      expect(requests).toHaveBeenCalledTimes(2);
      requests.mockClear();
      expect(comparableRows(await reader.metricRows(def, 'week', by, [], range))).toEqual(
        comparableRows(answer),
      );
      expect(requests).toHaveBeenCalledTimes(2);
      expect(offered).toEqual([expect.any(Number)]);
      expect(offered[0]).toBeGreaterThan(0);

      // The status's live rows per table: one request after the bookkeeping, settled tables
      // counted without FINAL, the same counts as each table's view (FINAL, live rows).
      const viewCounts = async () => {
        const out: Array<{ name: string; rows: number }> = [];
        for (const name of (await cluster.query(0, 'SELECT name FROM fv._fv_tables FINAL ORDER BY name'))
          .split('\n')
          .filter(Boolean))
          out.push({ name, rows: Number(await cluster.query(0, `SELECT count() FROM fv.${name}`)) });
        return out;
      };
      requests.mockClear();
      expect(await reader.tables()).toEqual(await viewCounts());
      expect(requests).toHaveBeenCalledTimes(2);

      // A store written before rollups existed has no record of pending rollup writes: the same
      // answer from the base tables, its bookkeeping read part by part.
      await cluster.query(0, 'RENAME TABLE fv._fv_rollup_dirty TO fv._fv_rollup_dirty_away');
      try {
        requests.mockClear();
        offered.length = 0;
        expect(comparableRows(await reader.metricRows(def, 'week', by, [], range))).toEqual(
          comparableRows(answer),
        );
        expect(offered).toEqual([0]);
        expect(requests.mock.calls.length).toBeGreaterThan(2);
        expect(await reader.latestDay(def)).toBe(new Date(latest).toISOString().slice(0, 10));
      } finally {
        await cluster.query(0, 'RENAME TABLE fv._fv_rollup_dirty_away TO fv._fv_rollup_dirty');
      }
    } finally {
      requests.mockRestore();
      reader.close();
    }
  });

  it('what a reader reads first stays small: refreshes delete the rollup entries they completed, never one pending again on the way', async () => {
    const count = async (sql: string) => Number(await cluster.query(0, sql));
    // An entry completed before refreshes deleted them (its two versions, in two parts).
    for (const done of [0, 1])
      await cluster.query(
        0,
        `INSERT INTO fv._fv_rollup_dirty VALUES ('completed-long-ago', 'devices', 'activated_at', NULL, NULL, ${done}, ${done + 1})`,
      );
    // Read as readers read it, all along the refreshes: a completed entry is never pending again
    // (a mutation applies part by part: deleting its done version first would make it so).
    let watching = true;
    let pendingSeen = 0;
    const watcher = (async () => {
      while (watching) {
        pendingSeen += await count(
          "SELECT count() FROM fv._fv_rollup_dirty FINAL WHERE done = 0 AND id = 'completed-long-ago'",
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const doneIds = async () =>
      (await cluster.query(0, 'SELECT DISTINCT id FROM fv._fv_rollup_dirty WHERE done = 1 ORDER BY id'))
        .split('\n')
        .filter((x) => x !== '');
    const kept: string[][] = [];
    try {
      // Three syncs that write: each records entries for the days it wrote and completes them.
      for (let i = 0; i < 3; i++) {
        await s.db.query(
          'UPDATE devices SET firmware_version = firmware_version, updated_at = now() WHERE id IN (SELECT id FROM devices ORDER BY id LIMIT 5)',
        );
        const r = await cli(demoSyncArgs(s, cluster.url, '--metrics', DEMO_METRICS));
        expect(r.code, r.stderr).toBe(0);
        // The deletions are mutations, applied in the background: wait for them (no time asserted).
        while (
          (await count(
            "SELECT count() FROM system.mutations WHERE database = 'fv' AND table = '_fv_rollup_dirty' AND is_done = 0",
          )) > 0
        )
          await new Promise((r) => setTimeout(r, 100));
        // Nothing pending, and of each completed entry at most its done version.
        expect(await count('SELECT count() FROM fv._fv_rollup_dirty FINAL WHERE done = 0')).toBe(0);
        expect(await count('SELECT count() FROM fv._fv_rollup_dirty WHERE done = 0')).toBe(0);
        kept.push(await doneIds());
      }
    } finally {
      watching = false;
      await watcher;
    }
    expect(pendingSeen).toBe(0);
    expect(
      await count(
        "SELECT count() FROM system.mutations WHERE database = 'fv' AND table = '_fv_rollup_dirty'",
      ),
    ).toBeGreaterThan(0);
    // The entries a refresh completed are gone after the next one (the old one after the second
    // at the latest: the first deletes it whole if a merge left only its done version).
    expect(kept[1]).not.toContain('completed-long-ago');
    for (const [i, ids] of kept.entries())
      if (i > 0) for (const id of kept[i - 1] ?? []) expect(ids).not.toContain(id);
  });
});
