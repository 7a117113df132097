// `npm run bench:compiler`: the metric compiler at 10M events. Simulates 150,000 users over 32 days
// (about 10.4M connection events) into PostgreSQL, syncs the demo policy into DuckDB and into a
// two-shard ClickHouse cluster, builds the DuckDB store's rollups (derived from the demo metrics
// file), then runs every dashboard query and every shipped metric through the compiler kept from
// before issue 17 (test/helpers/legacy-compile.ts), through today's on the base tables and through
// today's on the rollups (both engines; on ClickHouse without FINAL on the settled tables where no
// rollup serves), on the same store in the same run, checking that all give the same rows; times
// ClickHouse's rollup build and its refresh after a small write. Writes the `compiler` section of
// bench/RESULTS.md. FV_COMPILER_REUSE=1 reuses the simulated database and DuckDB store of a
// previous run (bench/.compiler/). FV_COMPILER_DB names the simulated database (fleetvault_compiler).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import pg from 'pg';
import { ClickHouseNode } from '../src/engines/clickhouse/clickhouse-node.ts';
import {
  ClickHouseStore,
  clickhouse,
  metricReadSettings,
  parseClickHouseUrl,
  readableTable,
  rollupMeta,
  unsettledMeta,
} from '../src/engines/clickhouse/index.ts';
import { AS_NAMED } from '../src/engines/duckdb/index.ts';
import { duckdb, openMetricsReader } from '../src/engines/index.ts';
import {
  type Grain,
  type MetricAnswer,
  type MetricDefinition,
  periodStart,
  readMetricsFile,
  rollupsOf,
} from '../src/metrics/index.ts';
import type { ValueKind } from '../src/policy/index.ts';
import { createKeyFile } from '../src/privacy/index.ts';
import { DEFAULT_END_DATE, pgLoader, simulate } from '../src/sim/index.ts';
import type { RollupSpec, StoreColumn } from '../src/store/index.ts';
import { startClickHouseCluster } from '../test/helpers/clickhouse-cluster.ts';
import { legacyCompileMetric } from '../test/helpers/legacy-compile.ts';
import { DASHBOARD_QUERIES } from '../test/helpers/metric-twins.ts';
import { legacyCompileClickHouseMetric } from './legacy-compile-clickhouse.ts';
import { alignTables, spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = join(root, 'bench', '.compiler');
const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const users = Number(process.env.FV_BENCH_USERS ?? 150_000);
const days = Number(process.env.FV_BENCH_DAYS ?? 32);
const reuse = process.env.FV_COMPILER_REUSE === '1';
const dbName = process.env.FV_COMPILER_DB ?? 'fleetvault_compiler';
const url = admin.replace(/\/[^/]*$/, `/${dbName}`);
const policy = join(root, 'examples/demo/fleetvault.policy.yaml');
const key = join(work, 'master.key');
const duckStore = join(work, 'store.duckdb');

const log = (line: string) =>
  process.stderr.write(`[compiler ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

/** One stage of bench/stages.ts in its own process. */
function stage(name: string, store: string): { rows: number; seconds: number } {
  const out = execFileSync(
    process.execPath,
    [join(root, 'dist/bench/stages.js'), name, url, policy, store, key],
    { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').pop() ?? '{}');
}

async function prepare(): Promise<void> {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o700 });
  createKeyFile(key);
  const a = new pg.Client({ connectionString: admin });
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await a.query(`CREATE DATABASE ${dbName}`);
  await a.end();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const r = await simulate(pgLoader(c), { users, days, seed: 1 });
  await c.query('VACUUM ANALYZE');
  await c.end();
  log(`simulated in ${(r.durationMs / 1000).toFixed(0)} s: ${JSON.stringify(r.rows)}`);
  const s = stage('sync', duckStore);
  log(`DuckDB sync: ${s.seconds.toFixed(0)} s`);
}

const metricsFile = readMetricsFile(join(root, 'examples/demo/fleetvault.metrics.yaml'));
const DAY = 86_400_000;
const RUNS = Number(process.env.FV_COMPILER_RUNS ?? 3);

/** The queries timed: the dashboard's, then every other shipped metric by week and its first dimension. */
function queries(): Array<{ def: MetricDefinition; grain: Grain; by: string[]; dashboard: boolean }> {
  const out = DASHBOARD_QUERIES.map((q) => ({
    def: metricsFile.metrics.get(q.metric) as MetricDefinition,
    grain: q.grain,
    by: q.by,
    dashboard: true,
  }));
  for (const def of metricsFile.metrics.values()) {
    if (out.some((q) => q.def.name === def.name)) continue;
    out.push({ def, grain: 'week', by: def.dimensions.slice(0, 1), dashboard: false });
  }
  return out;
}

/** The simulated data's last weeks (5) or months (3), as the dashboard would ask for them. */
function rangeOf(grain: Grain): { from: number; to: number } {
  const end = new Date(DEFAULT_END_DATE.getTime() - DAY);
  if (grain === 'month') {
    const [y, m] = [end.getUTCFullYear(), end.getUTCMonth()];
    return { from: Date.UTC(y, m - 2, 1), to: Date.UTC(y, m + 1, 1) };
  }
  const to = periodStart(end.getTime(), grain) + 7 * DAY;
  return { from: to - 5 * 7 * DAY, to };
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** p50 of RUNS runs after a warm-up run, whose answer is returned too. */
async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; answer: T }> {
  const answer = await fn();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    ms.push(performance.now() - t);
  }
  return { ms: p50(ms), answer };
}

/** Rows as comparable text: periods as days, numbers to 12 significant digits. */
function canonical(rows: ReadonlyArray<ReadonlyArray<unknown>>): string {
  const cell = (v: unknown, i: number) =>
    i === 0
      ? String(v).slice(0, 10)
      : v === null || v === undefined
        ? null
        : typeof v === 'number' || (typeof v === 'string' && /^-?[\d.]+(e[-+]?\d+)?$/.test(v))
          ? Number(Number(v).toPrecision(12))
          : String(v);
  const text = rows.map((r) => JSON.stringify(r.map(cell)));
  return JSON.stringify(text.sort());
}

interface Timing {
  metric: string;
  grain: Grain;
  by: string;
  dashboard: boolean;
  rows: number;
  beforeMs: number;
  afterMs: number;
  /** DuckDB: from the rollups; ClickHouse: without FINAL (undefined: the same SQL as after). */
  fastMs?: number;
  same: boolean;
}

const rollups = rollupsOf(metricsFile);

/**
 * Builds the DuckDB store's rollups from its tables, as the first sync's last step does (the sync
 * stage built them already: dropped first, so the build alone is timed).
 */
async function buildRollups(): Promise<{ seconds: number; rows: Map<string, number> }> {
  const store = await duckdb.openStore(duckStore);
  await store.refreshDerived([]);
  const t = performance.now();
  try {
    await store.refreshDerived(rollups);
  } finally {
    await store.close();
  }
  const seconds = (performance.now() - t) / 1000;
  const instance = await DuckDBInstance.create(duckStore, { access_mode: 'READ_ONLY' });
  const db = await instance.connect();
  const rows = new Map<string, number>();
  for (const r of rollups)
    rows.set(r.name, Number((await db.runAndReadAll(`SELECT count(*) FROM "${r.name}"`)).getRows()[0]?.[0]));
  db.closeSync();
  instance.closeSync();
  return { seconds, rows };
}

async function duckdbTimings(): Promise<Timing[]> {
  const instance = await DuckDBInstance.create(duckStore, { access_mode: 'READ_ONLY' });
  const db = await instance.connect();
  await db.run("SET TimeZone = 'UTC'");
  const out: Timing[] = [];
  try {
    for (const q of queries()) {
      const r = rangeOf(q.grain);
      const params = [new Date(r.from).toISOString(), new Date(r.to).toISOString()];
      const run = (sql: string, bound: readonly string[]) => async () =>
        (await db.runAndReadAll(sql, [...bound])).getRowsJson();
      const legacy = legacyCompileMetric(q.def, q.grain, q.by, []);
      const before = await timed(run(legacy.sql, [...params, ...legacy.params]));
      const shape = { grain: q.grain, by: q.by, filters: [], range: r };
      const now = duckdb.compile(q.def, shape, AS_NAMED);
      const after = await timed(run(now.sql, now.params));
      const rolled = duckdb.compile(q.def, shape, { ...AS_NAMED, rollups });
      const fast = rolled.sql.includes('_fv_rollup_')
        ? await timed(run(rolled.sql, rolled.params))
        : undefined;
      const t: Timing = {
        metric: q.def.name,
        grain: q.grain,
        by: q.by.join(', '),
        dashboard: q.dashboard,
        rows: after.answer.length,
        beforeMs: before.ms,
        afterMs: after.ms,
        ...(fast ? { fastMs: fast.ms } : {}),
        same:
          canonical(before.answer) === canonical(after.answer) &&
          (!fast || canonical(before.answer) === canonical(fast.answer)),
      };
      log(
        `DuckDB ${t.metric}: ${t.beforeMs.toFixed(0)} → ${t.afterMs.toFixed(0)} → ${fast ? fast.ms.toFixed(0) : '-'} ms, same ${t.same}`,
      );
      out.push(t);
    }
  } finally {
    db.closeSync();
    instance.closeSync();
  }
  return out;
}

/** ClickHouse's compiled statement and the settings it runs with, as the reader runs them. */
const compiledClickHouse = (...args: Parameters<typeof clickhouse.compile>) => {
  const c = clickhouse.compile(...args);
  return [c.sql, c.settings ?? {}] as const;
};

async function clickhouseTimings(readerUrl: string): Promise<Timing[]> {
  const where = parseClickHouseUrl(readerUrl);
  const node = new ClickHouseNode(where, where.hosts[0] as string);
  const settings = metricReadSettings();
  await node.readonlySetting();
  const tables = new Map(
    (await node.rows('SELECT name, columns FROM _fv_tables FINAL', 'read bookkeeping', settings)).map((r) => [
      String(r[0]),
      JSON.parse(String(r[1])) as StoreColumn[],
    ]),
  );
  const marks = new Map(
    (await node.rows('SELECT key, value FROM _fv_meta FINAL', 'read bookkeeping', settings)).map((r) => [
      String(r[0]),
      String(r[1]),
    ]),
  );
  const schema = {
    kind: (t: string, c: string): ValueKind | undefined => tables.get(t)?.find((x) => x.name === c)?.kind,
    columnsOf: (t: string) => (tables.get(t) ?? []).map((c) => c.name),
    readable: (t: string) => readableTable(t, where.cluster !== undefined),
  };
  const out: Timing[] = [];
  try {
    for (const q of queries()) {
      const r = rangeOf(q.grain);
      const run =
        (sql: string, own: Readonly<Record<string, string>> = {}) =>
        () =>
          node.rows(sql, `compute ${q.def.name}`, { ...settings, ...own });
      const before = await timed(run(legacyCompileClickHouseMetric(q.def, q.grain, q.by, [], r, schema)));
      const shape = { grain: q.grain, by: q.by, filters: [], range: r };
      const after = await timed(run(...compiledClickHouse(q.def, shape, schema)));
      // The same compiler on the tables the sync settled (no superseded version, no FINAL) and on
      // the rollups it built (none pending: the sync's refresh was its last step).
      // Every built rollup: the compiler chooses those that answer the range (rollupsAnswering).
      const settled = {
        ...schema,
        settled: (t: string) => marks.get(unsettledMeta(t)) === '0',
        rollups: [...marks.entries()]
          .filter(([k, v]) => k.startsWith(rollupMeta('')) && v !== '')
          .map(([, v]) => JSON.parse(v) as RollupSpec),
      };
      const fast = await timed(run(...compiledClickHouse(q.def, shape, settled)));
      const t: Timing = {
        metric: q.def.name,
        grain: q.grain,
        by: q.by.join(', '),
        dashboard: q.dashboard,
        rows: after.answer.length,
        beforeMs: before.ms,
        afterMs: after.ms,
        fastMs: fast.ms,
        same:
          canonical(before.answer) === canonical(after.answer) &&
          canonical(before.answer) === canonical(fast.answer),
      };
      log(
        `ClickHouse ${t.metric}: ${t.beforeMs.toFixed(0)} → ${t.afterMs.toFixed(0)} → ${t.fastMs?.toFixed(0)} ms, same ${t.same}`,
      );
      out.push(t);
    }
  } finally {
    await node.close();
  }
  return out;
}

/** One dashboard query through the reader: as asked with dates, and as the dashboard asks it (none). */
interface ReaderTiming {
  ms: number;
  answer: MetricAnswer;
  /** Without dates: the range ends at the base table's latest day, which the reader looks up first. */
  defaultMs: number;
  /** Requests to the store per query without dates (ClickHouse; DuckDB answers in process). */
  requests?: number;
}

/** The dashboard's answers through the reader (k gate included) on one store. */
async function answers(store: string): Promise<Map<string, ReaderTiming>> {
  const reader = await openMetricsReader(store, metricsFile);
  const out = new Map<string, ReaderTiming>();
  // Every request fleetvault sends a ClickHouse server goes through ClickHouseNode.rows.
  let requests = 0;
  const rows = ClickHouseNode.prototype.rows;
  ClickHouseNode.prototype.rows = function (this: ClickHouseNode, ...args: Parameters<typeof rows>) {
    requests++;
    return rows.apply(this, args);
  };
  try {
    for (const q of DASHBOARD_QUERIES) {
      const r = rangeOf(q.grain);
      const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
      const query = { metric: q.metric, grain: q.grain, by: q.by, from: iso(r.from), to: iso(r.to - DAY) };
      const dated = await timed(() => reader.query(query, { cache: false }));
      const asked = { metric: q.metric, grain: q.grain, by: q.by };
      const undated = await timed(() => reader.query(asked, { cache: false }));
      requests = 0;
      await reader.query(asked, { cache: false });
      out.set(q.metric, {
        ...dated,
        defaultMs: undated.ms,
        ...(store.startsWith('clickhouse') ? { requests } : {}),
      });
    }
  } finally {
    ClickHouseNode.prototype.rows = rows;
    reader.close();
  }
  return out;
}

const sameAnswer = (a: MetricAnswer | undefined, b: MetricAnswer | undefined) =>
  a !== undefined &&
  b !== undefined &&
  canonical(
    [...a.groups, ...a.totals].map((c) => [
      c.period,
      JSON.stringify(c.dims),
      c.suppressed,
      c.units,
      ...Object.values(c.values),
    ]),
  ) ===
    canonical(
      [...b.groups, ...b.totals].map((c) => [
        c.period,
        JSON.stringify(c.dims),
        c.suppressed,
        c.units,
        ...Object.values(c.values),
      ]),
    );

interface Extras {
  rollups?: { seconds: number; rows: Map<string, number> };
  /** ClickHouse: the rollups built whole after the first sync, and refreshed after a small write. */
  chRollups?: { full: number; incremental: number; written: number };
  load: { start: number[]; end?: number[] };
}

function render(
  events: number,
  duck: Timing[],
  ch: Timing[] | undefined,
  readers: {
    duck: Map<string, ReaderTiming>;
    ch?: Map<string, ReaderTiming>;
  },
  extras: Extras,
): string {
  const f = (ms: number) => (ms < 100 ? ms.toFixed(1) : ms.toFixed(0));
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  const load = (l: number[]) => l.map((v) => v.toFixed(1)).join(' / ');
  const lines = [
    `## Metric compiler at ${events.toLocaleString('en-US')} connection events (issue 17)`,
    '',
    `${new Date().toISOString().slice(0, 10)}, this machine (${cpus().length} cores, ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB; shared with other work: ratios, not absolutes). Load average (1 / 5 / 15 min) ${load(extras.load.start)} at the start${extras.load.end ? `, ${load(extras.load.end)} at the end` : ''}. Produced by \`npm run bench:compiler\`: ${users.toLocaleString('en-US')} simulated users over ${days} days synced through the demo policy; on the same store in the same run, p50 of ${RUNS} runs after a warm-up: the compiled SQL of the compiler before issue 17 (bench/legacy-compile*.ts, "legacy"), today's compiled SQL on the base tables ("compiled"), and today's fast path ("fast": the same compiler answering from the rollups where one serves the query, on ClickHouse from its per-shard rollup tables, and otherwise on ClickHouse without FINAL on the tables the sync settled). "same" compares every row of all three (12 significant digits).`,
    '',
  ];
  if (extras.rollups) {
    lines.push(
      `Rollups derived from examples/demo/fleetvault.metrics.yaml (metrics/rollups.ts), built from the synced store in ${extras.rollups.seconds.toFixed(1)} s (what the first sync's last step does; later syncs recompute only the days they wrote):`,
      '',
      '| rollup of | per | columns | rows |',
      '|---|---|---|--:|',
    );
    for (const r of rollups as RollupSpec[])
      lines.push(
        `| ${r.table} | ${r.grain} | ${r.columns.join(', ')} | ${(extras.rollups.rows.get(r.name) ?? 0).toLocaleString('en-US')} |`,
      );
    lines.push('');
  }
  if (extras.chRollups) {
    const c = extras.chRollups;
    lines.push(
      `ClickHouse (2 shards) keeps the same rollups as tables on each shard (clickhouse-rollups.ts): built whole from the synced store in ${c.full.toFixed(1)} s (the first sync's last step, timed again alone); after a small incremental write (${c.written.toLocaleString('en-US')} new events on the last day, an upsert as an incremental sync writes them) its refresh, which recomputes only the week holding that day in each rollup, took ${c.incremental.toFixed(1)} s (settling the events table included).`,
      '',
    );
  }
  lines.push(
    '| engine | metric | grain | by | rows | legacy (ms) | compiled (ms) | fast (ms) | compiled / legacy | fast vs legacy | fast vs compiled | same |',
    '|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|',
  );
  for (const [engine, ts] of [
    ['DuckDB', duck],
    ['ClickHouse, 2 shards', ch ?? []],
  ] as const) {
    for (const t of ts)
      lines.push(
        `| ${engine} | ${t.dashboard ? '**' : ''}${t.metric}${t.dashboard ? '**' : ''} | ${t.grain} | ${t.by} | ${t.rows} | ${f(t.beforeMs)} | ${f(t.afterMs)} | ${t.fastMs === undefined ? '–' : f(t.fastMs)} | ${x(t.beforeMs, t.afterMs)} | ${x(t.beforeMs, t.fastMs ?? t.afterMs)} | ${t.fastMs === undefined ? '–' : x(t.afterMs, t.fastMs)} | ${t.same ? 'yes' : '**no**'} |`,
      );
  }
  lines.push(
    '',
    'Dashboard metrics in bold; "–": no rollup serves that metric (percentiles, or no join), the compiled SQL answers (on ClickHouse, "fast" is then the compiled SQL without FINAL). Through the reader (k gate and checks included; each engine reads its current rollups, and ClickHouse its settled tables without FINAL):',
    '',
  );
  lines.push(
    '| metric | DuckDB (ms) | ClickHouse (ms) | ClickHouse / DuckDB | same answer | no dates: DuckDB (ms) | no dates: ClickHouse (ms) | no dates: ClickHouse / DuckDB | ClickHouse requests per query |',
    '|---|--:|--:|--:|---|--:|--:|--:|--:|',
  );
  for (const q of DASHBOARD_QUERIES) {
    const d = readers.duck.get(q.metric);
    const c = readers.ch?.get(q.metric);
    lines.push(
      `| ${q.metric} | ${d ? f(d.ms) : ''} | ${c ? f(c.ms) : ''} | ${d && c ? x(c.ms, d.ms) : ''} | ${c ? (sameAnswer(d?.answer, c.answer) ? 'yes' : '**no**') : ''} | ${d ? f(d.defaultMs) : ''} | ${c ? f(c.defaultMs) : ''} | ${d && c ? x(c.defaultMs, d.defaultMs) : ''} | ${c?.requests ?? ''} |`,
    );
  }
  lines.push(
    '',
    '"No dates": asked as the dashboard asks by default, without a range; the range then ends at the base table\'s latest day, which the reader looks up before the answer. Requests: every request the reader sent the ClickHouse server for one such answer (bookkeeping, the latest day, the answer).',
  );
  return alignTables(lines.join('\n'));
}

