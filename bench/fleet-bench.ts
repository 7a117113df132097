// Fleet size (the last part of `npm run bench`, alone as `npm run bench:fleet`): at least 1M users,
// 3M devices and 100M connection events simulated into PostgreSQL, then synced through the demo
// policy into DuckDB and into a two-shard ClickHouse cluster, against a raw COPY of the same
// tables in the same run; the dashboard's metrics on both stores and as plain SQL on production;
// incremental syncs after 1% of the rows change. Writes the `fleet` section of bench/RESULTS.md.
//
// Sizes: FV_FLEET_USERS (1,830,000) and FV_FLEET_DAYS (26): the simulator makes about 1.66
// devices per user and 2.2 events per user and day. FV_FLEET_RESUME=1 reuses the simulated
// database, the raw baseline and the DuckDB store of an interrupted run (bench/.fleet/).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { type MetricAnswer, type MetricQuery, MetricsReader, readMetricsFile } from '../src/metrics/index.ts';
import { createKeyFile } from '../src/privacy/index.ts';
import { pgLoader, simulate } from '../src/sim/index.ts';
import { changeOnePercent } from './change-one-percent.ts';
import { startClickHouseCluster } from './clickhouse-cluster.ts';
import { DASHBOARD_QUERIES, PRODUCTION_SQL } from './metric-twins.ts';
import { spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = join(root, 'bench', '.fleet');
const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const users = Number(process.env.FV_FLEET_USERS ?? 1_830_000);
const days = Number(process.env.FV_FLEET_DAYS ?? 26);
const resume = process.env.FV_FLEET_RESUME === '1';
const dbName = 'fleetvault_fleet';
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
    { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] },
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

