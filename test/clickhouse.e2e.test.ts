// End to end (slow): the same production synced through the same policy into DuckDB and into a
// two-shard ClickHouse cluster. Every metric answer must be equal; where they differ, one is wrong.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClickHouseCluster, startClickHouseCluster } from '../bench/clickhouse-cluster.ts';
import { FILTERED_METRICS_YAML } from '../bench/metric-twins.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import {
  type Grain,
  type MetricAnswer,
  type MetricQuery,
  type MetricsFile,
  type MetricsReader,
  parseMetrics,
  readMetricsFile,
} from '../src/metrics/index.ts';
import { DEMO_TABLES } from '../src/sim/index.ts';
import { BIN, type CliRun, runCli } from './helpers/cli.ts';
import { startBroker, wait } from './helpers/mosquitto.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

/** Equal answers: same groups, same suppression, same units; values equal to 1e-9 relative. */
/** Both stores answer a query the same, or both refuse it with the same code. */
async function expectSameOutcome(
  ch: MetricsReader,
  duck: MetricsReader,
  q: MetricQuery,
  label: string,
): Promise<'answered' | 'refused'> {
  const [a, b] = [await ch.query(q).catch((e: unknown) => e), await duck.query(q).catch((e: unknown) => e)];
  if (a instanceof Error || b instanceof Error) {
    expect((a as { code?: string }).code, `${label}: ClickHouse ${String(a)}`).toBe(
      (b as { code?: string }).code,
    );
    expect((a as { code?: string }).code, label).toMatch(/^FV_/);
    return 'refused';
  }
  expectSameAnswer(a as MetricAnswer, b as MetricAnswer, label);
  return 'answered';
}

function expectSameAnswer(ch: MetricAnswer, duck: MetricAnswer, label: string): void {
  const strip = (a: MetricAnswer) => ({ ...a, groups: [], totals: [] });
  expect(strip(ch), label).toEqual(strip(duck));
  for (const part of ['groups', 'totals'] as const) {
    expect(ch[part].length, `${label} ${part}`).toBe(duck[part].length);
    ch[part].forEach((g, i) => {
      const d = duck[part][i] as (typeof duck)[typeof part][number];
      const where = `${label} ${part} ${g.period} ${g.dims.join('/')}`;
      expect({ ...g, values: {} }, where).toEqual({ ...d, values: {} });
      for (const [k, v] of Object.entries(g.values)) {
        const want = d.values[k];
        if (v === null || want === null || want === undefined) expect(v, `${where} ${k}`).toBe(want ?? null);
        else
          expect(Math.abs(v - want), `${where} ${k}: ${v} vs ${want}`).toBeLessThanOrEqual(
            1e-9 * Math.max(1, Math.abs(want)),
          );
      }
    });
  }
}

