// End to end (slow): device messages from a real Mosquitto broker (the machine's binary, run on a
// private port so the test can restart it) through `fleetvault ingest` into the store.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.ts';
import { queryStore } from './helpers/store-dump.ts';
import { DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('MQTT ingest', () => {
  let s: SyncedStore;
  let port: number;
  let conf: string;
  let broker: ChildProcess | undefined;

  async function startBroker(): Promise<void> {
    broker = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    for (let i = 0; i < 50; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 500 });
        c.once('connect', () => {
          resolve(true);
          c.end(true);
        });
        c.once('error', () => {
          resolve(false);
          c.end(true);
        });
        c.once('close', () => resolve(false));
      });
      if (ok) return;
      await wait(100);
    }
    throw new Error('mosquitto did not start');
  }

  async function stopBroker(): Promise<void> {
    const b = broker;
    if (!b || b.exitCode !== null) return;
    await new Promise((r) => {
      b.once('exit', r);
      b.kill('SIGTERM'); // a clean stop writes the persistent sessions and their queues to disk
    });
  }

  beforeAll(async () => {
    s = await syncedStore({ users: 300, days: 3, seed: 8 });
    port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'fv-mqtt-'));
    conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 0',
        // Started as root, mosquitto would drop to its own user and could not save into our folder.
        `user ${userInfo().username}`,
        '',
      ].join('\n'),
    );
    await startBroker();
  });

  afterAll(async () => {
    await stopBroker();
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
    const ingest = spawn(
      process.execPath,
      [
        BIN,
        'ingest',
        '--mqtt',
        `mqtt://127.0.0.1:${port}`,
        '--topic',
        'fleet/+/conn',
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
        '200',
        '--flush-ms',
        '200',
        '--log-batches',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    ingest.stdout.on('data', (d) => {
      stdout += d;
    });
    ingest.stderr.on('data', (d) => {
      stderr += d;
    });
    while (!stderr.includes('subscribed to')) {
      if (ingest.exitCode !== null) throw new Error(`ingest exited: ${stderr}`);
      await wait(50);
    }

    const fleet = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
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
        await stopBroker(); // mid-stream: both sides reconnect, unacknowledged messages come again
        await wait(300);
        await startBroker();
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
          stderr
            .split('\n')
            .filter((l) => l.includes('total'))
            .pop() ?? '',
        )?.[1] ?? 0,
      );
    for (let i = 0; i < 300 && committed() < N; i++) await wait(100);
    await wait(500);
    ingest.kill('SIGTERM');
    await new Promise((r) => ingest.once('exit', r));
    expect(ingest.exitCode, stderr).toBe(0);
    const stats = JSON.parse(stdout.trim().split('\n').pop() as string);

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
    expect(stderr).toContain('lost the broker');
    for (const text of [stdout, stderr]) {
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
});