async function main(): Promise<void> {
  const extras: Extras = { load: { start: loadavg() } };
  if (!reuse || !existsSync(duckStore)) await prepare();
  if (process.env.FV_COMPILER_DUCKDB === '0') return clickhouseOnly(extras);
  extras.rollups = await buildRollups();
  log(`rollups built in ${extras.rollups.seconds.toFixed(1)} s`);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const events = Number((await c.query('SELECT count(*) AS n FROM connection_events')).rows[0].n);
  await c.end();
  const duck = await duckdbTimings();
  const readers: Parameters<typeof render>[3] = { duck: await answers(duckStore) };
  spliceSection('compiler', render(events, duck, undefined, readers, extras));
  let ch: Timing[] | undefined;
  if (process.env.FV_COMPILER_CLICKHOUSE !== '0') {
    const cluster = await startClickHouseCluster();
    try {
      const s = stage('sync', cluster.url);
      log(`ClickHouse sync: ${s.seconds.toFixed(0)} s`);
      extras.chRollups = { full: await chRollupBuild(cluster.url), incremental: 0, written: 0 };
      ch = await clickhouseTimings(cluster.readerUrl);
      readers.ch = await answers(cluster.readerUrl);
      Object.assign(
        extras.chRollups,
        await chIncremental(cluster.url).catch((error: unknown) => {
          log(`the incremental rollup refresh failed: ${String(error)}`);
          return {};
        }),
      );
      log(`ClickHouse rollups: ${JSON.stringify(extras.chRollups)}`);
    } finally {
      await cluster.stop();
    }
  }
  extras.load.end = loadavg();
  const text = render(events, duck, ch, readers, extras);
  spliceSection('compiler', text);
  process.stderr.write(`${text}\n`);
  if ([...duck, ...(ch ?? [])].some((t) => !t.same)) {
    log('the compilers answered differently');
    process.exitCode = 1;
  }
}

