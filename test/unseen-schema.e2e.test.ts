// End to end (slow): a schema fleetvault has never seen: another schema name, quoted mixed-case
// names, a composite key, enums, arrays, JSON, numeric, timestamps without time zone, escapes.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';

const SCHEMA = `
CREATE SCHEMA app;
CREATE TYPE app.plan AS ENUM ('free', 'pro');
CREATE TABLE app."Customers" ("CustomerID" uuid PRIMARY KEY, "E-Mail" text, plan app.plan, tags text[], prefs jsonb,
  balance numeric(12,2), is_active boolean, "signedUp" timestamp, modified timestamp NOT NULL, api_secret text);
CREATE TABLE app.order_lines (order_id int, line_no smallint, sku text, qty int, note text, created date,
  PRIMARY KEY (order_id, line_no));
INSERT INTO app."Customers" SELECT gen_random_uuid(), 'unseen'||g||'@canary.example', (CASE WHEN g%2=0 THEN 'pro' ELSE 'free' END)::app.plan,
  ARRAY['a','b'], '{"theme":"dark"}', g*1.5, g%3=0, now() - g*interval '1 day', now() - g*interval '1 hour', 'sekret'||md5(g::text)
  FROM generate_series(1,500) g;
INSERT INTO app.order_lines SELECT g/3, g%3, 'SKU-'||g, g%7, CASE WHEN g=77 THEN E'tab\\there\\nnewline back\\\\slash' ELSE 'ok' END,
  current_date - g FROM generate_series(1,900) g;
`;

describe('a schema never seen before', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-unseen-'));
    await db.query(SCHEMA);
    expect((await runCli(['init', '--key-file', join(dir, 'k')])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('drafts, syncs and syncs incrementally without a line of demo knowledge', async () => {
    const policy = join(dir, 'p.yaml');
    const draft = await runCli(['policy', 'suggest', '--source', db.url, '--schema', 'app', '--out', policy]);
    expect(draft.code, draft.stderr).toBe(0);
    const text = readFileSync(policy, 'utf8');
    expect(text).toContain('primary_key: [order_id, line_no]');
    expect(text).toContain('cursor: modified');
    expect(text).toMatch(/E-Mail: +\{ class: personal \}/);
    expect(text).toMatch(/api_secret: +\{ class: secret \}/);
    // The reviewer's one change: `note` holds status words, not notes about people, so it is kept.
    expect(text).toMatch(/note: +\{ class: personal \}/);
    writeFileSync(
      policy,
      text
        .replace('reviewed: false', 'reviewed: true')
        .replace(/note: +\{ class: personal \}/, 'note: { class: attribute }'),
    );
    const store = join(dir, 's.duckdb');
    const args = [
      'sync',
      '--source',
      db.url,
      '--policy',
      policy,
      '--store',
      store,
      '--key-file',
      join(dir, 'k'),
      '--json',
    ];
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
    const note = await queryStore(store, "SELECT note FROM order_lines WHERE note <> 'ok'");
    expect(note[0]?.[0]).toBe('tab\there\nnewline back\\slash');
    const types = await queryStore(
      store,
      "SELECT data_type FROM duckdb_columns() WHERE table_name = 'Customers' ORDER BY column_index",
    );
    expect(types.map((t) => t[0])).toEqual([
      'UUID',
      'VARCHAR',
      'VARCHAR',
      'VARCHAR',
      'DECIMAL(12,2)',
      'BOOLEAN',
      'TIMESTAMP',
      'TIMESTAMP',
    ]);
    await db.query(
      `UPDATE app."Customers" SET plan = 'pro', modified = now() + interval '1 day' WHERE balance < 10`,
    );
    const second = await runCli(args);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).tables[0]).toMatchObject({
      table: 'Customers',
      mode: 'upsert',
      rowsRead: 6,
    });
    const dump = await dumpStore(store);
    expect(dump).not.toContain('canary.example');
    expect(dump).not.toContain('sekret');
  });
});
