// One benchmark stage per process, so each reports its own wall time and peak memory.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import Fastify from 'fastify';
import { to as copyTo } from 'pg-copy-streams';
import { Approvals } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { main } from '../src/cli/main.ts';
import { appendChunked } from '../src/engines/duckdb/index.ts';
import { openMetricsReader, openStore } from '../src/engines/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import { readMetricsFile, rollupsOf } from '../src/metrics/index.ts';
import { readPolicyFile } from '../src/policy/index.ts';
import { loadKeyFile } from '../src/privacy/index.ts';
import { buildServer } from '../src/server/index.ts';
import { connectSource, readTable } from '../src/source/index.ts';
import { runCdc, runSync } from '../src/sync/index.ts';
import {
  DASHBOARD_QUERIES,
  type MetricTiming,
  PRODUCTION_SQL,
  STORE_SQL,
} from '../test/helpers/metric-twins.ts';

const [stage, url, policyFile, storePath, keyFile, metricsFile] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string | undefined,
];
const TABLE = 'connection_events';
const COLUMNS = ['id', 'device_id', 'ts', 'outcome', 'error_code', 'rssi', 'duration_ms', 'app_version'];

async function rawCopy(): Promise<number> {
  const client = await connectSource(url);
  let bytes = 0;
  const stream = client.query(
    copyTo(`COPY (SELECT ${COLUMNS.join(', ')} FROM ${TABLE} ORDER BY id) TO STDOUT`),
  );
  for await (const chunk of stream) bytes += (chunk as Buffer).length;
  const rows = Number((await client.query(`SELECT count(*) FROM ${TABLE}`)).rows[0].count);
  await client.end();
  return bytes > 0 ? rows : 0;
}

async function plainCopy(): Promise<number> {
  const client = await connectSource(url);
  const instance = await DuckDBInstance.create(storePath);
  const db = await instance.connect();
  const kinds = ['bigint', 'bigint', 'timestamptz', 'text', 'text', 'integer', 'integer', 'text'] as const;
  await db.run(
    `CREATE TABLE ${TABLE} (id BIGINT, device_id BIGINT, ts TIMESTAMPTZ, outcome VARCHAR, error_code VARCHAR, rssi INTEGER, duration_ms INTEGER, app_version VARCHAR)`,
  );
  let rows = 0;
  for await (const batch of readTable(client, {
    schema: 'public',
    table: TABLE,
    columns: COLUMNS.map((name, i) => ({ name, kind: kinds[i] ?? 'text' })),
    orderBy: ['id'],
    batchSize: 50_000,
  })) {
    await db.run('BEGIN TRANSACTION');
    const a = await db.createAppender(TABLE);
    appendChunked(
      a,
      kinds.map((kind) => ({ kind })),
      batch.length,
      (r, c) => batch[r]?.[c] ?? null,
    );
    a.flushSync();
    a.closeSync();
    await db.run('COMMIT');
    rows += batch.length;
  }
  db.closeSync();
  instance.closeSync();
  await client.end();
  return rows;
}

/**
 * The baseline for a whole-policy sync: every table the policy reads, with the columns it reads
 * (never-read secrets left out), through `COPY (SELECT …) TO STDOUT`, bytes discarded.
 */
async function rawCopyAll(): Promise<number> {
  const { policy } = readPolicyFile(policyFile);
  if (!policy) throw new Error('bench policy does not load');
  const client = await connectSource(url);
  let rows = 0;
  for (const t of policy.tables.values()) {
    const columns = [...t.columns.values()].filter((c) => c.action !== 'never_read').map((c) => c.name);
    let bytes = 0;
    const stream = client.query(
      copyTo(`COPY (SELECT ${columns.join(', ')} FROM ${policy.schema}.${t.name}) TO STDOUT`),
    );
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    const n = Number((await client.query(`SELECT count(*) FROM ${policy.schema}.${t.name}`)).rows[0].count);
    if (bytes > 0) rows += n;
  }
  await client.end();
  return rows;
}

/**
 * fleetvault sync into the store `storePath` names: a DuckDB file or a `clickhouse://` URL, keeping
 * the rollups of the metrics file beside the policy (the demo's), if there is one, as
 * `fleetvault sync --metrics` does.
 */
