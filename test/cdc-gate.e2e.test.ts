// End to end (slow): change capture with least privilege. The login role fleetvault runs as has
// no REPLICATION: it reads fleetvault's own slot only through the gate `policy grants --mode cdc`
// installs (SECURITY DEFINER functions owned by a NOLOGIN replication role: pgoutput, the
// policy's publication, a guard on every decoded relation). A publication widened by hand never
// lets a secret value reach fleetvault: the bytes PostgreSQL sends are recorded and searched.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Canaries, canaryValues } from '../src/sim/index.ts';
import { parseLsn } from '../src/source/index.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, pgUrl, type TestDatabase, withClient } from './helpers/pg.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';
import { DEMO_POLICY } from './helpers/synced-store.ts';
import { type WireRecorder, wireRecorder } from './helpers/wire-recorder.ts';

const USER_COLUMNS = ['id', 'birth_date', 'country', 'timezone', 'created_at', 'updated_at', 'deleted_at'];

describe('change capture through the gate: the login role cannot decode WAL', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let key: string;
  let reader: string;
  let trusted: string;
  let owner: string;
  let pub: string;
  let wire: WireRecorder;
  const sync = (source: string, ...extra: string[]) =>
    runCli([
      'sync',
      '--mode',
      'cdc',
      '--publication',
      pub,
      '--source',
      source,
      '--policy',
      DEMO_POLICY,
      '--store',
      store,
      '--key-file',
      key,
      '--state-dir',
      join(dir, 'state'),
      ...extra,
    ]);
  const last = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string);
  const confirmed = async () =>
    (
      await db.query('SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE slot_name = $1', [
        pub,
      ])
    ).rows[0]?.l as string;
  const storeLsn = async () =>
    String((await queryStore(store, "SELECT value FROM _fv_meta WHERE key = 'cdc_lsn'"))[0]?.[0]);
  const liveUsers = async () =>
    Number((await db.query('SELECT count(*)::int AS n FROM users WHERE deleted_at IS NULL')).rows[0].n);
  const storedUsers = async () => Number((await queryStore(store, 'SELECT count(*) FROM users'))[0]?.[0]);

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-cdc-gate-'));
    store = join(dir, 'store.duckdb');
    key = join(dir, 'k');
    const tag = randomBytes(3).toString('hex');
    reader = `fv_cdcr_${tag}`;
    trusted = `fv_cdct_${tag}`;
    pub = `fv_gate_${tag}`;
    owner = `fv_cdcx_${tag}`;
    db.roles.push(reader, trusted, owner);
    const sim = await runCli([
      'simulate',
      '--source',
      db.url,
      '--users',
      '300',
      '--days',
      '2',
      '--seed',
      '5',
      '--canaries',
      join(dir, 'canaries.json'),
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    const grants = await runCli([
      'policy',
      'grants',
      '--policy',
      DEMO_POLICY,
      '--role',
      reader,
      '--database',
      db.name,
      '--mode',
      'cdc',
      '--publication',
      pub,
      '--replication-role',
      owner,
    ]);
    expect(grants.code, grants.stderr).toBe(0);
    await db.query(grants.stdout);
    // What the README used to ask for: the same column GRANTs plus REPLICATION.
    const plain = await runCli([
      'policy',
      'grants',
      '--policy',
      DEMO_POLICY,
      '--role',
      trusted,
      '--database',
      db.name,
    ]);
    await db.query(plain.stdout);
    await db.query(`ALTER ROLE ${trusted} REPLICATION`);
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
    wire = await wireRecorder();
  });

  afterAll(async () => {
    await wire?.close();
    await db?.drop();
  });

  it('the login role can neither create a slot nor decode WAL, only EXECUTE the gate; policy check --strict passes for it and fails for a REPLICATION role', async () => {
    await withClient(pgUrl(db.name, reader), async (c) => {
      const refused = async (sql: string) =>
        expect(c.query(sql), sql).rejects.toMatchObject({ code: expect.stringMatching(/^42501$/) });
      await refused(`SELECT pg_create_logical_replication_slot('${pub}_mine', 'test_decoding')`);
      await refused(`SELECT pg_create_logical_replication_slot('${pub}_mine', 'pgoutput')`);
      await refused(`SELECT * FROM pg_logical_slot_peek_changes('${pub}', NULL, NULL)`);
      await refused(
        `SELECT * FROM pg_logical_slot_peek_binary_changes('${pub}', NULL, NULL, 'proto_version', '1', 'publication_names', '${pub}')`,
      );
      await refused(`SELECT pg_replication_slot_advance('${pub}', '0/0')`);
      await refused(`CREATE PUBLICATION ${pub}_all FOR ALL TABLES`);
      await refused(
        `CREATE OR REPLACE FUNCTION ${pub}.peek(upto integer) RETURNS SETOF bytea LANGUAGE sql AS 'SELECT NULL::bytea'`,
      );
      await refused(`ALTER FUNCTION ${pub}.peek(integer) SECURITY INVOKER`);
      const rights = (
        await c.query(
          `SELECT has_function_privilege($1, 'EXECUTE') AS mine, has_function_privilege('public', $1, 'EXECUTE') AS everyone, (SELECT rolreplication FROM pg_roles WHERE rolname = current_user) AS replication`,
          [`${pub}.peek(integer)`],
        )
      ).rows[0];
      expect(rights).toEqual({ mine: true, everyone: false, replication: false });
    });
    const check = (user: string) =>
      runCli([
        'policy',
        'check',
        '--policy',
        DEMO_POLICY,
        '--source',
        pgUrl(db.name, user),
        '--strict',
        '--mode',
        'cdc',
        '--publication',
        pub,
      ]);
    const ok = await check(reader);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).not.toContain('warning');
    const trustedCheck = await check(trusted);
    expect(trustedCheck.code, trustedCheck.stderr).toBe(1);
    expect(trustedCheck.stdout).toContain('FV_SOURCE_OVERPRIVILEGED');
    expect(trustedCheck.stdout).toContain(`role ${trusted} has REPLICATION`);
    // The gate's owner must never log in: whoever could would decode everything.
    await db.query(`ALTER ROLE ${owner} LOGIN`);
    const loginOwner = await check(reader);
    await db.query(`ALTER ROLE ${owner} NOLOGIN`);
    expect(loginOwner.code).toBe(1);
    expect(loginOwner.stdout).toContain(`belongs to role ${owner}, which can log in`);
  });

  it('sync --mode cdc runs as the login role through the gate: a first copy, then changes, no canary anywhere', async () => {
    const first = await sync(pgUrl(db.name, reader), '--json');
    expect(first.code, first.stderr).toBe(0);
    expect(last(first.stdout).access).toBe('gate');
    expect(await storedUsers()).toBe(await liveUsers());
    await db.query("UPDATE users SET country = 'ZZ', updated_at = now() WHERE id % 7 = 0");
    await db.query('DELETE FROM connection_events WHERE id % 50 = 0');
    const next = await sync(pgUrl(db.name, reader), '--json');
    expect(next.code, next.stderr).toBe(0);
    const r = last(next.stdout);
    expect(r.access).toBe('gate');
    expect(r.transactions).toBe(2);
    const zz = Number(
      (await db.query("SELECT count(*)::int AS n FROM users WHERE country = 'ZZ' AND deleted_at IS NULL"))
        .rows[0].n,
    );
    expect(zz).toBeGreaterThan(10);
    expect(await queryStore(store, "SELECT count(*) FROM users WHERE country = 'ZZ'")).toEqual([
      [String(zz)],
    ]);
    expect(parseLsn(await confirmed())).toBe(parseLsn(await storeLsn()));
    const dump = await dumpStore(store);
    const canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    for (const c of canaries) {
      expect(dump.includes(c), c).toBe(false);
      expect(next.stdout + next.stderr + first.stdout + first.stderr).not.toContain(c);
    }
  });

  it('a slot moved past the store behind its back (the gate lets the login role advance it) stops the run instead of skipping changes', async () => {
    await db.query("UPDATE users SET country = 'QQ', updated_at = now() WHERE id % 5 = 0");
    await withClient(pgUrl(db.name, reader), (c) => c.query(`SELECT ${pub}.advance(pg_current_wal_lsn())`));
    const lost = await sync(pgUrl(db.name, reader));
    expect(lost.code).toBe(1);
    expect(lost.stderr).toContain('FV_CDC_SLOT_LOST');
    expect(lost.stderr).toContain('was confirmed past what this store holds');
    const full = await sync(pgUrl(db.name, reader), '--full');
    expect(full.code, full.stderr).toBe(0);
    const qq = Number(
      (await db.query("SELECT count(*)::int AS n FROM users WHERE country = 'QQ' AND deleted_at IS NULL"))
        .rows[0].n,
    );
    expect(await queryStore(store, "SELECT count(*) FROM users WHERE country = 'QQ'")).toEqual([
      [String(qq)],
    ]);
  });

  it('a publication widened by hand: refused before reading, and once put back the guard still stops every change decoded in between; no secret byte reaches fleetvault', async () => {
    const canary = `pwhash-canary-${randomBytes(12).toString('hex')}`;
    const before = { slot: await confirmed(), store: await storeLsn(), dump: await dumpStore(store) };
    const cols = (extra: string[]) => [...USER_COLUMNS, ...extra].map((c) => `"${c}"`).join(', ');
    await db.query(`ALTER PUBLICATION ${pub} DROP TABLE users`);
    await db.query(`ALTER PUBLICATION ${pub} ADD TABLE users (${cols(['password_hash', 'email'])})`);
    await db.query(
      'UPDATE users SET password_hash = $1, updated_at = now() WHERE id IN (SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 3)',
      [canary],
    );
    // Widened now: the run stops at the publication check, before reading the slot.
    const wide = await sync(wire.url(db.name, reader));
    expect(wide.code).toBe(1);
    expect(wide.stderr).toContain('FV_CDC_PUBLICATION');
    expect(wide.stderr).toMatch(
      /carries other columns of users than the policy reads \(also (email, password_hash|password_hash, email)\)/,
    );
    expect(wide.stderr).toContain(`ALTER PUBLICATION "${pub}" SET TABLE`);
    // Put back: today's publication is right, but the changes in between were decoded with it wide.
    await db.query(`ALTER PUBLICATION ${pub} DROP TABLE users`);
    await db.query(`ALTER PUBLICATION ${pub} ADD TABLE users (${cols([])})`);
    await db.query("UPDATE users SET timezone = 'UTC', updated_at = now() WHERE id % 11 = 0");
    const back = await sync(wire.url(db.name, reader));
    expect(back.code).toBe(1);
    expect(back.stderr).toContain('FV_CDC_PUBLICATION');
    expect(back.stderr).toMatch(
      /the publication carried users\.(password_hash|email), which the policy does not read/,
    );
    expect(back.stderr).toContain('nothing of these changes left PostgreSQL');
    // The proof: PostgreSQL never sent the value to fleetvault, which therefore never held it.
    const bytes = wire.received();
    expect(bytes.length).toBeGreaterThan(1000);
    expect(bytes.includes(canary)).toBe(false);
    expect(wide.stdout + wide.stderr + back.stdout + back.stderr).not.toContain(canary);
    // Nothing moved: the slot, the store's position and its rows are as they were.
    expect(await confirmed()).toBe(before.slot);
    expect(await storeLsn()).toBe(before.store);
    expect(await dumpStore(store)).toBe(before.dump);
    // The way out the message gives: start over from a new slot, through the gate.
    const full = await sync(wire.url(db.name, reader), '--full', '--json');
    expect(full.code, full.stderr).toBe(0);
    expect(await storedUsers()).toBe(await liveUsers());
    await db.query("UPDATE users SET country = 'YY', updated_at = now() WHERE id % 13 = 0");
    const after = await sync(wire.url(db.name, reader), '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(last(after.stdout).transactions).toBe(1);
    const yy = Number(
      (await db.query("SELECT count(*)::int AS n FROM users WHERE country = 'YY' AND deleted_at IS NULL"))
        .rows[0].n,
    );
    expect(await queryStore(store, "SELECT count(*) FROM users WHERE country = 'YY'")).toEqual([
      [String(yy)],
    ]);
    expect(wire.received().includes(canary)).toBe(false);
    expect(await dumpStore(store)).not.toContain(canary);
  });

  it('a publication that adds a table, filters rows or drops a kind of change is refused before reading', async () => {
    await db.query('CREATE TABLE side_notes (id bigint PRIMARY KEY, note text)');
    const tries: Array<[string, string, string]> = [
      [
        `ALTER PUBLICATION ${pub} ADD TABLE side_notes`,
        `ALTER PUBLICATION ${pub} DROP TABLE side_notes`,
        'publishes public.side_notes, which is not a policy table',
      ],
      [
        `ALTER PUBLICATION ${pub} SET (publish = 'insert, update')`,
        `ALTER PUBLICATION ${pub} SET (publish = 'insert, update, delete, truncate')`,
        'does not publish delete, truncate',
      ],
      [
        `ALTER PUBLICATION ${pub} DROP TABLE users; ALTER PUBLICATION ${pub} ADD TABLE users (${USER_COLUMNS.join(', ')}) WHERE (country <> 'FR')`,
        `ALTER PUBLICATION ${pub} DROP TABLE users; ALTER PUBLICATION ${pub} ADD TABLE users (${USER_COLUMNS.join(', ')})`,
        'filters the rows of users',
      ],
    ];
    for (const [edit, undo, says] of tries) {
      const slot = await confirmed();
      await db.query(edit);
      const r = await sync(pgUrl(db.name, reader));
      expect(r.code, edit).toBe(1);
      expect(r.stderr, edit).toContain('FV_CDC_PUBLICATION');
      expect(r.stderr, edit).toContain(says);
      expect(await confirmed()).toBe(slot);
      await db.query(undo);
    }
    // Each edit was undone with no change made meanwhile: the next run reads the slot as usual.
    const ok = await sync(pgUrl(db.name, reader));
    expect(ok.code, ok.stderr).toBe(0);
  });
});
