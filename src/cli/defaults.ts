import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineFor } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';

/** Local state lives in one folder, readable by its owner only. */
export const STATE_DIR = '.fleetvault';
export const DEFAULT_KEY_FILE = join(STATE_DIR, 'master.key');
export const DEFAULT_STORE = join(STATE_DIR, 'store.duckdb');
export const DEFAULT_POLICY = 'fleetvault.policy.yaml';
export const DEFAULT_METRICS = 'fleetvault.metrics.yaml';
/** Where `npm start` (`fleetvault demo`) keeps its state, store and key. */
export const DEMO_DIR = '.fleetvault-demo';

/** Creates the folder (0700) when missing; a folder that cannot be made is a clear error. */
export function ensurePrivateDir(dir: string): void {
  if (existsSync(dir)) return;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'error';
    throw new FvError('FV_STATE_DIR', `cannot create the folder ${dir} (${code})`);
  }
}

/**
 * The store a reading command uses without `--store`: `.fleetvault/store.duckdb`, or, when that
 * does not exist and `npm start` made the demo's here, the demo store (said on stderr), so
 * `fleetvault sql` and `metrics` work right after `npm start`.
 */
export function readStorePath(flag: unknown, note: (line: string) => void): string {
  if (typeof flag === 'string') return flag;
  const demo = join(DEMO_DIR, 'store.duckdb');
  if (!existsSync(DEFAULT_STORE) && existsSync(demo)) {
    note(`(no ${DEFAULT_STORE} here: using the demo store ${demo}; --store chooses another)`);
    return demo;
  }
  return DEFAULT_STORE;
}

/** The metrics file without `--metrics`: ./fleetvault.metrics.yaml, else the demo's beside its store. */
export function metricsPath(flag: unknown, note: (line: string) => void): string {
  if (typeof flag === 'string') return flag;
  if (!existsSync(DEFAULT_METRICS) && existsSync(DEMO_DIR)) {
    const shipped = join(packageRoot(), 'examples', 'demo', DEFAULT_METRICS);
    note(`(no ${DEFAULT_METRICS} here: using the demo's ${shipped}; --metrics chooses another)`);
    return shipped;
  }
  return DEFAULT_METRICS;
}

/** The source URL from the flag or FLEETVAULT_SOURCE; a usage error when neither is set. */
export function sourceUrl(flag: string | undefined): string {
  const url = flag || process.env.FLEETVAULT_SOURCE;
  if (!url) throw new FvError('FV_USAGE', 'no source: pass --source <postgres-url> or set FLEETVAULT_SOURCE');
  return url;
}

/** The installed package's root folder, for shipped files such as the demo policy. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
  return resolve(dir);
}

/** Resolves when the process is asked to stop (Ctrl+C or SIGTERM), so a server can close cleanly. */
export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** A DuckDB store a command only reads must exist: opening would otherwise fail with DuckDB's text. */
export function requireStoreFile(path: string): void {
  if (
    engineFor(path)
      .files(path)
      .every((f) => existsSync(f))
  )
    return;
  throw new FvError('FV_STORE_MISSING', `store ${path} does not exist`);
}
