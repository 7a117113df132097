// End to end (slow): change capture from the machine's PostgreSQL (wal_level = logical) through
// a pgoutput slot: inserts, updates and hard deletes without a cursor, secrets never published,
// and kill -9 at random moments never confirming a position the store does not hold.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { type Canaries, canaryValues } from '../src/sim/index.ts';
import { parseLsn } from '../src/source/index.ts';
import { BIN, exited, runCli, spawnServe } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';
import { DEMO_METRICS, DEMO_POLICY } from './helpers/synced-store.ts';

const LIVE: Record<string, string> = {
  users: 'SELECT count(*)::int AS n FROM users WHERE deleted_at IS NULL',
  devices:
    'SELECT count(*)::int AS n FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL',
  connection_events:
    'SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL',
  app_sessions:
    'SELECT count(*)::int AS n FROM app_sessions s JOIN users u ON u.id = s.user_id WHERE u.deleted_at IS NULL',
};

describe('change capture (sync --mode cdc)', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let key: string;
  const args = () => [
    'sync',
    '--mode',
    'cdc',
    '--source',
    db.url,
    '--policy',
    DEMO_POLICY,
    '--store',
    store,
    '--key-file',
    key,
    '--state-dir',
    join(dir, 'state'),
  ];

  const expectLive = async () => {
    for (const [table, sql] of Object.entries(LIVE)) {
      const stored = Number((await queryStore(store, `SELECT count(*) FROM ${table}`))[0]?.[0]);
      expect(stored, table).toBe(Number((await db.query(sql)).rows[0].n));
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-cdc-'));
    store = join(dir, 'store.duckdb');
    key = join(dir, 'k');
    expect(
      (
        await runCli([
          'simulate',
          '--source',
          db.url,
          '--users',
          '400',
          '--days',
          '3',
          '--seed',
          '12',
          '--canaries',
          join(dir, 'canaries.json'),
        ])
      ).code,
    ).toBe(0);
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('first run copies everything and opens a slot whose publication carries only what the policy reads', async () => {
    const r = await runCli([...args(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    await expectLive();
    const published = (
      await db.query(
        "SELECT attnames::text[] AS attnames FROM pg_publication_tables WHERE tablename = 'users'",
      )
    ).rows[0].attnames as string[];
    expect(published.sort()).toEqual([
      'birth_date',
      'country',
      'created_at',
      'deleted_at',
      'id',
      'timezone',
      'updated_at',
    ]);
    expect(
      (
        await db.query(
          'SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()',
        )
      ).rows[0].n,
    ).toBe(1);
  });

  it('--follow applies changes as they come and ends at SIGTERM with exit 0, keeping what it applied', async () => {
    const child = spawn(process.execPath, [BIN, ...args(), '--follow', '--poll-ms', '200'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let said = '';
    child.stdout.on('data', (d) => {
      said += d;
    });
    child.stderr.on('data', (d) => {
      said += d;
    });
    await db.query(
      "UPDATE users SET country = 'IS' WHERE id = (SELECT min(id) FROM users WHERE deleted_at IS NULL)",
    );
    for (let i = 0; i < 1200 && !said.includes('Change capture: 1 transaction'); i++) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(said).toContain('Change capture: 1 transaction(s)');
    child.kill('SIGTERM');
    expect(await exited(child), said).toBe(0);
    expect(said).toContain('change capture stopped by SIGTERM: the transactions applied before it are kept');
    const n = (
      await db.query("SELECT count(*)::int AS n FROM users WHERE country = 'IS' AND deleted_at IS NULL")
    ).rows[0].n;
    expect(n).toBeGreaterThan(0);
    expect(await queryStore(store, "SELECT count(*) FROM users WHERE country = 'IS'")).toEqual([[String(n)]]);
    await expectLive();
  });

  // A slot decodes the cluster's WAL from its restart position, which PostgreSQL cannot move past
  // a transaction still running in any database: while another test file's transaction of three
  // million changes runs, every round of every scheduled sync decodes all of it again (twice:
  // the read and the advance), and this test timed out at 480 s in full suites (13-15 s alone).
  // So it waits until no other database has a transaction writing for over 20 s, and a wait that
  // runs out says what serve said and how far behind the slot was, instead of a bare timeout.
  it('serve --sync-mode cdc applies changes from the slot on its schedule', {
    timeout: 900_000,
  }, async () => {
    for (let i = 0; i < 720; i++) {
      const long = await db.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND datname <> current_database() AND now() - xact_start > interval '20 seconds'",
      );
      if (long.rows[0].n === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const state = join(dir, 'state');
    const serve = spawnServe(
      store,
      DEMO_METRICS,
      state,
      '--policy',
      DEMO_POLICY,
      '--key-file',
      key,
      '--sync-every',
      '10s',
      '--sync-mode',
      'cdc',
      '--source',
      db.url,
      '--probe-every',
      '5m',
    );
    const { child } = serve;
    // Also when the test times out (its `finally` then never runs): no server left behind.
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const deadline = Date.now() + 360_000;
    const until = async (what: string, done: () => boolean) => {
      while (!done()) {
        if (child.exitCode !== null)
          throw new Error(`serve exited with ${child.exitCode} ${what}: ${serve.out()}`);
        if (Date.now() > deadline) {
          const slots = await db.query(
            'SELECT slot_name, active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS behind FROM pg_replication_slots WHERE database = current_database()',
          );
          throw new Error(
            `serve did not get ${what} in time; slots ${JSON.stringify(slots.rows)}; serve said: ${serve.out()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    };
    try {
      await until('to serving', () => serve.out().includes('Syncing every'));
      await db.query(
        "UPDATE devices SET firmware_version = 'cdc-live' WHERE id = (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL)",
      );
      const audit = () => readFileSync(join(state, 'audit.jsonl'), 'utf8');
      await until('to a scheduled sync applying the change', () =>
        /"action":"sync","outcome":"ok","detail":\{"mode":"cdc","transactions":[1-9]/.test(audit()),
      );
    } finally {
      // A serve in the middle of a sync finishes it before it stops: killed after 20 s, so a
      // failure above is reported rather than lost to the test's timeout.
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited(child);
      clearTimeout(killer);
    }
    expect(
      await queryStore(store, "SELECT count(*) FROM devices WHERE firmware_version = 'cdc-live'"),
    ).toEqual([['1']]);
  });

  it('inserts, updates and hard deletes arrive without a cursor; deleted users take their rows along', async () => {
    const k = loadKeyFile(key);
    const event = (await db.query('SELECT min(id) AS id FROM connection_events')).rows[0].id as string;
    const [gone, soft] = (
      await db.query(
        'SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY u.id LIMIT 2',
      )
    ).rows.map((x) => String(x.id));
    const session = (
      await db.query(
        'SELECT s.id FROM app_sessions s JOIN users u ON u.id = s.user_id WHERE u.deleted_at IS NULL AND u.id NOT IN ($1, $2) ORDER BY s.id LIMIT 1',
        [gone, soft],
      )
    ).rows[0].id as string;
    await db.query('DELETE FROM connection_events WHERE id = $1', [event]); // a leaf hard delete: invisible to cursors
    await db.query("UPDATE app_sessions SET platform = 'cdc-os' WHERE id = $1", [session]); // a table without a cursor
    await db.query('DELETE FROM users WHERE id = $1', [gone]); // cascades in production
    await db.query('UPDATE users SET updated_at = now() WHERE id <> $1', [soft]); // canary users' rows travel too
    await db.query('UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1', [soft]);
    await db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT (SELECT max(id) FROM connection_events) + g, (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL), now(), 'success', NULL, -50, 120, '10.9.9.9', '4.12.1' FROM generate_series(1, 25) g",
    );
    const r = await runCli([...args(), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim().split('\n').pop() as string);
    expect(result.transactions).toBe(6);
    expect(result.tables.connection_events.deleted).toBeGreaterThanOrEqual(1);
    await expectLive();
    const eventP = pseudonymToUuid(hmacPseudonymizer(k, 'event').pseudonym(event));
    expect(await queryStore(store, `SELECT count(*) FROM connection_events WHERE id = '${eventP}'`)).toEqual([
      ['0'],
    ]);
    expect(await queryStore(store, "SELECT count(*) FROM app_sessions WHERE platform = 'cdc-os'")).toEqual([
      ['1'],
    ]);
    for (const u of [gone, soft]) {
      const p = pseudonymToUuid(hmacPseudonymizer(k, 'user').pseudonym(u as string));
      expect(await queryStore(store, `SELECT count(*) FROM devices WHERE user_id = '${p}'`), u).toEqual([
        ['0'],
      ]);
    }
    // Planted canaries (emails, names, phones, password hashes, IPs) reach neither store nor output.
    const dump = await dumpStore(store);
    const canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    expect(canaries.length).toBeGreaterThan(5);
    for (const c of canaries) {
      expect(dump.includes(c), `store holds canary ${c}`).toBe(false);
      expect((r.stdout + r.stderr).includes(c)).toBe(false);
    }
    // Nothing new: an empty round.
    const again = await runCli([...args(), '--json']);
    expect(JSON.parse(again.stdout.trim().split('\n').pop() as string).transactions).toBe(0);
  });

  it('kill -9 at random moments: the slot never confirms past the store, and a re-run converges', async () => {
    for (let round = 0; round < 3; round++) {
      await db.query(
        "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT (SELECT max(id) FROM connection_events) + g, (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL) + (g % 5), now(), 'success', NULL, -50, 120, '10.9.9.9', '4.12.1' FROM generate_series(1, 60000) g",
      );
      await db.query("UPDATE connection_events SET outcome = 'fail' WHERE id % 97 = 0");
      const child = spawn(process.execPath, [BIN, ...args()], { stdio: 'ignore' });
      const wait = 300 + Math.floor(Math.random() * 1500);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => child.kill('SIGKILL'), wait);
        child.on('exit', () => {
          clearTimeout(t);
          resolve();
        });
      });
      const slot = (
        await db.query(
          'SELECT confirmed_flush_lsn::text AS l FROM pg_replication_slots WHERE database = current_database()',
        )
      ).rows[0].l as string;
      const held = String(
        (await queryStore(store, "SELECT value FROM _fv_meta WHERE key = 'cdc_lsn'"))[0]?.[0],
      );
      expect(parseLsn(slot) <= parseLsn(held), `slot ${slot} vs store ${held}`).toBe(true);
      const r = await runCli(args());
      expect(r.code, r.stderr).toBe(0);
      await expectLive();
      const fails = Number(
        (
          await db.query(
            "SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL AND e.outcome = 'fail'",
          )
        ).rows[0].n,
      );
      expect(
        Number(
          (await queryStore(store, "SELECT count(*) FROM connection_events WHERE outcome = 'fail'"))[0]?.[0],
        ),
      ).toBe(fails);
    }
  });

  it('a first run killed before it recorded its slot leaves no slot behind once run again', async () => {
    const slots = async () =>
      Number(
        (
          await db.query(
            'SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()',
          )
        ).rows[0].n,
      );
    const before = await slots();
    const other = join(dir, 'other.duckdb');
    const second = args().map((a) => (a === store ? other : a));
    for (const ms of [700, 1200]) {
      const child = spawn(process.execPath, [BIN, ...second], { stdio: 'ignore' });
      const t = setTimeout(() => child.kill('SIGKILL'), ms);
      await new Promise((r) => child.once('exit', r));
      clearTimeout(t);
    }
    const r = await runCli(second);
    expect(r.code, r.stderr).toBe(0);
    expect(await slots()).toBe(before + 1);
  });

  it('a device quarantined as it arrives keeps its owner link: forget erases the events it sent', async () => {
    // A store of its own under `on_detect: quarantine` (its own slot and state).
    const policy = join(dir, 'quarantine.policy.yaml');
    writeFileSync(
      policy,
      readFileSync(DEMO_POLICY, 'utf8').replace('on_detect: block', 'on_detect: quarantine'),
    );
    const held = join(dir, 'held.duckdb');
    const state = join(dir, 'held-state');
    const run = (...extra: string[]) =>
      runCli(
        args()
          .map((a) =>
            a === store ? held : a === DEMO_POLICY ? policy : a === join(dir, 'state') ? state : a,
          )
          .concat(extra),
      );
    const forgetUser = (id: string) =>
      runCli([
        'forget',
        '--user-id',
        id,
        '--policy',
        policy,
        '--store',
        held,
        '--key-file',
        key,
        '--state-dir',
        state,
      ]);
    const devicePseudonym = (id: string) =>
      pseudonymToUuid(hmacPseudonymizer(loadKeyFile(key), 'device', 0).pseudonym(String(id)));
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    const user = String(
      (await db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1 OFFSET 5')).rows[0]
        .id,
    );
    const device = String(
      (
        await db.query(
          `INSERT INTO devices (id, user_id, mac, serial, product_model, firmware_version, region, activated_at, updated_at)
           SELECT max(id) + 1, $1, 'c7:c7', 'C7-NEW', 'cam-1', 'ask cdc.owner@example.com', 'eu', now(), now() FROM devices RETURNING id`,
          [user],
        )
      ).rows[0].id,
    );
    await db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, rssi, duration_ms, app_version) SELECT (SELECT max(id) FROM connection_events) + g, $1, now(), 'success', -60, 100, '4.12.0' FROM generate_series(1, 3) g",
      [device],
    );
    const applied = await run();
    expect(applied.code, applied.stderr).toBe(0);
    const p = devicePseudonym(device);
    const n = async (sql: string) => Number((await queryStore(held, sql))[0]?.[0]);
    expect(await n(`SELECT count(*) FROM devices WHERE id = '${p}'`)).toBe(0);
    expect(await n(`SELECT count(*) FROM connection_events WHERE device_id = '${p}'`)).toBe(3);
    expect(await n(`SELECT count(*) FROM _fv_held_links WHERE key = '${p}'`)).toBe(1);
    expect(await dumpStore(held)).not.toContain('cdc.owner@example.com');
    const f = await forgetUser(user);
    expect(f.code, f.stderr).toBe(0);
    expect(await n(`SELECT count(*) FROM connection_events WHERE device_id = '${p}'`)).toBe(0);
    expect(await n(`SELECT count(*) FROM _fv_held_links WHERE key = '${p}'`)).toBe(0);

    // A stored device moved to another owner, the move held back: the old owner's forget leaves
    // its events, the new owner's erases them.
    const moved = (
      await db.query(
        `SELECT d.id, d.user_id FROM devices d JOIN users u ON u.id = d.user_id JOIN connection_events e ON e.device_id = d.id
         WHERE u.deleted_at IS NULL GROUP BY 1, 2 ORDER BY 1 LIMIT 1 OFFSET 3`,
      )
    ).rows[0] as { id: string; user_id: string };
    const to = String(
      (await db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1 OFFSET 5'))
        .rows[0].id,
    );
    await db.query(
      "UPDATE devices SET user_id = $2, firmware_version = 'ask cdc.owner@example.com', updated_at = now() WHERE id = $1",
      [moved.id, to],
    );
    expect((await run()).code).toBe(0);
    const q = devicePseudonym(moved.id);
    const its = `SELECT count(*) FROM connection_events WHERE device_id = '${q}'`;
    const stored = await n(its);
    expect(stored).toBeGreaterThan(0);
    expect((await forgetUser(String(moved.user_id))).code).toBe(0);
    expect(await n(its)).toBe(stored);
    expect((await forgetUser(to)).code).toBe(0);
    expect(await n(its)).toBe(0);

    // Held back on a move, then moved again cleanly in a later transaction: the held link is
    // released, so the owner it named erases nothing of the device, its current owner all.
    const again = (
      await db.query(
        `SELECT d.id FROM devices d JOIN users u ON u.id = d.user_id JOIN connection_events e ON e.device_id = d.id
         WHERE u.deleted_at IS NULL GROUP BY 1 ORDER BY 1 LIMIT 1 OFFSET 6`,
      )
    ).rows[0].id as string;
    const [b, c] = (
      await db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 2 OFFSET 7')
    ).rows.map((r) => String(r.id));
    await db.query(
      "UPDATE devices SET user_id = $2, firmware_version = 'ask cdc.owner@example.com', updated_at = now() WHERE id = $1",
      [again, b],
    );
    expect((await run()).code).toBe(0);
    await db.query(
      "UPDATE devices SET user_id = $2, firmware_version = '4.0.0', updated_at = now() WHERE id = $1",
      [again, c],
    );
    expect((await run()).code).toBe(0);
    const r = devicePseudonym(again);
    const theirs = `SELECT count(*) FROM connection_events WHERE device_id = '${r}'`;
    const kept = await n(theirs);
    expect(kept).toBeGreaterThan(0);
    expect(await n(`SELECT count(*) FROM _fv_held_links WHERE key = '${r}'`)).toBe(0);
    expect((await forgetUser(String(b))).code).toBe(0);
    expect(await n(theirs)).toBe(kept);
    expect((await forgetUser(String(c))).code).toBe(0);
    expect(await n(theirs)).toBe(0);
  });
});
