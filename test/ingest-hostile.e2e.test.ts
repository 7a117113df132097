import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { type CliRun, eventIngestArgs, runCli, spawnIngest } from './helpers/cli.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { type Broker, startBroker, wait } from './helpers/mosquitto.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';
import { DEMO_POLICY, demoSyncArgs, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

interface Ingest {
  /** Rows committed so far, from the `--log-batches` lines. */
  committed(): number;
  /** SIGTERM, then the exit code, the final counts and everything it printed. */
  stop(): Promise<{ code: number | null; stats: Record<string, unknown>; said: string }>;
}

let s: SyncedStore;
let cluster: ClickHouseCluster;
let broker: Broker;
const outputs: string[] = [];

beforeAll(async () => {
  [s, cluster, broker] = await Promise.all([
    syncedStore({ users: 200, days: 3, seed: 21 }),
    startClickHouseCluster(),
    startBroker(),
  ]);
  const r = await runCli(sync(cluster.url));
  expect(r.code, r.stderr).toBe(0);
});

afterAll(async () => {
  await broker?.close();
  await cluster?.stop();
  await s?.db.drop();
});

function sync(store: string, ...extra: string[]): string[] {
  return demoSyncArgs(s, store, '--state-dir', join(s.dir, 'state'), ...extra);
}

async function startIngest(store: string, clientId: string): Promise<Ingest> {
  const ingest = await spawnIngest(
    eventIngestArgs(
      {
        broker: broker.url,
        policy: DEMO_POLICY,
        store: store,
        keyFile: s.keyFile,
        stateDir: join(s.dir, 'state'),
      },
      '--client-id',
      clientId,
      '--batch',
      '8',
      '--flush-ms',
      '100',
      '--log-batches',
      '--json',
    ),
  );
  return {
    committed: () => Number([...ingest.stderr().matchAll(/total (\d+)/g)].pop()?.[1] ?? 0),
    stop: async () => {
      if (ingest.child.exitCode === null) {
        ingest.child.kill('SIGTERM');
        await new Promise((r) => ingest.child.once('exit', r));
      }
      outputs.push(ingest.stdout() + ingest.stderr());
      const last = ingest
        .stdout()
        .trim()
        .split('\n')
        .find((l) => l.startsWith('{'));
      return {
        code: ingest.child.exitCode,
        stats: last ? JSON.parse(last) : {},
        said: ingest.stdout() + ingest.stderr(),
      };
    },
  };
}

async function publisher(clientId: string) {
  const c = mqtt.connect(broker.url, { clientId, clean: true });
  await new Promise((r) => c.once('connect', r));
  const sent: Array<Promise<unknown>> = [];
  return {
    send: (body: unknown, qos: 0 | 1 = 1) =>
      sent.push(
        new Promise<void>((resolve, reject) =>
          c.publish('fleet/d/conn', JSON.stringify(body), { qos }, (e) => (e ? reject(e) : resolve())),
        ),
      ),
    done: async () => {
      await Promise.all(sent);
      await new Promise((r) => c.end(false, {}, r));
    },
  };
}

// DuckDB last: its rotation test changes the key the ClickHouse store was built with.
const engines: Array<[string, () => string]> = [
  ['ClickHouse', () => cluster.url],
  ['DuckDB', () => s.store],
];

describe.each(engines)('ingest into %s under hostile messages', (engine, storeOf) => {
  const clickhouse = engine === 'ClickHouse';
  const pseudonym = (domain: string, id: string | number) =>
    pseudonymToUuid(hmacPseudonymizer(loadKeyFile(s.keyFile), domain).pseudonym(String(id)));
  /** The stored event (outcome, rssi, epoch seconds), through the store's own SQL. */
  const stored = async (id: string | number): Promise<string[][]> => {
    const p = pseudonym('event', id);
    if (!clickhouse) {
      const r = await queryStore(
        storeOf(),
        `SELECT outcome, rssi::VARCHAR, epoch(ts)::BIGINT::VARCHAR, device_id::VARCHAR FROM connection_events WHERE id = '${p}'`,
      );
      return r.map((row) => row.map(String));
    }
    const text = await cluster.query(
      0,
      `SELECT outcome, toString(rssi), toString(toUnixTimestamp(ts)), toString(device_id) FROM fv.connection_events WHERE id = '${p}' FORMAT TSV`,
    );
    return text
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
  };

  it('drops each bad message under its reason, never crashes or replaces a stored row, and counts QoS 0', async () => {
    const devices = (
      await s.db.query(
        'SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL ORDER BY d.id LIMIT 5',
      )
    ).rows.map((r) => String(r.id));
    // A production event of a live device, already in the store: the one publishers try to overwrite.
    const prod = (
      await s.db.query(
        'SELECT e.id FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL ORDER BY e.id LIMIT 1',
      )
    ).rows[0].id as string;
    const base =
      Number((await s.db.query('SELECT max(id)::bigint AS m FROM connection_events')).rows[0].m) +
      (clickhouse ? 20_000 : 10_000);
    const before = await stored(prod);
    expect(before).toHaveLength(1);
    const ts = (i: number) => new Date(Date.UTC(2026, 10, 20, 12, 0, i)).toISOString();
    const good = (i: number, extra: Record<string, unknown> = {}) => ({
      id: base + i,
      device_id: devices[i % devices.length],
      ts: ts(i),
      outcome: 'success',
      error_code: null,
      rssi: -50,
      duration_ms: 120,
      client_ip: '10.1.2.3',
      app_version: '4.12.0',
      ...extra,
    });

    // Subscribe once, then stop: from now on the broker queues for this session.
    const client = `fv-hostile-${engine}`;
    await (await startIngest(storeOf(), client)).stop();
    const fleet = await publisher(`fleet-${engine}`);
    for (let i = 0; i < 10; i++) fleet.send(good(i));
    fleet.send(good(100, { rssi: 2147483648 }));
    fleet.send(good(101, { ts: 1e16 }));
    fleet.send(good(102, { duration_ms: -2147483649 }));
    fleet.send(good(103, { ts: '1969-12-31T23:00:00Z' })); // fine for DuckDB; before ClickHouse's DateTime
    fleet.send(good(104, { id: 1e30 }));
    fleet.send(good(105, { device_id: `000${devices[0]}` })); // the same device as "devices[0]"
    // Reusing the production event's key: wrapped rssi, a 1969 time, and a plain overwrite.
    fleet.send(good(0, { id: prod, rssi: 2147483648 }));
    fleet.send(good(0, { id: prod, ts: '1969-06-01T00:00:00Z', outcome: 'forged' }));
    fleet.send(good(0, { id: prod, outcome: 'forged', rssi: 1 }));
    for (let i = 10; i < 20; i++) fleet.send(good(i));
    await fleet.done();

    // Everything above is redelivered to the next start, poison included.
    const ingest = await startIngest(storeOf(), client);
    const live = await publisher(`fleet-${engine}-qos0`);
    live.send(good(106), 0); // QoS 0: never acknowledged, so never kept; counted
    await live.done();
    const expected = clickhouse ? 21 : 22;
    for (let i = 0; i < 300 && ingest.committed() < expected; i++) await wait(100);
    await wait(500);
    const run = await ingest.stop();
    expect(run.code, run.said).toBe(0);
    expect(run.stats.written, run.said).toBe(expected);
    expect(run.stats.received).toBe(30);
    expect(run.stats.duplicates).toBe(clickhouse ? 1 : 2);
    expect(run.stats.dropped).toEqual({
      'out of range: rssi outside integer': 2,
      'out of range: ts outside timestamp with time zone': 1,
      'out of range: duration_ms outside integer': 1,
      'malformed: id is not bigint': 1,
      'qos 0: publish at QoS 1': 1,
      ...(clickhouse ? { 'out of range: ts outside ClickHouse DateTime (1970-01-01…2106-02-06)': 2 } : {}),
    });

    // Acknowledged means gone from the broker: the next start has nothing to crash on.
    const again = await startIngest(storeOf(), client);
    await wait(1000);
    const quiet = await again.stop();
    expect(quiet.code, quiet.said).toBe(0);
    expect(quiet.stats.received).toBe(0);

    // The production row is exactly as it was; nothing wrapped around; the good rows are there.
    expect(await stored(prod)).toEqual(before);
    for (let i = 0; i < 20; i++) expect((await stored(base + i)).length, `event ${i}`).toBe(1);
    expect(await stored(base + 103)).toHaveLength(clickhouse ? 0 : 1);
    const canonical = await stored(base + 105);
    expect(canonical[0]?.[3]).toBe(pseudonym('device', devices[0] as string));
    const wrapped = clickhouse
      ? await cluster.query(0, 'SELECT count() FROM fv.connection_events WHERE rssi = -2147483648')
      : String(
          (await queryStore(storeOf(), 'SELECT count(*) FROM connection_events WHERE rssi = -2147483648'))[0],
        );
    expect(wrapped.trim()).toBe('0');

    // Production owns its keys: a row the source gets later under a key a device took replaces it.
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) VALUES ($1, $2, '2026-11-21T00:00:00Z', 'prod-later', NULL, -60, 90, '10.0.0.1', '4.12.0')",
      [base + 1, devices[1]],
    );
    const r = await runCli(sync(storeOf()));
    expect(r.code, r.stderr).toBe(0);
    const replaced = await stored(base + 1);
    expect(replaced).toHaveLength(1);
    expect(replaced[0]?.[0]).toBe('prod-later');

    for (const text of outputs) {
      expect(text).not.toContain('forged');
      expect(text).not.toContain('10.1.2.3');
    }
  });

  it('never loses ingested rows silently: sync --full and keys rotate refuse, and say how to go on', async () => {
    const full = await runCli(sync(storeOf(), '--full'));
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(
      /FV_INGESTED_ROWS: table connection_events holds rows ingested from devices \(2\d added/,
    );
    expect(full.stderr).toContain('--discard-ingested');
    if (clickhouse) return; // keys rotate rebuilds DuckDB files only (README)

    const dump = await dumpStore(s.store);
    const key = readFileSync(s.keyFile, 'utf8');
    const rotate = (...extra: string[]) =>
      runCli([
        'keys',
        'rotate',
        '--source',
        s.db.url,
        '--policy',
        DEMO_POLICY,
        '--store',
        s.store,
        '--key-file',
        s.keyFile,
        '--state-dir',
        join(s.dir, 'state'),
        ...extra,
      ]);
    const refused = await rotate();
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /FV_INGESTED_ROWS: table connection_events holds rows ingested from devices/,
    );
    expect(refused.stderr).toContain('cannot be re-pseudonymized');
    expect(await dumpStore(s.store)).toBe(dump);
    expect(readFileSync(s.keyFile, 'utf8')).toBe(key);
    expect(existsSync(`${s.keyFile}.next`)).toBe(false);

    const ok: CliRun = await rotate('--discard-ingested', '--json');
    expect(ok.code, ok.stderr).toBe(0);
    const detail = JSON.parse(ok.stdout);
    expect(detail.ingestedDiscarded).toBe(22);
    expect(detail.rowsNotCarried.connection_events).toBe(21);
    expect(readFileSync(join(s.dir, 'state', 'audit.jsonl'), 'utf8')).toContain('"ingestedDiscarded":22');
  });
});
