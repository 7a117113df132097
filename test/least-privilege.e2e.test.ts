// End to end (slow): the copy runs as a role made from `policy grants`, so PostgreSQL itself
// guarantees secrets and dropped columns never leave production.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readColumns, readPolicyFile } from '../src/policy/index.ts';
import { type Canaries, canaryValues } from '../src/sim/index.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, pgUrl, type TestDatabase, withClient } from './helpers/pg.ts';
import { dumpStore } from './helpers/store-dump.ts';

const POLICY = join(process.cwd(), 'examples/demo/fleetvault.policy.yaml');

describe('least privilege at the source', () => {
  let db: TestDatabase;
  let dir: string;
  let role: string;
  let roleUrl: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-lp-'));
    role = `fv_reader_${randomBytes(3).toString('hex')}`;
    db.roles.push(role);
    roleUrl = pgUrl(db.name, role);
    const sim = await runCli([
      'simulate',
      '--source',
      db.url,
      '--users',
      '600',
      '--days',
      '5',
      '--canaries',
      join(dir, 'canaries.json'),
    ]);
    expect(sim.code, sim.stderr).toBe(0);
    const grants = await runCli([
      'policy',
      'grants',
      '--policy',
      POLICY,
      '--role',
      role,
      '--database',
      db.name,
    ]);
    expect(grants.code, grants.stderr).toBe(0);
    await db.query(grants.stdout);
    expect((await runCli(['init', '--key-file', join(dir, 'k')])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('grants exactly the columns the store receives in some form', async () => {
    const { policy } = readPolicyFile(POLICY);
    for (const table of policy!.tables.values()) {
      const needed = readColumns(table);
      const granted = await db.query(
        `SELECT column_name FROM information_schema.column_privileges WHERE grantee = $1 AND table_name = $2 AND privilege_type = 'SELECT'`,
        [role, table.name],
      );
      expect(granted.rows.map((r) => r.column_name).sort()).toEqual([...needed].sort());
    }
  });

  it('the role cannot select any secret or dropped column: PostgreSQL refuses', async () => {
    const { policy } = readPolicyFile(POLICY);
    let refused = 0;
    await withClient(roleUrl, async (c) => {
      for (const table of policy!.tables.values()) {
        for (const rule of table.columns.values()) {
          if (rule.action !== 'never_read' && rule.action !== 'drop') continue;
          if (readColumns(table).includes(rule.name)) continue;
          await expect(c.query(`SELECT "${rule.name}" FROM "${table.name}" LIMIT 1`)).rejects.toMatchObject({
            code: '42501',
          });
          refused++;
        }
      }
    });
    expect(refused).toBeGreaterThanOrEqual(15);
  });

  it('sync, incremental sync and policy check all succeed under the role', async () => {
    const store = join(dir, 'store.duckdb');
    const args = [
      'sync',
      '--source',
      roleUrl,
      '--policy',
      POLICY,
      '--store',
      store,
      '--key-file',
      join(dir, 'k'),
    ];
    const first = await runCli(args);
    expect(first.code, first.stderr).toBe(0);
    const canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    const dump = await dumpStore(store);
    for (const c of canaries) expect(dump.includes(c) || first.stdout.includes(c), c).toBe(false);
    await db.query("UPDATE users SET timezone = 'UTC', updated_at = now() WHERE id = 3");
    const second = await runCli([...args, '--json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout).tables[0].rowsRead).toBe(1);
    const check = await runCli(['policy', 'check', '--policy', POLICY, '--source', roleUrl, '--strict']);
    expect(check.code, check.stdout).toBe(0);
    expect(check.stdout).not.toContain('warning');
  });

  it('still sees a new production column the role has no privilege on, and refuses to sync', async () => {
    await db.query('ALTER TABLE devices ADD COLUMN owner_note text');
    try {
      const r = await runCli([
        'sync',
        '--source',
        roleUrl,
        '--policy',
        POLICY,
        '--store',
        join(dir, 'store.duckdb'),
        '--key-file',
        join(dir, 'k'),
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('FV_SCHEMA_DRIFT');
      expect(r.stderr).toContain('devices.owner_note');
    } finally {
      await db.query('ALTER TABLE devices DROP COLUMN owner_note');
    }
  });

  it('policy check warns when the connecting role can read never-needed columns, and --strict refuses', async () => {
    const loose = await runCli(['policy', 'check', '--policy', POLICY, '--source', db.url]);
    expect(loose.code).toBe(0);
    expect(loose.stdout).toContain('FV_SOURCE_OVERPRIVILEGED');
    expect(loose.stdout).toContain('password_hash (secret');
    const strict = await runCli(['policy', 'check', '--policy', POLICY, '--source', db.url, '--strict']);
    expect(strict.code).toBe(1);
  });

  it('a policy that reads one more column names the GRANT it needs instead of a bare permission error', async () => {
    const wider = join(dir, 'wider.yaml');
    writeFileSync(
      wider,
      readFileSync(POLICY, 'utf8').replace(
        'mac:              { class: identifier, action: drop }',
        'mac:              { class: identifier, domain: mac }',
      ),
    );
    const r = await runCli([
      'sync',
      '--source',
      roleUrl,
      '--policy',
      wider,
      '--store',
      join(dir, 'store2.duckdb'),
      '--key-file',
      join(dir, 'k'),
      '--state-dir',
      join(dir, 'wider-state'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_SOURCE_PRIVILEGE');
    expect(r.stderr).toContain(`GRANT SELECT ("mac") ON "public"."devices" TO "${role}"`);
    const check = await runCli(['policy', 'check', '--policy', wider, '--source', roleUrl, '--role', role]);
    expect(check.code).toBe(1);
    expect(check.stdout).toContain(`GRANT SELECT ("mac") ON "public"."devices" TO "${role}"`);
  });
});
