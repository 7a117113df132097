// The staged sync path into ClickHouse (issue 16): first copies and rebuilds take it as they do
// into DuckDB and store exactly what the row path stores, shard by shard; a copy killed -9 mid-way
// and run again ends settled with the same rows; no raw value in any file a server writes.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseStore, unsettledMeta } from '../src/engines/clickhouse/index.ts';
import { BIN, type CliRun, runCli } from './helpers/cli.ts';
import { type ClickHouseCluster, startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { readTree } from './helpers/tree-files.ts';

/** Three staged batches and a part of a fourth. */
const ROWS = 160_000;

const POLICY = `version: 1
reviewed: true
k: 10
on_detect: quarantine
tables:
  owners:
    primary_key: id
    cursor: id
    columns:
      id:       { class: identifier, domain: user }
      nickname: { class: attribute }
  items:
    primary_key: id
    cursor: id
    columns:
      id:           { class: identifier, domain: item }
      owner:        { class: identifier, domain: user }
      note:         { class: attribute }
      secret_token: { class: secret }
      legacy:       { class: identifier, action: drop }
      at:           { class: time }
      local_at:     { class: time }
      seen_at:      { class: time, transform: day }
      born:         { class: personal, transform: year }
      ip:           { class: personal, transform: ip_prefix }
      score:        { class: measure, transform: { bucket: [0, 10, 100] } }
      weight:       { class: measure }
      big:          { class: measure }
      active:       { class: attribute }
      day:          { class: attribute }
      amount:       { class: measure }
      fraction:     { class: measure }
`;

const TABLES = ['owners', 'items'];

let cluster: ClickHouseCluster;
/** 2 shards × 2 replicas with ZooKeeper. */
let replicated: ClickHouseCluster;
let db: TestDatabase;
let dir: string;
let key: string;
let policy: string;
const canaries: string[] = [];
const outputs: CliRun[] = [];

beforeAll(async () => {
  [cluster, replicated, db] = await Promise.all([
    startClickHouseCluster(2),
    startClickHouseCluster(2, { replicas: 2 }),
    createTestDatabase(),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'fv-ch-staged-'));
  key = join(dir, 'master.key');
  policy = join(dir, 'policy.yaml');
  writeFileSync(policy, POLICY);
  await db.query('CREATE TABLE owners (id text PRIMARY KEY, nickname text)');
  await db.query(
    `INSERT INTO owners SELECT 'fvcanary-owner-' || i, 'nick ' || (i % 7) FROM generate_series(0, 996) i`,
  );
  await db.query(`CREATE TABLE items (id text PRIMARY KEY, owner text, note text, secret_token text,
    legacy text, at timestamptz, local_at timestamp, seen_at timestamptz, born date, ip inet, score int,
    weight float8, big bigint, active boolean, day date, amount numeric(12,2), fraction numeric)`);
  // Canaries in every column that must not be stored as read; text ClickHouse's TabSeparated must
  // escape (tabs, newlines, backslashes) and CSV must quote; floats JavaScript and DuckDB print
  // differently (-0, NaN, infinities, large and tiny numbers); NULLs everywhere.
  await db.query(`INSERT INTO items SELECT 'fvcanary-id-' || lpad(i::text, 7, '0'), 'fvcanary-owner-' || (i % 997),
    CASE WHEN i % 5000 = 7 THEN 'write to fvcanary.mail' || i || '@example.org'
         WHEN i % 4 = 0 THEN 'note, with "quotes"' || chr(10) || 'a newline, a' || chr(9) || 'tab and a \\ backslash' || chr(13)
         WHEN i % 4 = 1 THEN '' WHEN i % 4 = 2 THEN 'plain ' || (i % 50) ELSE NULL END,
    'fvcanary-secret-' || i, 'fvcanary-legacy-' || i,
    CASE WHEN i % 11 = 0 THEN NULL ELSE timestamptz '1970-01-01' + i * interval '7777.123457 seconds' END,
    timestamp '2026-01-01 00:00:00.000001' + i * interval '1.5 seconds',
    timestamptz '1971-12-30' + i * interval '77 seconds', date '1950-01-01' + (i % 20000),
    ('10.' || (i % 200) || '.' || (i % 97) || '.' || (17 + i % 200))::inet, i % 150 - 20,
    CASE i % 9 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' WHEN 3 THEN '-0'
      WHEN 4 THEN 1e21 * i WHEN 5 THEN 1e-7 / i WHEN 6 THEN NULL ELSE i / 7.0 END,
    CASE WHEN i % 13 = 0 THEN NULL ELSE (i::bigint * 2654435761) * (CASE WHEN i % 2 = 0 THEN -1 ELSE 1 END) END,
    CASE i % 3 WHEN 0 THEN true WHEN 1 THEN false END,
    date '1970-01-01' + (i % 49000),
    CASE WHEN i % 11 <> 0 THEN (i - 60000) / 8.0 END,
    -- A plain numeric is a DECIMAL(30,10) in the store: the 11th decimal on is rounded; 20
    -- integer digits, the most ClickHouse 18.16 prints without crashing.
    CASE i % 4 WHEN 0 THEN (i - 60000)::numeric / 7 WHEN 1 THEN (i::numeric * 1e-11) + 5e-11
      WHEN 2 THEN -(10::numeric ^ 20 - i) END
    FROM generate_series(1, ${ROWS}) i`);
  for (const i of [1, 2, 3, 7, 5007, ROWS - 1]) {
    canaries.push(
      `fvcanary-id-${String(i).padStart(7, '0')}`,
      `fvcanary-secret-${i}`,
      `fvcanary-legacy-${i}`,
    );
  }
  canaries.push('fvcanary-owner-5', 'fvcanary.mail7@example.org', 'fvcanary.mail5007@example.org');
  canaries.push('10.7.7.24'); // i = 7: stored as 10.7.7.0/24
  expect((await runCli(['init', '--key-file', key], { cwd: dir })).code).toBe(0);
}, 600_000);

afterAll(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cluster?.stop();
  await replicated?.stop();
  await db?.drop();
});