async function fleetvaultSync(): Promise<number> {
  const { policy } = readPolicyFile(policyFile);
  if (!policy) throw new Error('bench policy does not load');
  const store = await openStore(storePath);
  // The main benchmark's events-only policy has no metrics file beside it: no rollups, as the CLI.
  const beside = join(policyFile, '..', 'fleetvault.metrics.yaml');
  const rollups = existsSync(beside) ? rollupsOf(readMetricsFile(beside)) : undefined;
  // FV_STAGE_TRACE=<ms>: the resident memory at that interval, with the table being copied or
  // the derived rows being refreshed, on stderr (where a sync's memory goes).
  let phase = 'checks';
  const every = Number(process.env.FV_STAGE_TRACE ?? 0);
  const trace =
    every > 0
      ? setInterval(() => {
          const m = process.memoryUsage();
          const mb = (b: number) => Math.round(b / 1048576);
          process.stderr.write(
            `trace ${(performance.now() / 1000).toFixed(1)} s ${phase}: rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)} MB, external ${mb(m.external)} MB\n`,
          );
        }, every)
      : undefined;
  const refresh = store.refreshDerived.bind(store);
  store.refreshDerived = (specs) => {
    phase = 'derived rows';
    return refresh(specs);
  };
  const result = await runSync({
    sourceUrl: url,
    policy,
    store,
    key: loadKeyFile(keyFile),
    ...(rollups ? { rollups } : {}),
    onProgress: (p) => {
      phase = `${p.table} ${p.rowsRead}`;
    },
  });
  phase = 'closing';
  await store.close();
  clearInterval(trace);
  if (!result.ok) throw new Error('bench sync failed');
  return result.tables.reduce((n, t) => n + t.rowsRead, 0);
}

/** Change capture: the first run copies everything and opens the slot; later runs apply changes. */
async function fleetvaultCdc(): Promise<number> {
  const { policy } = readPolicyFile(policyFile);
  if (!policy) throw new Error('bench policy does not load');
  const store = await openStore(storePath);
  const result = await runCdc({ sourceUrl: url, policy, store, key: loadKeyFile(keyFile) });
  await store.close();
  if (result.initial) return result.initial.tables.reduce((n, t) => n + t.rowsRead, 0);
  return result.changes;
}