describe('ClickHouse store', () => {
  let cluster: ClickHouseCluster;
  let s: SyncedStore;
  let file: MetricsFile;
  /** Measures with `where` of every kind (bench/metric-twins.ts). */
  let filtered: MetricsFile;
  const outcomes = { answered: 0, refused: 0 };
  const outputs: CliRun[] = [];
  /** Users the deletions test takes out of the store (soft-deleted, hard-deleted, forgotten). */
  const erasedUsers: string[] = [];

  const cli = async (args: string[]) => {
    const r = await runCli(args);
    outputs.push(r);
    return r;
  };
  const syncTo = (store: string, ...extra: string[]) =>
    cli([
      'sync',
      '--source',
      s.db.url,
      '--policy',
      DEMO_POLICY,
      '--store',
      store,
      '--key-file',
      s.keyFile,
      ...extra,
    ]);

  /**
   * Every metric (shipped, and the filtered measures of bench/metric-twins.ts) by each of its
   * dimensions (and none) at `grains`, answered by both stores; then filtered on one value and on
   * all values but one, answered or refused alike.
   */
  async function compareAll(grains: readonly Grain[], from: string, to: string): Promise<number> {
    let compared = 0;
    for (const f of [file, filtered]) {
      const duck = await openMetricsReader(s.store, f);
      const ch = await openMetricsReader(cluster.url, f);
      try {
        for (const def of f.metrics.values()) {
          for (const grain of grains) {
            for (const by of [[], ...def.dimensions.map((d) => [d])]) {
              const q = { metric: def.name, grain, by, from, to };
              expectSameAnswer(
                await ch.query(q),
                await duck.query(q),
                `${def.name} ${grain} ${by.join(',')}`,
              );
              compared++;
            }
          }
          const d = def.dimensions[0];
          if (!d) continue;
          const any = await duck.query({ metric: def.name, grain: 'month', by: [d], from, to });
          const values = [
            ...new Set(any.groups.map((g) => g.dims[0]).filter((v): v is string => v !== null)),
          ];
          const common = any.groups.find((g) => g.suppressed === 'none')?.dims[0];
          const base = { metric: def.name, grain: 'week' as const, by: def.dimensions.slice(1, 2), from, to };
          // The most common value, then every value but one.
          for (const list of [common ? [common] : [], values.slice(1)]) {
            if (list.length === 0) continue;
            const q = { ...base, filters: { [d]: list } };
            outcomes[await expectSameOutcome(ch, duck, q, `${def.name} filtered on ${list.length}`)]++;
          }
        }
      } finally {
        duck.close();
        ch.close();
      }
    }
    return compared;
  }

  async function counts(store: string): Promise<Record<string, number>> {
    const reader = await openMetricsReader(store, file);
    try {
      const status = (await reader.storeStatus()) as { tables: Array<{ name: string; rows: number }> };
      return Object.fromEntries(status.tables.map((t) => [t.name, t.rows]));
    } finally {
      reader.close();
    }
  }

  /** The same live rows per table, and the same answers for `metrics` at `grain`. */
  async function expectSameStores(
    store: string,
    reference: string,
    grain: Grain,
    metrics: readonly string[],
  ): Promise<void> {
    expect(await counts(store)).toEqual(await counts(reference));
    const a = await openMetricsReader(store, file);
    const b = await openMetricsReader(reference, file);
    try {
      for (const metric of metrics) {
        const q = { metric, grain, by: [], from: '2026-10-01', to: '2026-11-30' };
        expectSameAnswer(await a.query(q), await b.query(q), metric);
      }
    } finally {
      a.close();
      b.close();
    }
  }

  beforeAll(async () => {
    cluster = await startClickHouseCluster(2, { tls: true });
    s = await syncedStore({ users: 2500, days: 21, seed: 11 });
    file = readMetricsFile(DEMO_METRICS);
    filtered = parseMetrics(FILTERED_METRICS_YAML, 'filtered.metrics.yaml');
    const r = await syncTo(cluster.url);
    expect(r.code, r.stderr).toBe(0);
  });

  afterAll(async () => {
    await cluster?.stop();
    await s?.db.drop();
  });

  it('answers every metric exactly as DuckDB does, at every grain, by every dimension and with a filter', async () => {
    const n = await compareAll(['day', 'week', 'month'], '2026-10-01', '2026-11-30');
    expect(n).toBeGreaterThan(60);
    // Filtered answers: some given, some refused as differencing risks, always alike.
    expect(outcomes.answered).toBeGreaterThan(0);
    expect(outcomes.refused).toBeGreaterThan(0);
    // A range that starts inside the data: rows before it must not count, whatever they join to.
    expect(await compareAll(['day'], '2026-10-20', '2026-10-26')).toBeGreaterThan(15);
    expect(await counts(cluster.url)).toEqual(await counts(s.store));
  }, 900_000);

  it("keeps each user's rows on one shard (and each device's events)", async () => {
    const owners = async (table: string, column: string) =>
      Promise.all(
        [0, 1].map(async (i) =>
          (
            await cluster.query(
              i,
              `SELECT DISTINCT toString(${column}) FROM fv.${table}__fv_local FINAL WHERE _fv_deleted = 0`,
            )
          )
            .trim()
            .split('\n')
            .filter(Boolean),
        ),
      );
    const byUser = await Promise.all(
      [
        ['users', 'id'],
        ['devices', 'user_id'],
        ['integrations', 'user_id'],
        ['app_sessions', 'user_id'],
        ['scale_measurements', 'user_id'],
      ].map(([t, c]) => owners(t as string, c as string)),
    );
    const shardOf = new Map<string, number>();
    for (const [a, b] of byUser as Array<[string[], string[]]>) {
      expect(a.length).toBeGreaterThan(0);
      expect(b.length).toBeGreaterThan(0);
      for (const [shard, list] of [a, b].entries()) {
        for (const u of list) {
          expect(shardOf.get(u) ?? shard, `user ${u}`).toBe(shard);
          shardOf.set(u, shard);
        }
      }
    }
    const [e1, e2] = (await owners('connection_events', 'device_id')) as [string[], string[]];
    expect(e1.filter((d) => e2.includes(d))).toEqual([]);
  });

  it('applies changes, deletions, forget and retention to both stores alike', async () => {
    await s.db.query("UPDATE devices SET firmware_version = '9.9.9', updated_at = now() WHERE id % 17 = 0");
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT m.mx + row_number() OVER (), d.id, TIMESTAMPTZ '2026-11-15 12:00:00.123456+00', 'fail', 'E42', -60, 200, '10.0.0.1', '4.12.0' FROM (SELECT id FROM devices ORDER BY id LIMIT 300) d CROSS JOIN (SELECT max(id) AS mx FROM connection_events) m",
    );
    const [soft, hard, forgotten] = (
      await s.db.query(
        'SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.id LIMIT 3',
      )
    ).rows.map((r) => String(r.id)) as [string, string, string];
    erasedUsers.push(soft, hard, forgotten);
    await s.db.query('UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1', [soft]);
    await s.db.query('DELETE FROM users WHERE id = $1', [hard]);
    const erased: Array<Record<string, number>> = [];
    let pseudonym = '';
    for (const store of [s.store, cluster.url]) {
      const r = await syncTo(store);
      expect(r.code, r.stderr).toBe(0);
      const f = await cli([
        'forget',
        '--user-id',
        forgotten,
        '--policy',
        DEMO_POLICY,
        '--store',
        store,
        '--key-file',
        s.keyFile,
        '--json',
      ]);
      expect(f.code, f.stderr).toBe(0);
      const result = JSON.parse(f.stdout.split('\n')[0] as string);
      erased.push(result.deleted);
      pseudonym = result.pseudonym;
    }
    expect(erased[1]).toEqual(erased[0]);
    expect(Object.values(erased[0] ?? {}).reduce((a, b) => a + b, 0)).toBeGreaterThan(1);
    expect(await counts(cluster.url)).toEqual(await counts(s.store));
    await compareAll(['week'], '2026-10-01', '2026-11-30');
    // Forgotten means gone from every shard's table, every version of the row included.
    for (const i of [0, 1]) {
      for (const [t, c] of [
        ['users', 'id'],
        ['devices', 'user_id'],
        ['integrations', 'user_id'],
      ]) {
        const n = await cluster.query(i, `SELECT count() FROM fv.${t}__fv_local WHERE ${c} = '${pseudonym}'`);
        expect(Number(n), `${t} on shard ${i + 1}`).toBe(0);
      }
    }

    // Retention cuts the events table the same way in both.
    const days = Math.ceil((Date.now() - Date.UTC(2026, 10, 1)) / 86_400_000);
    const policy = join(s.dir, 'retention.policy.yaml');
    writeFileSync(
      policy,
      readFileSync(DEMO_POLICY, 'utf8').replace(
        '    cursor: id                                            # append-only\n    columns:\n      id:          { class: identifier, domain: event }',
        `    cursor: id\n    retention: { column: ts, days: ${days} }\n    columns:\n      id:          { class: identifier, domain: event }`,
      ),
    );
    const expired: number[] = [];
    for (const store of [s.store, cluster.url]) {
      const r = await cli([
        'sync',
        '--source',
        s.db.url,
        '--policy',
        policy,
        '--store',
        store,
        '--key-file',
        s.keyFile,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      expired.push(
        JSON.parse(r.stdout).tables.find((t: { table: string }) => t.table === 'connection_events')
          .rowsExpired,
      );
    }
    expect(expired[0]).toBeGreaterThan(0);
    expect(expired[1]).toBe(expired[0]);
    expect(await counts(cluster.url)).toEqual(await counts(s.store));
  });

  it('a sync killed at random moments and run again ends with the same store', async () => {
    const url = await cluster.database('fv_crash');
    for (let round = 0; round < 3; round++) {
      const child = spawn(
        process.execPath,
        [
          BIN,
          'sync',
          '--source',
          s.db.url,
          '--policy',
          DEMO_POLICY,
          '--store',
          url,
          '--key-file',
          s.keyFile,
          '--batch-size',
          '2000',
        ],
        { stdio: 'ignore' },
      );
      await new Promise((r) => setTimeout(r, 800 + Math.random() * 2500));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const r = await syncTo(url);
    expect(r.code, r.stderr).toBe(0);
    // An uninterrupted sync of the same production into a fresh DuckDB file is the reference.
    const reference = join(s.dir, 'reference.duckdb');
    expect((await syncTo(reference)).code).toBe(0);
    await expectSameStores(url, reference, 'week', [
      'connection_attempts',
      'active_devices',
      'time_to_first_connection',
    ]);
  });

  it('guards analyst SQL on the CLI: ClickHouse-only reaches (system tables, shard tables, table functions, settings) refused', async () => {
    // What every engine answers and refuses alike is the reader contract's (test/contracts/).
    const sql = (text: string) => cli(['sql', '--store', cluster.url, text]);
    for (const bad of [
      'SELECT * FROM system.tables',
      'SELECT * FROM devices__fv_local',
      "SELECT * FROM url('http://127.0.0.1:1/x', CSV, 'a String')",
      'SELECT 1 SETTINGS readonly = 0',
      "SELECT dictGetString('d', 'a', toUInt64(1))",
      'SELECT * FROM fv.devices',
      'SELECT * FROM _fv_tables',
      // A CTE named after a protected table does not hide it from its own body.
      'WITH _fv_meta AS (SELECT * FROM _fv_meta) SELECT * FROM _fv_meta',
      'WITH devices AS (SELECT * FROM _fv_forgotten) SELECT * FROM devices',
      'SELECT * FROM numbers(10)',
    ]) {
      const r = await sql(bad);
      expect(r.code, bad).not.toBe(0);
      expect(r.stderr, bad).toMatch(/FV_SQL_REFUSED/);
    }
  });

  it('runs analyst SQL under the analyst profile: memory, rows read and time are the server’s to stop', async () => {
    const reader = await openMetricsReader(cluster.url, file);
    try {
      const limits = { maxRows: 10, timeoutMs: 20_000 };
      const big = 'SELECT length(groupArray(toString(id))) AS n FROM connection_events';
      await expect(reader.sql(big, limits)).resolves.toMatchObject({ columns: ['n'] });
      await expect(reader.sql(big, { ...limits, memoryMb: 1 })).rejects.toMatchObject({
        code: 'FV_SQL_LIMIT',
      });
      await expect(reader.sql(big, { ...limits, maxRowsToRead: 100 })).rejects.toMatchObject({
        code: 'FV_SQL_LIMIT',
      });
      const cross = 'SELECT count() AS n FROM connection_events a CROSS JOIN connection_events b';
      await expect(reader.sql(cross, { ...limits, timeoutMs: 1000 })).rejects.toMatchObject({
        code: 'FV_SQL_LIMIT',
      });
    } finally {
      reader.close();
    }
  });

  it('serves the API from ClickHouse with the same answers', async () => {
    const state = join(s.dir, 'serve-state');
    const made = await cli(['tokens', 'create', '--role', 'viewer', '--state-dir', state, '--json']);
    const token = JSON.parse(made.stdout).token as string;
    const child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--store',
        cluster.readerUrl, // the read-only user: serve refuses the writer
        '--metrics',
        DEMO_METRICS,
        '--state-dir',
        state,
        '--listen',
        '127.0.0.1:0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          out += d;
          const p = Number(/on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1] ?? 0);
          if (p > 0) resolve(p);
        });
        child.stderr.on('data', (d) => {
          out += d;
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
      });
      const path =
        '/api/v1/metrics/connection_failure_rate?grain=week&by=devices.firmware_version&from=2026-10-01&to=2026-11-30';
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as MetricAnswer;
      const duck = await openMetricsReader(s.store, file);
      try {
        expectSameAnswer(
          body,
          await duck.query({
            metric: 'connection_failure_rate',
            grain: 'week',
            by: ['devices.firmware_version'],
            from: '2026-10-01',
            to: '2026-11-30',
          }),
          'api',
        );
      } finally {
        duck.close();
      }
      const status = await fetch(`http://127.0.0.1:${port}/api/v1/status`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(await status.text()).not.toContain(cluster.password);
      expect((await fetch(`http://127.0.0.1:${port}${path}`)).status).toBe(401);
    } finally {
      child.kill('SIGTERM');
    }
    expect(out).not.toContain(cluster.password);
  });

  it('speaks HTTPS to ClickHouse with a private CA, and refuses plain HTTP beyond loopback', async () => {
    const https = cluster.https as NonNullable<ClickHouseCluster['https']>;
    const run = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
      const r = await runCli(args, { env });
      outputs.push(r);
      return r;
    };
    await cluster.database('fv_tls');
    const over = https.url.replace('/fv?', '/fv_tls?');
    const trusted = { FLEETVAULT_CLICKHOUSE_CA: https.caFile };
    const sync = await run(
      ['sync', '--source', s.db.url, '--policy', DEMO_POLICY, '--store', over, '--key-file', s.keyFile],
      trusted,
    );
    expect(sync.code, sync.stderr).toBe(0);
    expect(sync.stdout).toContain('clickhouses://fv@127.0.0.1:');
    const query = (store: string, env: NodeJS.ProcessEnv = {}) =>
      run(
        [
          'metrics',
          'query',
          'connection_attempts',
          '--grain',
          'week',
          '--from',
          '2026-10-01',
          '--to',
          '2026-11-30',
          '--metrics',
          DEMO_METRICS,
          '--json',
          '--store',
          store,
        ],
        env,
      );
    const viaHttps = await query(over, trusted);
    expect(viaHttps.code, viaHttps.stderr).toBe(0);
    const viaHttp = await query(cluster.url.replace('/fv?', '/fv_tls?'));
    expect(JSON.parse(viaHttps.stdout).groups).toEqual(JSON.parse(viaHttp.stdout).groups);
    expect(JSON.parse(viaHttps.stdout).groups.length).toBeGreaterThan(3);
    // A certificate nobody vouches for, and cleartext to another machine: refused before a byte of data.
    const untrusted = await query(over);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/FV_STORE_OPEN.*certificate/);
    const remote = await query(cluster.url.replace('@127.0.0.1:', '@192.0.2.1:'));
    expect(remote.code).toBe(1);
    expect(remote.stderr).toMatch(/FV_STORE_INSECURE.*192\.0\.2\.1/);
    for (const r of [untrusted, remote]) expect(r.stderr).not.toContain(cluster.password);
  });

  it("ingests MQTT device events into ClickHouse: each event once, on its device's shard", async () => {
    const broker = await startBroker();
    try {
      // Devices of people still in the store: an erased owner's events would be dropped (and are).
      const devices = (
        await s.db.query(
          'SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL AND NOT (u.id::text = ANY($1)) ORDER BY d.id LIMIT 40',
          [erasedUsers],
        )
      ).rows.map((r) => String(r.id));
      const base =
        Number((await s.db.query('SELECT max(id)::bigint AS m FROM connection_events')).rows[0].m) + 50_000;
      const started = Math.floor(Date.now() / 1000) * 1000;
      const ingest = spawn(
        process.execPath,
        [
          BIN,
          'ingest',
          '--mqtt',
          broker.url,
          '--topic',
          'fleet/+/conn',
          '--table',
          'connection_events',
          '--policy',
          DEMO_POLICY,
          '--store',
          cluster.url,
          '--key-file',
          s.keyFile,
          '--state-dir',
          join(s.dir, 'ingest-state'),
          '--batch',
          '300',
          '--log-batches',
          '--json',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let said = '';
      ingest.stdout.on('data', (d) => {
        said += d;
      });
      ingest.stderr.on('data', (d) => {
        said += d;
      });
      while (!said.includes('subscribed to')) {
        if (ingest.exitCode !== null) throw new Error(`ingest exited: ${said}`);
        await wait(50);
      }
      const fleet = mqtt.connect(broker.url, { clientId: 'fleet-ch', clean: false });
      await new Promise((r) => fleet.once('connect', r));
      const N = 1500;
      const event = (i: number) =>
        JSON.stringify({
          id: base + i,
          device_id: devices[i % devices.length],
          ts: new Date(started + i * 1000).toISOString(),
          outcome: i % 5 === 0 ? 'fail' : 'success',
          error_code: i % 5 === 0 ? 'E_TIMEOUT' : null,
          rssi: -50,
          duration_ms: 100 + i,
          client_ip: '10.1.2.3',
          app_version: '4.12.0',
        });
      const sent: Array<Promise<unknown>> = [];
      const publish = (body: string) =>
        sent.push(new Promise((r) => fleet.publish('fleet/d/conn', body, { qos: 1 }, r)));
      for (let i = 0; i < N; i++) publish(event(i));
      for (let i = 0; i < 40; i++) publish(event(i)); // a device retrying: folded by the event id
      await Promise.all(sent);
      fleet.end();
      const since = `toDateTime(${started / 1000}, 'UTC')`;
      const stored = async () =>
        (
          await cluster.query(
            0,
            `SELECT count(), uniqExact(id) FROM fv.connection_events WHERE ts >= ${since}`,
          )
        )
          .trim()
          .split('\t')
          .map(Number);
      for (let i = 0; i < 300 && ((await stored())[0] ?? 0) < N; i++) await wait(100);
      await wait(500);
      ingest.kill('SIGTERM');
      await new Promise((r) => ingest.once('exit', r));
      expect(ingest.exitCode, said).toBe(0);
      outputs.push({ code: 0, stdout: said, stderr: '' });
      const [n, distinct] = await stored();
      expect(n, said).toBe(N);
      expect(said).not.toContain('dropped":{"');
      expect(distinct).toBe(N);
      // Each device's new events sit on the shard that already held its older ones.
      const perShard = await Promise.all(
        [0, 1].map(async (i) =>
          (
            await cluster.query(
              i,
              `SELECT DISTINCT toString(device_id) FROM fv.connection_events__fv_local FINAL WHERE _fv_deleted = 0 AND ts >= ${since}`,
            )
          )
            .trim()
            .split('\n')
            .filter(Boolean),
        ),
      );
      expect((perShard[0] ?? []).filter((d) => perShard[1]?.includes(d))).toEqual([]);
      expect((perShard[0]?.length ?? 0) + (perShard[1]?.length ?? 0)).toBe(devices.length);
    } finally {
      await broker.close();
    }
  });

  it('follows change capture into ClickHouse as into DuckDB, a kill -9 included', async () => {
    const url = await cluster.database('fv_cdc');
    const duck = join(s.dir, 'cdc.duckdb');
    const args = (store: string) => [
      'sync',
      '--mode',
      'cdc',
      '--source',
      s.db.url,
      '--policy',
      DEMO_POLICY,
      '--store',
      store,
      '--key-file',
      s.keyFile,
    ];
    for (const store of [duck, url]) {
      const r = await cli(args(store));
      expect(r.code, r.stderr).toBe(0);
    }
    // Inserts, updates, leaf hard deletes (no cursor sees them) and a hard-deleted user.
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT (SELECT max(id) FROM connection_events) + g, (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL) + (g % 7), TIMESTAMPTZ '2026-11-20 08:00:00+00' + g * INTERVAL '1 second', 'success', NULL, -50, 120, '10.9.9.9', '4.12.1' FROM generate_series(1, 40000) g",
    );
    await s.db.query("UPDATE connection_events SET outcome = 'fail', error_code = 'E7' WHERE id % 89 = 0");
    await s.db.query('DELETE FROM connection_events WHERE id % 101 = 0');
    await s.db.query(
      'DELETE FROM users WHERE id = (SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.id DESC LIMIT 1)',
    );
    const child = spawn(process.execPath, [BIN, ...args(url)], { stdio: 'ignore' });
    const t = setTimeout(() => child.kill('SIGKILL'), 500 + Math.random() * 2000);
    await new Promise((r) => child.once('exit', r));
    clearTimeout(t);
    for (const store of [url, duck]) {
      const r = await cli([...args(store), '--json']);
      expect(r.code, r.stderr).toBe(0);
    }
    await expectSameStores(url, duck, 'day', [
      'connection_attempts',
      'connection_failure_rate',
      'active_devices',
    ]);
  });

  it('leaves no canary in any shard table, data file or output, and never prints the password', async () => {
    const dump: string[] = [];
    for (const i of [0, 1]) {
      const names = (
        await cluster.query(
          i,
          "SELECT name FROM system.tables WHERE database = 'fv' AND engine NOT IN ('View', 'Distributed')",
        )
      )
        .trim()
        .split('\n');
      for (const t of DEMO_TABLES) expect(names, `shard ${i + 1}`).toContain(`${t}__fv_local`);
      for (const t of names) dump.push(await cluster.query(i, `SELECT * FROM fv.\`${t}\` FORMAT TSV`));
    }
    const text = dump.join('\n');
    expect(text.length).toBeGreaterThan(100_000);
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d)) {
        const p = join(d, e);
        if (statSync(p).isDirectory()) walk(p);
        else files.push(p);
      }
    };
    for (const n of cluster.nodes) walk(join(n.dir, 'data', 'data', 'fv'));
    const bytes = files.map((f) => readFileSync(f).toString('latin1')).join('\n');
    const said = outputs.map((o) => o.stdout + o.stderr).join('\n');
    for (const c of s.canaries) {
      expect(text.includes(c), `canary in a shard table: ${c.slice(0, 3)}…`).toBe(false);
      expect(bytes.includes(c), `canary in a data file: ${c.slice(0, 3)}…`).toBe(false);
      expect(said.includes(c), `canary in output: ${c.slice(0, 3)}…`).toBe(false);
    }
    expect(said).not.toContain(cluster.password);
  });
});