/**
 * `FV_COMPILER_DUCKDB=0`: ClickHouse alone (a run to repeat its rows on a quieter machine); its
 * table goes to stderr, bench/RESULTS.md is left as it is.
 */
async function clickhouseOnly(extras: Extras): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const events = Number((await c.query('SELECT count(*) AS n FROM connection_events')).rows[0].n);
  await c.end();
  const cluster = await startClickHouseCluster();
  try {
    const s = stage('sync', cluster.url);
    log(`ClickHouse sync: ${s.seconds.toFixed(0)} s`);
    extras.chRollups = { full: await chRollupBuild(cluster.url), incremental: 0, written: 0 };
    log(`ClickHouse rollups built in ${extras.chRollups.full.toFixed(1)} s`);
    const ch = await clickhouseTimings(cluster.readerUrl);
    const readers = { duck: new Map(), ch: await answers(cluster.readerUrl) };
    Object.assign(extras.chRollups, await chIncremental(cluster.url));
    log(`ClickHouse rollups refreshed after a small write in ${extras.chRollups.incremental.toFixed(1)} s`);
    extras.load.end = loadavg();
    process.stderr.write(`${render(events, [], ch, readers, extras)}\n`);
  } finally {
    await cluster.stop();
  }
}

/** The ClickHouse store's rollups dropped, then built whole again (timed), as the first sync does. */
async function chRollupBuild(storeUrl: string): Promise<number> {
  const store = await ClickHouseStore.open(storeUrl);
  try {
    await store.refreshDerived([]);
    const t = performance.now();
    await store.refreshDerived(rollups);
    return (performance.now() - t) / 1000;
  } finally {
    await store.close();
  }
}