function p50(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function time(fn: () => Promise<unknown>, runs = 7): Promise<number> {
  await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return p50(out);
}

/** Metric query p50: fleetvault (with k-anonymity) vs hand-written DuckDB vs PostgreSQL. */
async function metricQueries(): Promise<number> {
  const file = readMetricsFile(metricsFile ?? '');
  const reader = await openMetricsReader(storePath, file);
  const timings: MetricTiming[] = [];
  for (const q of DASHBOARD_QUERIES) {
    const first = await reader.query({ metric: q.metric, grain: q.grain, by: q.by });
    const range = {
      from: q.grain === 'week' ? isoMinus(first.to, 35) : isoMinus(first.to, 60),
      to: isoMinus(first.to, 1),
    };
    const query = { metric: q.metric, grain: q.grain, by: q.by, ...range };
    const fleetvaultMs = await time(() => reader.query(query, { cache: false }));
    const cachedMs = await time(() => reader.query(query));
    const answer = await reader.query(query);
    timings.push({
      metric: q.metric,
      from: answer.from,
      to: answer.to,
      fleetvaultMs,
      cachedMs,
      duckdbMs: 0,
      postgresMs: 0,
    });
  }
  reader.close();
  const instance = await DuckDBInstance.create(storePath, { access_mode: 'READ_ONLY' });
  const db = await instance.connect();
  await db.run("SET TimeZone = 'UTC'");
  const pgc = await connectSource(url);
  for (const t of timings) {
    const bounds = [`${t.from}T00:00:00Z`, `${t.to}T00:00:00Z`];
    const hand = STORE_SQL[t.metric];
    const twin = PRODUCTION_SQL[t.metric];
    const q = DASHBOARD_QUERIES.find((d) => d.metric === t.metric);
    if (!hand || !twin || !q) throw new Error(`no twin for ${t.metric}`);
    t.duckdbMs = await time(() => db.runAndReadAll(hand(q.grain), bounds));
    t.postgresMs = await time(() => pgc.query(twin.sql(q.grain, q.pgDim), bounds), 3);
  }
  await pgc.end();
  db.closeSync();
  instance.closeSync();
  process.stdout.write(`${JSON.stringify({ timings })}\n`);
  return timings.length;
}

function isoMinus(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
}

/** A fixed number of requests at a fixed concurrency on loopback; rate and latency percentiles. */
async function load(url: string, headers: Record<string, string>, total = 3000, concurrency = 16) {
  // One request first, as the dashboard's first visitor would make: the answer is then cached.
  await (await fetch(url, { headers })).arrayBuffer();
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        const t = performance.now();
        const res = await fetch(url, { headers });
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    rps: Math.round(total / seconds),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

/** HTTP: the dashboard's metric endpoints against a bare Fastify route returning a constant. */
async function http(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fv-bench-http-'));
  const tokens = new TokenStore(join(dir, 'tokens.json'));
  const { token } = tokens.create({ role: 'viewer', name: 'bench', days: 1 });
  const reader = await openMetricsReader(storePath, readMetricsFile(metricsFile ?? ''));
  const app = await buildServer({
    metrics: reader,
    tokens,
    users: new UserStore(join(dir, 'users.json')),
    ...(() => {
      const audit = new AuditLog(join(dir, 'audit.jsonl'));
      return { audit, approvals: new Approvals(dir, audit) };
    })(),
    status: () => reader.storeStatus(),
    rateLimit: 1_000_000,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const bare = Fastify();
  bare.get('/constant', async () => ({ status: 'ok' }));
  await bare.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const auth = { authorization: `Bearer ${token}` };
  const results: Record<string, { rps: number; p50: number; p99: number }> = {};
  results['bare Fastify constant'] = await load(
    `http://127.0.0.1:${(bare.server.address() as { port: number }).port}/constant`,
    {},
  );
  for (const path of [
    '/api/v1/metrics/activations?grain=week&by=product_model',
    '/api/v1/metrics/active_devices?grain=week',
    '/api/v1/metrics/connection_failure_rate?grain=week&by=devices.product_model',
  ]) {
    results[path] = await load(`${base}${path}`, auth);
  }
  await app.close();
  await bare.close();
  reader.close();
  process.stdout.write(`${JSON.stringify({ http: results })}\n`);
  return Object.keys(results).length;
}

/** Time from pressing Enter on the login form to the overview's three charts drawn, in Chromium. */
async function browser(): Promise<number> {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'fv-bench-ui-'));
  const users = new UserStore(join(dir, 'users.json'));
  const { password } = await users.add('bench', 'viewer');
  const reader = await openMetricsReader(storePath, readMetricsFile(metricsFile ?? ''));
  const app = await buildServer({
    metrics: reader,
    tokens: new TokenStore(join(dir, 'tokens.json')),
    users,
    ...(() => {
      const audit = new AuditLog(join(dir, 'audit.jsonl'));
      return { audit, approvals: new Approvals(dir, audit) };
    })(),
    status: () => reader.storeStatus(),
    webDir: join(process.cwd(), 'dist', 'web'),
    rateLimit: 1_000_000,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  const b = await chromium.launch({
    executablePath: process.env.FV_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
  const runs: number[] = [];
  for (let i = 0; i < 6; i++) {
    const page = await b.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill('bench');
    await page.getByLabel('Password').fill(password);
    const t = performance.now();
    await page.keyboard.press('Enter');
    await page.locator('canvas').nth(2).waitFor();
    // Two animation frames after the last chart exists: it has been painted.
    await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
    runs.push(performance.now() - t);
    await page.close();
  }
  await b.close();
  await app.close();
  reader.close();
  const cold = runs[0] as number;
  const warm = p50(runs.slice(1));
  process.stdout.write(`${JSON.stringify({ browser: { coldMs: cold, warmP50Ms: warm } })}\n`);
  return runs.length;
}

/** The whole `npm start` story in this process, so its wall time and peak memory are its own. */
async function demo(): Promise<number> {
  const code = await main(['node', 'fleetvault', 'demo', '--dir', storePath, '--no-serve']);
  if (code !== 0) throw new Error('demo failed');
  return 1;
}

const STAGES = {
  raw: rawCopy,
  rawAll: rawCopyAll,
  plain: plainCopy,
  sync: fleetvaultSync,
  cdc: fleetvaultCdc,
  metrics: metricQueries,
  demo,
  http,
  browser,
};
const run = STAGES[stage as keyof typeof STAGES];
if (!run) throw new Error(`unknown stage ${stage}`);
const started = performance.now();
const rows = await run();
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ stage, rows, seconds, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
);
