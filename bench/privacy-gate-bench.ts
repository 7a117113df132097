// What the k gate on the right people, the differencing checks and the analyst SQL sandbox cost,
// each against a baseline in the same run, on a synthetic store built in DuckDB:
//
//   node dist/bench/privacy-gate-bench.js [--record] [--users 100000] [--days 35]
//
// --record writes the section `privacy-gate` of bench/RESULTS.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { guardedSql, lockForAnalysts, readOnlySql } from '../src/engines/duckdb/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import { type MetricQuery, readMetricsFile } from '../src/metrics/index.ts';
import { spliceSection } from './results-file.ts';

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url));
const RUNS = 9;

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function p50(work: () => Promise<unknown>, pauseMs = 0): Promise<number> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number;
}

/** Devices and connection events shaped like the demo's (one device per user), with its metric file. */
async function buildStore(path: string, users: number, days: number): Promise<number> {
  const i = await DuckDBInstance.create(path);
  const c = await i.connect();
  await c.run(`CREATE TABLE devices AS SELECT md5('d' || u)::UUID AS id, md5('u' || u)::UUID AS user_id,
    'model-' || (u % 6) AS product_model, 'fw-' || (u % 6) || '.' || (hash(u) % 7) AS firmware_version,
    'region-' || (u % 5) AS region, TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_days((u % ${days})::INTEGER) AS activated_at,
    TIMESTAMPTZ '2026-10-01 00:00:00+00' AS last_seen_at, TIMESTAMPTZ '2026-10-01 00:00:00+00' AS updated_at
    FROM range(${users}) t(u)`);
  await c.run(`CREATE TABLE connection_events AS SELECT md5('e' || n)::UUID AS id, md5('d' || (n % ${users}))::UUID AS device_id,
    TIMESTAMPTZ '2026-09-01 00:00:00+00' + to_seconds((hash(n) % (${days} * 86400))::BIGINT) AS ts,
    CASE WHEN hash(n * 7) % 100 < 5 THEN 'fail' ELSE 'success' END AS outcome,
    CASE WHEN hash(n * 7) % 100 < 5 THEN 'E_' || (hash(n) % 9) END AS error_code,
    -60 - (hash(n) % 30)::INTEGER AS rssi, (hash(n) % 5000)::INTEGER AS duration_ms, '5.1' AS app_version
    FROM range(${users * 50}) t(n)`);
  await c.run("CREATE TABLE _fv_meta AS SELECT 'k' AS key, '10' AS value");
  await c.run(
    "CREATE TABLE _fv_tables AS SELECT * FROM (VALUES ('devices', '[]'), ('connection_events', '[]')) t(name, columns)",
  );
  const n = Number((await c.runAndReadAll('SELECT count(*) FROM connection_events')).getRows()[0]?.[0]);
  c.closeSync();
  i.closeSync();
  return n;
}