/**
 * A small incremental write (new events on the store's last day, copies of that day's first rows
 * under new keys), then the refresh that follows it, timed: it recomputes the week of that day.
 */
async function chIncremental(storeUrl: string): Promise<{ incremental: number; written: number }> {
  const store = await ClickHouseStore.open(storeUrl);
  try {
    const node = store.nodes[0] as ClickHouseNode;
    const table = readableTable('connection_events', store.sharded);
    const columns = JSON.parse(
      String(
        (
          await node.rows("SELECT columns FROM _fv_tables FINAL WHERE name = 'connection_events'", 'bench')
        )[0]?.[0],
      ),
    ) as StoreColumn[];
    const rows = await node.rows(
      `SELECT ${columns.map((c) => (c.kind === 'timestamptz' || c.kind === 'timestamp' ? `toString(toUInt64(toUInt32(\`${c.name}\`)) * 1000000 + \`${c.name}__us\`)` : `toString(\`${c.name}\`)`)).join(', ')} FROM ${table} WHERE _fv_deleted = 0 AND toDate(ts) = (SELECT max(toDate(ts)) FROM ${table}) LIMIT 5000`,
      'bench',
    );
    let n = 0;
    const values = rows.map((r) =>
      r.map((v, i) => {
        const c = columns[i] as StoreColumn;
        if (v === null) return null;
        if (c.name === 'id') return BigInt(9_000_000_000 + n++);
        if (c.kind === 'timestamptz' || c.kind === 'timestamp') return BigInt(v);
        if (c.kind === 'integer' || c.kind === 'float') return Number(v);
        if (c.kind === 'bigint') return BigInt(v);
        if (c.kind === 'boolean') return v === '1';
        return v;
      }),
    );
    const spec = { name: 'connection_events', columns, key: ['id'], shardBy: 'device_id' };
    const w = await store.openWriter(spec, 'upsert');
    await w.writeBatch(values, [], undefined);
    await w.finish(undefined);
    const t = performance.now();
    await store.refreshDerived();
    return { incremental: (performance.now() - t) / 1000, written: values.length };
  } finally {
    await store.close();
  }
}

await main();
