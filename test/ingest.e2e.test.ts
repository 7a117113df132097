// End to end (slow): device messages from a real Mosquitto broker (the machine's binary, run on a
// private port so the test can restart it) through `fleetvault ingest` into the store.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { connectionMessage, eventIngestArgs, exited, runCli, spawnIngest } from './helpers/cli.ts';
import { type Broker, startBroker, wait } from './helpers/mosquitto.ts';
import { queryStore } from './helpers/store-dump.ts';
import {
  DEMO_POLICY,
  demoForgetArgs,
  demoSyncArgs,
  type SyncedStore,
  syncedStore,
} from './helpers/synced-store.ts';
import { freePort } from './services/free-port.ts';

describe('MQTT ingest', () => {
  let s: SyncedStore;
  let broker: Broker;

  beforeAll(async () => {
    s = await syncedStore({ users: 300, days: 3, seed: 8 });
    broker = await startBroker();
  });

  afterAll(async () => {
    await broker?.close();
    await s?.db.drop();
  });

  it('nothing lost, nothing duplicated across a broker restart; bad messages dropped with a reason, never echoed', async () => {
    const devices = (
      await s.db.query(
        'SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL ORDER BY d.id LIMIT 50',
      )
    ).rows.map((r) => String(r.id));
    const base =
      Number((await s.db.query('SELECT max(id)::bigint AS m FROM connection_events')).rows[0].m) + 1000;
    const started = Date.now();
    const metricsPort = await freePort();
    // Under `on_detect: quarantine` a message with personal data in a kept field is left out and
    // counted (the same pipeline as the sync; under `block` the stream stops, tested below).
    const policy = join(s.dir, 'quarantine.policy.yaml');
    writeFileSync(
      policy,
      readFileSync(DEMO_POLICY, 'utf8').replace('on_detect: block', 'on_detect: quarantine'),
    );
    const ingest = await spawnIngest(
      eventIngestArgs(
        {
          broker: broker.url,
          policy: policy,
          store: s.store,
          keyFile: s.keyFile,
          stateDir: join(s.dir, 'quarantine-state'),
        },
        '--batch',
        '200',
        '--flush-ms',
        '200',
        '--log-batches',
        '--json',
        '--metrics-listen',
        `127.0.0.1:${metricsPort}`,
      ),
    );

    const fleet = mqtt.connect(broker.url, {
      clientId: 'fleet-sim',
      clean: false,
      reconnectPeriod: 200,
    });
    await new Promise((r) => fleet.once('connect', r));
    const N = 3000;
    const event = (i: number) => ({
      id: base + i,
      device_id: devices[i % devices.length],
      ts: new Date(started + i).toISOString(),
      outcome: i % 7 === 0 ? 'fail' : 'success',
      error_code: i % 7 === 0 ? 'E_TIMEOUT' : null,
      rssi: -40 - (i % 50),
      duration_ms: 100 + (i % 900),
      client_ip: '10.1.2.3', // personal: dropped by the policy, never stored
      app_version: '4.12.0',
    });
    const acked: Array<Promise<void>> = [];
    const publish = (topic: string, body: string | Buffer) =>
      acked.push(
        new Promise<void>((resolve, reject) =>
          fleet.publish(topic, body, { qos: 1 }, (e) => (e ? reject(e) : resolve())),
        ),
      );
    for (let i = 0; i < N; i++) {
      publish(`fleet/${devices[i % devices.length]}/conn`, JSON.stringify(event(i)));
      if (i % 100 === 99) await wait(20);
      if (i === N / 2) {
        await broker.stop(); // mid-stream: both sides reconnect, unacknowledged messages come again
        await wait(300);
        await broker.start();
      }
    }
    // Repeats of already-sent events (a device retrying): folded by the event id.
    for (let i = 0; i < 50; i++) publish('fleet/x/conn', JSON.stringify(event(i)));
    // Bad messages: each dropped with a reason, none of their content printed.
    const canary = 'ingest.canary.person@example.com';
    publish('fleet/x/conn', 'not json {');
    publish('fleet/x/conn', Buffer.alloc(20_000, 'a'));
    publish('fleet/x/conn', JSON.stringify({ ...event(N + 1), id: undefined }));
    publish('fleet/x/conn', JSON.stringify({ ...event(N + 2), owner_email: canary }));
    publish('fleet/x/conn', JSON.stringify({ ...event(N + 3), [canary]: 1 }));
    publish('fleet/x/conn', JSON.stringify({ ...event(N + 4), ts: 'yesterday' }));
    publish('fleet/x/conn', JSON.stringify({ ...event(N + 5), app_version: canary }));
    await Promise.all(acked);
    fleet.end();

    // Everything is at the broker; wait until ingest has committed it all, then stop it.
    const committed = () =>
      Number(
        /total (\d+)/.exec(
          ingest
            .stderr()
            .split('\n')
            .filter((l) => l.includes('total'))
            .pop() ?? '',
        )?.[1] ?? 0,
      );
    for (let i = 0; i < 300 && committed() < N; i++) await wait(100);
    await wait(500);
    // Its Prometheus series: a valid exposition, drops by kind (never a field a device named).
    const exposition = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const check = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(exposition.includes(canary)).toBe(false);
    expect(exposition).not.toContain('owner_email');
    const series = (name: string) =>
      Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)$`, 'm').exec(exposition)?.[1]);
    expect(series('fleetvault_ingest_rows_written_total{table="connection_events"}')).toBe(N);
    expect(
      series('fleetvault_ingest_messages_dropped_total{table="connection_events",reason="malformed"}'),
    ).toBe(3);
    expect(
      series(
        'fleetvault_ingest_messages_dropped_total{table="connection_events",reason="unclassified_field"}',
      ),
    ).toBe(2);
    expect(series('fleetvault_ingest_messages_dropped_total{table="connection_events",reason="pii"}')).toBe(
      1,
    );
    expect(exposition).toMatch(
      /^fleetvault_ingest_last_commit_timestamp_seconds\{table="connection_events"\} \d/m,
    );
    ingest.child.kill('SIGTERM');
    await exited(ingest.child);
    expect(ingest.child.exitCode, ingest.stderr()).toBe(0);
    const stats = JSON.parse(ingest.stdout().trim().split('\n').pop() as string);

    const [[rows, distinct]] = (await queryStore(
      s.store,
      `SELECT count(*), count(DISTINCT id) FROM connection_events WHERE ts >= '${new Date(started).toISOString()}'::TIMESTAMPTZ`,
    )) as [[string, string]];
    expect(Number(rows)).toBe(N);
    expect(Number(distinct)).toBe(N);
    expect(stats.received).toBeGreaterThanOrEqual(N + 50 + 7);
    expect(stats.dropped).toEqual({
      'malformed: not JSON': 1,
      oversized: 1,
      'malformed: no id': 1,
      'unclassified field owner_email': 1,
      'unclassified field': 1,
      'malformed: ts is not timestamptz': 1,
      'pii: app_version matched email': 1,
    });
    expect(stats.quarantined).toEqual([
      expect.objectContaining({ column: 'app_version', detector: 'email', rows: 1 }),
    ]);
    expect(ingest.stderr()).toContain('lost the broker');
    for (const text of [ingest.stdout(), ingest.stderr()]) {
      expect(text.includes(canary)).toBe(false);
      expect(text.includes('not json')).toBe(false);
    }
    // Stored through the policy: pseudonymized ids, no client_ip column at all.
    const cols = (
      await queryStore(
        s.store,
        "SELECT column_name FROM duckdb_columns() WHERE table_name = 'connection_events'",
      )
    ).map((r) => r[0]);
    expect(cols).not.toContain('client_ip');
    const raw = await queryStore(
      s.store,
      `SELECT count(*) FROM connection_events WHERE id::VARCHAR = '${base}'`,
    );
    expect(raw).toEqual([['0']]);
  });

  it('under on_detect: block a message with personal data stops the stream: nothing of its batch written or acknowledged', async () => {
    const device = String((await s.db.query('SELECT id FROM devices ORDER BY id LIMIT 1')).rows[0].id);
    const base =
      Number((await s.db.query('SELECT max(id)::bigint AS m FROM connection_events')).rows[0].m) + 90_000;
    const count = async () =>
      Number(((await queryStore(s.store, 'SELECT count(*) FROM connection_events')) as [[string]])[0][0]);
    const before = await count();
    const ingest = await spawnIngest([
      '--mqtt',
      broker.url,
      '--topic',
      'blocked/+/conn',
      '--table',
      'connection_events',
      '--policy',
      DEMO_POLICY,
      '--store',
      s.store,
      '--key-file',
      s.keyFile,
      '--state-dir',
      join(s.dir, 'state'),
      '--batch',
      '50',
      '--flush-ms',
      '300',
      '--json',
    ]);
    const canary = 'blocked.canary.person@example.com';
    const fleet = mqtt.connect(broker.url, { clientId: 'fleet-blocked', clean: false });
    await new Promise((r) => fleet.once('connect', r));
    const send = (id: number, app: string) =>
      new Promise<void>((resolve, reject) =>
        fleet.publish(
          'blocked/x/conn',
          connectionMessage(id, device, new Date(), { app_version: app }),
          { qos: 1 },
          (e) => (e ? reject(e) : resolve()),
        ),
      );
    await send(base, '4.12.0');
    await send(base + 1, canary);
    fleet.end();
    const code = await exited(ingest.child);
    expect(code, ingest.said()).not.toBe(0);
    expect(ingest.said()).toContain('FV_PII_DETECTED');
    expect(ingest.said()).toContain('app_version');
    expect(ingest.said().includes(canary)).toBe(false);
    expect(await count()).toBe(before);
  });

  it('messages a device sent before the store saw it, whose owner was erased, go when a sync meets the device', async () => {
    const owner = String(
      (
        await s.db.query(
          'SELECT u.id FROM users u WHERE u.deleted_at IS NULL AND EXISTS (SELECT 1 FROM devices d WHERE d.user_id = u.id) ORDER BY u.id DESC LIMIT 1',
        )
      ).rows[0].id,
    );
    const f = await runCli(demoForgetArgs(s, s.store, owner));
    expect(f.code, f.stderr).toBe(0);
    // Production gives the erased person a new device, which reports before the next sync.
    const device = String(
      (
        await s.db.query(
          `INSERT INTO devices SELECT (SELECT max(id) FROM devices) + 1, user_id, mac || 'n', serial || 'n', product_model,
           firmware_version, nickname, wifi_ssid, local_ip, region, activated_at, last_seen_at, now()
           FROM devices WHERE user_id = $1 LIMIT 1 RETURNING id`,
          [owner],
        )
      ).rows[0].id,
    );
    const pseudonym = pseudonymToUuid(
      hmacPseudonymizer(loadKeyFile(s.keyFile), 'device', 0).pseudonym(device),
    );
    const stored = async () =>
      Number(
        (
          (await queryStore(
            s.store,
            `SELECT count(*) FROM connection_events WHERE device_id = '${pseudonym}'`,
          )) as [[string]]
        )[0][0],
      );
    const ingest = await spawnIngest(
      eventIngestArgs(
        {
          broker: broker.url,
          policy: DEMO_POLICY,
          store: s.store,
          keyFile: s.keyFile,
          stateDir: join(s.dir, 'state'),
        },
        '--client-id',
        'fv-new-device',
        '--batch',
        '5',
        '--flush-ms',
        '100',
      ),
    );
    const fleet = mqtt.connect(broker.url, { clientId: 'new-device', clean: false });
    await new Promise((r) => fleet.once('connect', r));
    const base =
      Number((await s.db.query('SELECT max(id)::bigint AS m FROM connection_events')).rows[0].m) + 900_000;
    await Promise.all(
      Array.from(
        { length: 5 },
        (_, i) =>
          new Promise((r) =>
            fleet.publish(
              `fleet/${device}/conn`,
              connectionMessage(base + i, device, new Date(Date.UTC(2026, 10, 20) + i * 1000)),
              { qos: 1 },
              r,
            ),
          ),
      ),
    );
    fleet.end();
    for (let i = 0; i < 100 && !/total 5\b/.test(ingest.stderr()); i++) await wait(100);
    ingest.child.kill('SIGTERM');
    await exited(ingest.child);
    expect(await stored(), ingest.said()).toBe(5);
    // The sync drops the device with its erased owner, and what it sent with it.
    const r = await runCli(demoSyncArgs(s, s.store));
    expect(r.code, r.stderr).toBe(0);
    expect(await stored()).toBe(0);
  });
});
