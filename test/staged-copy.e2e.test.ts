// The staged sync path (src/sync/staged-copy.ts): raw values never reach a disk, and it writes
// what the row path writes.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TABLES } from '../src/sim/index.ts';
import { BIN, type CliRun, exited, runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';
import { DEMO_METRICS } from './helpers/synced-store.ts';

const ROWS = 120_000;

const POLICY = `version: 1
reviewed: true
k: 10
on_detect: quarantine
tables:
  items:
    primary_key: id
    cursor: id
    columns:
      id:           { class: identifier, domain: item }
      owner:        { class: identifier, domain: user }
      note:         { class: attribute }
      secret_token: { class: secret }
      legacy:       { class: identifier, action: drop }
      seen_at:      { class: time, transform: day }
      born:         { class: personal, transform: year }
      ip:           { class: personal, transform: ip_prefix }
      score:        { class: measure, transform: { bucket: [0, 10, 100] } }
      weight:       { class: measure }
      amount:       { class: measure }
      fraction:     { class: measure }
`;

/** Every file under a folder, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? files(p) : e.isFile() ? [p] : [];
  });
}

describe('staged sync path', () => {
  let db: TestDatabase;
  let dir: string;
  let tmp: string;
  let key: string;
  let policy: string;
  const canaries: string[] = [];
  const outputs: CliRun[] = [];

  const sync = async (store: string, env: NodeJS.ProcessEnv = {}) => {
    const r = await runCli(
      ['sync', '--source', db.url, '--policy', policy, '--store', store, '--key-file', key, '--json'],
      { cwd: dir, env: { TMPDIR: tmp, FLEETVAULT_SYNC_TRACE: '1', ...env } },
    );
    outputs.push(r);
    return r;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-staged-'));
    tmp = mkdtempSync(join(tmpdir(), 'fv-staged-tmp-'));
    key = join(dir, 'master.key');
    policy = join(dir, 'policy.yaml');
    writeFileSync(policy, POLICY);
    await db.query(`CREATE TABLE items (id text PRIMARY KEY, owner text, note text, secret_token text,
      legacy text, seen_at timestamptz, born date, ip inet, score int, weight float8,
      amount numeric(12,2), fraction numeric)`);
    // Canaries in every column that must not be stored as read: ids, owners, secrets, dropped
    // values, full IPs, and e-mail addresses in kept text (quarantined). Some text needs CSV quoting.
    await db.query(`INSERT INTO items SELECT 'fvcanary-id-' || lpad(i::text, 7, '0'), 'fvcanary-owner-' || (i % 997),
      CASE WHEN i % 5000 = 7 THEN 'write to fvcanary.mail' || i || '@example.org'
           WHEN i % 3 = 0 THEN 'note, with "quotes"' || chr(10) || 'and a newline'
           WHEN i % 3 = 1 THEN '' ELSE NULL END,
      'fvcanary-secret-' || i, 'fvcanary-legacy-' || i,
      timestamptz '1969-12-30' + i * interval '77 seconds', date '1950-01-01' + (i % 20000),
      ('10.' || (i % 200) || '.' || (i % 97) || '.' || (17 + i % 200))::inet, i % 150 - 20, i / 7.0,
      CASE WHEN i % 11 <> 0 THEN (i - 60000) / 8.0 END,
      -- Unconstrained numerics: a store DECIMAL(30,10) rounds the 11th decimal and beyond (half
      -- away from zero), and holds 20 integer digits.
      CASE i % 4 WHEN 0 THEN (i - 60000)::numeric / 7 WHEN 1 THEN (i::numeric * 1e-11) + 5e-11
        WHEN 2 THEN -(10::numeric ^ 20 - i) END
      FROM generate_series(1, ${ROWS}) i`);
    for (const i of [1, 2, 3, 7, 5007, 119_999]) {
      canaries.push(
        `fvcanary-id-${String(i).padStart(7, '0')}`,
        `fvcanary-secret-${i}`,
        `fvcanary-legacy-${i}`,
      );
    }
    canaries.push('fvcanary-owner-5', 'fvcanary.mail7@example.org', 'fvcanary.mail5007@example.org');
    canaries.push(`10.7.7.24`); // i = 7: 10.7.7.24, stored as 10.7.7.0/24
    expect((await runCli(['init', '--key-file', key], { cwd: dir })).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('takes the staged path, quarantines by value, and leaves no raw value in the store, its WAL or a temp folder', async () => {
    const store = join(dir, 'staged.duckdb');
    const r = await sync(store);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('sync items: staged path');
    const result = JSON.parse(r.stdout);
    const t = result.tables[0];
    expect(t.rowsRead).toBe(ROWS);
    expect(t.quarantined).toEqual([
      expect.objectContaining({ column: 'note', detector: 'email', rows: ROWS / 5000 }),
    ]);
    expect(t.rowsWritten).toBe(ROWS - ROWS / 5000);
    const places = [store, `${store}.wal`, ...files(tmp), ...files(dir).filter((f) => !f.endsWith('.yaml'))];
    for (const f of places) {
      let bytes: string;
      try {
        if (!statSync(f).isFile()) continue;
        bytes = readFileSync(f).toString('latin1');
      } catch {
        continue; // no WAL after a clean close
      }
      for (const c of canaries) expect(bytes.includes(c), `${f} holds canary ${c}`).toBe(false);
    }
    expect(readdirSync(tmp).filter((n) => n.startsWith('fleetvault-stage-'))).toEqual([]);
    for (const o of outputs) for (const c of canaries) expect(o.stdout + o.stderr).not.toContain(c);
  });

  it('writes exactly what the row path writes', async () => {
    const staged = join(dir, 'staged.duckdb');
    const rows = join(dir, 'rows.duckdb');
    const r = await sync(rows, { FLEETVAULT_SYNC_PATH: 'rows' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('sync items: row path');
    const all = 'SELECT * FROM items ORDER BY id';
    const a = await queryStore(staged, all);
    const b = await queryStore(rows, all);
    expect(a.length).toBe(ROWS - ROWS / 5000);
    expect(a).toEqual(b);
  });

  /**
   * Runs the CLI with `args` (its store `store`) and stops it with SIGTERM once the staged copy of
   * the table has begun (its staging folder exists); then it must exit 1 with FV_INTERRUPTED from
   * `who`, leave no staging folder, and the next sync must copy everything.
   */
  const stopWhileStaging = async (store: string, args: string[], who: string) => {
    const own = mkdtempSync(join(tmpdir(), 'fv-staged-stop-'));
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { ...process.env, TMPDIR: own, FLEETVAULT_SYNC_TRACE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let said = '';
    child.stdout.on('data', (d) => {
      said += d;
    });
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (d) => {
        said += d;
        if (said.includes('sync items: staged path')) resolve();
      });
    });
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(1);
    expect(said).toContain(`error FV_INTERRUPTED: ${who} stopped by SIGTERM`);
    expect(readdirSync(own).filter((n) => n.startsWith('fleetvault-stage-'))).toEqual([]);
    const again = await sync(store);
    expect(again.code, again.stderr).toBe(0);
    expect(await queryStore(store, 'SELECT count(*) FROM items')).toEqual([[String(ROWS - ROWS / 5000)]]);
  };

  it('stops at SIGTERM with FV_INTERRUPTED, leaving no staging folder, and the next run copies everything', async () => {
    const store = join(dir, 'stopped.duckdb');
    const args = ['sync', '--source', db.url, '--policy', policy, '--store', store, '--key-file', key];
    await stopWhileStaging(store, args, 'sync');
  });

  // Its first sync runs before the server listens: SIGTERM used to end the process, folder left.
  it('serve stops its sync in progress at SIGTERM: FV_INTERRUPTED, no staging folder left, and the next sync copies everything', async () => {
    const store = join(dir, 'served.duckdb');
    const served = ['--store', store, '--metrics', DEMO_METRICS, '--listen', '127.0.0.1:0'];
    const synced = ['--policy', policy, '--key-file', key, '--source', db.url, '--sync-every', '1h'];
    await stopWhileStaging(store, ['serve', ...served, ...synced], 'serve');
  });

  it('refuses a number its DECIMAL column cannot hold as the row path does, naming the column, not the value', async () => {
    const amountsPolicy = join(dir, 'amounts.yaml');
    writeFileSync(
      amountsPolicy,
      'version: 1\nreviewed: true\nk: 10\ntables:\n  amounts:\n    primary_key: id\n    cursor: id\n    columns:\n      id: { class: identifier, domain: item }\n      amount: { class: measure }\n',
    );
    const run = (store: string, env: NodeJS.ProcessEnv = {}) =>
      runCli(['sync', '--source', db.url, '--policy', amountsPolicy, '--store', store, '--key-file', key], {
        cwd: dir,
        env: { TMPDIR: tmp, FLEETVAULT_SYNC_TRACE: '1', ...env },
      });
    const cases = [
      { type: 'numeric(12,2)', bad: "'NaN'", words: 'outside DECIMAL(12,2)' },
      // A plain numeric is stored as DECIMAL(30,10): 20 integer digits, not 21.
      { type: 'numeric', bad: '10::numeric ^ 20', words: 'outside DECIMAL(30,10)' },
    ];
    for (const [i, c] of cases.entries()) {
      // A table of its own, so the other tests' rows stay as they are; the bad value mid-table.
      await db.query('DROP TABLE IF EXISTS amounts');
      await db.query(`CREATE TABLE amounts (id text PRIMARY KEY, amount ${c.type})`);
      await db.query('INSERT INTO amounts SELECT id, amount FROM items');
      await db.query(`UPDATE amounts SET amount = ${c.bad} WHERE id = 'fvcanary-id-0090001'`);
      const staged = await run(join(dir, `amounts-staged-${i}.duckdb`));
      const rows = await run(join(dir, `amounts-rows-${i}.duckdb`), { FLEETVAULT_SYNC_PATH: 'rows' });
      expect(staged.stderr).toContain('sync amounts: staged path');
      expect(rows.stderr).toContain('sync amounts: row path');
      for (const r of [staged, rows]) {
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain('FV_STORE_VALUE');
        expect(r.stderr).toContain(`amounts.amount holds a value ${c.words}, which the store cannot hold`);
        expect(r.stdout + r.stderr).not.toContain('1000000000000000');
        expect(r.stdout + r.stderr).not.toContain('fvcanary');
      }
    }
  });

  it('blocks a batch with PII under on_detect: block, naming table, column and detector only', async () => {
    writeFileSync(policy, POLICY.replace('on_detect: quarantine', 'on_detect: block'));
    const r = await sync(join(dir, 'blocked.duckdb'));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('sync items: staged path');
    const out = r.stdout + r.stderr;
    expect(out).toContain('items.note');
    expect(out).toContain('email');
    for (const c of canaries) expect(out).not.toContain(c);
    writeFileSync(policy, POLICY);
  });
});

