// End to end: the CLI's conventions. `--version`; `--json` with numbers as numbers; `--format csv`
// where it prints tables; empty lists say so; the Node version the package claims is one every
// dependency accepts; accounts can be disabled and given a new password, above viewer only with
// a second admin's approval.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, runCli } from './helpers/cli.ts';
import { DEMO_METRICS, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

const ROOT = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  engines: { node: string };
};

/** Parses RFC 4180 CSV (quoted cells, doubled quotes, CRLF rows). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

describe('CLI conventions', () => {
  let s: SyncedStore;

  beforeAll(async () => {
    s = await syncedStore({ users: 400, days: 3, seed: 18 });
  });

  afterAll(async () => {
    await s?.db.drop();
  });

  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('runs as a program through a link, in its own process, with the allocator settings for long copies', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-bin-'));
    const link = join(dir, 'fleetvault');
    symlinkSync(BIN, link); // as npm links it into node_modules/.bin
    expect(execFileSync(link, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    // A `node` that reports what it was started with: the shell line hands over every argument
    // as it was, with glibc's settings unless the environment has its own, and replaces itself
    // (a signal to the process started reaches Node itself: `kill -9` leaves nothing running).
    const fake = join(dir, 'fake');
    mkdirSync(fake);
    writeFileSync(
      join(fake, 'node'),
      '#!/bin/sh\nprintf "%s|%s|%s|%s\\n" "$$" "$MALLOC_ARENA_MAX" "$MALLOC_MMAP_THRESHOLD_" "$MALLOC_TRIM_THRESHOLD_"\nprintf "[%s]" "$@"\n',
      { mode: 0o755 },
    );
    const seen = (env: NodeJS.ProcessEnv) => {
      const r = spawnSync(link, ['sync', 'two words', '--policy', "it's.yaml"], {
        encoding: 'utf8',
        env: { ...env, PATH: `${fake}:${process.env.PATH}` },
      });
      expect(r.status).toBe(0);
      return r.stdout.split('\n').map((l) => l.replace(`${r.pid}|`, 'pid|'));
    };
    const plain = { ...process.env };
    for (const k of ['MALLOC_ARENA_MAX', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_']) delete plain[k];
    expect(seen(plain)).toEqual(['pid|2|262144|262144', `[${link}][sync][two words][--policy][it's.yaml]`]);
    expect(seen({ ...plain, MALLOC_ARENA_MAX: '8' })[0]).toBe('pid|8|262144|262144');
  });

  it('sql --json gives counts as numbers; --format csv gives the same rows as CSV', async () => {
    const statement =
      'SELECT product_model, count(*) AS devices, count(DISTINCT user_id) AS owners FROM devices GROUP BY 1 ORDER BY 1';
    const json = await runCli(['sql', '--json', '--store', s.store, statement]);
    expect(json.code, json.stderr).toBe(0);
    const result = JSON.parse(json.stdout) as { columns: string[]; rows: unknown[][] };
    expect(result.columns).toEqual(['product_model', 'devices', 'owners']);
    for (const r of result.rows) {
      expect(typeof r[0]).toBe('string');
      expect(typeof r[1]).toBe('number');
      expect(typeof r[2]).toBe('number');
    }
    const csv = await runCli(['sql', '--format', 'csv', '--store', s.store, statement]);
    expect(csv.code, csv.stderr).toBe(0);
    expect(parseCsv(csv.stdout)).toEqual([result.columns, ...result.rows.map((r) => r.map(String))]);
  });

  it('metrics query and metrics list print CSV; the values are the JSON answer', async () => {
    const args = ['metrics', 'query', 'active_devices', '--grain', 'week', '--by', 'devices.product_model'];
    const common = ['--store', s.store, '--metrics', DEMO_METRICS];
    const json = JSON.parse((await runCli([...args, ...common, '--json'])).stdout) as {
      groups: Array<{ period: string; dims: string[]; values: { value: number | null }; suppressed: string }>;
    };
    const csv = parseCsv((await runCli([...args, ...common, '--format', 'csv'])).stdout);
    expect(csv[0]).toEqual(['period', 'devices.product_model', 'value', 'users', 'suppressed']);
    expect(csv.slice(1).map((r) => [r[0], r[1], r[2], r[4]])).toEqual(
      json.groups.map((g) => [
        g.period,
        g.dims[0],
        g.suppressed === 'none' ? String(g.values.value) : '',
        g.suppressed,
      ]),
    );
    const list = parseCsv(
      (await runCli(['metrics', 'list', '--metrics', DEMO_METRICS, '--format', 'csv'])).stdout,
    );
    expect(list[0]).toEqual(['name', 'description', 'dimensions']);
    expect(list.map((r) => r[0])).toContain('connection_failure_rate');
  });

  it('an empty list says so, in text; in JSON it is an empty array', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-empty-'));
    const state = ['--state-dir', dir];
    expect((await runCli(['tokens', 'list', ...state])).stdout).toContain('No tokens yet');
    expect((await runCli(['users', 'list', ...state])).stdout).toContain('No accounts yet');
    expect((await runCli(['approvals', 'list', ...state])).stdout).toContain('No proposals');
    expect(JSON.parse((await runCli(['tokens', 'list', '--json', ...state])).stdout)).toEqual({ tokens: [] });
    expect(JSON.parse((await runCli(['users', 'list', '--json', ...state])).stdout)).toEqual({ users: [] });
  });

  it('every dependency in the lock file accepts the Node version package.json claims', () => {
    const require = createRequire(import.meta.url);
    const semver = require('semver') as {
      minVersion(range: string): { version: string };
      satisfies(v: string, range: string): boolean;
    };
    const floor = semver.minVersion(pkg.engines.node).version;
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { engines?: { node?: string } | string[] }>;
    };
    const refused = Object.entries(lock.packages)
      .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.satisfies(floor, (p.engines as { node: string }).node))
      .map(([name, p]) => `${name} wants node ${(p.engines as { node: string }).node}`);
    expect(refused).toEqual([]);
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain(`Node ${floor.replace(/\.0$/, '')}+`);
  });

  it('accounts: disable ends sign-in; a new password for a viewer at once, for an admin only with a second admin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-accounts-'));
    const state = ['--state-dir', dir];
    const add = async (name: string, role: string) => {
      const r = await runCli(['users', 'add', '--name', name, '--role', role, '--json', ...state]);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { password: string }).password;
    };
    const alice = await add('alice', 'admin');
    const bob = await add('bob', 'admin');
    await add('vic', 'viewer');
    const as = (user: string, password: string) => ({
      env: { FLEETVAULT_PASSWORD: password } as NodeJS.ProcessEnv,
      user,
    });

    // A viewer's password: at once, shown once, the old one no longer signs in.
    const vic = await runCli(['users', 'reset-password', '--name', 'vic', '--json', ...state]);
    expect(vic.code, vic.stderr).toBe(0);
    expect((JSON.parse(vic.stdout) as { password: string }).password).toMatch(/^[\w-]{20}$/);

    // An admin's: refused without an approval, with what to do.
    const refused = await runCli(['users', 'reset-password', '--name', 'alice', ...state]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FV_APPROVAL_REQUIRED');
    expect(refused.stderr).toContain('approvals propose --new-user alice --role admin');

    // Bob proposes, Alice approves (nobody approves their own), then the reset goes through once.
    const b = as('bob', bob);
    const proposal = await runCli(
      [
        'approvals',
        'propose',
        '--new-user',
        'alice',
        '--role',
        'admin',
        '--reason',
        'password reset',
        '--user',
        b.user,
        '--json',
        ...state,
      ],
      { env: b.env },
    );
    expect(proposal.code, proposal.stderr).toBe(0);
    const id = (JSON.parse(proposal.stdout) as { proposal: { id: string } }).proposal.id;
    const a = as('alice', alice);
    const approve = await runCli(['approvals', 'approve', id, '--user', a.user, ...state], { env: a.env });
    expect(approve.code, approve.stderr).toBe(0);
    const reset = await runCli([
      'users',
      'reset-password',
      '--name',
      'alice',
      '--approval',
      id,
      '--json',
      ...state,
    ]);
    expect(reset.code, reset.stderr).toBe(0);
    const newAlice = (JSON.parse(reset.stdout) as { password: string }).password;
    expect(newAlice).not.toBe(alice);
    const again = await runCli(['users', 'reset-password', '--name', 'alice', '--approval', id, ...state]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('FV_APPROVAL_INVALID');
    // The old password no longer acts; the new one does.
    const old = await runCli(
      [
        'approvals',
        'propose',
        '--new-token',
        'ci',
        '--role',
        'analyst',
        '--reason',
        'continuous integration',
        '--user',
        'alice',
        ...state,
      ],
      {
        env: { FLEETVAULT_PASSWORD: alice },
      },
    );
    expect(old.code).toBe(1);
    const fresh = await runCli(
      [
        'approvals',
        'propose',
        '--new-token',
        'ci',
        '--role',
        'analyst',
        '--reason',
        'continuous integration',
        '--user',
        'alice',
        ...state,
      ],
      { env: { FLEETVAULT_PASSWORD: newAlice } },
    );
    expect(fresh.code, fresh.stderr).toBe(0);

    // Disable: an admin signs bob's removal from the signed state (without one it is refused);
    // Bob can no longer act, the list says so, the audit has both.
    const alone = await runCli(['users', 'disable', '--name', 'bob', ...state]);
    expect(alone.code).not.toBe(0);
    const disable = await runCli(['users', 'disable', '--name', 'bob', '--user', 'alice', ...state], {
      env: { FLEETVAULT_PASSWORD: newAlice },
    });
    expect(disable.code, disable.stderr).toBe(0);
    const list = await runCli(['users', 'list', ...state]);
    expect(list.stdout).toMatch(/admin +bob +\(disabled\)/);
    const blocked = await runCli(
      [
        'approvals',
        'propose',
        '--new-token',
        'x',
        '--role',
        'analyst',
        '--reason',
        'a test',
        '--user',
        'bob',
        ...state,
      ],
      { env: b.env },
    );
    expect(blocked.code).toBe(1);
    const unknown = await runCli(['users', 'disable', '--name', 'nobody', ...state]);
    expect(unknown.stderr).toContain('FV_USER_UNKNOWN');
    const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    expect(audit).toContain('"user.disable"');
    expect(audit).toContain('"user.reset_password"');
    for (const secret of [alice, bob, newAlice]) expect(audit.includes(secret)).toBe(false);
  }, 120_000);
});
