// End to end (slow): a kept text value too large for the PII scan (over 1,048,576 characters) is
// treated as a detector's hit on every path: the table is refused under `block` (FV_VALUE_TOO_LARGE,
// the other tables copied), the row quarantined under `quarantine`; never a crash, never the value.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliRun, runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';

const POLICY = `version: 1
reviewed: true
k: 10
on_detect: block
tables:
  blobs:
    primary_key: id
    cursor: updated_at
    columns:
      id:         { class: identifier, domain: blob }
      body:       { class: attribute }
      updated_at: { class: time }
  notes:
    primary_key: id
    cursor: id
    on_detect: quarantine
    columns:
      id:   { class: identifier, domain: note }
      body: { class: attribute }
  bulk:
    primary_key: id
    cursor: id
    on_detect: quarantine
    columns:
      id:   { class: identifier, domain: bulk }
      body: { class: attribute }
  memos:
    primary_key: id
    cursor: id
    columns:
      id:   { class: identifier, domain: memo }
      body: { class: attribute }
`;

const CANARY = 'fvbigcanary';

interface TableOut {
  table: string;
  status: string;
  rowsWritten: number;
  error?: { code: string; message: string };
  quarantined: Array<{ column: string; detector: string; rows: number }>;
}

describe('kept values too large to scan', () => {
  let db: TestDatabase;
  let dir: string;
  let key: string;
  let policy: string;
  const outputs: CliRun[] = [];

  const sync = async (store: string, env: NodeJS.ProcessEnv = {}) => {
    const r = await runCli(
      ['sync', '--source', db.url, '--policy', policy, '--store', store, '--key-file', key, '--json'],
      { cwd: dir, env: { FLEETVAULT_SYNC_TRACE: '1', ...env } },
    );
    outputs.push(r);
    const tables = new Map((JSON.parse(r.stdout).tables as TableOut[]).map((t) => [t.table, t] as const));
    return { ...r, tables };
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-large-'));
    key = join(dir, 'master.key');
    policy = join(dir, 'policy.yaml');
    writeFileSync(policy, POLICY);
    await db.query(`CREATE TABLE blobs (id bigint PRIMARY KEY, body text, updated_at timestamptz NOT NULL);
      CREATE TABLE notes (id bigint PRIMARY KEY, body text);
      CREATE TABLE memos (id bigint PRIMARY KEY, body text);
      CREATE TABLE bulk (id bigint PRIMARY KEY, body text)`);
    // A second staged batch (50,000 rows each) whose load fails on a row of about 4 MB: the first
    // batch is written, and the table must not then start over on the row path (it wrote the
    // first 50,000 rows twice).
    await db.query(
      `INSERT INTO bulk SELECT g, CASE WHEN g = 60001 THEN '${CANARY}' || repeat('😀', 1048577) ELSE 'row ' || g END FROM generate_series(1, 60001) g`,
    );
    // About 10.7 million characters of one base64 token (its regular expression overflowed V8's
    // stack in the token detector: FV_INTERNAL), and 2 million of hex after a word.
    const big = `'${CANARY}' || translate(encode((SELECT string_agg(decode(md5(g::text), 'hex'), ''::bytea) FROM generate_series(1, 500000) g), 'base64'), E'\\n', '')`;
    await db.query(
      `INSERT INTO blobs SELECT g, CASE WHEN g = 150 THEN ${big} ELSE 'firmware ' || g END, now() FROM generate_series(1, 200) g`,
    );
    await db.query(
      `INSERT INTO notes SELECT g, CASE WHEN g = 40 THEN '${CANARY} ' || repeat(md5(g::text), 62500) ELSE 'ok ' || g END FROM generate_series(1, 100) g`,
    );
    // 1.2 million characters: a row the staging database loads, and its scan refuses.
    await db.query(
      `INSERT INTO memos SELECT g, CASE WHEN g = 3 THEN '${CANARY} ' || repeat('memo ', 240000) ELSE 'memo ' || g END FROM generate_series(1, 10) g`,
    );
    expect((await runCli(['init', '--key-file', key], { cwd: dir })).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('refuses the table under block and quarantines the row under quarantine, on the staged and the row path', async () => {
    for (const [path, env] of [
      ['staged', {}],
      ['rows', { FLEETVAULT_SYNC_PATH: 'rows' }],
    ] as const) {
      const store = join(dir, `${path}.duckdb`);
      const r = await sync(store, env);
      expect(r.code, `${path}: ${r.stderr}`).toBe(1);
      // A row of megabytes is more than the staging database's CSV reader holds: the row path
      // takes such a table, so both paths end the same way.
      expect(r.stderr).toContain(
        path === 'staged'
          ? 'sync blobs: staged path\nsync blobs: row path (the staging database failed)'
          : 'sync blobs: row path',
      );
      const blobs = r.tables.get('blobs') as TableOut;
      expect(blobs.status, path).toBe('refused');
      expect(blobs.error?.code, path).toBe('FV_VALUE_TOO_LARGE');
      expect(blobs.error?.message, path).toMatch(
        /^blobs\.body: a kept value in row [0-9a-f-]{36} is longer than/,
      );
      const memos = r.tables.get('memos') as TableOut;
      expect(memos.error?.code, path).toBe('FV_VALUE_TOO_LARGE');
      expect(r.stderr).toContain(`sync memos: ${path === 'staged' ? 'staged path' : 'row path'}`);
      expect(r.stderr).not.toContain('sync memos: row path (the staging database failed)');
      const bulk = r.tables.get('bulk') as TableOut;
      if (path === 'staged') {
        expect(bulk.status).toBe('refused');
        expect(bulk.error?.code).toBe('FV_STAGING_FAILED');
        expect(bulk.rowsWritten).toBe(50000);
      } else expect(bulk.quarantined).toHaveLength(1);
      const notes = r.tables.get('notes') as TableOut;
      expect(notes.status, path).toBe('copied');
      expect(notes.rowsWritten, path).toBe(99);
      expect(notes.quarantined, path).toEqual([
        expect.objectContaining({ column: 'body', detector: 'too_large_to_scan', rows: 1 }),
      ]);
      expect(await queryStore(store, 'SELECT count(*) FROM notes'), path).toEqual([['99']]);
      expect(await queryStore(store, 'SELECT count(*) FROM blobs'), path).toEqual([['0']]);
      for (const f of [store, `${store}.wal`]) {
        let bytes = '';
        try {
          bytes = readFileSync(f).toString('latin1');
        } catch {
          continue; // no WAL after a clean close
        }
        expect(bytes.includes(CANARY), `${f} holds the value`).toBe(false);
      }
    }
    // The staged store holds the first batch of bulk once; the next run goes on from it.
    const staged = join(dir, 'staged.duckdb');
    const unique = 'SELECT count(*), count(DISTINCT id) FROM bulk';
    expect(await queryStore(staged, unique)).toEqual([['50000', '50000']]);
    const next = await sync(staged);
    expect(next.tables.get('bulk')?.status).toBe('copied');
    expect(next.tables.get('bulk')?.quarantined).toEqual([
      expect.objectContaining({ column: 'body', detector: 'too_large_to_scan', rows: 1 }),
    ]);
    expect(await queryStore(staged, unique)).toEqual([['60000', '60000']]);
    expect(await queryStore(join(dir, 'rows.duckdb'), unique)).toEqual([['60000', '60000']]);
    // Shortened in production, the table copies on the next run.
    await db.query("UPDATE blobs SET body = 'firmware 150', updated_at = now() WHERE id = 150");
    await db.query("UPDATE memos SET body = 'memo 3' WHERE id = 3");
    const fixed = await sync(join(dir, 'rows.duckdb'), { FLEETVAULT_SYNC_PATH: 'rows' });
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.tables.get('blobs')?.rowsWritten).toBe(200);
    for (const o of outputs) expect(o.stdout + o.stderr).not.toContain(CANARY);
  });
});
