// Fleet size (the last part of `npm run bench`, alone as `npm run bench:fleet`): at least 1M users,
// 3M devices and 100M connection events simulated into PostgreSQL, then synced through the demo
// policy into DuckDB and into a two-shard ClickHouse cluster, against a raw COPY of the same
// tables in the same run; the dashboard's metrics on both stores and as plain SQL on production;
// incremental syncs after 1% of the rows change. Writes the `fleet` section of bench/RESULTS.md.
//
// Sizes: FV_FLEET_USERS (1,830,000) and FV_FLEET_DAYS (26): the simulator makes about 1.66
// devices per user and 2.2 events per user and day. FV_FLEET_RESUME=1 reuses the simulated
// database, the raw baseline and the DuckDB store of an interrupted run (bench/.fleet/).
// FV_FLEET_ENGINES=duckdb stops after DuckDB's sync and metrics and PostgreSQL's twins (no
// ClickHouse, no 1% change); with FV_FLEET_KEEP=1, a later FV_FLEET_RESUME=1 run adds ClickHouse
// and the incremental syncs of both stores to the same simulated fleet.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openMetricsReader } from '../src/engines/index.ts';
import { isFvError } from '../src/errors/index.ts';
import { type MetricAnswer, type MetricQuery, readMetricsFile } from '../src/metrics/index.ts';
import { createKeyFile } from '../src/privacy/index.ts';
import { DEFAULT_END_DATE, pgLoader, simulate } from '../src/sim/index.ts';
import { startClickHouseCluster } from '../test/helpers/clickhouse-cluster.ts';
import { DASHBOARD_QUERIES, PRODUCTION_SQL } from '../test/helpers/metric-twins.ts';
import { changeOnePercent } from './change-one-percent.ts';
import { cliEnv } from './cli-env.ts';
import { spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = join(root, 'bench', '.fleet');
const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const users = Number(process.env.FV_FLEET_USERS ?? 1_830_000);
const days = Number(process.env.FV_FLEET_DAYS ?? 26);
const resume = process.env.FV_FLEET_RESUME === '1';
const dbName = process.env.FV_FLEET_DB ?? 'fleetvault_fleet';
const withClickHouse = (process.env.FV_FLEET_ENGINES ?? 'duckdb,clickhouse')
  .split(',')
  .includes('clickhouse');
const url = admin.replace(/\/[^/]*$/, `/${dbName}`);
const policy = join(root, 'examples/demo/fleetvault.policy.yaml');
const metricsFile = join(root, 'examples/demo/fleetvault.metrics.yaml');
const key = join(work, 'master.key');
const duckStore = join(work, 'fleet.duckdb');
const stepsFile = join(work, 'steps.json');

interface Stage {
  stage: string;
  rows: number;
  seconds: number;
  peakRssMb: number;
}

const log = (line: string) =>
  process.stderr.write(`[fleet ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

/** Steps already done by an interrupted run, when resuming. */
const done: Record<string, unknown> =
  resume && existsSync(stepsFile) ? JSON.parse(readFileSync(stepsFile, 'utf8')) : {};

async function step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
  if (name in done) {
    log(`${name}: reused from the interrupted run`);
    return done[name] as T;
  }
  const result = await fn();
  done[name] = result;
  writeFileSync(stepsFile, JSON.stringify(done));
  return result;
}

/** One stage of bench/stages.ts in its own process, so its wall time and peak RSS are its own. */
function stage(name: string, store: string): Stage {
  const out = execFileSync(
    process.execPath,
    [join(root, 'dist/bench/stages.js'), name, url, policy, store, key],
    { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'], env: cliEnv() },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Stage;
}

/** Peak resident memory of each ClickHouse server since it started (VmHWM), in MB. */
function serverPeakRssMb(dirs: readonly string[]): number[] {
  return dirs.map((dir) => {
    const pid = readFileSync(join(dir, 'server.pid'), 'utf8').trim();
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Math.round(Number(hwm ?? 0) / 1024);
  });
}

/** Bytes under a path; a file a ClickHouse merge removes meanwhile counts as gone. */
function duBytes(path: string): number {
  try {
    const s = statSync(path);
    if (!s.isDirectory()) return s.size;
    return readdirSync(path).reduce((sum, f) => sum + duBytes(join(path, f)), 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

async function timeRuns(fn: () => Promise<unknown>, runs: number, warmUp: boolean): Promise<number> {
  if (warmUp) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return [...out].sort((a, b) => a - b)[Math.floor(out.length / 2)] as number;
}

/** Same groups, same suppression, values equal to 1e-9 relative: the stores agree. */
function sameAnswer(a: MetricAnswer, b: MetricAnswer): boolean {
  const parts = (x: MetricAnswer) => [...x.groups, ...x.totals];
  const [pa, pb] = [parts(a), parts(b)];
  if (pa.length !== pb.length) return false;
  return pa.every((g, i) => {
    const h = pb[i];
    if (!h || g.period !== h.period || g.dims.join('\u0000') !== h.dims.join('\u0000')) return false;
    if (g.suppressed !== h.suppressed) return false;
    return Object.entries(g.values).every(([k, v]) => {
      const w = h.values[k];
      if (v === null || w === null || w === undefined) return v === (w ?? null);
      return Math.abs(v - w) <= 1e-9 * Math.max(1, Math.abs(w));
    });
  });
}

interface MetricRun {
  metric: string;
  grain: string;
  by: string;
  from: string;
  to: string;
  ms: number;
  answer: MetricAnswer;
  /** The store's refusal (code and message), when it could not answer: `ms` is then NaN. */
  error?: string;
}

/**
 * The simulated weeks or months (the simulator's window ends at DEFAULT_END_DATE): fixed, so the
 * events the 1% change adds "now" do not move the range.
 */
function simulatedRange(grain: string): { from: string; to: string } {
  const end = DEFAULT_END_DATE.getTime();
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  // `to` is the last day asked for: its week or month is the last period answered.
  if (grain === 'week') return { from: iso(end - 34 * 86_400_000), to: iso(end) };
  const e = DEFAULT_END_DATE;
  return {
    from: iso(Date.UTC(e.getUTCFullYear(), e.getUTCMonth() - 2, 1)),
    to: iso(Date.UTC(e.getUTCFullYear(), e.getUTCMonth(), 0)),
  };
}

/** Every dashboard query on one store: p50 of 3 uncached runs after one that also gives the answer. */
async function storeMetrics(store: string, label: string): Promise<MetricRun[]> {
  const reader = await openMetricsReader(store, readMetricsFile(metricsFile));
  const out: MetricRun[] = [];
  try {
    for (const q of DASHBOARD_QUERIES) {
      const query: MetricQuery = { metric: q.metric, grain: q.grain, by: q.by, ...simulatedRange(q.grain) };
      let answer: MetricAnswer;
      try {
        answer = await reader.query(query, { cache: false });
      } catch (error) {
        // A refusal (a server's memory limit, a timeout) is a result too: recorded, the run goes on.
        if (!isFvError(error)) throw error;
        log(`${q.metric}: ${label} failed: ${error.code}: ${error.message}`);
        const range = simulatedRange(q.grain);
        out.push({
          metric: q.metric,
          grain: q.grain,
          by: q.by.join(', '),
          ...range,
          ms: Number.NaN,
          answer: undefined as never,
          error: `${error.code}: ${error.message}`,
        });
        continue;
      }
      const ms = await timeRuns(() => reader.query(query, { cache: false }), 3, false);
      log(`${q.metric}: ${label} ${ms.toFixed(0)} ms`);
      out.push({
        metric: q.metric,
        grain: q.grain,
        by: q.by.join(', '),
        from: answer.from,
        to: answer.to,
        ms,
        answer,
      });
    }
  } finally {
    reader.close();
  }
  return out;
}

/** The hand-written twins on production PostgreSQL (raw ids), over the ranges the store answered. */
async function postgresMetrics(runs: readonly MetricRun[]): Promise<Record<string, number>> {
  const pgc = new pg.Client({ connectionString: url });
  await pgc.connect();
  const out: Record<string, number> = {};
  try {
    for (const r of runs) {
      const q = DASHBOARD_QUERIES.find((d) => d.metric === r.metric);
      const twin = PRODUCTION_SQL[r.metric];
      if (!q || !twin) throw new Error(`no PostgreSQL twin for ${r.metric}`);
      const bounds = [`${r.from}T00:00:00Z`, `${r.to}T00:00:00Z`];
      out[r.metric] = await timeRuns(() => pgc.query(twin.sql(q.grain, q.pgDim), bounds), 3, false);
      log(`${r.metric}: PostgreSQL ${out[r.metric]?.toFixed(0)} ms`);
    }
  } finally {
    await pgc.end();
  }
  return out;
}

interface ClickHouseFull extends Stage {
  serverRssMb: number[];
  bytes: number[];
  shardRows: number[];
}

interface Done {
  sim: { rows: Record<string, number>; seconds: number; bytes: number };
  raw: Stage;
  duckdb: Stage & { bytes: number };
  change?: number;
  duckdbIncremental?: Stage;
  duckdbMetrics?: MetricRun[];
  postgresMetrics?: Record<string, number>;
  clickhouse?: ClickHouseFull;
  clickhouseMetrics?: MetricRun[];
  clickhouseIncremental?: Stage;
}

const PENDING = withClickHouse
  ? 'not measured (the run stopped before this step)'
  : 'not in this run (`FV_FLEET_ENGINES=duckdb`)';

/** The `fleet` section of bench/RESULTS.md from the steps done so far. */
function render(d: Done): string {
  const rate = (s: Stage) => s.rows / s.seconds;
  const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;
  const events = d.sim.rows.connection_events ?? 0;
  const devices = d.sim.rows.devices ?? 0;
  const ch = d.clickhouse;
  const chRow = ch
    ? `| fleetvault sync into two-shard ClickHouse | ${ch.seconds.toFixed(0)} | ${n(rate(ch))} | ${(rate(ch) / rate(d.raw)).toFixed(2)}× | ${ch.peakRssMb} MB (+ servers ${ch.serverRssMb.map((m) => `${m} MB`).join(' and ')}) | ${ch.bytes.map(gb).join(' + ')} |`
    : `| fleetvault sync into two-shard ClickHouse | ${PENDING} | | | | |`;
  const inc = (full: Stage | undefined, incremental: Stage | undefined, label: string) =>
    full && incremental
      ? `| ${label} | ${full.seconds.toFixed(0)} s | ${incremental.seconds.toFixed(1)} s | ${n(incremental.rows)} | ${(incremental.seconds / full.seconds).toFixed(3)}× |`
      : `| ${label} | ${PENDING} | | | |`;
  const metricRows = (d.duckdbMetrics ?? []).map((m) => {
    const c = d.clickhouseMetrics?.find((x) => x.metric === m.metric);
    const p = d.postgresMetrics?.[m.metric];
    const ms = (x: number | undefined) =>
      x === undefined ? '–' : Number.isNaN(x) ? 'failed (below)' : `${x.toFixed(0)} ms`;
    const ratio = (a: number | undefined, b: number | undefined, digits: number) =>
      a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b)
        ? '–'
        : `${(a / b).toFixed(digits)}×`;
    const equal = c && !c.error ? (sameAnswer(c.answer, m.answer) ? 'yes' : '**no**') : '–';
    return `| ${m.metric} | ${m.grain}, ${m.by} | ${m.from} – ${m.to} | ${ms(m.ms)} | ${ms(c?.ms)} | ${ms(p)} | ${ratio(c?.ms, m.ms, 2)} | ${ratio(p, m.ms, 1)} | ${ratio(p, c?.ms, 1)} | ${equal} |`;
  });
  return [
    '## Fleet size (`bench/fleet-bench.ts`)',
    '',
    `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, ${new Date().toISOString().slice(0, 10)}. PostgreSQL, DuckDB, both ClickHouse servers (Debian's 18.16, \`max_threads\` 2 each) and the benchmark share the two cores.`,
    '',
    `Simulated ${n(users)} users over ${days} days: ${Object.entries(d.sim.rows)
      .map(([t, c]) => `${t} ${n(c)}`)
      .join(
        ', ',
      )}; streamed into PostgreSQL with COPY FROM STDIN in ${d.sim.seconds.toFixed(0)} s (${n((events + devices) / d.sim.seconds)} events and devices/s; database ${gb(d.sim.bytes)}).`,
    '',
    `### Full sync of all seven demo tables (${n(d.raw.rows)} rows)`,
    '',
    '| what | seconds | rows/s | vs raw COPY read | peak RSS | on disk |',
    '|---|---:|---:|---:|---:|---:|',
    `| PostgreSQL \`COPY (SELECT <policy columns>) TO STDOUT\` of every table, bytes discarded (baseline) | ${d.raw.seconds.toFixed(0)} | ${n(rate(d.raw))} | 1.00× | ${d.raw.peakRssMb} MB | |`,
    `| fleetvault sync into DuckDB | ${d.duckdb.seconds.toFixed(0)} | ${n(rate(d.duckdb))} | ${(rate(d.duckdb) / rate(d.raw)).toFixed(2)}× | ${d.duckdb.peakRssMb} MB | ${gb(d.duckdb.bytes)} |`,
    chRow,
    '',
    ...(ch
      ? [
          `ClickHouse takes ${(ch.seconds / d.duckdb.seconds).toFixed(2)}× DuckDB's time for the same rows; the connection events split ${n(ch.shardRows[0] ?? 0)} / ${n(ch.shardRows[1] ?? 0)} between the shards (routed by device pseudonym). Peak RSS is the syncing process's; the ClickHouse servers' peaks are their own processes'.`,
          '',
        ]
      : []),
    `### Incremental sync after 1% of the rows change (${d.change === undefined ? PENDING : `${n(d.change)} rows`})`,
    '',
    '1% of users and devices updated, 1% more connection events, 0.1% of events hard-deleted; the same changes then synced into each store.',
    '',
    '| store | full sync | incremental | rows read | vs its full sync |',
    '|---|---:|---:|---:|---:|',
    inc(d.duckdb, d.duckdbIncremental, 'DuckDB'),
    inc(d.clickhouse, d.clickhouseIncremental, 'two-shard ClickHouse'),
    '',
    "Rows read: the rows past each checkpoint plus the tables without a cursor, which every sync rebuilds; before copying, every sync also scans the parent tables' keys for deletions. The hard-deleted events are not seen by a cursor (change capture sees them).",
    '',
    `### Dashboard metrics over ${n(events)} events and ${n(devices)} devices (p50 of 3 runs, answers not cached)`,
    '',
    'fleetvault compiles each metric for its store and applies k-anonymity; PostgreSQL runs the hand-written twin on the production tables with raw ids. "Equal" compares the DuckDB and ClickHouse answers group by group (values to 1e-9 relative).',
    '',
    '| metric | grain, by | range | DuckDB | ClickHouse | PostgreSQL | ClickHouse / DuckDB | PostgreSQL / DuckDB | PostgreSQL / ClickHouse | equal |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---|',
    ...(metricRows.length ? metricRows : [`| ${PENDING} | | | | | | | | | |`]),
    ...[
      ...(d.duckdbMetrics ?? []).map((m) => ['DuckDB', m] as const),
      ...(d.clickhouseMetrics ?? []).map((m) => ['ClickHouse', m] as const),
    ]
      .filter(([, m]) => m.error)
      .flatMap(([store, m]) => ['', `${store} could not answer ${m.metric}: ${m.error}`]),
  ].join('\n');
}

/** ClickHouse's full sync and metrics, then the same 1% change synced into both stores. */
async function clickHouseSteps(d: Done, record: () => void): Promise<void> {
  const cluster = await startClickHouseCluster();
  try {
    const full = stage('sync', cluster.url);
    d.clickhouse = {
      ...full,
      serverRssMb: serverPeakRssMb(cluster.nodes.map((x) => x.dir)),
      bytes: cluster.nodes.map((x) => duBytes(join(x.dir, 'data'))),
      shardRows: await Promise.all(
        [0, 1].map(async (i) =>
          Number(
            await cluster.query(
              i,
              'SELECT count() FROM fv.connection_events__fv_local FINAL WHERE _fv_deleted = 0',
            ),
          ),
        ),
      ),
    };
    log(`ClickHouse full sync: ${full.seconds.toFixed(0)} s`);
    record();
    d.clickhouseMetrics = await storeMetrics(cluster.url, 'ClickHouse');
    record();
    // The same changes into both stores, so both still hold the same rows afterwards.
    d.change = await changeOnePercent(url);
    d.duckdbIncremental = stage('sync', duckStore);
    log(`DuckDB incremental: ${d.duckdbIncremental.seconds.toFixed(1)} s`);
    d.clickhouseIncremental = stage('sync', cluster.url);
    log(`ClickHouse incremental: ${d.clickhouseIncremental.seconds.toFixed(1)} s`);
    record();
  } finally {
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  if (!resume) rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o700 });
  if (!existsSync(key)) createKeyFile(key);

  const sim = await step('sim', async () => {
    const a = new pg.Client({ connectionString: admin });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await a.query(`CREATE DATABASE ${dbName}`);
    await a.end();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    log(`simulating ${n(users)} users over ${days} days`);
    const r = await simulate(pgLoader(c), { users, days, seed: 7 });
    await c.query('VACUUM ANALYZE');
    const size = Number((await c.query('SELECT pg_database_size(current_database()) AS b')).rows[0].b);
    await c.end();
    log(`simulated in ${(r.durationMs / 1000).toFixed(0)} s: ${JSON.stringify(r.rows)}`);
    return { rows: r.rows, seconds: r.durationMs / 1000, bytes: size };
  });
  const raw = await step('raw', () => stage('rawAll', duckStore));
  log(`raw COPY of every policy table: ${raw.seconds.toFixed(0)} s`);
  const duckdb = await step('duckdb', () => {
    rmSync(duckStore, { force: true });
    rmSync(`${duckStore}.wal`, { force: true });
    const s = stage('sync', duckStore);
    return { ...s, bytes: duBytes(duckStore) };
  });
  log(`DuckDB full sync: ${duckdb.seconds.toFixed(0)} s`);
  // Every later step rewrites the section, so an interrupted run still records what it measured.
  const d: Done = { sim, raw, duckdb };
  const record = () => spliceSection('fleet', render(d));
  record();

  d.duckdbMetrics = await step('duckdbMetrics', () => storeMetrics(duckStore, 'DuckDB'));
  record();

  d.postgresMetrics = await step('postgresMetrics', () => postgresMetrics(d.duckdbMetrics ?? []));
  record();
  if (withClickHouse) await clickHouseSteps(d, record);
  process.stderr.write(`${render(d)}\n`);
  const unequal = (d.clickhouseMetrics ?? []).filter(
    (c) =>
      !c.error &&
      !sameAnswer(c.answer, d.duckdbMetrics?.find((m) => m.metric === c.metric)?.answer as MetricAnswer),
  );
  if (unequal.length > 0) {
    log(`DuckDB and ClickHouse answered differently: ${unequal.map((u) => u.metric).join(', ')}`);
    process.exitCode = 1;
  }
  if (process.env.FV_FLEET_KEEP !== '1') {
    const a = new pg.Client({ connectionString: admin });
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await a.end();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
