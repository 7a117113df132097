// End to end (slow): the leak scanner on production, on fleetvault's own store, and on a copy
// that someone let personal data into.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPolicyFile } from '../src/policy/index.ts';
import { runCli } from './helpers/cli.ts';
import { DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

describe('fleetvault scan', () => {
  let s: SyncedStore;

  beforeAll(async () => {
    s = await syncedStore({ users: 800, days: 3 });
  });

  afterAll(async () => {
    await s?.db.drop();
  });

  it('flags exactly the personal, sensitive and secret columns of the production database', async () => {
    const r = await runCli(['scan', '--url', s.db.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const flagged = JSON.parse(r.stdout).findings.map(
      (f: { table: string; column: string }) => `${f.table}.${f.column}`,
    );
    const { policy } = readPolicyFile(DEMO_POLICY);
    const expected: string[] = [];
    for (const t of policy!.tables.values()) {
      for (const c of t.columns.values()) {
        if (['secret', 'personal', 'sensitive'].includes(c.class)) expected.push(`${t.name}.${c.name}`);
      }
    }
    // MAC addresses are identifiers by class, and personal data by their values.
    expect(flagged.sort()).toEqual([...expected, 'devices.mac'].sort());
    for (const c of s.canaries) expect(r.stdout.includes(c), c).toBe(false);
  });

  it('finds nothing in fleetvault’s own store', async () => {
    const r = await runCli(['scan', '--url', s.store]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('0 column(s) look personal or secret');
  });

  it('exits 1 when a store meant to hold nothing personal holds emails', async () => {
    const leaky = join(s.dir, 'leaky.duckdb');
    copyFileSync(s.store, leaky);
    const instance = await DuckDBInstance.create(leaky);
    const db = await instance.connect();
    await db.run("ALTER TABLE devices ADD COLUMN owner_email VARCHAR DEFAULT 'someone.real@example.org'");
    db.closeSync();
    instance.closeSync();
    const r = await runCli(['scan', '--url', leaky]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/devices\.owner_email +email in \d+\/\d+ sampled values/);
    expect(r.stdout).not.toContain('someone.real');
  });
});