describe('staged sync path on the demo schema, with erased owners and soft deletes', () => {
  let db: TestDatabase;
  let dir: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-staged-demo-'));
    const sim = ['simulate', '--source', db.url, '--users', '3000', '--days', '8', '--seed', '11'];
    expect((await runCli(sim)).code).toBe(0);
    expect((await runCli(['init', '--key-file', join(dir, 'master.key')])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('takes the staged path for every table it can and writes, drops and erases what the row path does', async () => {
    // Soft-deleted users become tombstones before the copy; their devices, sessions and events
    // are dropped on the way, and each dropped device is erased too, as on the row path.
    const sync = (store: string, env: NodeJS.ProcessEnv) =>
      runCli(
        [
          'sync',
          '--source',
          db.url,
          '--policy',
          join(process.cwd(), 'examples/demo/fleetvault.policy.yaml'),
          '--store',
          store,
          '--key-file',
          join(dir, 'master.key'),
          '--json',
        ],
        { cwd: dir, env: { FLEETVAULT_SYNC_TRACE: '1', ...env } },
      );
    const staged = join(dir, 'staged.duckdb');
    const rows = join(dir, 'rows.duckdb');
    const a = await sync(staged, {});
    expect(a.code, a.stderr).toBe(0);
    const b = await sync(rows, { FLEETVAULT_SYNC_PATH: 'rows' });
    expect(b.code, b.stderr).toBe(0);
    // The store reopened after every batch of both paths (its memory given back): the same rows.
    const reopened = { staged: join(dir, 'staged-reopened.duckdb'), rows: join(dir, 'rows-reopened.duckdb') };
    const c = await sync(reopened.staged, { FLEETVAULT_SYNC_RELEASE_MB: '0' });
    expect(c.code, c.stderr).toBe(0);
    const d = await sync(reopened.rows, { FLEETVAULT_SYNC_RELEASE_MB: '0', FLEETVAULT_SYNC_PATH: 'rows' });
    expect(d.code, d.stderr).toBe(0);
    for (const out of [c.stderr, d.stderr])
      expect(out).toMatch(/sync: the store's memory given back [1-9]\d* times during connection_events/);
    expect(a.stderr).not.toContain('memory given back');
    // Decimals (scale_measurements.weight_kg) included.
    for (const t of DEMO_TABLES) expect(a.stderr).toContain(`sync ${t}: staged path`);
    const counts = (out: string) =>
      (JSON.parse(out).tables as Array<Record<string, unknown>>).map(
        ({ table, rowsRead, rowsWritten, rowsDeleted, rowsErased }) => ({
          table,
          rowsRead,
          rowsWritten,
          rowsDeleted,
          rowsErased,
        }),
      );
    expect(counts(a.stdout)).toEqual(counts(b.stdout));
    expect(counts(c.stdout)).toEqual(counts(b.stdout));
    expect(counts(d.stdout)).toEqual(counts(b.stdout));
    const dropped = counts(a.stdout).filter((t) => Number(t.rowsDeleted) > 0);
    expect(dropped.map((t) => t.table)).toEqual(
      expect.arrayContaining(['users', 'devices', 'connection_events']),
    );
    for (const t of [...DEMO_TABLES, '_fv_forgotten']) {
      const all =
        t === '_fv_forgotten'
          ? 'SELECT domain, pseudonym FROM _fv_forgotten ORDER BY ALL'
          : `SELECT * FROM ${t} ORDER BY ALL`;
      const expected = await queryStore(rows, all);
      expect(await queryStore(staged, all), t).toEqual(expected);
      expect(await queryStore(reopened.staged, all), t).toEqual(expected);
      expect(await queryStore(reopened.rows, all), t).toEqual(expected);
    }
  });
});
