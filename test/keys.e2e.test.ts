// End to end (slow): key rotation rebuilds the store under new pseudonyms with identical metrics,
// keeps erased people out, and `keys retire` destroys the old key so old pseudonyms cannot be linked.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetricsReader } from '../src/engines/index.ts';
import { readMetricsFile } from '../src/metrics/index.ts';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { runCli } from './helpers/cli.ts';
import { dumpStore, plantInStore, queryStore } from './helpers/store-dump.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

async function answers(store: string): Promise<string> {
  const reader = await openMetricsReader(store, readMetricsFile(DEMO_METRICS));
  try {
    const out: unknown[] = [];
    for (const m of reader.list()) {
      for (const grain of ['week', 'month'] as const) {
        out.push(await reader.query({ metric: m.name, grain }));
        for (const by of m.dimensions.slice(0, 2))
          out.push(await reader.query({ metric: m.name, grain, by: [by] }));
      }
    }
    return JSON.stringify(out);
  } finally {
    reader.close();
  }
}

const ids = async (store: string, sql: string) =>
  new Set((await queryStore(store, sql)).map((r) => String(r[0])));

describe('key rotation', () => {
  let s: SyncedStore;
  const cli = (cmd: string[], ...extra: string[]) =>
    runCli([
      ...cmd,
      '--source',
      s.db.url,
      '--policy',
      DEMO_POLICY,
      '--store',
      s.store,
      '--key-file',
      s.keyFile,
      '--state-dir',
      s.dir,
      ...extra,
    ]);

  beforeAll(async () => {
    s = await syncedStore({ users: 800, days: 7, seed: 9 });
  });

  afterAll(async () => {
    await s?.db.drop();
  });

  it('a failed rebuild leaves the store and the key exactly as they were', async () => {
    const before = await dumpStore(s.store);
    const key = readFileSync(s.keyFile, 'utf8');
    await s.db.query('ALTER TABLE devices ADD COLUMN owner_note text');
    try {
      const r = await cli(['keys', 'rotate']);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('devices.owner_note');
    } finally {
      await s.db.query('ALTER TABLE devices DROP COLUMN owner_note');
    }
    expect(await dumpStore(s.store)).toBe(before);
    expect(readFileSync(s.keyFile, 'utf8')).toBe(key);
    expect(existsSync(`${s.store}.rotating`)).toBe(false);
  });

  it('rotate: metrics identical, every pseudonym new, erasures kept; retire: old pseudonyms unlinkable', async () => {
    const forgotten = (
      await s.db.query(
        'SELECT u.id FROM users u JOIN devices d ON d.user_id = u.id WHERE u.deleted_at IS NULL ORDER BY u.id LIMIT 1',
      )
    ).rows[0].id as string;
    const f = await runCli([
      'forget',
      '--user-id',
      forgotten,
      '--policy',
      DEMO_POLICY,
      '--store',
      s.store,
      '--key-file',
      s.keyFile,
      '--state-dir',
      s.dir,
    ]);
    expect(f.code, f.stderr).toBe(0);
    const oldKeyText = JSON.parse(readFileSync(s.keyFile, 'utf8')).key as string;
    const before = await answers(s.store);
    const oldUsers = await ids(s.store, 'SELECT id::VARCHAR FROM users');
    const oldDevices = await ids(s.store, 'SELECT DISTINCT device_id::VARCHAR FROM connection_events');
    const counts = await queryStore(
      s.store,
      'SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM devices), (SELECT count(*) FROM connection_events)',
    );

    // Erasures the source no longer holds (300,000, more than a sync keeps in memory) are dropped,
    // each real one carried once: the rotation asks the old store batch by batch instead of
    // loading every tombstone.
    const real = Number((await queryStore(s.store, 'SELECT count(*) FROM _fv_forgotten'))[0]?.[0]);
    expect(real).toBeGreaterThanOrEqual(2); // the user and a device
    await plantInStore(
      s.store,
      "INSERT INTO _fv_forgotten (domain, pseudonym) SELECT 'user', uuid() FROM range(150000) UNION ALL SELECT 'device', uuid() FROM range(150000)",
    );

    const r = await cli(['keys', 'rotate'], '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      epoch: 2,
      tombstonesCarried: real,
      tombstonesDropped: 300_000,
    });
    expect(await queryStore(s.store, 'SELECT count(*) FROM _fv_forgotten')).toEqual([[String(real)]]);

    expect(await answers(s.store)).toBe(before);
    expect(
      await queryStore(
        s.store,
        'SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM devices), (SELECT count(*) FROM connection_events)',
      ),
    ).toEqual(counts);
    const newUsers = await ids(s.store, 'SELECT id::VARCHAR FROM users');
    const newDevices = await ids(s.store, 'SELECT DISTINCT device_id::VARCHAR FROM connection_events');
    expect(newUsers.size).toBe(oldUsers.size);
    expect([...newUsers].filter((p) => oldUsers.has(p))).toEqual([]);
    expect([...newDevices].filter((p) => oldDevices.has(p))).toEqual([]);

    // The forgotten person stays out of later syncs under the new key too.
    await s.db.query('UPDATE users SET updated_at = now() WHERE id = $1', [forgotten]);
    const sync = await cli(['sync']);
    expect(sync.code, sync.stderr).toBe(0);
    const key = loadKeyFile(s.keyFile);
    const theirs = pseudonymToUuid(hmacPseudonymizer(key, 'user').pseudonym(String(forgotten)));
    expect(await queryStore(s.store, `SELECT count(*) FROM users WHERE id = '${theirs}'`)).toEqual([['0']]);
    expect(await answers(s.store)).toBe(before);

    // Retire: the old key's bytes are gone; what the current key can compute never meets an old pseudonym.
    expect(readFileSync(s.keyFile, 'utf8')).toContain(oldKeyText);
    const retire = await runCli(['keys', 'retire', '--key-file', s.keyFile, '--state-dir', s.dir]);
    expect(retire.code, retire.stderr).toBe(0);
    expect(readFileSync(s.keyFile, 'utf8')).not.toContain(oldKeyText);
    const all = (await s.db.query('SELECT id::text AS id FROM users')).rows.map((x) => String(x.id));
    const p = hmacPseudonymizer(loadKeyFile(s.keyFile), 'user');
    expect(all.map((id) => pseudonymToUuid(p.pseudonym(id))).filter((x) => oldUsers.has(x))).toEqual([]);
    const audit = readFileSync(join(s.dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"action":"keys.rotate","outcome":"ok"');
    expect(audit).toContain('"action":"keys.retire","outcome":"ok"');
    expect(audit.includes(oldKeyText)).toBe(false);
  });
});
