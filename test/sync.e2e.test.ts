// End to end (slow): the CLI against the machine's PostgreSQL and a DuckDB file.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Canaries } from '../src/sim/index.ts';
import { canaryValues } from '../src/sim/index.ts';
import { rowsAddUp } from '../src/sync/index.ts';
import { type CliRun, runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';

const POLICY = join(process.cwd(), 'examples/demo/fleetvault.policy.yaml');

describe('sync end to end', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let key: string;
  let canaries: string[];
  const outputs: CliRun[] = [];

  const cli = async (args: string[]) => {
    const r = await runCli(args, { cwd: dir });
    outputs.push(r);
    return r;
  };
  const sync = (...extra: string[]) =>
    cli(['sync', '--source', db.url, '--policy', POLICY, '--store', store, '--key-file', key, ...extra]);

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-sync-'));
    store = join(dir, 'store.duckdb');
    key = join(dir, 'master.key');
    const sim = await cli([
      'simulate',
      '--source',
      db.url,
      '--users',
      '1500',
      '--days',
      '7',
      '--seed',
      '7',
      '--canaries',
      join(dir, 'canaries.json'),
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    expect(canaries.length).toBeGreaterThan(20);
    expect((await cli(['init', '--key-file', key])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('copies through the policy and leaks no canary anywhere', async () => {
    const r = await sync('--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.ok).toBe(true);
    const events = result.tables.find((t: { table: string }) => t.table === 'connection_events');
    // Events of soft-deleted users' devices stay behind with their owners.
    const liveEvents = (
      await db.query(
        'SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL',
      )
    ).rows[0].n;
    expect(events.rowsWritten).toBe(liveEvents);
    const dump = await dumpStore(store);
    const raw = readFileSync(store).toString('latin1');
    const printed = outputs.map((o) => o.stdout + o.stderr).join('\n');
    for (const c of canaries) {
      expect(dump.includes(c), `store holds canary ${c}`).toBe(false);
      expect(raw.includes(c), `store file bytes hold canary ${c}`).toBe(false);
      expect(printed.includes(c), `CLI printed canary ${c}`).toBe(false);
    }
    expect(readFileSync(key, 'utf8').length).toBeGreaterThan(0);
    const keyB64 = JSON.parse(readFileSync(key, 'utf8')).key as string;
    expect(dump.includes(keyB64) || raw.includes(keyB64) || printed.includes(keyB64)).toBe(false);
  });

  it('stores only what the policy allows, in native types', async () => {
    const cols = await queryStore(
      store,
      "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE table_name = 'users' ORDER BY column_index",
    );
    const names = cols.map((c) => c[1]);
    expect(names).toEqual([
      'id',
      'birth_date',
      'country',
      'timezone',
      'created_at',
      'updated_at',
      'deleted_at',
    ]);
    expect(cols[0]?.[2]).toBe('UUID');
    expect(cols[1]?.[2]).toBe('INTEGER');
    const years = await queryStore(store, 'SELECT min(birth_date), max(birth_date) FROM users');
    expect(Number(years[0]?.[0])).toBeGreaterThanOrEqual(1950);
    const ips = await queryStore(store, 'SELECT DISTINCT local_ip FROM devices');
    for (const [ip] of ips) expect(String(ip)).toMatch(/^\d+\.\d+\.0\.0\/16$/);
    const midnight = await queryStore(
      store,
      "SELECT count(*) FROM users WHERE created_at <> date_trunc('day', created_at)",
    );
    expect(Number(midnight[0]?.[0])).toBe(0);
    // Soft-deleted users take their devices with them: no stored device lacks its owner.
    const orphans = await queryStore(
      store,
      'SELECT count(*) FROM devices d LEFT JOIN users u ON u.id = d.user_id WHERE u.id IS NULL',
    );
    expect(Number(orphans[0]?.[0])).toBe(0);
    const liveDevices = (
      await db.query(
        'SELECT count(*)::int AS n FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL',
      )
    ).rows[0].n;
    expect(Number((await queryStore(store, 'SELECT count(*) FROM devices'))[0]?.[0])).toBe(liveDevices);
    expect(statSync(store).mode & 0o777).toBe(0o600);
  });

  it('copies only changes on the next run, applies updates and soft deletes', async () => {
    await db.query("UPDATE users SET country = 'IS', updated_at = now() WHERE id = 10");
    await db.query(
      'UPDATE users SET deleted_at = now(), updated_at = now() WHERE id = 11 AND deleted_at IS NULL',
    );
    await db.query(
      "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT (SELECT max(id) FROM connection_events) + g, (SELECT min(id) FROM devices), now(), 'success', NULL, -60, 300, '10.0.0.1', '4.12.0' FROM generate_series(1, 5) g",
    );
    const r = await sync('--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    const byTable = Object.fromEntries(result.tables.map((t: { table: string }) => [t.table, t]));
    expect(byTable.users.mode).toBe('upsert');
    expect(byTable.users.rowsRead).toBe(2);
    expect(byTable.users.rowsDeleted).toBe(1);
    // User 11's devices and their events left with the user.
    const owned = (await db.query('SELECT count(*)::int AS n FROM devices WHERE user_id = 11')).rows[0].n;
    expect(byTable.devices.rowsErased).toBe(owned);
    expect(byTable.connection_events.rowsRead).toBe(5);
    const iceland = await queryStore(store, "SELECT count(*) FROM users WHERE country = 'IS'");
    expect(Number(iceland[0]?.[0])).toBe(1);
    const users = (await db.query('SELECT count(*)::int AS n FROM users WHERE deleted_at IS NULL')).rows[0].n;
    expect(Number((await queryStore(store, 'SELECT count(*) FROM users'))[0]?.[0])).toBe(users);
  });

  it('removes hard-deleted users with everything linked to them at the next sync', async () => {
    const count = async (sql: string) => (await db.query(sql)).rows[0].n as number;
    const events = await count(
      'SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE d.user_id IN (20, 21)',
    );
    await db.query('DELETE FROM users WHERE id IN (20, 21)');
    const r = await sync('--json');
    expect(r.code, r.stderr).toBe(0);
    const byTable = Object.fromEntries(
      JSON.parse(r.stdout).tables.map((t: { table: string; rowsErased: number }) => [t.table, t.rowsErased]),
    );
    expect(byTable.connection_events).toBe(events);
    const live = {
      users: 'SELECT count(*)::int AS n FROM users WHERE deleted_at IS NULL',
      devices:
        'SELECT count(*)::int AS n FROM devices d JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL',
      connection_events:
        'SELECT count(*)::int AS n FROM connection_events e JOIN devices d ON d.id = e.device_id JOIN users u ON u.id = d.user_id WHERE u.deleted_at IS NULL',
    };
    for (const [table, sql] of Object.entries(live)) {
      const stored = Number((await queryStore(store, `SELECT count(*) FROM ${table}`))[0]?.[0]);
      expect(stored, table).toBe(await count(sql));
    }
    // A full rescan reads production again and still leaves the deleted out.
    const full = await sync('--full', '--json');
    expect(full.code, full.stderr).toBe(0);
    for (const [table, sql] of Object.entries(live)) {
      const stored = Number((await queryStore(store, `SELECT count(*) FROM ${table}`))[0]?.[0]);
      expect(stored, table).toBe(await count(sql));
    }
  });

  it('refuses a new unclassified column and leaves the store exactly as it was', async () => {
    const before = await dumpStore(store);
    await db.query('ALTER TABLE users ADD COLUMN home_address text');
    await db.query("UPDATE users SET home_address = 'canary street 1', updated_at = now() WHERE id = 30");
    const r = await sync();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_SCHEMA_DRIFT');
    expect(r.stderr).toContain('users.home_address');
    expect(r.stderr).not.toContain('canary street');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await dumpStore(store)).toBe(before);
    await db.query('ALTER TABLE users DROP COLUMN home_address');
  });

  it('refuses a changed column type until the table is rebuilt with --full', async () => {
    const before = await dumpStore(store);
    await db.query('ALTER TABLE devices ALTER COLUMN region TYPE varchar(32)');
    const r = await sync();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('devices.region changed type');
    expect(await dumpStore(store)).toBe(before);
    expect((await sync('--full')).code).toBe(0);
    expect((await sync()).code).toBe(0);
  });

  it('blocks a batch whose kept text holds PII, naming column and detector, never the value', async () => {
    const before = await dumpStore(store);
    const secretValue = 'leaky.person@example.org';
    await db.query(`UPDATE devices SET firmware_version = $1, updated_at = now() WHERE id = 5`, [
      secretValue,
    ]);
    const r = await sync();
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('devices.firmware_version');
    expect(r.stdout).toContain('email');
    expect(r.stdout + r.stderr).not.toContain(secretValue);
    const devicesNow = await queryStore(store, 'SELECT * FROM devices ORDER BY id');
    const devicesBefore = before.split('## devices\n')[1]?.split('\n')[0];
    expect(JSON.stringify(devicesNow).length).toBe(
      devicesBefore ? JSON.stringify(JSON.parse(devicesBefore).sort()).length : 0,
    );
    expect(JSON.stringify(devicesNow)).not.toContain(secretValue);
  });

  it('quarantines instead when the policy says so', async () => {
    const policy = readFileSync(POLICY, 'utf8').replace('on_detect: block', 'on_detect: quarantine');
    const qPolicy = join(dir, 'quarantine.policy.yaml');
    writeFileSync(qPolicy, policy);
    const r = await cli([
      'sync',
      '--source',
      db.url,
      '--policy',
      qPolicy,
      '--store',
      store,
      '--key-file',
      key,
      // Quarantine is weaker than block: under this store's approved state it needs a second
      // admin (approvals.e2e covers that); this test is about what quarantine does.
      '--state-dir',
      join(dir, 'quarantine-state'),
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const devices = JSON.parse(r.stdout).tables.find((t: { table: string }) => t.table === 'devices');
    expect(devices.quarantined).toEqual([
      expect.objectContaining({ column: 'firmware_version', detector: 'email', rows: 1 }),
    ]);
    expect(rowsAddUp(devices)).toBe(true);
    expect(r.stdout).not.toContain('leaky.person');
    await db.query(`UPDATE devices SET firmware_version = '2.9.0', updated_at = now() WHERE id = 5`);
    expect((await sync()).code).toBe(0);
  });

  it('refuses the wrong key, an exposed key file and a tampered checkpoint', async () => {
    const other = join(dir, 'other.key');
    expect((await cli(['init', '--key-file', other])).code).toBe(0);
    const wrong = await cli([
      'sync',
      '--source',
      db.url,
      '--policy',
      POLICY,
      '--store',
      store,
      '--key-file',
      other,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('FV_KEY_MISMATCH');
    const exposed = join(dir, 'exposed.key');
    copyFileSync(key, exposed);
    chmodSync(exposed, 0o644);
    const r = await cli([
      'sync',
      '--source',
      db.url,
      '--policy',
      POLICY,
      '--store',
      store,
      '--key-file',
      exposed,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_KEY_FILE_INSECURE');

    const instance = await DuckDBInstance.create(store);
    const c = await instance.connect();
    await c.run("UPDATE _fv_tables SET checkpoint = 'AAAA' || substr(checkpoint, 5) WHERE name = 'users'");
    c.closeSync();
    instance.closeSync();
    const before = await dumpStore(store);
    const t = await sync();
    expect(t.code).toBe(1);
    expect(t.stderr).toContain('FV_CHECKPOINT_CORRUPT');
    expect(await dumpStore(store)).toBe(before);
    expect((await sync('--full')).code).toBe(0);
  });

  it('enforces a retention window at every sync, leaving the source untouched', async () => {
    // Cut through the middle of the simulated week, whatever day the test runs on.
    const days = Math.ceil((Date.now() - Date.UTC(2026, 9, 29)) / 86_400_000);
    const file = join(dir, 'retention.policy.yaml');
    writeFileSync(
      file,
      readFileSync(POLICY, 'utf8').replace(
        '    cursor: id                                            # append-only\n    columns:\n      id:          { class: identifier, domain: event }',
        `    cursor: id\n    retention: { column: ts, days: ${days} }\n    columns:\n      id:          { class: identifier, domain: event }`,
      ),
    );
    expect(readFileSync(file, 'utf8')).toContain('retention:');
    const r = await cli([
      'sync',
      '--source',
      db.url,
      '--policy',
      file,
      '--store',
      store,
      '--key-file',
      key,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const events = JSON.parse(r.stdout).tables.find(
      (t: { table: string }) => t.table === 'connection_events',
    );
    expect(events.rowsExpired).toBeGreaterThan(0);
    const today = new Date();
    const cutoff = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - days);
    const [[oldest]] = (await queryStore(store, 'SELECT epoch_ms(min(ts)) FROM connection_events')) as [
      [number],
    ];
    expect(Number(oldest)).toBeGreaterThanOrEqual(cutoff);
    const source = (
      await db.query('SELECT count(*)::int AS n FROM connection_events WHERE ts < $1', [new Date(cutoff)])
    ).rows[0].n;
    expect(source).toBeGreaterThan(0);
  });

  it('fails clearly on an unreachable source, an unreviewed policy and a malformed policy', async () => {
    const down = await cli([
      'sync',
      '--source',
      'postgres://postgres:hunter2@127.0.0.1:1/nowhere',
      '--policy',
      POLICY,
      '--store',
      store,
      '--key-file',
      key,
    ]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('FV_SOURCE_UNREACHABLE');
    expect(down.stderr).not.toContain('hunter2');

    const unreviewed = join(dir, 'unreviewed.yaml');
    writeFileSync(unreviewed, readFileSync(POLICY, 'utf8').replace('reviewed: true', 'reviewed: false'));
    const u = await cli([
      'sync',
      '--source',
      db.url,
      '--policy',
      unreviewed,
      '--store',
      store,
      '--key-file',
      key,
    ]);
    expect(u.code).toBe(1);
    expect(u.stderr).toContain('FV_POLICY_UNREVIEWED');

    const malformed = join(dir, 'malformed.yaml');
    writeFileSync(
      malformed,
      'version: 1\ntables:\n  users:\n    columns:\n      id: { class: identifer }\n   bad: [\n',
    );
    const m = await cli([
      'sync',
      '--source',
      db.url,
      '--policy',
      malformed,
      '--store',
      store,
      '--key-file',
      key,
    ]);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/malformed\.yaml:\d+:\d+/);
    expect(m.stderr).not.toMatch(/\n\s+at /);
  });
});
