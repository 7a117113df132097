// End to end (slow): setting change capture up on a production database. A role that does not
// own the tables finishes setup with the one statement it is given (the publication name is
// stable); a failed first run leaves no publication or slot behind (nothing pins a column against
// ALTER TABLE … DROP COLUMN, nothing holds WAL); the documented way to drop a column the policy
// reads works; rows written while a table was renamed are not lost.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, pgUrl, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';
import { DEMO_POLICY } from './helpers/synced-store.ts';

const LIVE_EVENTS =
  'SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL';
const INSERT_EVENTS = (n: number) =>
  `INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT (SELECT max(id) FROM connection_events) + g, (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL), now(), 'success', NULL, -50, 120, '10.9.9.9', '4.12.1' FROM generate_series(1, ${n}) g`;

describe('change capture setup', () => {
  let db: TestDatabase;
  let dir: string;
  let key: string;
  let tag: string;
  const sync = (
    opts: { source: string; store: string; publication: string; policy?: string },
    ...extra: string[]
  ) =>
    runCli([
      'sync',
      '--mode',
      'cdc',
      '--publication',
      opts.publication,
      '--source',
      opts.source,
      '--policy',
      opts.policy ?? DEMO_POLICY,
      '--store',
      opts.store,
      '--key-file',
      key,
      '--state-dir',
      join(dir, 'state'),
      ...extra,
    ]);
  const publications = async () =>
    (await db.query('SELECT pubname FROM pg_publication ORDER BY pubname')).rows.map(
      (r) => r.pubname as string,
    );
  const slots = async () =>
    Number(
      (
        await db.query(
          'SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()',
        )
      ).rows[0].n,
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-cdc-setup-'));
    key = join(dir, 'k');
    tag = randomBytes(3).toString('hex');
    const sim = await runCli([
      'simulate',
      '--source',
      db.url,
      '--users',
      '250',
      '--days',
      '2',
      '--seed',
      '9',
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('a failed first run leaves no publication or slot: nothing blocks DROP COLUMN or holds WAL', async () => {
    const opts = { source: db.url, store: join(dir, 'f.duckdb'), publication: `fv_f_${tag}` };
    const before = await publications();
    const device = (await db.query('SELECT min(id) AS id FROM devices')).rows[0].id as string;
    const firmware = (await db.query('SELECT firmware_version AS f FROM devices WHERE id = $1', [device]))
      .rows[0].f as string;
    await db.query("UPDATE devices SET firmware_version = 'ops-leak@example.com' WHERE id = $1", [device]);
    const slotsBefore = await slots();
    const failed = await sync(opts);
    expect(failed.code).toBe(1);
    expect(failed.stdout + failed.stderr).toContain('FV_PII_DETECTED');
    expect(await publications()).toEqual(before);
    expect(await slots()).toBe(slotsBefore);
    // A published column could not be dropped ("publication … depends on column"): this one can.
    await db.query('BEGIN');
    try {
      await db.query('ALTER TABLE devices DROP COLUMN firmware_version');
    } finally {
      await db.query('ROLLBACK');
    }
    await db.query('UPDATE devices SET firmware_version = $1 WHERE id = $2', [firmware, device]);
    const ok = await sync(opts);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await publications()).toEqual([...before, opts.publication].sort());
    expect(await slots()).toBe(slotsBefore + 1);
  });

  it('a role that does not own the tables finishes setup with the one statement it is given, the same on every run', async () => {
    const role = `fv_setr_${tag}`;
    db.roles.push(role);
    const grants = await runCli([
      'policy',
      'grants',
      '--policy',
      DEMO_POLICY,
      '--role',
      role,
      '--database',
      db.name,
    ]);
    await db.query(grants.stdout);
    await db.query(`ALTER ROLE ${role} REPLICATION`);
    const opts = { source: pgUrl(db.name, role), store: join(dir, 'a.duckdb'), publication: `fv_a_${tag}` };
    const asked: string[] = [];
    const slotsBefore = await slots();
    for (let run = 0; run < 2; run++) {
      const r = await sync(opts);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('FV_SOURCE_PRIVILEGE');
      asked.push(/run once: (CREATE PUBLICATION [^;]+);/.exec(r.stderr)?.[1] as string);
    }
    expect(asked[0]).toContain(`CREATE PUBLICATION "fv_a_${tag}" FOR TABLE`);
    expect(asked[1]).toBe(asked[0]);
    expect(await slots()).toBe(slotsBefore);
    await db.query(asked[0] as string); // the tables' owner runs it once
    const first = await sync(opts, '--json');
    expect(first.code, first.stderr).toBe(0);
    await db.query(INSERT_EVENTS(7));
    const next = await sync(opts, '--json');
    expect(next.code, next.stderr).toBe(0);
    expect(JSON.parse(next.stdout.trim().split('\n').pop() as string).transactions).toBe(1);
    expect(Number((await queryStore(opts.store, 'SELECT count(*) FROM connection_events'))[0]?.[0])).toBe(
      Number((await db.query(LIVE_EVENTS)).rows[0].n),
    );
  });

  it('rows written while a table was renamed arrive; a run during the rename stops clearly and loses nothing', async () => {
    const opts = { source: db.url, store: join(dir, 'r.duckdb'), publication: `fv_r_${tag}` };
    expect((await sync(opts)).code).toBe(0);
    const events = async () =>
      Number((await queryStore(opts.store, 'SELECT count(*) FROM connection_events'))[0]?.[0]);
    await db.query('ALTER TABLE connection_events RENAME TO connection_events_old');
    await db.query(INSERT_EVENTS(3).replaceAll('connection_events', 'connection_events_old'));
    const during = await sync(opts);
    expect(during.code).toBe(1);
    expect(during.stderr).toContain('FV_SCHEMA_DRIFT');
    expect(during.stderr).toContain('connection_events');
    await db.query('ALTER TABLE connection_events_old RENAME TO connection_events');
    await db.query(INSERT_EVENTS(2));
    const after = await sync(opts, '--json');
    expect(after.code, after.stderr).toBe(0);
    expect(
      JSON.parse(after.stdout.trim().split('\n').pop() as string).tables.connection_events.upserted,
    ).toBe(5);
    expect(await events()).toBe(Number((await db.query(LIVE_EVENTS)).rows[0].n));
    // Renamed and back between two runs: the changes still belong to the table.
    await db.query('ALTER TABLE connection_events RENAME TO connection_events_old');
    await db.query(INSERT_EVENTS(3).replaceAll('connection_events', 'connection_events_old'));
    await db.query('ALTER TABLE connection_events_old RENAME TO connection_events');
    const back = await sync(opts, '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(JSON.parse(back.stdout.trim().split('\n').pop() as string).tables.connection_events.upserted).toBe(
      3,
    );
    expect(await events()).toBe(Number((await db.query(LIVE_EVENTS)).rows[0].n));
  });

  it('dropping a column the policy reads: the way the README gives works', async () => {
    const opts = { source: db.url, store: join(dir, 'f.duckdb'), publication: `fv_f_${tag}` };
    // The other stores' publications list the column too; those stores are done.
    await db.query(`DROP PUBLICATION fv_a_${tag}, fv_r_${tag}`);
    const blocked = db.query('ALTER TABLE devices DROP COLUMN region');
    await expect(blocked).rejects.toMatchObject({ code: '2BP01' });
    // 1. The policy stops reading it.
    const demo = readFileSync(DEMO_POLICY, 'utf8');
    const notRead = join(dir, 'no-region.yaml');
    writeFileSync(
      notRead,
      demo.replace('region:           { class: attribute }', 'region:           { class: personal }'),
    );
    // 2. Change capture stops and prints the statement that puts the publication back to the policy.
    const stop = await sync({ ...opts, policy: notRead }, '--full');
    expect(stop.code).toBe(1);
    expect(stop.stderr).toContain('FV_CDC_PUBLICATION');
    const alter = /as the tables' owner: (ALTER PUBLICATION [^;]+);/.exec(stop.stderr)?.[1] as string;
    expect(alter).toContain(`"fv_f_${tag}"`);
    expect(alter).not.toContain('"region"');
    await db.query(alter);
    const full = await sync({ ...opts, policy: notRead }, '--full');
    expect(full.code, full.stderr).toBe(0);
    // 3. Now PostgreSQL lets the column go; 4. the policy forgets it; change capture goes on.
    await db.query('ALTER TABLE devices DROP COLUMN region');
    const gone = join(dir, 'gone-region.yaml');
    writeFileSync(gone, demo.replace(/\n {6}region: +\{ class: attribute \}/, ''));
    await db.query(
      "UPDATE devices SET firmware_version = 'after-drop' WHERE id = (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL)",
    );
    const next = await sync({ ...opts, policy: gone }, '--json');
    expect(next.code, next.stderr).toBe(0);
    expect(
      await queryStore(opts.store, "SELECT count(*) FROM devices WHERE firmware_version = 'after-drop'"),
    ).toEqual([['1']]);
  });
});
