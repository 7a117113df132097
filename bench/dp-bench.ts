// Accuracy and latency of differentially private answers against the k-anonymous ones, in the
// same run, on two stores: a synthetic one built in DuckDB (shaped like the demo: one device per
// user, about ten connection attempts per user and week, 5 % failing), and the simulated fleet
// bench/compiler-bench.ts uses (src/sim into PostgreSQL, synced through the demo policy):
//
//   npm run bench:dp [-- --record] [--users 20000] [--days 35] [--fleet-users 150000] [--fleet-days 32]
//
// For the failure rate per week × product over five weeks (and, on the fleet, the median time to
// first connection per week × product): the median relative error of the released groups against
// the exact value, the share of the k-anonymous groups that differential privacy releases, at two
// per-answer ε; and the p50 latency of each path. --fleet-users 0 skips the fleet. --record writes
// the section `dp` of bench/RESULTS.md. FV_BENCH_PG names the PostgreSQL admin URL.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { openMetricsReader } from '../src/engines/index.ts';
import {
  type MetricAnswer,
  type MetricQuery,
  type MetricsFile,
  periodStart,
  readMetricsFile,
} from '../src/metrics/index.ts';
import { createKeyFile } from '../src/privacy/index.ts';
import { DEFAULT_END_DATE, pgLoader, simulate } from '../src/sim/index.ts';
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
async function setPrivacy(path: string, epsilonPerAnswer: number | null): Promise<void> {
  const i = await DuckDBInstance.create(path);
  const c = await i.connect();
  const dp = {
    model: 'differential_privacy',
    epsilon: (epsilonPerAnswer ?? 0) * 10,
    delta: 1e-6,
    window: 'day',
    epsilonPerAnswer,
    maxRows: 5,
    maxGroups: 1,
    clamp: {},
  };
  await c.run("DELETE FROM _fv_meta WHERE key = 'privacy'");
  if (epsilonPerAnswer !== null)
    await c.run(`INSERT INTO _fv_meta VALUES ('privacy', '${JSON.stringify(dp)}')`);
  c.closeSync();
  i.closeSync();
}

const key = (g: { period: string; dims: readonly (string | null)[] }) => `${g.period}|${g.dims.join('|')}`;
const ms = (x: number) => (x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US'));
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '—');

/**
 * One table's rows: the k-anonymous answer (exact values, the latency baseline), then at each ε
 * the released groups, their median relative error against the exact value and median relative
 * 95 % half-width, and the latency. `output` is the value compared (`value`, `p50`).
 */
async function compare(path: string, file: MetricsFile, q: MetricQuery, output: string): Promise<string[]> {
  await setPrivacy(path, null);
  const kReader = await openMetricsReader(path, file);
  const exact: MetricAnswer = await kReader.query(q, { cache: false });
  const kTime = await p50(() => kReader.query(q, { cache: false }));
  kReader.close();
  const shown = exact.groups.filter((g) => g.suppressed === 'none' && g.values[output] !== null);
  const truth = new Map(shown.map((g) => [key(g), Number(g.values[output])]));
  const rows = [
    `| k-anonymity (k = 10): exact values | ${shown.length} of ${exact.groups.length} | 0 | — | ${ms(kTime)} | 1.00× |`,
  ];
  for (const eps of [1, 0.25]) {
    await setPrivacy(path, eps);
    const reader = await openMetricsReader(path, file);
    const errors: number[] = [];
    const widths: number[] = [];
    let released = 0;
    for (let d = 0; d < DRAWS; d++) {
      const a = await reader.query(q);
      for (const g of a.groups) {
        const t = truth.get(key(g));
        const v = g.values[output];
        if (g.suppressed !== 'none' || v === null || v === undefined || t === undefined || t === 0) continue;
        released++;
        errors.push(Math.abs(v - t) / t);
        const ci = (g as { intervals?: Record<string, readonly [number, number] | null> }).intervals?.[
          output
        ];
        if (ci && Number.isFinite(ci[1] - ci[0])) widths.push((ci[1] - ci[0]) / 2 / t);
      }
    }
    const time = await p50(() => reader.query(q));
    reader.close();
    rows.push(
      `| differential privacy, ε = ${eps} per answer (5 rows × 1 group per user and week) | ${(released / DRAWS).toFixed(1)} of ${exact.groups.length} | ${pct(median(errors))} | ${widths.length ? `± ${pct(median(widths))}` : '—'} | ${ms(time)} | ${(time / kTime).toFixed(2)}× |`,
    );
  }
  return rows;
}

const HEAD = [
  '| answer | groups released | median relative error | 95 % interval | ms | latency |',
  '|---|---:|---:|---:|---:|---:|',
];

