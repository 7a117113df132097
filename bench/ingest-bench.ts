// MQTT ingest benchmark: sustained events/s of `fleetvault ingest` against a plain QoS 1
// subscriber on the same broker in the same run, and end-to-end lag (publish to committed, that is
// queryable) at a steady rate. Writes its section of bench/RESULTS.md. FV_BENCH_MQTT_EVENTS sizes it.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { duckdb } from '../src/engines/index.ts';
import { MqttSubscriber, StreamIngest } from '../src/ingest/index.ts';
import { readPolicyFile } from '../src/policy/index.ts';
import { keyFromBytes } from '../src/privacy/index.ts';
import { spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const events = Number(process.env.FV_BENCH_MQTT_EVENTS ?? 200_000);
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const event = (i: number, now: number) =>
  JSON.stringify({
    id: i,
    device_id: i % 30_000,
    ts: new Date(now).toISOString(),
    outcome: i % 9 === 0 ? 'fail' : 'success',
    error_code: i % 9 === 0 ? 'E_TIMEOUT' : null,
    rssi: -40 - (i % 50),
    duration_ms: 100 + (i % 900),
    client_ip: '10.1.2.3',
    app_version: '4.12.0',
  });

/**
 * Child process: publishes `count` events at `rate`/s (0 = as fast as the broker takes them), with
 * ids from `first` on (ingest adds a row per new id only: a repeated id adds nothing).
 */
async function publisher(url: string, count: number, rate: number, first: number): Promise<void> {
  const c = mqtt.connect(url, { clientId: `bench-pub-${process.pid}`, protocolVersion: 5 });
  await new Promise((r) => c.once('connect', r));
  const start = Date.now();
  let inflight = 0;
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const due = start + (i * 1000) / rate;
      if (due > Date.now()) await wait(due - Date.now());
    }
    while (inflight > 2000) await wait(1);
    inflight++;
    c.publish(`fleet/${i % 1000}/conn`, event(first + i, Date.now()), { qos: 1 }, () => {
      inflight--;
    });
  }
  while (inflight > 0) await wait(5);
  c.end();
  process.stdout.write(`${JSON.stringify({ start, end: Date.now() })}\n`);
}

function publish(
  url: string,
  count: number,
  rate: number,
  first = 0,
): Promise<{ start: number; end: number }> {
  const child = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), 'publish', url, String(count), String(rate), String(first)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  return new Promise((resolve, reject) =>
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`publisher exited ${code}`)),
    ),
  );
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? 0;

