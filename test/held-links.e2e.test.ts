// End to end (slow): a device row the store does not hold, held back by `on_detect: quarantine` or
// refused with its batch under `block`, while its events are copied all the same. Erasing its
// owner must still reach those events: the store keeps the device's links (pseudonyms only) and
// `forget` follows them. Before, the events stayed.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { runCli } from './helpers/cli.ts';
import { startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';
import {
  DEMO_POLICY,
  demoForgetArgs,
  demoSyncArgs,
  type SyncedStore,
  syncedStore,
} from './helpers/synced-store.ts';

const EMAIL = 'held.owner@example.com';

describe('links of rows the store does not hold', () => {
  let s: SyncedStore;
  let qPolicy: string;

  beforeAll(async () => {
    s = await syncedStore({ users: 300, days: 3, seed: 11 });
    qPolicy = join(s.dir, 'quarantine.policy.yaml');
    writeFileSync(
      qPolicy,
      readFileSync(DEMO_POLICY, 'utf8').replace('on_detect: block', 'on_detect: quarantine'),
    );
  });

  afterAll(async () => {
    await s?.db.drop();
  });

  const pseudonym = (domain: string, id: string) =>
    pseudonymToUuid(hmacPseudonymizer(loadKeyFile(s.keyFile), domain, 0).pseudonym(id));
  const count = async (store: string, sql: string) => Number((await queryStore(store, sql))[0]?.[0]);

  /** A live user's device with events, the `offset`-th; its firmware text then holds an email. */
  const heldDevice = async (offset: number) => {
    const row = (
      await s.db.query(
        `SELECT d.user_id, d.id FROM devices d JOIN users u ON u.id = d.user_id JOIN connection_events e ON e.device_id = d.id
         WHERE u.deleted_at IS NULL GROUP BY 1, 2 ORDER BY 2 LIMIT 1 OFFSET ${offset}`,
      )
    ).rows[0] as { user_id: string; id: string };
    await s.db.query(
      `UPDATE devices SET firmware_version = 'ask ${EMAIL}', updated_at = now() WHERE id = $1`,
      [row.id],
    );
    return { user: String(row.user_id), device: String(row.id) };
  };

  /** A new device of a live user, with an email in its firmware text, and three events. */
  const newHeldDevice = async (offset: number) => {
    const user = String(
      (
        await s.db.query(
          `SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1 OFFSET ${offset}`,
        )
      ).rows[0].id,
    );
    const device = String(
      (
        await s.db.query(
          `INSERT INTO devices (id, user_id, mac, serial, product_model, firmware_version, region, activated_at, updated_at)
           SELECT max(id) + 1, $1, 'e7:e7', 'E7-NEW', 'cam-1', 'ask ${EMAIL}', 'eu', now(), now() FROM devices RETURNING id`,
          [user],
        )
      ).rows[0].id,
    );
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, rssi, duration_ms, app_version) SELECT (SELECT max(id) FROM connection_events) + g, $1, now(), 'success', -60, 100, '4.12.0' FROM generate_series(1, 3) g",
      [device],
    );
    return { user, device };
  };

  const qSync = (store: string, state: string, env: NodeJS.ProcessEnv = {}, ...extra: string[]) =>
    runCli(
      ['sync', '--source', s.db.url, '--policy', qPolicy, '--store', store, '--key-file', s.keyFile].concat(
        ['--state-dir', state, '--json'],
        extra,
      ),
      { env },
    );
  const qForget = (store: string, state: string, user: string) =>
    runCli([
      'forget',
      '--user-id',
      user,
      '--policy',
      qPolicy,
      '--store',
      store,
      '--key-file',
      s.keyFile,
      '--state-dir',
      state,
      '--json',
    ]);

  /**
   * The device is absent, its events present and its link held; forget erases all three. `ask`
   * counts in the store (a DuckDB file's by default).
   */
  const forgetsThrough = async (
    what: string,
    store: string,
    held: { user: string; device: string },
    forgetIt: () => ReturnType<typeof runCli>,
    ask: (sql: string) => Promise<number> = (sql) => count(store, sql),
  ) => {
    const device = pseudonym('device', held.device);
    const events = `SELECT count(*) FROM connection_events WHERE device_id = '${device}'`;
    const links = `SELECT count(*) FROM _fv_held_links WHERE key = '${device}'`;
    expect(await ask(`SELECT count(*) FROM devices WHERE id = '${device}'`), what).toBe(0);
    const copied = await ask(events);
    expect(copied, what).toBeGreaterThan(0);
    expect(await ask(links), what).toBe(1);
    if (store.endsWith('.duckdb')) expect(await dumpStore(store), what).not.toContain(EMAIL);
    const r = await forgetIt();
    expect(r.code, `${what}: ${r.stderr}`).toBe(0);
    expect(JSON.parse(r.stdout).deleted.connection_events, what).toBeGreaterThanOrEqual(copied);
    expect(await ask(events), what).toBe(0);
    expect(await ask(links), what).toBe(0);
    expect(
      await ask(`SELECT count(*) FROM _fv_forgotten WHERE domain = 'device' AND pseudonym = '${device}'`),
      what,
    ).toBe(1);
  };

  it('a quarantined device: forget erases the events copied for it, on the staged and the row path and in an incremental sync', async () => {
    const held = await heldDevice(4);
    for (const [path, env] of [
      ['staged', {}],
      ['rows', { FLEETVAULT_SYNC_PATH: 'rows' }],
    ] as const) {
      const store = join(s.dir, `${path}.duckdb`);
      const state = join(s.dir, `state-${path}`);
      const r = await qSync(store, state, env);
      expect(r.code, r.stderr).toBe(0);
      const devices = JSON.parse(r.stdout).tables.find((t: { table: string }) => t.table === 'devices');
      expect(devices.quarantined, path).toEqual([
        expect.objectContaining({ column: 'firmware_version', detector: 'email', rows: 1 }),
      ]);
      await forgetsThrough(path, store, held, () => qForget(store, state, held.user));
    }
    // Incremental (upsert, row path): a new device of another person, held back as it arrives.
    const store = join(s.dir, 'rows.duckdb');
    const state = join(s.dir, 'state-rows');
    const added = await newHeldDevice(2);
    const r = await qSync(store, state);
    expect(r.code, r.stderr).toBe(0);
    await forgetsThrough('incremental', store, added, () => qForget(store, state, added.user));
    // Once the value is clean the device is copied, and its row, not its held link, is followed.
    const back = await newHeldDevice(3);
    expect((await qSync(store, state)).code).toBe(0);
    await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
      back.device,
    ]);
    expect((await qSync(store, state)).code).toBe(0);
    const device = pseudonym('device', back.device);
    expect(await count(store, `SELECT count(*) FROM devices WHERE id = '${device}'`)).toBe(1);
    const f = await qForget(store, state, back.user);
    expect(f.code, f.stderr).toBe(0);
    expect(await count(store, `SELECT count(*) FROM devices WHERE id = '${device}'`)).toBe(0);
    expect(await count(store, `SELECT count(*) FROM connection_events WHERE device_id = '${device}'`)).toBe(
      0,
    );
    expect(await count(store, `SELECT count(*) FROM _fv_held_links WHERE key = '${device}'`)).toBe(0);
    await s.db.query(
      "UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE firmware_version LIKE $1",
      [`%${EMAIL}%`],
    );
  });

  it('a quarantined device on two ClickHouse shards: forget erases the events copied for it', async () => {
    const cluster = await startClickHouseCluster(2);
    try {
      const held = await heldDevice(6);
      const store = await cluster.database('held');
      const state = join(s.dir, 'state-clickhouse');
      const r = await qSync(store, state);
      expect(r.code, r.stderr).toBe(0);
      const ask = async (sql: string) =>
        Number((await cluster.query(0, sql.replace(/ FROM (\w+)/, ' FROM held.$1'))).trim());
      await forgetsThrough('clickhouse', store, held, () => qForget(store, state, held.user), ask);
      await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
        held.device,
      ]);
    } finally {
      await cluster.stop();
    }
  });

  /** A live user's device with events (the `offset`-th), and a live user to move it to. */
  const mover = async (offset: number, to: number) => {
    const row = (
      await s.db.query(
        `SELECT d.user_id, d.id FROM devices d JOIN users u ON u.id = d.user_id JOIN connection_events e ON e.device_id = d.id
         WHERE u.deleted_at IS NULL GROUP BY 1, 2 ORDER BY 2 LIMIT 1 OFFSET ${offset}`,
      )
    ).rows[0] as { user_id: string; id: string };
    const target = String(
      (
        await s.db.query(
          `SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1 OFFSET ${to}`,
        )
      ).rows[0].id,
    );
    return { from: String(row.user_id), to: target, device: String(row.id) };
  };
  const addEvents = (device: string) =>
    s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, rssi, duration_ms, app_version) SELECT (SELECT max(id) FROM connection_events) + g, $1, now(), 'success', -60, 100, '4.12.0' FROM generate_series(1, 2) g",
      [device],
    );

  it('a device whose move to another owner is held back: the new owner’s forget erases it, the old owner’s leaves it', async () => {
    // Quarantined as it moves (incremental, row path), into a store of its own.
    const store = join(s.dir, 'move.duckdb');
    const state = join(s.dir, 'state-move');
    expect((await qSync(store, state)).code).toBe(0);
    const m = await mover(8, 20);
    await s.db.query(
      `UPDATE devices SET user_id = $2, firmware_version = 'ask ${EMAIL}', updated_at = now() WHERE id = $1`,
      [m.device, m.to],
    );
    await addEvents(m.device);
    expect((await qSync(store, state)).code).toBe(0);
    const device = pseudonym('device', m.device);
    const events = `SELECT count(*) FROM connection_events WHERE device_id = '${device}'`;
    const copied = await count(store, events);
    // The old owner's forget: the device's stale row goes, not the device's events (its new owner's).
    const old = await qForget(store, state, m.from);
    expect(old.code, old.stderr).toBe(0);
    expect(await count(store, events)).toBe(copied);
    expect(await count(store, `SELECT count(*) FROM devices WHERE id = '${device}'`)).toBe(0);
    expect(await count(store, `SELECT count(*) FROM _fv_forgotten WHERE pseudonym = '${device}'`)).toBe(0);
    // The new owner's forget reaches it through its held link.
    const now = await qForget(store, state, m.to);
    expect(now.code, now.stderr).toBe(0);
    expect(await count(store, events)).toBe(0);
    expect(await count(store, `SELECT count(*) FROM _fv_held_links WHERE key = '${device}'`)).toBe(0);
    await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
      m.device,
    ]);
    expect((await qSync(store, state)).code).toBe(0);
    expect(await count(store, events)).toBe(0);

    // Held back on a move, then written clean, then moved again cleanly: the held link was
    // released, so the owner it named erases nothing of the device, and its current owner all.
    const c = await mover(11, 22);
    const later = String(
      (await s.db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1 OFFSET 23'))
        .rows[0].id,
    );
    await s.db.query(
      `UPDATE devices SET user_id = $2, firmware_version = 'ask ${EMAIL}', updated_at = now() WHERE id = $1`,
      [c.device, c.to],
    );
    expect((await qSync(store, state)).code).toBe(0);
    await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
      c.device,
    ]);
    expect((await qSync(store, state)).code).toBe(0);
    await s.db.query('UPDATE devices SET user_id = $2, updated_at = now() WHERE id = $1', [c.device, later]);
    await addEvents(c.device);
    expect((await qSync(store, state)).code).toBe(0);
    const cDevice = pseudonym('device', c.device);
    const cEvents = `SELECT count(*) FROM connection_events WHERE device_id = '${cDevice}'`;
    const cCopied = await count(store, cEvents);
    expect(await count(store, `SELECT count(*) FROM _fv_held_links WHERE key = '${cDevice}'`)).toBe(0);
    expect((await qForget(store, state, c.to)).code).toBe(0);
    expect(await count(store, cEvents)).toBe(cCopied);
    expect(await count(store, `SELECT count(*) FROM devices WHERE id = '${cDevice}'`)).toBe(1);
    expect((await qForget(store, state, later)).code).toBe(0);
    expect(await count(store, cEvents)).toBe(0);

    // Under block: a clean move, in a batch refused for another device's value.
    const b = await mover(9, 21);
    await s.db.query('UPDATE devices SET user_id = $2, updated_at = now() WHERE id = $1', [b.device, b.to]);
    await addEvents(b.device);
    const other = await heldDevice(10);
    const refused = await runCli(demoSyncArgs(s, s.store, '--json'));
    expect(refused.code).not.toBe(0);
    const moved = pseudonym('device', b.device);
    const movedEvents = `SELECT count(*) FROM connection_events WHERE device_id = '${moved}'`;
    const before = await count(s.store, movedEvents);
    expect(before).toBeGreaterThan(0);
    const f = await runCli(demoForgetArgs(s, s.store, b.from, '--json'));
    expect(f.code, f.stderr).toBe(0);
    expect(await count(s.store, movedEvents)).toBe(before);
    // Fixed: the device comes back under its new owner, with its events; that owner's forget erases it.
    await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
      other.device,
    ]);
    const fixed = await runCli(demoSyncArgs(s, s.store));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(
      await count(
        s.store,
        `SELECT count(*) FROM devices WHERE id = '${moved}' AND user_id = '${pseudonym('user', b.to)}'`,
      ),
    ).toBe(1);
    expect(await count(s.store, movedEvents)).toBe(before);
    expect(await count(s.store, `SELECT count(*) FROM _fv_held_links WHERE key = '${moved}'`)).toBe(0);
    const g = await runCli(demoForgetArgs(s, s.store, b.to, '--json'));
    expect(g.code, g.stderr).toBe(0);
    expect(await count(s.store, movedEvents)).toBe(0);
  });

  it('a device refused with its batch under block: forget erases the events copied for it, incremental and full', async () => {
    for (const [what, extra] of [
      ['incremental', []],
      ['staged --full', ['--full']],
    ] as const) {
      const held = await newHeldDevice(what === 'incremental' ? 10 : 11);
      const r = await runCli(demoSyncArgs(s, s.store, ...extra, '--json'));
      expect(r.code, what).not.toBe(0);
      const devices = JSON.parse(r.stdout).tables.find((t: { table: string }) => t.table === 'devices');
      expect(devices.status, what).toBe('refused');
      expect(devices.error.code, what).toBe('FV_PII_DETECTED');
      await forgetsThrough(what, s.store, held, () =>
        runCli(demoForgetArgs(s, s.store, held.user, '--json')),
      );
      await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
        held.device,
      ]);
    }
    // Batches of one row: the refused batch holds another device's value; the person's new,
    // clean device comes in a later batch, never written (the table stopped), its events copied.
    const other = await heldDevice(12);
    const user = String(
      (await s.db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id DESC LIMIT 1 OFFSET 12'))
        .rows[0].id,
    );
    const clean = String(
      (
        await s.db.query(
          `INSERT INTO devices (id, user_id, mac, serial, product_model, firmware_version, region, activated_at, updated_at)
           SELECT max(id) + 1, $1, 'e8:e8', 'E8-NEW', 'cam-1', '4.0.0', 'eu', now(), clock_timestamp() + interval '1 second' FROM devices RETURNING id`,
          [user],
        )
      ).rows[0].id,
    );
    await addEvents(clean);
    const r = await runCli(demoSyncArgs(s, s.store, '--batch-size', '1', '--json'));
    expect(r.code).not.toBe(0);
    await forgetsThrough('a later batch of a refused table', s.store, { user, device: clean }, () =>
      runCli(demoForgetArgs(s, s.store, user, '--json')),
    );
    await s.db.query("UPDATE devices SET firmware_version = '4.0.0', updated_at = now() WHERE id = $1", [
      other.device,
    ]);
    // Fixed: devices syncs again, and the erased devices stay out.
    const fixed = await runCli(demoSyncArgs(s, s.store));
    expect(fixed.code, fixed.stderr).toBe(0);
  });
});