function duBytes(path: string): number {
  const s = statSync(path);
  if (!s.isDirectory()) return s.size;
  return readdirSync(path).reduce((sum, f) => sum + duBytes(join(path, f)), 0);
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

interface MetricRow {
  metric: string;
  grain: string;
  by: string;
  from: string;
  to: string;
  duckdbMs: number;
  clickhouseMs: number;
  postgresMs: number;
  equal: boolean;
}

async function metricQueries(chUrl: string): Promise<MetricRow[]> {
  const file = readMetricsFile(metricsFile);
  const duck = await MetricsReader.open(duckStore, file);
  const ch = await MetricsReader.open(chUrl, file);
  const pgc = new pg.Client({ connectionString: url });
  await pgc.connect();
  const rows: MetricRow[] = [];
  try {
    for (const q of DASHBOARD_QUERIES) {
      const first = await duck.query({ metric: q.metric, grain: q.grain, by: q.by });
      const back = (d: number) =>
        new Date(Date.parse(`${first.to}T00:00:00Z`) - d * 86_400_000).toISOString().slice(0, 10);
      const query: MetricQuery = {
        metric: q.metric,
        grain: q.grain,
        by: q.by,
        from: back(q.grain === 'week' ? 35 : 60),
        to: back(1),
      };
      const a = await duck.query(query, { cache: false });
      const b = await ch.query(query, { cache: false });
      const duckdbMs = await timeRuns(() => duck.query(query, { cache: false }), 3, false);
      log(`${q.metric}: DuckDB ${duckdbMs.toFixed(0)} ms`);
      const clickhouseMs = await timeRuns(() => ch.query(query, { cache: false }), 3, false);
      log(`${q.metric}: ClickHouse ${clickhouseMs.toFixed(0)} ms`);
      const twin = PRODUCTION_SQL[q.metric];
      if (!twin) throw new Error(`no PostgreSQL twin for ${q.metric}`);
      const bounds = [`${a.from}T00:00:00Z`, `${a.to}T00:00:00Z`];
      const postgresMs = await timeRuns(() => pgc.query(twin.sql(q.grain, q.pgDim), bounds), 3, false);
      log(`${q.metric}: PostgreSQL ${postgresMs.toFixed(0)} ms`);
      rows.push({
        metric: q.metric,
        grain: q.grain,
        by: q.by.join(', '),
        from: a.from,
        to: a.to,
        duckdbMs,
        clickhouseMs,
        postgresMs,
        equal: sameAnswer(a, b),
      });
    }
  } finally {
    duck.close();
    ch.close();
    await pgc.end();
  }
  return rows;
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
  const duck = await step('duckdb', () => {
    rmSync(duckStore, { force: true });
    rmSync(`${duckStore}.wal`, { force: true });
    const s = stage('sync', duckStore);
    return { ...s, bytes: duBytes(duckStore) };
  });
  log(`DuckDB full sync: ${duck.seconds.toFixed(0)} s`);

  const cluster = await startClickHouseCluster();
  try {
    const ch = stage('sync', cluster.url);
    const chServerRss = serverPeakRssMb(cluster.nodes.map((x) => x.dir));
    const chBytes = cluster.nodes.map((x) => duBytes(join(x.dir, 'data')));
    log(`ClickHouse full sync: ${ch.seconds.toFixed(0)} s`);
    const shardRows = await Promise.all(
      [0, 1].map(async (i) =>
        Number(
          await cluster.query(
            i,
            'SELECT count() FROM fv.connection_events__fv_local FINAL WHERE _fv_deleted = 0',
          ),
        ),
      ),
    );

    const metrics = await metricQueries(cluster.url);

    log('changing 1% of the rows');
    const changed = await changeOnePercent(url);
    const duckInc = stage('sync', duckStore);
    log(`DuckDB incremental: ${duckInc.seconds.toFixed(1)} s`);
    const chInc = stage('sync', cluster.url);
    log(`ClickHouse incremental: ${chInc.seconds.toFixed(1)} s`);

    const rate = (s: Stage) => s.rows / s.seconds;
    const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GB`;
    const events = sim.rows.connection_events ?? 0;
    const devices = sim.rows.devices ?? 0;
    const chRssTotal = chServerRss.reduce((x, y) => x + y, 0);
    const section = [
      '## Fleet size (`bench/fleet-bench.ts`)',
      '',
      `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, ${new Date().toISOString().slice(0, 10)}. PostgreSQL, DuckDB, both ClickHouse servers (Debian's 18.16, \`max_threads\` 2 each) and the benchmark share the two cores.`,
      '',
      `Simulated ${n(users)} users over ${days} days: ${Object.entries(sim.rows)
        .map(([t, c]) => `${t} ${n(c)}`)
        .join(
          ', ',
        )}; streamed into PostgreSQL with COPY FROM STDIN in ${sim.seconds.toFixed(0)} s (${n(((sim.rows.connection_events ?? 0) + devices) / sim.seconds)} rows/s; database ${gb(sim.bytes)}).`,
      '',
      `### Full sync of all seven demo tables (${n(raw.rows)} rows)`,
      '',
      '| what | seconds | rows/s | vs raw COPY read | peak RSS | on disk |',
      '|---|---:|---:|---:|---:|---:|',
      `| PostgreSQL \`COPY (SELECT <policy columns>) TO STDOUT\` of every table, bytes discarded (baseline) | ${raw.seconds.toFixed(0)} | ${n(rate(raw))} | 1.00× | ${raw.peakRssMb} MB | |`,
      `| fleetvault sync into DuckDB | ${duck.seconds.toFixed(0)} | ${n(rate(duck))} | ${(rate(duck) / rate(raw)).toFixed(2)}× | ${duck.peakRssMb} MB | ${gb(duck.bytes)} |`,
      `| fleetvault sync into two-shard ClickHouse | ${ch.seconds.toFixed(0)} | ${n(rate(ch))} | ${(rate(ch) / rate(raw)).toFixed(2)}× | ${ch.peakRssMb} MB (+ servers ${chServerRss.map((m) => `${m} MB`).join(' and ')}) | ${chBytes.map(gb).join(' + ')} |`,
      '',
      `ClickHouse takes ${(ch.seconds / duck.seconds).toFixed(2)}× DuckDB's time for the same rows; the connection events split ${n(shardRows[0] ?? 0)} / ${n(shardRows[1] ?? 0)} between the shards (routed by device pseudonym). Peak RSS is the syncing process's; the two ClickHouse servers' peaks (${n(chRssTotal)} MB together) are their own processes'.`,
      '',
      `### Incremental sync after 1% of the rows change (${n(changed)} rows: 1% of users and devices updated, 1% more events, 0.1% of events hard-deleted)`,
      '',
      '| store | full sync | incremental | rows read | vs its full sync |',
      '|---|---:|---:|---:|---:|',
      `| DuckDB | ${duck.seconds.toFixed(0)} s | ${duckInc.seconds.toFixed(1)} s | ${n(duckInc.rows)} | ${(duckInc.seconds / duck.seconds).toFixed(3)}× |`,
      `| two-shard ClickHouse | ${ch.seconds.toFixed(0)} s | ${chInc.seconds.toFixed(1)} s | ${n(chInc.rows)} | ${(chInc.seconds / ch.seconds).toFixed(3)}× |`,
      '',
      'Rows read: the rows past each checkpoint plus the tables without a cursor, which every sync rebuilds; the hard-deleted events are not seen by a cursor (`--mode cdc` sees them; see the change capture rows above).',
      '',
      `### Dashboard metrics over ${n(events)} events and ${n(devices)} devices (p50 of 3 runs, answers not cached)`,
      '',
      'fleetvault compiles each metric for its store and applies k-anonymity; PostgreSQL runs the hand-written twin on the production tables with raw ids. "Equal" compares the DuckDB and ClickHouse answers group by group (values to 1e-9 relative).',
      '',
      '| metric | grain, by | range | DuckDB | ClickHouse | PostgreSQL | ClickHouse / DuckDB | PostgreSQL / DuckDB | PostgreSQL / ClickHouse | equal |',
      '|---|---|---|---:|---:|---:|---:|---:|---:|---|',
      ...metrics.map(
        (m) =>
          `| ${m.metric} | ${m.grain}, ${m.by} | ${m.from} – ${m.to} | ${m.duckdbMs.toFixed(0)} ms | ${m.clickhouseMs.toFixed(0)} ms | ${m.postgresMs.toFixed(0)} ms | ${(m.clickhouseMs / m.duckdbMs).toFixed(2)}× | ${(m.postgresMs / m.duckdbMs).toFixed(1)}× | ${(m.postgresMs / m.clickhouseMs).toFixed(1)}× | ${m.equal ? 'yes' : '**no**'} |`,
      ),
    ].join('\n');
    spliceSection('fleet', section);
    process.stderr.write(`${section}\n`);
    if (metrics.some((m) => !m.equal)) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
  if (process.env.FV_FLEET_KEEP !== '1') {
    const d = new pg.Client({ connectionString: admin });
    await d.connect();
    await d.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await d.end();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