const syncArgs = (store: string, ...extra: string[]) => [
  'sync',
  '--source',
  db.url,
  '--policy',
  policy,
  '--store',
  store,
  '--key-file',
  key,
  '--json',
  ...extra,
];

/** `fleetvault sync` of the source into `store`, with `env`; its output kept. */
async function sync(store: string, env: NodeJS.ProcessEnv, ...extra: string[]): Promise<CliRun> {
  const r = await runCli(syncArgs(store, ...extra), { cwd: dir, env });
  outputs.push(r);
  return r;
}

/** Which path each table took, from FLEETVAULT_SYNC_TRACE's lines. */
function paths(stderr: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of stderr.matchAll(/^sync (\S+): (.*)$/gm)) out.set(m[1] as string, m[2] as string);
  return out;
}

/** Every shard's rows of every table (all versions and tombstones unless `where` says), the version left out. */
async function contents(
  database: string,
  where = '',
  on: ClickHouseCluster = cluster,
  nodes: readonly number[] = [0, 1],
): Promise<string[]> {
  const out: string[] = [];
  for (const [shard, i] of nodes.entries()) {
    for (const t of TABLES) {
      const columns = (
        await on.query(
          i,
          `SELECT name FROM system.columns WHERE database = '${database}' AND table = '${t}__fv_local' AND name != '_fv_version' ORDER BY name`,
        )
      )
        .trim()
        .split('\n')
        .map((c) => `\`${c}\``)
        .join(', ');
      out.push(
        `${t} on shard ${shard + 1}:\n${await on.query(i, `SELECT ${columns} FROM ${database}.${t}__fv_local${where} ORDER BY ${columns} FORMAT TSV`)}`,
      );
    }
  }
  return out;
}

