// One benchmark stage per process, so each reports its own wall time and peak memory.
import { DuckDBInstance } from '@duckdb/node-api';
import { to as copyTo } from 'pg-copy-streams';
import { readPolicyFile } from '../src/policy/index.ts';
import { loadKeyFile } from '../src/privacy/index.ts';
import { connectSource, readTable } from '../src/source/index.ts';
import { appenders } from '../src/store/duckdb/duckdb-values.ts';
import { DuckDbStore } from '../src/store/index.ts';
import { runSync } from '../src/sync/index.ts';

const [stage, url, policyFile, storePath, keyFile] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
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
  const fns = appenders([...kinds]);
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
    for (const row of batch) {
      for (let i = 0; i < fns.length; i++) fns[i]?.(a, row[i] ?? null);
      a.endRow();
    }
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

async function fleetvaultSync(): Promise<number> {
  const { policy } = readPolicyFile(policyFile);
  if (!policy) throw new Error('bench policy does not load');
  const store = await DuckDbStore.open(storePath);
  const result = await runSync({ sourceUrl: url, policy, store, key: loadKeyFile(keyFile) });
  await store.close();
  if (!result.ok) throw new Error('bench sync failed');
  return result.tables.reduce((n, t) => n + t.rowsRead, 0);
}

const run = { raw: rawCopy, plain: plainCopy, sync: fleetvaultSync }[stage];
if (!run) throw new Error(`unknown stage ${stage}`);
const started = performance.now();
const rows = await run();
const seconds = (performance.now() - started) / 1000;
process.stdout.write(
  `${JSON.stringify({ stage, rows, seconds, peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024) })}\n`,
);
