// End to end (slow): the CLI as a new user meets it.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';

describe('fleetvault CLI', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-cli-'));
    expect((await runCli(['simulate', '--source', db.url, '--users', '300', '--days', '3'])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('exits 2 on usage errors', async () => {
    expect((await runCli(['sync', '--no-such-flag'])).code).toBe(2);
    expect((await runCli(['frobnicate'])).code).toBe(2);
    const noSource = await runCli(['sync'], { cwd: dir, env: { FLEETVAULT_SOURCE: '' } });
    expect(noSource.code).toBe(2);
    expect(noSource.stderr).toContain('--source');
  });

  it('simulate refuses a database that already has the tables unless --replace', async () => {
    const again = await runCli(['simulate', '--source', db.url, '--users', '10', '--days', '1']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('FV_SIM_TABLES_EXIST');
    expect(
      (await runCli(['simulate', '--source', db.url, '--users', '300', '--days', '3', '--replace'])).code,
    ).toBe(0);
  });

  it('simulate is deterministic from its seed', async () => {
    const other = await createTestDatabase();
    try {
      expect((await runCli(['simulate', '--source', other.url, '--users', '300', '--days', '3'])).code).toBe(
        0,
      );
      const digest = async (d: TestDatabase) =>
        (await d.query("SELECT md5(string_agg(e::text, ',' ORDER BY e.id)) AS h FROM connection_events e"))
          .rows[0].h;
      expect(await digest(other)).toBe(await digest(db));
    } finally {
      await other.drop();
    }
  });

  it('policy suggest drafts an unreviewed policy that classifies the obvious columns, and sync refuses it', async () => {
    const file = join(dir, 'draft.yaml');
    const r = await runCli(['policy', 'suggest', '--source', db.url, '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('reviewed: false');
    expect(text).toMatch(/password_hash: +\{ class: secret \}/);
    expect(text).toMatch(/access_token: +\{ class: secret \}/);
    expect(text).toMatch(/email: +\{ class: personal \}/);
    expect(text).toMatch(/wifi_ssid: +\{ class: personal \}/);
    expect(text).toMatch(/birth_date: +\{ class: personal, transform: year \}/);
    expect(text).toMatch(/weight_kg: +\{ class: sensitive \}/);
    expect(text).toMatch(/user_id: +\{ class: identifier, domain: user \}/);
    const check = await runCli(['policy', 'check', '--policy', file, '--source', db.url]);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).toContain('FV_POLICY_UNREVIEWED');
    expect((await runCli(['init', '--key-file', join(dir, 'k')])).code).toBe(0);
    const sync = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      file,
      '--store',
      join(dir, 's.duckdb'),
      '--key-file',
      join(dir, 'k'),
    ]);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain('FV_POLICY_UNREVIEWED');
  });

  it('policy check names unclassified columns and entries that do not exist, with positions', async () => {
    const file = join(dir, 'stale.yaml');
    writeFileSync(
      file,
      'version: 1\nreviewed: true\ntables:\n  users:\n    primary_key: id\n    columns:\n      id: { class: identifier, domain: user }\n      shoe_size: { class: measure }\n  ghosts:\n    primary_key: id\n    columns:\n      id: { class: attribute }\n',
    );
    const r = await runCli(['policy', 'check', '--policy', file, '--source', db.url, '--json']);
    expect(r.code).toBe(1);
    const { problems } = JSON.parse(r.stdout);
    const codes = problems.map((p: { code: string }) => p.code);
    expect(codes).toContain('FV_POLICY_UNCLASSIFIED_COLUMN');
    expect(problems.find((p: { path: string }) => p.path === 'tables.users.columns.shoe_size')).toMatchObject(
      {
        code: 'FV_POLICY_UNKNOWN_COLUMN',
        line: 8,
      },
    );
    expect(problems.find((p: { code: string }) => p.code === 'FV_POLICY_UNKNOWN_TABLE')).toMatchObject({
      line: 10,
    });
    expect(problems.filter((p: { message: string }) => p.message.includes('users.email')).length).toBe(1);
  });

  it('sql runs one read-only SELECT and refuses everything else', async () => {
    const store = join(dir, 'demo.duckdb');
    const key = join(dir, 'k2');
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
    const policy = join(process.cwd(), 'examples/demo/fleetvault.policy.yaml');
    expect(
      (await runCli(['sync', '--source', db.url, '--policy', policy, '--store', store, '--key-file', key]))
        .code,
    ).toBe(0);
    const ok = await runCli(['sql', '--store', store, '--json', 'SELECT count(*) AS n FROM devices']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).columns).toEqual(['n']);
    for (const bad of [
      'DELETE FROM devices',
      'SELECT 1; SELECT 2',
      "COPY devices TO '/tmp/x.csv'",
      "ATTACH '/tmp/x.db'",
      'SET threads = 1',
      'INSTALL httpfs',
    ]) {
      const r = await runCli(['sql', '--store', store, bad]);
      expect(r.code, bad).toBe(1);
      expect(r.stderr, bad).toMatch(/FV_SQL_(REFUSED|FAILED)/);
    }
    // The CLI takes the analyst path: the same table allow-list, decided on the bound plan.
    for (const internal of [
      'WITH _fv_meta AS (FROM _fv_meta) FROM _fv_meta',
      'SELECT * FROM _fv_tables',
      'SHOW TABLES',
      'SELECT * FROM information_schema.tables',
    ]) {
      const r = await runCli(['sql', '--store', store, internal]);
      expect(r.code, internal).toBe(1);
      expect(r.stderr, internal).toContain('FV_SQL_REFUSED');
    }
    const file = await runCli(['sql', '--store', store, "SELECT * FROM read_text('/etc/hostname')"]);
    expect(file.code).toBe(1);
  }, 300_000);
});
