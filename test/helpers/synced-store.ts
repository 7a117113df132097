import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type Canaries, canaryValues } from '../../src/sim/index.ts';
import { type CliRun, runCli } from './cli.ts';
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

/** `fleetvault sync` of `s`'s source through the demo policy into `store`, with its key, then `extra`. */
export function demoSyncArgs(
  s: Pick<SyncedStore, 'db' | 'keyFile'>,
  store: string,
  ...extra: string[]
): string[] {
  return [
    'sync',
    '--source',
    s.db.url,
    '--policy',
    DEMO_POLICY,
    '--store',
    store,
    '--key-file',
    s.keyFile,
    ...extra,
  ];
}

/** `fleetvault forget` of production user `id` through the demo policy in `store`, with its key, then `extra`. */
export function demoForgetArgs(
  s: Pick<SyncedStore, 'keyFile'>,
  store: string,
  id: string,
  ...extra: string[]
): string[] {
  return [
    'forget',
    '--user-id',
    id,
    '--policy',
    DEMO_POLICY,
    '--store',
    store,
    '--key-file',
    s.keyFile,
    ...extra,
  ];
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
  // The store keeps the demo metrics' rollups, as beside a metrics file: the tests that read
  // metrics from this store answer from them where a rollup serves the query.
  const s = await runCli([...demoSyncArgs({ db, keyFile }, store), '--metrics', DEMO_METRICS]);
  expect(s.code, s.stderr).toBe(0);
  const canaries = canaryValues(JSON.parse(readFileSync(canaryFile, 'utf8')) as Canaries);
  return { db, dir, store, keyFile, canaries };
}

/** The demo production synced into DuckDB (the reference) and, by the same CLI, into another store. */
export interface SyncedProduction extends SyncedStore {
  /** The other engine's store, synced from the same source with the same key. */
  readonly location: string;
  /** The output of every CLI run made through `cli`, for canary searches. */
  readonly outputs: CliRun[];
  /** Users a test took out of the stores (soft-deleted, hard-deleted, forgotten). */
  readonly erasedUsers: string[];
  /** Runs the CLI, keeping its output in `outputs`. */
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliRun>;
  /** `fleetvault sync` of the source through the demo policy into `store`, with the same key. */
  sync(store: string, ...extra: string[]): Promise<CliRun>;
}

/** `s`'s production synced into `location` as well (the sync must succeed). */
export async function syncedProduction(s: SyncedStore, location: string): Promise<SyncedProduction> {
  const outputs: CliRun[] = [];
  const cli = async (args: string[], env: NodeJS.ProcessEnv = {}) => {
    const r = await runCli(args, { env });
    outputs.push(r);
    return r;
  };
  const sync = (store: string, ...extra: string[]) => cli(demoSyncArgs(s, store, ...extra));
  // With the demo metrics' rollups, as the reference keeps them (later syncs keep them current).
  const r = await sync(location, '--metrics', DEMO_METRICS);
  expect(r.code, r.stderr).toBe(0);
  return { ...s, location, outputs, erasedUsers: [], cli, sync };
}
