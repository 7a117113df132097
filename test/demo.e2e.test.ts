// End to end (slow): the main job on embedded defaults, twice, as `npm start` runs it.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Canaries, canaryValues } from '../src/sim/index.ts';
import { runCli } from './helpers/cli.ts';
import { dumpStore } from './helpers/store-dump.ts';

describe('npm start (demo on embedded defaults)', () => {
  it('simulates into embedded PostgreSQL, syncs into DuckDB, reports, and a second run reuses it', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'fv-demo-'));
    const first = await runCli(['demo', '--users', '1500', '--days', '5'], { cwd });
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

    const second = await runCli(['demo', '--users', '1500', '--days', '5'], { cwd });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain('reusing the simulated production data');
    expect(second.stdout).toMatch(/connection_events +\[copied, upsert\] +read 0 /);
    expect(second.stdout).toContain('Fleet metrics');

    const canaries = canaryValues(JSON.parse(readFileSync(join(dir, 'canaries.json'), 'utf8')) as Canaries);
    const dump = await dumpStore(join(dir, 'store.duckdb'));
    for (const c of canaries) {
      expect(dump.includes(c), c).toBe(false);
      expect(first.stdout.includes(c) || first.stderr.includes(c) || second.stdout.includes(c), c).toBe(
        false,
      );
    }
  });
});