/** The simulated fleet (src/sim into PostgreSQL), synced through the demo policy into DuckDB. */
async function fleetStore(
  dir: string,
  users: number,
  days: number,
): Promise<{ path: string; events: number }> {
  const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `fleetvault_dp_bench_${process.pid}`;
  const url = admin.replace(/\/[^/]*$/, `/${dbName}`);
  const a = new pg.Client({ connectionString: admin });
  await a.connect();
  await a.query(`CREATE DATABASE ${dbName}`);
  try {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const r = await simulate(pgLoader(c), { users, days, seed: 1 });
    await c.query('VACUUM ANALYZE');
    await c.end();
    process.stderr.write(
      `[dp] simulated ${JSON.stringify(r.rows)} in ${(r.durationMs / 1000).toFixed(0)} s\n`,
    );
    const key = join(dir, 'master.key');
    createKeyFile(key);
    const path = join(dir, 'fleet.duckdb');
    const policy = join(ROOT, 'examples/demo/fleetvault.policy.yaml');
    execFileSync(process.execPath, [join(ROOT, 'dist/bench/stages.js'), 'sync', url, policy, path, key], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    return { path, events: Number(r.rows.connection_events ?? 0) };
  } finally {
    await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await a.end();
  }
}

async function main(): Promise<void> {
  const users = arg('users', 20_000);
  const days = arg('days', 35);
  const fleetUsers = arg('fleet-users', 150_000);
  const fleetDays = arg('fleet-days', 32);
  const dir = mkdtempSync(join(tmpdir(), 'fv-dp-bench-'));
  const path = join(dir, 'store.duckdb');
  const file = readMetricsFile(join(ROOT, 'examples/demo/fleetvault.metrics.yaml'));
  const body = [
    '## Differential privacy against k-anonymity (`bench/dp-bench.ts`, issue 14)',
    '',
    `${new Date().toISOString().slice(0, 10)}, this machine (${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; shared with three other helpers, load average ${loadavg()
      .map((x) => x.toFixed(1))
      .join(
        ' / ',
      )} at the start: ratios, not absolutes). \`npm run bench:dp\`. Error: median relative error of the released groups against the exact (k-anonymous) value over ${DRAWS} noise draws per ε; interval: median 95 % half-width relative to the exact value; latency p50 of ${RUNS} runs, answers not cached, against the k-anonymous answer in the same run. Policy bounds: 5 rows and 1 group per user, week and answer; δ 10⁻⁶ over ε × 10 per window.`,
  ];
  try {
    const events = await buildStore(path, users, days);
    const rate: MetricQuery = {
      metric: 'connection_failure_rate',
      grain: 'week',
      by: ['devices.product_model'],
      from: '2026-09-07',
      to: '2026-10-11',
    };
    body.push(
      '',
      `### Synthetic store: failure rate per week × product, five weeks, ${users.toLocaleString('en-US')} users, ${events.toLocaleString('en-US')} connection events (one device per user)`,
      '',
      ...HEAD,
      ...(await compare(path, file, rate, 'value')),
    );
    if (fleetUsers > 0) {
      mkdirSync(dir, { recursive: true });
      const fleet = await fleetStore(dir, fleetUsers, fleetDays);
      // The simulated data's last five whole weeks, as the dashboard asks for them.
      const DAY = 86_400_000;
      const end = periodStart(DEFAULT_END_DATE.getTime() - DAY, 'week') + 7 * DAY;
      const range = {
        from: new Date(end - 5 * 7 * DAY).toISOString().slice(0, 10),
        to: new Date(end - DAY).toISOString().slice(0, 10),
      };
      const byProduct = { grain: 'week' as const, by: ['devices.product_model'], ...range };
      body.push(
        '',
        `### Simulated fleet (src/sim, as bench/compiler-bench.ts): ${fleetUsers.toLocaleString('en-US')} users over ${fleetDays} days, ${fleet.events.toLocaleString('en-US')} connection events, last five weeks`,
        '',
        'Failure rate per week × product:',
        '',
        ...HEAD,
        ...(await compare(fleet.path, file, { metric: 'connection_failure_rate', ...byProduct }, 'value')),
        '',
        'Median time to first connection (p50) per week × product: differential privacy reads it from a noised 64-bucket histogram (log scale, 1 s to 10⁷ s); the error includes the bucket width (×1.29):',
        '',
        ...HEAD,
        ...(await compare(
          fleet.path,
          file,
          { metric: 'time_to_first_connection', ...byProduct, by: ['product_model'] },
          'p50',
        )),
        '',
        "Reading the fleet tables: a product model's week holds thousands of people for the failure rate, so the noise of one person's bounded rows over five weeks is small against it. The time to first connection counts only the devices activated in that week, far fewer people per group: with ε split three ways and each person in up to five weekly groups of the answer, partition selection needs about 270 people at ε = 1 (about 1,070 at ε = 0.25; δ 10⁻⁷ per answer) and each bucket gets noise of scale 75 (5 rows × 5 weeks / (ε/3)), so most groups stay hidden and a released group's interval often reaches the domain's end (10⁷ s), hence the huge relative half-width. Asked one week at a time the threshold falls to about 50 people and the noise to scale 15; `max_rows: 1` would cut it five times more.",
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const text = body.join('\n');
  process.stdout.write(`${text}\n`);
  if (process.argv.includes('--record')) spliceSection('dp', text);
}

await main();