/** Staged and row-path contents equal, table by table and shard by shard, every shard holding rows. */
async function expectSame(a: string, b: string, where = ''): Promise<void> {
  expectSameText(await contents(a, where), await contents(b, where));
}

function expectSameText(x: readonly string[], y: readonly string[]): void {
  for (const [i, text] of x.entries()) {
    const what = text.slice(0, text.indexOf(':'));
    expect(text.split('\n').length, what).toBeGreaterThan(100);
    if (text === y[i]) continue;
    // The first line that differs, both ways (transformed values only).
    const a = text.split('\n');
    const b = (y[i] ?? '').split('\n');
    const inB = new Set(b);
    const inA = new Set(a);
    expect(
      { lines: a.length, only: a.filter((l) => !inB.has(l)).slice(0, 3) },
      `${what}: staged, then the row path`,
    ).toEqual({ lines: b.length, only: b.filter((l) => !inA.has(l)).slice(0, 3) });
  }
}

describe('the staged sync path into ClickHouse', () => {
  let staged: string;

  it('takes the staged path for a first copy, as into DuckDB', async () => {
    staged = await cluster.database('staged');
    const trace = { FLEETVAULT_SYNC_TRACE: '1' };
    const ch = await sync(staged, trace);
    expect(ch.code, ch.stderr).toBe(0);
    const duck = await sync(join(dir, 'traced.duckdb'), trace);
    expect(duck.code, duck.stderr).toBe(0);
    const onClickHouse = paths(ch.stderr);
    expect(onClickHouse).toEqual(
      new Map([
        ['owners', 'staged path'],
        ['items', 'staged path'],
      ]),
    );
    expect(onClickHouse).toEqual(paths(duck.stderr));
    const items = JSON.parse(ch.stdout).tables.find((t: { table: string }) => t.table === 'items');
    expect(items).toMatchObject({ rowsRead: ROWS, rowsWritten: ROWS - ROWS / 5000 });
    expect(items.quarantined).toEqual([
      expect.objectContaining({ column: 'note', detector: 'email', rows: ROWS / 5000 }),
    ]);
  });

  it('stores what the row path stores, shard by shard', async () => {
    const rows = await cluster.database('rowpath');
    const r = await sync(rows, { FLEETVAULT_SYNC_PATH: 'rows', FLEETVAULT_SYNC_TRACE: '1' });
    expect(r.code, r.stderr).toBe(0);
    expect(paths(r.stderr).get('items')).toBe('row path (FLEETVAULT_SYNC_PATH=rows)');
    await expectSame('staged', 'rowpath');
  });

  it('rebuilds on the staged path (--full) to the same rows', async () => {
    const r = await sync(staged, { FLEETVAULT_SYNC_TRACE: '1' }, '--full');
    expect(r.code, r.stderr).toBe(0);
    expect(paths(r.stderr).get('items')).toBe('staged path');
    await expectSame('staged', 'rowpath');
  });

  it("a staged first copy killed -9 mid-copy, then run again: settled, and the row path's rows", async () => {
    const url = await cluster.database('killed');
    const count = async () =>
      Number(await cluster.query(0, 'SELECT count() FROM killed.items__fv_all').catch(() => '0'));
    // Killed twice, each time as soon as more rows of items landed (polled): the first run on the
    // staged path, the second resuming from its checkpoint (an upsert: the row path, writing again
    // the rows the first kill may have left past the checkpoint).
    const traces: string[] = [];
    const held: number[] = [];
    for (let round = 0; round < 2; round++) {
      const before = await count();
      const child = spawn(process.execPath, [BIN, ...syncArgs(url)], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...process.env, FLEETVAULT_SYNC_TRACE: '1' },
      });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      let done = false;
      const exited = new Promise((r) => child.once('exit', r)).then(() => {
        done = true;
      });
      while (!done && (await count()) <= before) await new Promise((r) => setTimeout(r, 50));
      child.kill('SIGKILL');
      await exited;
      traces.push(stderr);
      held.push(await count());
    }
    expect(paths(traces[0] ?? '').get('items')).toBe('staged path');
    // Some rows and not all after each kill (rows written twice counted twice: no FINAL).
    for (const n of held) {
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThan(ROWS - ROWS / 5000);
    }
    const r = await runCli(syncArgs(url), { cwd: dir });
    outputs.push(r);
    expect(r.code, r.stderr).toBe(0);
    const store = await ClickHouseStore.open(url);
    try {
      for (const t of TABLES) expect(await store.meta(unsettledMeta(t)), `${t} settled`).toBe('0');
    } finally {
      await store.close();
    }
    // The resumed run wrote as an upsert: tombstones on the other shard for rows routed by their
    // owner, and second versions, merged away by the run's settling. Live rows as the row path's,
    // shard by shard, and no key with a second live version (reads without FINAL are exact).
    const live = ' FINAL WHERE _fv_deleted = 0';
    await expectSame('killed', 'rowpath', live);
    for (const i of [0, 1])
      for (const t of TABLES)
        expect(
          await cluster.query(i, `SELECT count() FROM killed.${t}__fv_local WHERE _fv_deleted = 0`),
        ).toBe(await cluster.query(i, `SELECT count() FROM killed.${t}__fv_local${live}`));
  }, 300_000);

  it("feeds 2 shards × 2 replicas on the staged path, first copy and rebuild: each replica holds the row path's rows of its shard", async () => {
    for (const extra of [[], ['--full']]) {
      const r = await runCli(syncArgs(replicated.url, ...extra), {
        cwd: dir,
        env: { FLEETVAULT_SYNC_TRACE: '1' },
      });
      outputs.push(r);
      expect(r.code, r.stderr).toBe(0);
      expect(paths(r.stderr).get('items')).toBe('staged path');
      for (const i of replicated.nodes.keys())
        for (const t of TABLES) await replicated.query(i, `SYSTEM SYNC REPLICA fv.${t}__fv_local`);
      const want = await contents('rowpath');
      // Servers shard by shard: shard 1 replica 1, shard 1 replica 2, shard 2 replica 1, …
      for (const nodes of [
        [0, 2],
        [1, 3],
      ])
        expectSameText(await contents('fv', '', replicated, nodes), want);
    }
  }, 300_000);

  it('leaves no canary in any file of any server (data, logs, temporary files) or in the output', () => {
    const files = readTree([...cluster.nodes, ...replicated.nodes].map((n) => n.dir));
    expect(files.some((f) => f.path.includes('items__fv_local'))).toBe(true);
    expect(files.some((f) => f.path.endsWith('.log'))).toBe(true);
    for (const f of files) {
      for (const c of canaries) expect(f.text.includes(c), `canary ${c} in ${f.path}`).toBe(false);
    }
    const said = outputs.map((o) => o.stdout + o.stderr).join('\n');
    for (const c of canaries) expect(said.includes(c), `canary in output: ${c}`).toBe(false);
  });

  it('refuses a time ClickHouse cannot hold as the row path does, naming the column, not the value', async () => {
    await db.query(
      "UPDATE items SET at = '1969-07-20 20:17:40.123+00' WHERE id = 'fvcanary-id-' || lpad('120001', 7, '0')",
    );
    const trace = { FLEETVAULT_SYNC_TRACE: '1' };
    const s = await sync(await cluster.database('early_staged'), trace);
    const r = await sync(await cluster.database('early_rows'), { ...trace, FLEETVAULT_SYNC_PATH: 'rows' });
    expect(paths(s.stderr).get('items')).toBe('staged path');
    expect(s.code).not.toBe(0);
    expect(r.code).toBe(s.code);
    const refusal = (o: CliRun) => JSON.parse(o.stdout).error;
    expect(refusal(s).code).toBe('FV_STORE_VALUE');
    expect(refusal(s).message).toContain('items.at holds a value outside ClickHouse DateTime');
    expect(s.stdout + s.stderr).not.toContain('1969');
    expect(refusal(s)).toEqual(refusal(r));
  });
});
