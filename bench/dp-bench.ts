// Accuracy and latency of differentially private answers against the k-anonymous ones, in the
// same run, on a synthetic store built in DuckDB (shaped like the demo: one device per user,
// about ten connection attempts per user and week, 5 % failing):
//
//   npm run bench:dp [-- --record] [--users 20000] [--days 35]
//
// For the failure rate per week × product over five weeks: the median relative error of the
// released groups against the exact rate, the share of the k-anonymous groups that differential
// privacy releases, at two per-answer ε; and the p50 latency of each path. --record writes the
// section `dp` of bench/RESULTS.md.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { openMetricsReader } from '../src/engines/index.ts';
import { type MetricAnswer, type MetricQuery, readMetricsFile } from '../src/metrics/index.ts';
import { spliceSection } from './results-file.ts';

const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url));
const RUNS = 7;
/** Noise draws per ε: the error is the median over all of them. */
const DRAWS = 5;

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

async function p50(work: () => Promise<unknown>): Promise<number> {
  await work();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await work();
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.floor(s.length / 2)] as number) : Number.NaN;
};

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
    FROM range(${Math.round((users * days * 10) / 7)}) t(n)`);
  await c.run("CREATE TABLE _fv_meta AS SELECT 'k' AS key, '10' AS value");
  await c.run(
    "CREATE TABLE _fv_tables AS SELECT * FROM (VALUES ('devices', '[]'), ('connection_events', '[]')) t(name, columns)",
  );
  const n = Number((await c.runAndReadAll('SELECT count(*) FROM connection_events')).getRows()[0]?.[0]);
  c.closeSync();
  i.closeSync();
  return n;
}

/** Records differential privacy in the store, as a sync under such a policy does. */
async function setPrivacy(path: string, epsilonPerAnswer: number): Promise<void> {
  const i = await DuckDBInstance.create(path);
  const c = await i.connect();
  const dp = {
    model: 'differential_privacy',
    epsilon: epsilonPerAnswer * 10,
    delta: 1e-6,
    window: 'day',
    epsilonPerAnswer,
    maxRows: 5,
    maxGroups: 1,
    clamp: {},
  };
  await c.run("DELETE FROM _fv_meta WHERE key = 'privacy'");
  await c.run(`INSERT INTO _fv_meta VALUES ('privacy', '${JSON.stringify(dp)}')`);
  c.closeSync();
  i.closeSync();
}

const key = (g: { period: string; dims: readonly (string | null)[] }) => `${g.period}|${g.dims.join('|')}`;

async function main(): Promise<void> {
  const users = arg('users', 20_000);
  const days = arg('days', 35);
  const dir = mkdtempSync(join(tmpdir(), 'fv-dp-bench-'));
  const path = join(dir, 'store.duckdb');
  const events = await buildStore(path, users, days);
  const file = readMetricsFile(join(ROOT, 'examples/demo/fleetvault.metrics.yaml'));
  const rate: MetricQuery = {
    metric: 'connection_failure_rate',
    grain: 'week',
    by: ['devices.product_model'],
    from: '2026-09-07',
    to: '2026-10-11',
  };
  const rows: string[] = [];
  const ms = (x: number) => (x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'));
  try {
    const kReader = await openMetricsReader(path, file);
    const exact: MetricAnswer = await kReader.query(rate, { cache: false });
    const kTime = await p50(() => kReader.query(rate, { cache: false }));
    kReader.close();
    const shown = exact.groups.filter((g) => g.suppressed === 'none');
    const truth = new Map(shown.map((g) => [key(g), Number(g.values.value)]));
    rows.push(
      `| k-anonymity (k = 10): exact values | ${shown.length} of ${exact.groups.length} | 0 | — | ${ms(kTime)} | 1.00× |`,
    );
    for (const eps of [1, 0.25]) {
      await setPrivacy(path, eps);
      const reader = await openMetricsReader(path, file);
      const errors: number[] = [];
      const widths: number[] = [];
      let released = 0;
      for (let d = 0; d < DRAWS; d++) {
        const a = await reader.query(rate);
        for (const g of a.groups) {
          const t = truth.get(key(g));
          const v = g.values.value;
          if (g.suppressed !== 'none' || v === null || v === undefined || t === undefined) continue;
          released++;
          errors.push(Math.abs(v - t) / t);
          const ci = (g as { intervals?: Record<string, readonly [number, number] | null> }).intervals?.value;
          if (ci && Number.isFinite(ci[1] - ci[0])) widths.push((ci[1] - ci[0]) / 2 / t);
        }
      }
      const time = await p50(() => reader.query(rate));
      reader.close();
      const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '—');
      rows.push(
        `| differential privacy, ε = ${eps} per answer (5 rows × 1 group per user and week) | ${(released / DRAWS).toFixed(1)} of ${exact.groups.length} | ${pct(median(errors))} | ${widths.length ? `± ${pct(median(widths))}` : '—'} | ${ms(time)} | ${(time / kTime).toFixed(2)}× |`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const body = [
    '## Differential privacy against k-anonymity (`bench/dp-bench.ts`, issue 14)',
    '',
    `Failure rate per week × product over five weeks, ${users.toLocaleString('en-US')} users, ${events.toLocaleString('en-US')} connection events (synthetic, one device per user; ${DRAWS} noise draws per ε). Error: median relative error of the released groups against the exact rate; interval: median 95 % half-width relative to the exact rate; latency p50 of ${RUNS} runs, answers not cached.`,
    '',
    '| answer | groups released | median relative error | 95 % interval | ms | latency |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows,
  ].join('\n');
  process.stdout.write(`${body}\n`);
  if (process.argv.includes('--record')) spliceSection('dp', body);
}

await main();
