// End to end (slow): one person erased from the store now, with everything linked to them, and
// kept out of later syncs while production still holds them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/engines/index.ts';
import { readPolicyFile } from '../src/policy/index.ts';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid, sealedBox } from '../src/privacy/index.ts';
import { META_ERASING } from '../src/sync/erase-linked.ts';
import { forget } from '../src/sync/forget.ts';
import { runCli } from './helpers/cli.ts';
import { stoppingAt } from './helpers/stopping-store.ts';
import { plantInStore, queryStore } from './helpers/store-dump.ts';
import {
  DEMO_POLICY,
  demoForgetArgs,
  demoSyncArgs,
  type SyncedStore,
  syncedStore,
} from './helpers/synced-store.ts';

const TABLES = [
  'users',
  'devices',
  'device_shares',
  'app_sessions',
  'integrations',
  'connection_events',
  'scale_measurements',
];

describe('fleetvault forget', () => {
  let s: SyncedStore;

  beforeAll(async () => {
    s = await syncedStore({ users: 600, days: 5, seed: 5 });
  });

  afterAll(async () => {
    await s?.db.drop();
  });

  /** The CLI's `forget` of one production user id on the synced store, answering JSON. */
  const forgetArgs = (id: string, ...extra: string[]) =>
    demoForgetArgs(s, s.store, String(id), ...extra, '--json');

  const counts = async () =>
    Object.fromEntries(
      await Promise.all(
        TABLES.map(
          async (t) => [t, Number((await queryStore(s.store, `SELECT count(*) FROM ${t}`))[0]?.[0])] as const,
        ),
      ),
    );

  it('erases a user with their devices, shares, sessions, integrations, events and measurements, and keeps them out', async () => {
    const q = (sql: string, p: unknown[] = []) => s.db.query(sql, p).then((r) => Number(r.rows[0].n));
    const id = (
      await s.db.query(
        `SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id JOIN connection_events e ON e.device_id = d.id
         WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY count(DISTINCT d.id) DESC, u.id LIMIT 1`,
      )
    ).rows[0].id as string;
    const expected = {
      users: 1,
      devices: await q('SELECT count(*) n FROM devices WHERE user_id = $1', [id]),
      device_shares: await q(
        'SELECT count(*) n FROM device_shares WHERE device_id IN (SELECT id FROM devices WHERE user_id = $1)',
        [id],
      ),
      app_sessions: await q('SELECT count(*) n FROM app_sessions WHERE user_id = $1', [id]),
      integrations: await q('SELECT count(*) n FROM integrations WHERE user_id = $1', [id]),
      connection_events: await q(
        'SELECT count(*) n FROM connection_events WHERE device_id IN (SELECT id FROM devices WHERE user_id = $1)',
        [id],
      ),
      scale_measurements: await q('SELECT count(*) n FROM scale_measurements WHERE user_id = $1', [id]),
    };
    const before = await counts();
    const state = join(s.dir, 'state');
    const r = await runCli(forgetArgs(id, '--state-dir', state));
    expect(r.code, r.stderr).toBe(0);
    const { deleted } = JSON.parse(r.stdout);
    for (const t of TABLES) expect(deleted[t] ?? 0, t).toBe(expected[t as keyof typeof expected]);
    const after = await counts();
    for (const t of TABLES) expect(after[t], t).toBe((before[t] ?? 0) - expected[t as keyof typeof expected]);

    // Production still holds them and they change: the next syncs must not bring them back.
    await s.db.query("UPDATE users SET timezone = 'UTC', updated_at = now() WHERE id = $1", [id]);
    await s.db.query(
      'UPDATE devices SET firmware_version = firmware_version, updated_at = now() WHERE user_id = $1',
      [id],
    );
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, rssi, duration_ms, app_version) SELECT (SELECT max(id) FROM connection_events) + 1, id, now(), 'success', -60, 100, '4.12.0' FROM devices WHERE user_id = $1 LIMIT 1",
      [id],
    );
    const sync = await runCli(demoSyncArgs(s, s.store));
    expect(sync.code, sync.stderr).toBe(0);
    const full = await runCli(demoSyncArgs(s, s.store, '--full'));
    expect(full.code, full.stderr).toBe(0);
    expect(await counts()).toEqual(after);

    const audit = readFileSync(join(state, 'audit.jsonl'), 'utf8');
    const record = JSON.parse(audit.trim().split('\n').pop() as string);
    expect(record.action).toBe('forget');
    expect(Object.keys(record.detail).sort()).toEqual(['deleted', 'domain', 'pseudonym']);
    expect(JSON.stringify(record)).not.toContain(`"${id}"`);
  });

  it('a forget stopped between two steps leaves nothing half erased, and run again erases everything linked', async () => {
    // Another user with devices that have events (the test before erased the first such user).
    const id = (
      await s.db.query(
        `SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id JOIN connection_events e ON e.device_id = d.id
         WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY count(DISTINCT d.id) DESC, u.id LIMIT 1 OFFSET 1`,
      )
    ).rows[0].id as string;
    const events = Number(
      (
        await s.db.query(
          'SELECT count(*) n FROM connection_events WHERE device_id IN (SELECT id FROM devices WHERE user_id = $1)',
          [id],
        )
      ).rows[0].n,
    );
    expect(events).toBeGreaterThan(0);
    const before = await counts();
    const { policy } = readPolicyFile(DEMO_POLICY);
    if (!policy) throw new Error('the demo policy does not load');
    const store = await openStore(s.store);
    // The real store, stopping when the erasure reaches the events: the devices are erased by then.
    const stopping = stoppingAt(store, 'connection_events');
    try {
      await expect(
        forget({ policy, store: stopping, key: loadKeyFile(s.keyFile), domain: 'user', id: String(id) }),
      ).rejects.toThrow('stopped here');
    } finally {
      await store.close();
    }
    expect(await counts()).toEqual(before);
    // Run again: the devices are found and followed, their events erased.
    const r = await runCli(forgetArgs(id));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).deleted.connection_events).toBe(events);
    expect((await counts()).connection_events).toBe((before.connection_events ?? 0) - events);
  });

  it('refuses to erase over a record of an unfinished erasure it did not seal, and a full sync drops it', async () => {
    const id = String(
      (await s.db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1')).rows[0].id,
    );
    const other = String(
      (await s.db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1 OFFSET 1')).rows[0]
        .id,
    );
    // A record that does not parse, and one well formed but not sealed with the key: written by
    // anything but fleetvault, it would erase whoever it names (here a live user) only in part.
    const live = pseudonymToUuid(hmacPseudonymizer(loadKeyFile(s.keyFile), 'user', 0).pseudonym(id));
    const records = {
      [`${META_ERASING}a`]: '{"user": "not a list"}',
      [`${META_ERASING}b`]: JSON.stringify({ user: [live] }),
    };
    const setMeta = async (entries: Record<string, string>) => {
      const store = await openStore(s.store);
      try {
        for (const [key, value] of Object.entries(entries)) await store.setMeta(key, value);
      } finally {
        await store.close();
      }
    };
    const before = await counts();
    for (const [key, value] of Object.entries(records)) {
      await setMeta({ [key]: value });
      for (const args of [forgetArgs(other), demoSyncArgs(s, s.store)]) {
        const r = await runCli(args);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain('FV_ERASURE_CORRUPT');
        expect(r.stderr).toContain(`meta ${key}`);
        expect(await counts()).toEqual(before);
      }
      await setMeta({ [key]: '' });
    }
    await setMeta(records);
    const full = await runCli(demoSyncArgs(s, s.store, '--full'));
    expect(full.code, full.stderr).toBe(0);
    // Every record dropped or finished: the runs before left theirs empty too.
    const left = await queryStore(
      s.store,
      `SELECT key, value FROM _fv_meta WHERE key LIKE '${META_ERASING}%'`,
    );
    expect(left.map((r) => r[0])).toEqual(expect.arrayContaining(Object.keys(records)));
    expect(left.filter((r) => r[1] !== '')).toEqual([]);
    expect(await counts()).toEqual(before);
    const r = await runCli(forgetArgs(other));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).deleted.users).toBe(1);
  });

  it('a sealed record copied from another store built with the same key erases nobody who is live here', async () => {
    const id = String(
      (await s.db.query('SELECT id FROM users WHERE deleted_at IS NULL ORDER BY id LIMIT 1 OFFSET 2')).rows[0]
        .id,
    );
    const key = loadKeyFile(s.keyFile);
    const live = pseudonymToUuid(hmacPseudonymizer(key, 'user', 0).pseudonym(id));
    // What fleetvault writes while it erases this person in another store under the same key.
    const name = `${META_ERASING}copied`;
    const store = await openStore(s.store);
    try {
      await store.setMeta(name, sealedBox(key, 'erasure').seal(JSON.stringify({ user: [live] }), name));
    } finally {
      await store.close();
    }
    const before = await counts();
    const r = await runCli(demoSyncArgs(s, s.store));
    expect(r.code, r.stderr).toBe(0);
    expect(await counts()).toEqual(before);
    expect(await queryStore(s.store, `SELECT count(*) FROM users WHERE id = '${live}'`)).toEqual([['1']]);
  });

  it('a table refused under block still erases a forgotten person’s new rows, so tables linking to them copy nothing of theirs', async () => {
    const key = loadKeyFile(s.keyFile);
    const id = String(
      (
        await s.db.query(
          `SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id
           WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY u.id DESC LIMIT 1 OFFSET 7`,
        )
      ).rows[0].id,
    );
    const r = await runCli(forgetArgs(id));
    expect(r.code, r.stderr).toBe(0);
    // After the forget, production gives the person a new device that connects; and an unrelated
    // device gets an email in a kept column, so devices is refused (`on_detect: block`) this run.
    const device = String(
      (
        await s.db.query(
          `INSERT INTO devices (id, user_id, mac, serial, product_model, firmware_version, region, activated_at, updated_at)
           SELECT max(id) + 1, $1, 'f7:f7', 'F7-NEW', 'cam-1', '4.0.0', 'eu', now(), now() FROM devices RETURNING id`,
          [id],
        )
      ).rows[0].id,
    );
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, rssi, duration_ms, app_version) SELECT (SELECT max(id) FROM connection_events) + g, $1, now(), 'success', -60, 100, '4.12.0' FROM generate_series(1, 3) g",
      [device],
    );
    const other = String(
      (
        await s.db.query(
          `UPDATE devices SET firmware_version = 'ask f7.owner@example.com', updated_at = now()
           WHERE id = (SELECT min(d.id) FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL) RETURNING id`,
        )
      ).rows[0].id,
    );
    const pseudonym = pseudonymToUuid(hmacPseudonymizer(key, 'device', 0).pseudonym(device));
    const events = `SELECT count(*) FROM connection_events WHERE device_id = '${pseudonym}'`;
    const runs: Array<[string, string[], NodeJS.ProcessEnv]> = [
      ['incremental', [], {}],
      ['staged --full', ['--full'], {}],
      ['row path --full', ['--full'], { FLEETVAULT_SYNC_PATH: 'rows' }],
    ];
    for (const [what, extra, env] of runs) {
      const sync = await runCli(demoSyncArgs(s, s.store, ...extra, '--json'), { env });
      expect(sync.code, what).not.toBe(0);
      const devices = JSON.parse(sync.stdout).tables.find((t: { table: string }) => t.table === 'devices');
      expect(devices.status, what).toBe('refused');
      expect(devices.error.code, what).toBe('FV_PII_DETECTED');
      expect(sync.stdout + sync.stderr).not.toContain('f7.owner@example.com');
      expect(await queryStore(s.store, events), what).toEqual([['0']]);
      expect(
        await queryStore(
          s.store,
          `SELECT count(*) FROM _fv_forgotten WHERE domain = 'device' AND pseudonym = '${pseudonym}'`,
        ),
        what,
      ).toEqual([['1']]);
    }
    // Once the value is fixed, devices syncs again, and the person's device stays out.
    await s.db.query("UPDATE devices SET firmware_version = '4.0.1', updated_at = now() WHERE id = $1", [
      other,
    ]);
    const fixed = await runCli(demoSyncArgs(s, s.store));
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(await queryStore(s.store, events)).toEqual([['0']]);
    expect(await queryStore(s.store, `SELECT count(*) FROM devices WHERE id = '${pseudonym}'`)).toEqual([
      ['0'],
    ]);
  });

  it('keeps erased people out of every sync when the store holds more tombstones than a sync keeps in memory', async () => {
    const id = String(
      (
        await s.db.query(
          `SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id JOIN connection_events e ON e.device_id = d.id
           WHERE u.deleted_at IS NULL GROUP BY u.id ORDER BY count(DISTINCT d.id) DESC, u.id LIMIT 1 OFFSET 3`,
        )
      ).rows[0].id,
    );
    // A domain the policy does not pseudonymize is refused, not reported as done.
    const before = await counts();
    const wrong = await runCli(forgetArgs(id, '--domain', 'nosuch'));
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('error FV_USAGE: forget --domain nosuch');
    expect(await counts()).toEqual(before);
    const r = await runCli(forgetArgs(id));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).deleted.connection_events).toBeGreaterThan(0);
    // Production moves one of the person's events to a live device and one session to a live
    // user: their rows stay erased all the same (an erasure that kept only the person's and the
    // devices' tombstones let them back).
    const key = loadKeyFile(s.keyFile);
    const live = (
      await s.db.query(
        `SELECT d.id AS device, d.user_id AS owner FROM devices d JOIN users u ON u.id = d.user_id
         WHERE u.deleted_at IS NULL AND d.user_id <> $1 ORDER BY d.id LIMIT 1`,
        [id],
      )
    ).rows[0] as { device: string; owner: string };
    const moved = {
      event: String(
        (
          await s.db.query(
            'UPDATE connection_events SET device_id = $2 WHERE id = (SELECT min(e.id) FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE d.user_id = $1) RETURNING id',
            [id, live.device],
          )
        ).rows[0].id,
      ),
      session: String(
        (
          await s.db.query(
            'UPDATE app_sessions SET user_id = $2 WHERE id = (SELECT min(id) FROM app_sessions WHERE user_id = $1) RETURNING id',
            [id, live.owner],
          )
        ).rows[0]?.id,
      ),
    };
    expect(moved.session).not.toBe('undefined');
    const back = async () => [
      ...(await queryStore(
        s.store,
        `SELECT count(*) FROM connection_events WHERE id = '${pseudonymToUuid(hmacPseudonymizer(key, 'event', 0).pseudonym(moved.event))}'`,
      )),
      ...(await queryStore(
        s.store,
        `SELECT count(*) FROM app_sessions WHERE id = '${pseudonymToUuid(hmacPseudonymizer(key, 'session', 0).pseudonym(moved.session))}'`,
      )),
    ];
    // The same erasure again writes no tombstone twice (a sync's end erases again what was erased beside it).
    const tombstones = await queryStore(s.store, 'SELECT count(*) FROM _fv_forgotten');
    const twice = await runCli(demoForgetArgs(s, s.store, id));
    expect(twice.code, twice.stderr).toBe(0);
    expect(twice.stdout).toContain('Erased no row: the store holds nothing under pseudonym');
    expect(await queryStore(s.store, 'SELECT count(*) FROM _fv_forgotten')).toEqual(tombstones);
    const full = await runCli(demoSyncArgs(s, s.store, '--full'));
    expect(full.code, full.stderr).toBe(0);
    expect(await back()).toEqual([['0'], ['0']]);
    const kept = await counts();
    // A store with a million event tombstones (from before) and 150,000 more erased users and
    // devices: more than a sync holds in memory, so each batch asks the store about its own keys.
    // A million made the full sync's staging database run out of memory (FV_INTERNAL).
    await plantInStore(
      s.store,
      `INSERT INTO _fv_forgotten (domain, pseudonym) SELECT 'event', uuid() FROM range(1000000)
       UNION ALL SELECT 'user', uuid() FROM range(150000) UNION ALL SELECT 'device', uuid() FROM range(150000)`,
    );
    // Production changes the person's rows: an incremental sync would copy them back if unchecked.
    await s.db.query("UPDATE users SET timezone = 'UTC', updated_at = now() WHERE id = $1", [id]);
    await s.db.query('UPDATE devices SET updated_at = now() WHERE user_id = $1', [id]);
    await s.db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, rssi, duration_ms, app_version) SELECT (SELECT max(id) FROM connection_events) + 1, id, now(), 'success', -60, 100, '4.12.0' FROM devices WHERE user_id = $1 LIMIT 1",
      [id],
    );
    const fresh = await runCli(demoSyncArgs(s, s.store));
    expect(fresh.code, fresh.stderr).toBe(0);
    expect(await counts()).toEqual(kept);
    for (const path of ['staged', 'rows']) {
      const again = await runCli(demoSyncArgs(s, s.store, '--full'), {
        env: path === 'rows' ? { FLEETVAULT_SYNC_PATH: 'rows' } : {},
      });
      expect(again.code, `${path}: ${again.stderr}`).toBe(0);
      expect(await counts(), path).toEqual(kept);
      expect(await back(), path).toEqual([['0'], ['0']]);
    }
  });

  it('a device moved to an erased person goes with its stored events, whose tombstones the sync counts as its own', async () => {
    const key = loadKeyFile(s.keyFile);
    const pseudonym = (domain: string, id: string) =>
      pseudonymToUuid(hmacPseudonymizer(key, domain, 0).pseudonym(id));
    // A person deleted in production (erased at the next sync), then a live person's device with
    // stored events moved to them: the sync erases the device, and tombstones its events, itself.
    const gone = String(
      (await s.db.query('SELECT min(id) AS id FROM users WHERE deleted_at IS NULL')).rows[0].id,
    );
    await s.db.query('UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = $1', [gone]);
    const first = await runCli(demoSyncArgs(s, s.store));
    expect(first.code, first.stderr).toBe(0);
    /** How many of `events` (pseudonyms) the store holds. */
    const stored = async (events: readonly string[]) =>
      Number(
        (
          await queryStore(
            s.store,
            `SELECT count(*) FROM connection_events WHERE id IN (${events.map((e) => `'${e}'`).join(', ')})`,
          )
        )[0]?.[0],
      );
    // A device of someone else whose events the store holds (earlier tests erased some people from
    // the store only, production keeping them).
    let device = '';
    let events: string[] = [];
    const candidates = await s.db.query(
      `SELECT d.id, array_agg(e.id::text) AS events FROM devices d JOIN users u ON u.id = d.user_id
       JOIN connection_events e ON e.device_id = d.id
       WHERE u.deleted_at IS NULL GROUP BY d.id ORDER BY d.id LIMIT 50`,
    );
    for (const c of candidates.rows as Array<{ id: string; events: string[] }>) {
      const list = c.events.map((e) => pseudonym('event', e));
      if ((await stored(list)) !== list.length) continue;
      device = String(c.id);
      events = list;
      break;
    }
    expect(events.length).toBeGreaterThan(0);
    await s.db.query('UPDATE devices SET user_id = $1, updated_at = now() WHERE id = $2', [gone, device]);
    const r = await runCli(demoSyncArgs(s, s.store), { env: { FLEETVAULT_SYNC_TRACE: '1' } });
    expect(r.code, r.stderr).toBe(0);
    expect(await stored(events)).toBe(0);
    const tombstoned = await queryStore(
      s.store,
      `SELECT count(DISTINCT pseudonym) FROM _fv_forgotten WHERE domain = 'event' AND pseudonym IN (${events.map((e) => `'${e}'`).join(', ')})`,
    );
    expect(Number(tombstoned[0]?.[0])).toBe(events.length);
    expect(
      Number(
        (
          await queryStore(
            s.store,
            `SELECT count(*) FROM devices WHERE id = '${pseudonym('device', device)}'`,
          )
        )[0]?.[0],
      ),
    ).toBe(0);
    // Nobody erased anything beside this run: its end has nothing to erase again (it took the
    // events' tombstones for another's erasure, and past 100,000 of its own it erased them all again).
    expect(r.stderr).not.toContain('erased beside this run');
  });
});
