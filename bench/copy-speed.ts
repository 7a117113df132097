// `npm run bench` (or `npm run bench:copy`): the batch pipeline's speed against PostgreSQL's own
// `COPY (SELECT <read list>) TO STDOUT` of the same rows (bytes discarded), measured in the same
// run, for an event table and for a wide table of unique hex text kept as attributes under
// `on_detect: block`; each measurement in its own process, with its peak RSS. Writes the
// `copy-speed` section of bench/RESULTS.md. Sizes: FV_COPY_EVENTS, FV_COPY_WIDE. Stores:
// FV_COPY_ENGINES (default `duckdb,clickhouse`: a two-shard ClickHouse cluster started for the run,
// a fresh database for each measurement).
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { openStore } from '../src/engines/index.ts';
import { readPolicyFile } from '../src/policy/index.ts';
import { createKeyFile, loadKeyFile } from '../src/privacy/index.ts';
import { connectSource } from '../src/source/index.ts';
import { runSync } from '../src/sync/index.ts';
import { type ClickHouseCluster, startClickHouseCluster } from '../test/helpers/clickhouse-cluster.ts';
import { cliEnv } from './cli-env.ts';
import { spliceSection } from './results-file.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const work = join(root, 'bench', '.work', 'copy-speed');
const admin = process.env.FV_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/postgres';
// FV_COPY_DB: another database name, to keep two seeded sizes side by side.
const dbName = process.env.FV_COPY_DB ?? 'fleetvault_copy_speed';
const url = admin.replace(/\/[^/]*$/, `/${dbName}`);
const EVENTS = Number(process.env.FV_COPY_EVENTS ?? 2_000_000);
const WIDE = Number(process.env.FV_COPY_WIDE ?? 300_000);
const ENGINES = (process.env.FV_COPY_ENGINES ?? 'duckdb,clickhouse').split(',');

const POLICY = `version: 1
reviewed: true
k: 10
on_detect: block
tables:
  bench_events:
    primary_key: id
    cursor: id
    columns:
      id:          { class: identifier, domain: event }
      device_id:   { class: identifier, domain: device }
      ts:          { class: time }
      outcome:     { class: attribute }
      error_code:  { class: attribute }
      rssi:        { class: measure }
      duration_ms: { class: measure }
      client_ip:   { class: personal }
      app_version: { class: attribute }
  bench_wide:
    primary_key: id
    cursor: id
    columns:
      id:         { class: identifier, domain: blob }
      owner_id:   { class: identifier, domain: user }
      etag:       { class: attribute }
      sha256:     { class: attribute }
      chunk_id:   { class: attribute }
      trace_id:   { class: attribute }
      status:     { class: attribute }
      region:     { class: attribute }
      size_bytes: { class: measure }
      parts:      { class: measure }
      ratio:      { class: measure }
      created_at: { class: time, transform: day }
      updated_at: { class: time }
      visible:    { class: attribute }
      client_ip:  { class: personal, transform: ip_prefix }
      api_token:  { class: secret }
`;

const READ = {
  bench_events: ['id', 'device_id', 'ts', 'outcome', 'error_code', 'rssi', 'duration_ms', 'app_version'],
  bench_wide: [
    'id',
    'owner_id',
    'etag',
    'sha256',
    'chunk_id',
    'trace_id',
    'status',
    'region',
    'size_bytes',
    'parts',
    'ratio',
    'created_at',
    'updated_at',
    'visible',
    'client_ip',
  ],
} as const;
type Table = keyof typeof READ;

interface Measured {
  rows: number;
  seconds: number;
  peakRssMb: number;
}