async function main(): Promise<void> {
  const load = loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'fv-bench-mqtt-'));
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nuser ${userInfo().username}\n`,
  );
  const broker: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  await wait(500);
  try {
    // Baseline: a plain QoS 1 subscriber that acknowledges on receipt and keeps nothing.
    const plain = mqtt.connect(url, { clientId: 'bench-plain', protocolVersion: 5, clean: true });
    await new Promise((r) => plain.once('connect', r));
    await new Promise((r) => plain.subscribe('fleet/+/conn', { qos: 1 }, r));
    let got = 0;
    let lastAt = 0;
    plain.on('message', () => {
      got++;
      lastAt = Date.now();
    });
    const p0 = await publish(url, events, 0);
    while (got < events) await wait(10);
    plain.end();
    const baseline = { rate: events / ((lastAt - p0.start) / 1000), seconds: (lastAt - p0.start) / 1000 };
    process.stderr.write(`plain subscriber: ${Math.round(baseline.rate)} events/s\n`);

    // fleetvault ingest, in this process, into a DuckDB store, through the demo policy.
    const { policy } = readPolicyFile(join(root, 'examples/demo/fleetvault.policy.yaml'));
    if (!policy) throw new Error('demo policy');
    const store = await duckdb.openStore(join(dir, 'store.duckdb'));
    const key = keyFromBytes(Buffer.alloc(32, 3));
    await store.bindKey(key.fingerprint);
    const source = {
      schema: 'public',
      name: 'connection_events',
      primaryKey: ['id'],
      columns: [
        ['id', 'bigint', 'bigint'],
        ['device_id', 'bigint', 'bigint'],
        ['ts', 'timestamp with time zone', 'timestamptz'],
        ['outcome', 'text', 'text'],
        ['error_code', 'text', 'text'],
        ['rssi', 'integer', 'integer'],
        ['duration_ms', 'integer', 'integer'],
        ['client_ip', 'text', 'text'],
        ['app_version', 'text', 'text'],
      ].map(([name, type, kind]) => ({
        name: name as string,
        type: type as string,
        kind: kind as 'text',
        readable: true,
      })),
    };
    let peakRss = 0;
    const batches: Array<{ rows: number; committedAt: number; total: number }> = [];
    const subscriber = new MqttSubscriber({
      url: new URL(url),
      topic: 'fleet/+/conn',
      clientId: 'bench-fv',
      receiveMaximum: 1000,
      maximumPacketSize: 131_072,
    });
    const ingest = new StreamIngest({
      policy,
      table: 'connection_events',
      source,
      store,
      key,
      messages: subscriber,
      batchSize: 1000,
      flushMs: 200,
      maxBytes: 16_384,
      onBatch: (b) => {
        batches.push({ ...b, total: ingest.stats.written });
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      },
    });
    await ingest.start();
    subscriber.start();
    await new Promise((r) => subscriber.once('connected', r));
    await wait(200);
    const p1 = await publish(url, events, 0);
    while (ingest.stats.written < events) await wait(10);
    const done = batches[batches.length - 1]?.committedAt ?? Date.now();
    const sustained = { rate: events / ((done - p1.start) / 1000), seconds: (done - p1.start) / 1000 };
    process.stderr.write(`fleetvault ingest: ${Math.round(sustained.rate)} events/s\n`);

    // Lag at a steady rate well under capacity: publish time of the newest row of each batch to its commit.
    const steady = Math.max(500, Math.round(sustained.rate / 4 / 100) * 100);
    const n = steady * 10;
    const before = ingest.stats.written;
    batches.length = 0;
    const p2 = await publish(url, n, steady, events);
    while (ingest.stats.written < before + n) await wait(10);
    const lags = batches.map((b) => b.committedAt - (p2.start + ((b.total - before) * 1000) / steady));
    await ingest.stop();
    await subscriber.stop();
    await store.close();

    const section = [
      '## MQTT ingest (`bench/ingest-bench.ts`)',
      '',
      `${events.toLocaleString('en-US')} connection events from a publisher process through Mosquitto 2.0 on loopback (${cpus().length} cores, load average ${load.toFixed(1)} at the start, ${new Date().toISOString().slice(0, 10)}); broker, publisher and subscriber share the cores.`,
      '',
      '| subscriber | events/s | seconds | vs plain |',
      '|---|---:|---:|---:|',
      `| plain QoS 1 subscriber, acknowledges on receipt, keeps nothing (baseline) | ${Math.round(baseline.rate).toLocaleString('en-US')} | ${baseline.seconds.toFixed(1)} | 1.00× |`,
      `| fleetvault ingest: policy, pseudonyms, PII scan, DuckDB commit, then PUBACK (batch 1,000) | ${Math.round(sustained.rate).toLocaleString('en-US')} | ${sustained.seconds.toFixed(1)} | ${(sustained.rate / baseline.rate).toFixed(2)}× |`,
      '',
      `Peak RSS of the ingesting process ${Math.round(peakRss / 2 ** 20)} MB (at most 1,000 unacknowledged messages in memory: the Receive Maximum). End-to-end lag from publish to committed (queryable) at a steady ${steady.toLocaleString('en-US')} events/s for 10 s: p50 ${Math.round(pct(lags, 0.5))} ms, p99 ${Math.round(pct(lags, 0.99))} ms, max ${Math.round(Math.max(...lags))} ms (the flush interval is 200 ms).`,
    ].join('\n');
    spliceSection('ingest', section);
    process.stderr.write(`${section}\n`);
  } finally {
    broker.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'publish') {
  await publisher(
    process.argv[3] as string,
    Number(process.argv[4]),
    Number(process.argv[5]),
    Number(process.argv[6] ?? 0),
  );
} else {
  await main();
}
