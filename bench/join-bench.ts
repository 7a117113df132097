// `npm run bench:joins`: ClickHouse's dashboard metrics with each join done on the shards where the
// joined rows live (devices routed by id, their events by device: src/sync/table-plan.ts) against
// the same metrics with the joined table read whole and shipped to every shard (GLOBAL JOIN, how
// every join ran before), on the same two-shard store in the same run, with the reader's own
// per-query memory limit (FLEETVAULT_CLICKHOUSE_QUERY_MEMORY, 2 GiB by default). The join's cost
// grows with the devices, so the fleet benchmark's device count is simulated over a few days:
// FV_JOINS_USERS (1,830,000 users, about 3M devices) and FV_JOINS_DAYS (5). FV_JOINS_REUSE=1 keeps
// the simulated database of a previous run (FV_JOINS_DB, fleetvault_joins). Writes the `joins`
// section of bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ClickHouseMetricsEngine } from '../src/engines/clickhouse/clickhouse-reader.ts';
import { isFvError } from '../src/errors/index.ts';
import { type Grain, periodStart, readMetricsFile } from '../src/metrics/index.ts';
import { createKeyFile } from '../src/privacy/index.ts';
import { DEFAULT_END_DATE, pgLoader, simulate } from '../src/sim/index.ts';
import { startClickHouseCluster } from '../test/helpers/clickhouse-cluster.ts';
import { DASHBOARD_QUERIES } from '../test/helpers/metric-twins.ts';
import { comparableRows, recordingCompile, withoutRouting } from '../test/helpers/recording-compile.ts';
import { spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = join(root, 'bench', '.joins');
const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const users = Number(process.env.FV_JOINS_USERS ?? 1_830_000);
const days = Number(process.env.FV_JOINS_DAYS ?? 5);
const reuse = process.env.FV_JOINS_REUSE === '1';
const dbName = process.env.FV_JOINS_DB ?? 'fleetvault_joins';
const url = admin.replace(/\/[^/]*$/, `/${dbName}`);
const policy = join(root, 'examples/demo/fleetvault.policy.yaml');
const key = join(work, 'master.key');
const RUNS = 3;
const DAY = 86_400_000;

const log = (line: string) =>
  process.stderr.write(`[joins ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const n = (x: number) => Math.round(x).toLocaleString('en-US');

async function simulated(): Promise<Record<string, number>> {
  const a = new pg.Client({ connectionString: admin });
  await a.connect();
  const exists = (await a.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName])).rowCount === 1;
  if (!(reuse && exists)) {
    await a.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await a.query(`CREATE DATABASE ${dbName}`);
  }
  await a.end();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    if (!(reuse && exists)) {
      const r = await simulate(pgLoader(c), { users, days, seed: 1 });
      await c.query('VACUUM ANALYZE');
      log(`simulated in ${(r.durationMs / 1000).toFixed(0)} s`);
    }
    const counts: Record<string, number> = {};
    for (const t of ['users', 'devices', 'connection_events'])
      counts[t] = Number((await c.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n);
    return counts;
  } finally {
    await c.end();
  }
}

/** The dashboard's range: its last 5 weeks, or 3 months. */
function rangeOf(grain: Grain): { from: number; to: number } {
  const end = new Date(DEFAULT_END_DATE.getTime() - DAY);
  if (grain === 'month') {
    const [y, m] = [end.getUTCFullYear(), end.getUTCMonth()];
    return { from: Date.UTC(y, m - 2, 1), to: Date.UTC(y, m + 1, 1) };
  }
  const to = periodStart(end.getTime(), grain) + 7 * DAY;
  return { from: to - 5 * 7 * DAY, to };
}

/** Highest memory the reader's queries held on each server at once, sampled every 50 ms. */
function memoryProbe(cluster: Awaited<ReturnType<typeof startClickHouseCluster>>) {
  const peak = [0, 0];
  let on = true;
  const loop = (async () => {
    while (on) {
      await Promise.all(
        [0, 1].map(async (i) => {
          const v = Number(
            await cluster
              .query(
                i,
                "SELECT sum(peak_memory_usage) FROM system.processes WHERE user = 'fv_reader' OR initial_user = 'fv_reader'",
              )
              .catch(() => '0'),
          );
          peak[i] = Math.max(peak[i] ?? 0, v);
        }),
      );
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return async () => {
    on = false;
    await loop;
    return Math.max(...peak) / 1024 ** 2;
  };
}

interface Variant {
  ms?: number;
  /** The first answer (a warm-up), with the whole-range attempt a memory limit stopped, if any. */
  firstMs?: number;
  /** Statements per answer: 1, or one per period when the whole range needed too much memory. */
  statements?: number;
  peakMb: number;
  error?: string;
  rows?: string;
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true, mode: 0o700 });
  const started = new Date();
  const counts = await simulated();
  log(`source: ${JSON.stringify(counts)}`);
  rmSync(key, { force: true });
  createKeyFile(key);
  const cluster = await startClickHouseCluster();
  try {
    const t = performance.now();
    execFileSync(
      process.execPath,
      [join(root, 'dist/bench/stages.js'), 'sync', url, policy, cluster.url, key],
      {
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const syncSeconds = (performance.now() - t) / 1000;
    log(`ClickHouse sync: ${syncSeconds.toFixed(0)} s`);
    const compiled: string[] = [];
    const readers = {
      shipped: await ClickHouseMetricsEngine.open(
        cluster.readerUrl,
        recordingCompile(compiled, withoutRouting),
      ),
      local: await ClickHouseMetricsEngine.open(cluster.readerUrl, recordingCompile(compiled)),
    };
    const file = readMetricsFile(join(root, 'examples/demo/fleetvault.metrics.yaml'));
    const lines: string[] = [];
    try {
      for (const q of DASHBOARD_QUERIES) {
        const def = file.metrics.get(q.metric);
        if (!def) throw new Error(`${q.metric} is not in the demo metrics`);
        const range = rangeOf(q.grain);
        const result: Record<string, Variant> = {};
        for (const [name, reader] of Object.entries(readers)) {
          const run = () => reader.metricRows(def, q.grain, q.by, [], range);
          const stop = memoryProbe(cluster);
          try {
            const first = performance.now();
            const rows = await run();
            const firstMs = performance.now() - first;
            const ms: number[] = [];
            let statements = 0;
            for (let i = 0; i < RUNS; i++) {
              const s = performance.now();
              const before = compiled.length;
              await run();
              ms.push(performance.now() - s);
              statements = compiled.length - before;
            }
            result[name] = {
              ms: [...ms].sort((a, b) => a - b)[Math.floor(RUNS / 2)] as number,
              firstMs,
              statements,
              peakMb: await stop(),
              rows: JSON.stringify(comparableRows(rows, 12)),
            };
          } catch (error) {
            if (!isFvError(error)) throw error;
            result[name] = { peakMb: await stop(), error: `${error.code}: ${error.message}` };
          }
          const joins = (compiled.at(-1)?.match(/JOIN/g) ?? []).length;
          const shipped = (compiled.at(-1)?.match(/GLOBAL/g) ?? []).length;
          log(
            `${q.metric} ${name}: ${result[name]?.ms?.toFixed(0) ?? 'refused'} ms, ${result[name]?.peakMb.toFixed(0)} MB, ${shipped} of ${joins} joins shipped`,
          );
        }
        const a = result.shipped as Variant;
        const b = result.local as Variant;
        const time = (v: Variant) =>
          v.ms === undefined
            ? 'refused'
            : v.statements === 1
              ? `${n(v.ms)} ms`
              : `${n(v.ms)} ms (${v.statements} periods; first answer ${n(v.firstMs ?? 0)} ms)`;
        const ratio = a.ms !== undefined && b.ms !== undefined ? `${(a.ms / b.ms).toFixed(1)}×` : '–';
        const same =
          a.rows === undefined || b.rows === undefined ? '–' : a.rows === b.rows ? 'yes' : '**no**';
        lines.push(
          `| ${q.metric} | ${q.grain}, ${q.by.join(' × ') || '–'} | ${time(a)} | ${n(a.peakMb)} | ${time(b)} | ${n(b.peakMb)} | ${ratio} | ${same} |`,
        );
        for (const [name, v] of [
          ['shipped', a],
          ['on each shard', b],
        ] as const)
          if (v.error) lines.push(`| | ${name}: ${v.error.replaceAll('|', '/')} | | | | | | |`);
      }
    } finally {
      readers.shipped.close();
      readers.local.close();
    }
    const body = [
      `## ClickHouse joins: shipped to every shard vs on each shard (${started.toISOString().slice(0, 10)})`,
      '',
      `Machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 1024 ** 3)} GB; load ${loadavg()[0]?.toFixed(1)} at the end. Source: ${n(counts.users ?? 0)} users, ${n(counts.devices ?? 0)} devices, ${n(counts.connection_events ?? 0)} connection events (${days} days). Two-shard ClickHouse 18.16 on this machine, synced through the demo policy with its rollups in ${syncSeconds.toFixed(0)} s.`,
      '',
      'Each dashboard query through the reader (k-anonymity applied, rollups where current), p50 of 3 runs after a warm-up, with the joined table read whole and shipped to every shard (`GLOBAL`, as before) and joined on each shard where the rows live together. Peak: the most memory the reader’s queries held at once on one server, sampled every 50 ms. A refusal is the reader’s per-query memory limit. A query the limit stops over the whole range is asked one period at a time (README, “Per-query limits”): then the time is of the answer by periods (the reader remembers the shape), the first answer’s includes the stopped attempt.',
      '',
      '| metric | grain, by | shipped | peak MB | on each shard | peak MB | shipped / on each shard | same rows |',
      '|---|---|---:|---:|---:|---:|---:|---|',
      ...lines,
    ].join('\n');
    spliceSection('joins', body);
    log('recorded in bench/RESULTS.md');
  } finally {
    await cluster.stop();
  }
}

await main();