async function main(): Promise<void> {
  const users = arg('users', 100_000);
  const days = arg('days', 35);
  const dir = mkdtempSync(join(tmpdir(), 'fv-gate-bench-'));
  const path = join(dir, 'store.duckdb');
  const events = await buildStore(path, users, days);
  const reader = await openMetricsReader(
    path,
    readMetricsFile(join(ROOT, 'examples/demo/fleetvault.metrics.yaml')),
  );
  const rows: string[] = [];
  const ms = (x: number) => (x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'));
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  try {
    const range = { from: '2026-09-01', to: '2026-10-05' };
    // 1. The gate on the right people: failure rate by week, product and firmware.
    const rate: MetricQuery = {
      metric: 'connection_failure_rate',
      grain: 'week',
      by: ['devices.product_model', 'devices.firmware_version'],
      ...range,
    };
    const fleetvault = await p50(() => reader.query(rate, { cache: false }));
    const duck = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
    const db = await duck.connect();
    await db.run("SET TimeZone = 'UTC'");
    const hand = (units: string) =>
      `SELECT date_trunc('week', e.ts) p, d.product_model, d.firmware_version, count(*) FILTER (WHERE e.outcome = 'fail') / count(*) v, ${units} FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= '2026-08-31'::TIMESTAMPTZ AND e.ts < '2026-10-05'::TIMESTAMPTZ GROUP BY 1, 2, 3`;
    const oneCount = await p50(() => db.runAndReadAll(hand('count(DISTINCT d.user_id) u')));
    const twoCounts = await p50(() =>
      db.runAndReadAll(
        hand("count(DISTINCT d.user_id) FILTER (WHERE e.outcome = 'fail') n, count(DISTINCT d.user_id) m"),
      ),
    );
    rows.push(
      `| failure rate by week × product × firmware, fleetvault (both sides gated, period totals) | ${ms(fleetvault)} | ${ratio(fleetvault, oneCount)} |`,
      `| the same by hand, users of every row (the gate before this change) | ${ms(oneCount)} | 1.00× |`,
      `| the same by hand, users of the failing rows and of every row | ${ms(twoCounts)} | ${ratio(twoCounts, oneCount)} |`,
    );

    // 2. The differencing checks: a filtered answer runs two more queries.
    const byFw: MetricQuery = {
      metric: 'connection_attempts',
      grain: 'week',
      by: ['devices.firmware_version'],
      ...range,
    };
    const unfiltered = await p50(() => reader.query(byFw, { cache: false }));
    const filtered = await p50(() =>
      reader.query({ ...byFw, filters: { 'devices.region': ['region-1', 'region-2'] } }, { cache: false }),
    );
    rows.push(
      `| attempts by week × firmware, no filter | ${ms(unfiltered)} | 1.00× |`,
      `| the same filtered on two regions (answer + left-out pieces + kept combinations) | ${ms(filtered)} | ${ratio(filtered, unfiltered)} |`,
    );

    // 3. Analyst SQL: the guard in this process against the sandbox (a child process per statement).
    const text = 'SELECT product_model, count(*) AS n FROM devices GROUP BY 1 ORDER BY 1';
    const locked = await duck.connect();
    await lockForAnalysts(locked);
    const tables = new Set(['devices', 'connection_events']);
    const inProcess = await p50(() => guardedSql(locked, text, tables, 'store', 1000));
    const limits = { maxRows: 1000, timeoutMs: 30_000 };
    const cold = await p50(() => readOnlySql(path, text, limits));
    // An analyst reads one answer before sending the next: the child started ahead is ready by then.
    const warm = await p50(() => readOnlySql(path, text, limits, { spare: true }), 3000);
    const heavy = "SELECT error_code, count(*) AS n FROM connection_events WHERE outcome = 'fail' GROUP BY 1";
    const heavyIn = await p50(() => guardedSql(locked, heavy, tables, 'store', 1000));
    const heavyOut = await p50(() => readOnlySql(path, heavy, limits, { spare: true }), 3000);
    const t = performance.now();
    const worst = await readOnlySql(path, "SELECT length(list_aggr(range(0, 100000000), 'list'))", {
      maxRows: 10,
      timeoutMs: 5000,
    }).catch((e: Error) => e.message);
    const worstMs = performance.now() - t;
    rows.push(
      `| analyst SQL, ${text.slice(0, 40)}…: guard + run in this process | ${ms(inProcess)} | 1.00× |`,
      `| the same in the sandbox (512 MB, 1 thread), a new child process (\`fleetvault sql\`) | ${ms(cold)} | ${ratio(cold, inProcess)} |`,
      `| the same in the sandbox, a child started ahead (the server; 3 s between statements) | ${ms(warm)} | ${ratio(warm, inProcess)} |`,
      `| analyst SQL over ${events.toLocaleString('en-US')} events (fails by error code), in this process | ${ms(heavyIn)} | 1.00× |`,
      `| the same in the sandbox, a child started ahead | ${ms(heavyOut)} | ${ratio(heavyOut, heavyIn)} |`,
      `| the worst statement (issue 13), until refused: "${String(worst)}" | ${ms(worstMs)} | |`,
    );
    locked.closeSync();
    db.closeSync();
    duck.closeSync();
  } finally {
    reader.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const body = [
    `## The k gate, differencing checks and analyst SQL sandbox (\`bench/privacy-gate-bench.ts\`)`,
    '',
    `${new Date().toISOString().slice(0, 10)}, this machine (2 cores shared with other work). A synthetic store built in DuckDB: ${users.toLocaleString('en-US')} users with one device each, ${events.toLocaleString('en-US')} connection events over ${days} days (5% failures). p50 of ${RUNS} runs, answers not cached.`,
    '',
    '| what | ms | ratio |',
    '|---|---:|---:|',
    ...rows,
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (process.argv.includes('--record')) spliceSection('privacy-gate', body);
}

await main();
