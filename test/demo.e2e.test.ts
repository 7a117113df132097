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

    const second = await serveDemo(cwd);
    expect(second.stdout).toContain('reusing the simulated production data');
    expect(second.stdout).toMatch(/connection_events +\[copied, upsert\] +read 0 /);
    expect(second.stdout).toContain('Fleet metrics');
    expect(second.stdout).toContain('Dashboard: http://127.0.0.1:');

    const canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    const dump = await dumpStore(join(dir, 'store.duckdb'));
    for (const c of canaries) {
      expect(dump.includes(c), c).toBe(false);
      expect(first.stdout.includes(c) || first.stderr.includes(c) || second.stdout.includes(c), c).toBe(
        false,
      );
    }
  }, 360_000); // two whole demo runs (simulate, sync, report, serve)
});
