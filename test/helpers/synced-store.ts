import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type Canaries, canaryValues } from '../../src/sim/index.ts';
import { runCli } from './cli.ts';
import { createTestDatabase, type TestDatabase } from './pg.ts';

export const DEMO_POLICY = join(process.cwd(), 'examples/demo/fleetvault.policy.yaml');
export const DEMO_METRICS = join(process.cwd(), 'examples/demo/fleetvault.metrics.yaml');

export interface SyncedStore {
  readonly db: TestDatabase;
  readonly dir: string;
  readonly store: string;
  readonly keyFile: string;
  readonly canaries: string[];
}

/** A fresh production database filled by the simulator, synced through the demo policy by the CLI. */
export async function syncedStore(opts: {
  users: number;
  days: number;
  seed?: number;
}): Promise<SyncedStore> {
  const db = await createTestDatabase();
  const dir = mkdtempSync(join(tmpdir(), 'fv-store-'));
  const store = join(dir, 'store.duckdb');
  const keyFile = join(dir, 'k');
  const canaryFile = join(dir, 'canaries.json');
  const sim = await runCli([
    'simulate',
    '--source',
    db.url,
    '--users',
    String(opts.users),
    '--days',
    String(opts.days),
    '--seed',
    String(opts.seed ?? 42),
    '--canaries',
    canaryFile,
  ]);
  expect(sim.code, sim.stderr).toBe(0);
  expect((await runCli(['init', '--key-file', keyFile])).code).toBe(0);
  const s = await runCli([
    'sync',
    '--source',
    db.url,
    '--policy',
    DEMO_POLICY,
    '--store',
    store,
    '--key-file',
    keyFile,
    // The store keeps the demo metrics' rollups, as beside a metrics file: the tests that read
    // metrics from this store answer from them where a rollup serves the query.
    '--metrics',
    DEMO_METRICS,
  ]);
  expect(s.code, s.stderr).toBe(0);
  const canaries = canaryValues(JSON.parse(readFileSync(canaryFile, 'utf8')) as Canaries);
  return { db, dir, store, keyFile, canaries };
}
