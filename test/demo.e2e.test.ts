// End to end (slow): the main job on embedded defaults, twice, as `npm start` runs it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Canaries, canaryValues } from '../src/sim/index.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { dumpStore } from './helpers/store-dump.ts';

/** Runs the demo as `npm start` does, waits for the dashboard, signs in with the printed password, stops it. */
async function serveDemo(cwd: string): Promise<{ stdout: string }> {
  const child = spawn(
    process.execPath,
    [BIN, 'demo', '--users', '1500', '--days', '5', '--listen', '127.0.0.1:0'],
    {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        if (stdout.includes('Press Ctrl+C')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`demo exited with ${code}`)));
    });
    const password = /one-time password (\S+)/.exec(stdout)?.[1] as string;
    const port = Number(/Dashboard: http:\/\/127\.0\.0\.1:(\d+)\//.exec(stdout)?.[1]);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const login = await fetch(`http://127.0.0.1:${port}/api/v1/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'admin', password }),
    });
    expect(login.status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    return { stdout };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}

describe('npm start (demo on embedded defaults)', () => {
  it('simulates into embedded PostgreSQL, syncs into DuckDB, reports, and a second run reuses it', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fv-demo-'));
    const first = await runCli(['demo', '--users', '1500', '--days', '5', '--no-serve'], { cwd });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('simulating 1,500 users');
    // Without a terminal, every long step still says how far it is, on stderr.
    expect(first.stderr).toMatch(/… simulating connection_events: [\d,]+ rows/);
    expect(first.stderr).toMatch(/… connection_events: [\d,]+ rows of about [\d,]+ \(\d+%\)/);
    for (const word of ['pseudonymized:', 'generalized:', 'dropped:', 'never read:', 'Store:', 'Key:']) {
      expect(first.stdout).toContain(word);
    }
    expect(first.stdout).toMatch(/never read: +password_hash/);
    for (const title of [
      'Fleet metrics (k = 10',
      'Activations by week',
      'Connection failure rate',
      'first successful connection',
      'linking an assistant',
    ]) {
      expect(first.stdout).toContain(title);
    }
    expect(first.stdout).toMatch(/cam-outdoor-3 +3\.2\.0 +\d+\.\d%/);
    const dir = join(cwd, '.fleetvault-demo');
    expect(statSync(join(dir, 'store.duckdb')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'master.key')).mode & 0o777).toBe(0o600);

    // Right after `npm start`, sql and metrics find the demo's store and metrics file by themselves.
    const sql = await runCli(['sql', 'SELECT count(*) AS n FROM devices'], { cwd });
    expect(sql.code, sql.stderr).toBe(0);
    expect(sql.stderr).toContain('using the demo store .fleetvault-demo/store.duckdb');
    expect(sql.stdout).toMatch(/^n\n-+\n\d+\n\(1 row\)/);
    const list = await runCli(['metrics', 'list'], { cwd });
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain('connection_failure_rate');
    const query = await runCli(['metrics', 'query', 'activations', '--grain', 'month'], { cwd });
    expect(query.code, query.stderr).toBe(0);

    // The second start opens no database and copies nothing: nothing but the demo writes to it.
    const second = await serveDemo(cwd);
    expect(second.stdout).toContain('nothing to copy');
    expect(second.stdout).not.toContain('Synced');
    expect(second.stdout).not.toContain('PGlite');
    expect(second.stdout).toContain('Fleet metrics');
    expect(second.stdout).toContain('Dashboard: http://127.0.0.1:');

    // --resync reopens it and syncs anyway: an incremental sync that reads no event again.
    const third = await runCli(['demo', '--no-serve', '--resync'], { cwd });
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout).toContain('reusing the simulated production data');
    expect(third.stdout).toMatch(/connection_events +\[copied, upsert\] +read 0 /);

    const canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    const dump = await dumpStore(join(dir, 'store.duckdb'));
    for (const c of canaries) {
      expect(dump.includes(c), c).toBe(false);
      expect(
        [first.stdout, first.stderr, second.stdout, third.stdout, third.stderr].some((o) => o.includes(c)),
        c,
      ).toBe(false);
    }
  }, 420_000); // three demo runs (simulate, sync, report, serve; serve; sync)
});
