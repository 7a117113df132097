// What replication costs: the same production synced through the demo policy into a two-shard
// ClickHouse cluster without replicas (the baseline) and into 2 shards × 2 replicas with
// ZooKeeper, in the same run; then the dashboard's metrics read from both. Writes the
// `replication` section of bench/RESULTS.md.
//
// Run: npm run build && node dist/bench/replication-bench.js. Sizes: FV_REPL_USERS (4000) and
// FV_REPL_DAYS (14); FV_BENCH_PG names the PostgreSQL to simulate into (127.0.0.1:5432).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { openMetricsReader } from '../src/engines/index.ts';
import { readMetricsFile } from '../src/metrics/index.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './clickhouse-cluster.ts';
import { spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const users = Number(process.env.FV_REPL_USERS ?? 4000);
const days = Number(process.env.FV_REPL_DAYS ?? 14);
const dbName = 'fleetvault_replication_bench';
const source = admin.replace(/\/[^/]*$/, `/${dbName}`);
const policy = join(root, 'examples/demo/fleetvault.policy.yaml');
const metricsFile = join(root, 'examples/demo/fleetvault.metrics.yaml');
const bin = join(root, 'bin/fleetvault.js');
const METRICS = [
  'connection_attempts',
  'connection_failure_rate',
  'active_devices',
  'time_to_first_connection',
];
const log = (line: string) => process.stderr.write(`[replication] ${line}\n`);

function cli(args: string[]): string {
  return execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
}

function syncSeconds(store: string, key: string): number {
  const t = performance.now();
  cli(['sync', '--source', source, '--policy', policy, '--store', store, '--key-file', key]);
  return (performance.now() - t) / 1000;
}

async function medianQueryMs(store: string, metric: string): Promise<number> {
  const reader = await openMetricsReader(store, readMetricsFile(metricsFile));
  try {
    const q = { metric, grain: 'week' as const, by: [], from: '2026-10-01', to: '2026-11-30' };
    await reader.query(q, { cache: false }); // warm-up
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await reader.query(q, { cache: false });
      runs.push(performance.now() - t);
    }
    return runs.sort((a, b) => a - b)[2] as number;
  } finally {
    reader.close();
  }
}

async function main(): Promise<void> {
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await client.query(`CREATE DATABASE ${dbName}`);
  await client.end();
  const dir = mkdtempSync(join(tmpdir(), 'fv-repl-bench-'));
  const key = join(dir, 'k');
  cli(['simulate', '--source', source, '--users', String(users), '--days', String(days), '--seed', '7']);
  cli(['init', '--key-file', key]);
  const events = await (async () => {
    const c = new pg.Client({ connectionString: source });
    await c.connect();
    const r = await c.query('SELECT count(*)::int AS n FROM connection_events');
    await c.end();
    return r.rows[0].n as number;
  })();
  const clusters: Array<[string, ClickHouseCluster]> = [];
  try {
    clusters.push(['2 shards, no replicas (baseline)', await startClickHouseCluster(2)]);
    clusters.push(['2 shards × 2 replicas, ZooKeeper', await startClickHouseCluster(2, { replicas: 2 })]);
    const rows: Array<{ what: string; sync: number; queries: Record<string, number> }> = [];
    for (const [what, cluster] of clusters) {
      log(`sync into ${what}`);
      const sync = syncSeconds(cluster.url, key);
      const queries: Record<string, number> = {};
      for (const m of METRICS) queries[m] = await medianQueryMs(cluster.readerUrl, m);
      rows.push({ what, sync, queries });
    }
    const [base, repl] = rows as [(typeof rows)[0], (typeof rows)[0]];
    const date = new Date().toISOString().slice(0, 10);
    const body = [
      '## Replication: 2 shards × 2 replicas against 2 shards without replicas',
      '',
      `Measured ${date} on ${cpus().length} cores (shared with other work: ratios, not absolutes), ClickHouse 18.16 and ZooKeeper 3.8 from Debian, every server on this machine; ${users.toLocaleString('en-US')} simulated users over ${days} days (${events.toLocaleString('en-US')} connection events), full sync through the demo policy, then each metric by week over two months (median of 5 after a warm-up). \`node dist/bench/replication-bench.js\`.`,
      '',
      '| store | full sync (s) | ratio |',
      '|---|---:|---:|',
      `| ${base.what} | ${base.sync.toFixed(1)} | 1.00× |`,
      `| ${repl.what} | ${repl.sync.toFixed(1)} | ${(repl.sync / base.sync).toFixed(2)}× |`,
      '',
      '| metric | no replicas (ms) | replicas (ms) | ratio |',
      '|---|---:|---:|---:|',
      ...METRICS.map(
        (m) =>
          `| ${m} | ${Math.round(base.queries[m] as number)} | ${Math.round(repl.queries[m] as number)} | ${((repl.queries[m] as number) / (base.queries[m] as number)).toFixed(2)}× |`,
      ),
      '',
      'With replicas every server holds a shard, so this machine runs four servers and ZooKeeper instead of two servers: each insert is written once and fetched by the other replica over the interserver port, and reads go to one replica per shard.',
    ].join('\n');
    spliceSection('replication', body);
    process.stdout.write(`${body}\n`);
  } finally {
    for (const [, c] of clusters) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