/** Child mode: one measurement in this process. */
async function child(what: string, table: Table, policyFile: string, store: string, key: string) {
  const t0 = performance.now();
  // FV_COPY_TRACE=1: where the resident memory is, every 10 s (JavaScript heap, buffers, the rest);
  // FV_COPY_TRACE=<ms> of 100 or more: at that interval.
  if (process.env.FV_COPY_TRACE) {
    const every = Number(process.env.FV_COPY_TRACE) >= 100 ? Number(process.env.FV_COPY_TRACE) : 10_000;
    setInterval(() => {
      const m = process.memoryUsage();
      const mb = (n: number) => Math.round(n / 2 ** 20);
      process.stderr.write(
        `${((performance.now() - t0) / 1000).toFixed(1)} s: rss ${mb(m.rss)} MB, heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB, array buffers ${mb(m.arrayBuffers)} MB\n`,
      );
    }, every).unref();
  }
  let rows = 0;
  if (what === 'raw') {
    const client = await connectSource(url);
    // The sync's own read list: times as epoch microseconds, as the reader selects them.
    const list = READ[table]
      .map((c) =>
        c === 'ts' || c === 'created_at' || c === 'updated_at'
          ? `(extract(epoch from ${c}) * 1000000)::int8`
          : c,
      )
      .join(', ');
    let bytes = 0;
    const stream = client.query(copyTo(`COPY (SELECT ${list} FROM ${table} ORDER BY id) TO STDOUT`));
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    rows = Number((await client.query(`SELECT count(*) FROM ${table}`)).rows[0].count);
    if (bytes === 0) rows = 0;
    await client.end();
  } else {
    const { policy } = readPolicyFile(policyFile);
    if (!policy) throw new Error('bench policy does not load');
    const only = { ...policy, tables: new Map([[table, policy.tables.get(table) as never]]) };
    const s = await openStore(store);
    const result = await runSync({ sourceUrl: url, policy: only, store: s, key: loadKeyFile(key) });
    await s.close();
    const t = result.tables[0];
    if (!result.ok || !t)
      throw new Error(`bench sync failed: ${JSON.stringify(result.tables.map((x) => x.error))}`);
    rows = t.rowsWritten;
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(
    `${JSON.stringify({ rows, seconds, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
  );
}

/**
 * The same script compiled from an earlier commit (FV_COPY_BEFORE: its compiled copy-speed.js),
 * so the before and after rows come from one run on the same machine state.
 */
const BEFORE = process.env.FV_COPY_BEFORE;

function measure(
  what: string,
  table: Table,
  policyFile: string,
  store: string,
  key: string,
  script = fileURLToPath(import.meta.url),
  env: NodeJS.ProcessEnv = {},
): Measured {
  rmSync(store, { force: true });
  rmSync(`${store}.wal`, { force: true });
  const out = execFileSync(process.execPath, [script, 'child', what, table, policyFile, store, key], {
    encoding: 'utf8',
    maxBuffer: 1 << 20,
    env: { ...cliEnv(), ...env },
  });
  return JSON.parse(out.trim().split('\n').pop() as string) as Measured;
}

async function seed(): Promise<void> {
  const a = new pg.Client({ connectionString: admin });
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await a.query(`CREATE DATABASE ${dbName}`);
  await a.end();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`CREATE TABLE bench_events (id bigint PRIMARY KEY, device_id bigint, ts timestamptz,
    outcome text, error_code text, rssi int, duration_ms int, client_ip inet, app_version text)`);
  await c.query(`INSERT INTO bench_events SELECT i, 1 + (i::int8 * 7919) % 200000,
    timestamptz '2026-11-01' + i * interval '1 second',
    CASE WHEN i % 9 = 0 THEN 'fail' ELSE 'success' END,
    CASE WHEN i % 9 = 0 THEN (ARRAY['E_TIMEOUT','E_AUTH','E_DNS'])[1 + i % 3] END,
    -40 - i % 50, 100 + i % 900, '10.0.0.1', (ARRAY['4.12.0','4.13.1','5.0.2'])[1 + i % 3]
    FROM generate_series(1, ${EVENTS}) i`);
  // About 230 bytes a row in COPY text: four columns of unique hex (an etag, a sha256, a 64-hex
  // chunk id, a UUID), a secret never read, and a mix of kinds.
  await c.query(`CREATE TABLE bench_wide (id bigint PRIMARY KEY, owner_id bigint, etag text, sha256 text,
    chunk_id text, trace_id text, status text, region text, size_bytes bigint, parts int, ratio float8,
    created_at timestamptz, updated_at timestamptz, visible boolean, client_ip inet, api_token text)`);
  await c.query(`INSERT INTO bench_wide SELECT i, 1 + (i::int8 * 31) % 50000, md5(i::text),
    encode(sha256(i::text::bytea), 'hex'), md5((i + 1)::text) || md5((i + 2)::text),
    (md5((i + 3)::text))::uuid::text, (ARRAY['stored','pending','archived'])[1 + i % 3],
    (ARRAY['eu-west','us-east','ap-south'])[1 + i % 3], (i::int8 * 7919) % 100000000, i % 40, (i % 1000) / 7.0,
    timestamptz '2026-01-01' + i * interval '7 seconds', timestamptz '2026-06-01' + i * interval '3 seconds',
    i % 2 = 0, ('10.' || (i % 250) || '.' || (i % 200) || '.7')::inet, 'tok_' || md5(i::text)
    FROM generate_series(1, ${WIDE}) i`);
  await c.query('VACUUM ANALYZE');
  await c.end();
}

async function main(): Promise<void> {
  mkdirSync(work, { recursive: true });
  const policyFile = join(work, 'policy.yaml');
  writeFileSync(policyFile, POLICY);
  const key = join(work, 'bench.key');
  rmSync(key, { force: true });
  createKeyFile(key);
  const t = performance.now();
  await seed();
  if (process.env.FV_COPY_SEED_ONLY) return;
  const seeded = (performance.now() - t) / 1000;
  const store = join(work, 'store.duckdb');
  const lines: string[] = [];
  const loads = [loadavg()[0] as number];
  const rate = (m: Measured) => Math.round(m.rows / m.seconds);
  const cluster: ClickHouseCluster | undefined = ENGINES.includes('clickhouse')
    ? await startClickHouseCluster()
    : undefined;
  let databases = 0;
  /** One ClickHouse measurement, into a fresh database of the cluster (dropped after). */
  const onClickHouse = async (table: Table, env: NodeJS.ProcessEnv): Promise<Measured> => {
    const c = cluster as ClickHouseCluster;
    const name = `copy_speed_${databases++}`;
    const m = measure('sync', table, policyFile, await c.database(name), key, undefined, env);
    for (const i of c.nodes.keys()) await c.query(i, `DROP DATABASE IF EXISTS ${name}`);
    return m;
  };
  const row = (what: string, m: Measured, raw: Measured) =>
    `| ${what} | ${m.rows.toLocaleString('en')} | ${m.seconds.toFixed(1)} | ${rate(m).toLocaleString('en')} | ${(rate(m) / rate(raw)).toFixed(2)}× | ${m.peakRssMb} MB |`;
  try {
    for (const table of ['bench_events', 'bench_wide'] as const) {
      const raw = measure('raw', table, policyFile, store, key);
      lines.push(
        `| ${table} raw \`COPY (SELECT <read list>) TO STDOUT\`, bytes discarded | ${raw.rows.toLocaleString('en')} | ${raw.seconds.toFixed(1)} | ${rate(raw).toLocaleString('en')} | 1.00× | ${raw.peakRssMb} MB |`,
      );
      if (cluster) {
        // Staged, then the row path, then staged again: the machine's load moves during a run.
        const staged = await onClickHouse(table, {});
        const rows = await onClickHouse(table, { FLEETVAULT_SYNC_PATH: 'rows' });
        const again = await onClickHouse(table, {});
        for (const m of [staged, rows, again])
          if (m.rows !== raw.rows)
            throw new Error(`${table}: synced ${m.rows} of ${raw.rows} rows into ClickHouse`);
        lines.push(
          row(
            `${table} fleetvault sync into two-shard ClickHouse, row path (\`FLEETVAULT_SYNC_PATH=rows\`)`,
            rows,
            raw,
          ),
          row(
            `${table} fleetvault sync into two-shard ClickHouse, staged path (before the row path)`,
            staged,
            raw,
          ),
          row(
            `${table} fleetvault sync into two-shard ClickHouse, staged path (after the row path)`,
            again,
            raw,
          ),
        );
      }
      if (!ENGINES.includes('duckdb')) {
        loads.push(loadavg()[0] as number);
        continue;
      }
      const sync = measure('sync', table, policyFile, store, key);
      if (sync.rows !== raw.rows)
        throw new Error(`${table}: synced ${sync.rows} of ${raw.rows} rows (a false block?)`);
      // The row path of this same build (FLEETVAULT_SYNC_PATH=rows), for tables the staged path leaves to it.
      const rows = measure('sync', table, policyFile, store, key, undefined, {
        FLEETVAULT_SYNC_PATH: 'rows',
      });
      // Pseudonyms on a thread of their own, as on a machine of more than two cores.
      const threaded = measure('sync', table, policyFile, store, key, undefined, {
        FLEETVAULT_PSEUDONYM_THREAD: '1',
      });
      if (BEFORE) {
        const before = measure('sync', table, policyFile, store, key, BEFORE);
        lines.push(
          `| ${table} fleetvault sync into DuckDB, before (${process.env.FV_COPY_BEFORE_LABEL ?? 'earlier commit'}) | ${before.rows.toLocaleString('en')} | ${before.seconds.toFixed(1)} | ${rate(before).toLocaleString('en')} | ${(rate(before) / rate(raw)).toFixed(2)}× | ${before.peakRssMb} MB |`,
        );
      }
      lines.push(
        `| ${table} fleetvault sync into DuckDB, row path (\`FLEETVAULT_SYNC_PATH=rows\`) | ${rows.rows.toLocaleString('en')} | ${rows.seconds.toFixed(1)} | ${rate(rows).toLocaleString('en')} | ${(rate(rows) / rate(raw)).toFixed(2)}× | ${rows.peakRssMb} MB |`,
        `| ${table} fleetvault sync into DuckDB, staged path | ${sync.rows.toLocaleString('en')} | ${sync.seconds.toFixed(1)} | ${rate(sync).toLocaleString('en')} | ${(rate(sync) / rate(raw)).toFixed(2)}× | ${sync.peakRssMb} MB |`,
        `| ${table} fleetvault sync into DuckDB, staged path, pseudonyms on a thread (\`FLEETVAULT_PSEUDONYM_THREAD=1\`) | ${threaded.rows.toLocaleString('en')} | ${threaded.seconds.toFixed(1)} | ${rate(threaded).toLocaleString('en')} | ${(rate(threaded) / rate(raw)).toFixed(2)}× | ${threaded.peakRssMb} MB |`,
      );
      process.stderr.write(`${lines.slice(-4).join('\n')}\n`);
      loads.push(loadavg()[0] as number);
    }
  } finally {
    await cluster?.stop();
  }
  const body = `## Copy speed against raw COPY (\`bench/copy-speed.ts\`)

Machine: ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, PostgreSQL on 127.0.0.1. Date: ${new Date().toISOString().slice(0, 10)}. Seeded in ${seeded.toFixed(0)} s. Load average (1 min) at the start and after each table: ${loads.map((l) => l.toFixed(1)).join(', ')}.
\`bench_events\`: ${EVENTS.toLocaleString('en')} rows shaped like connection_events (two pseudonyms per row). \`bench_wide\`: ${WIDE.toLocaleString('en')} rows of about 230 bytes (16 columns, a secret never read; an etag, a sha256, a 64-hex chunk id and a UUID per row kept as attributes and scanned, \`on_detect: block\`, zero rows blocked; an IP prefix and a day generalized).
Both tables are first copies, so the sync takes the staged path (README), into DuckDB and into ClickHouse alike; the row path is the same build with \`FLEETVAULT_SYNC_PATH=rows\`; pseudonyms are computed in place on a machine of two cores and on a thread of their own with more (\`FLEETVAULT_PSEUDONYM_THREAD=1\` forces the thread here); "before" is the earlier commit's compiled benchmark, all in this run. ClickHouse: a two-shard cluster of Debian's 18.16 servers on this machine, a fresh database for each sync; its peak RSS is the syncing process's (the servers are processes of their own). The machine is shared: compare rows of one run only.

| what | rows | seconds | rows/s | vs raw COPY | peak RSS |
| --- | ---: | ---: | ---: | ---: | ---: |
${lines.join('\n')}
`;
  spliceSection('copy-speed', body);
  if (process.env.FV_COPY_KEEP) return; // keep the database and files, to profile a child by hand
  const a = new pg.Client({ connectionString: admin });
  await a.connect();
  await a.query(`DROP DATABASE IF EXISTS ${dbName}`);
  await a.end();
  rmSync(work, { recursive: true, force: true });
}

if (process.argv[2] === 'child') {
  const [, what, table, policyFile, store, key] = process.argv.slice(2) as [
    string,
    string,
    Table,
    string,
    string,
    string,
  ];
  await child(what, table, policyFile, store, key);
} else {
  await main();
}
