import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { engineFor } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';

/** Local state lives in one folder, readable by its owner only. */
export const STATE_DIR = '.fleetvault';
/** The files of a state folder (the signed state's own files are named in approvals/). */
export const KEY_FILE = 'master.key';
export const STORE_FILE = 'store.duckdb';
export const AUDIT_FILE = 'audit.jsonl';
export const TOKENS_FILE = 'tokens.json';
export const USERS_FILE = 'users.json';
export const DEFAULT_KEY_FILE = join(STATE_DIR, KEY_FILE);
export const DEFAULT_STORE = join(STATE_DIR, STORE_FILE);
export const DEFAULT_POLICY = 'fleetvault.policy.yaml';
export const DEFAULT_METRICS = 'fleetvault.metrics.yaml';
/** Where `npm start` (`fleetvault demo`) keeps its state, store and key. */
export const DEMO_DIR = '.fleetvault-demo';
export const DEMO_STORE = join(DEMO_DIR, STORE_FILE);
/** The fleet `demo` simulates on its first run. */
export const DEMO_USERS = 20_000;
export const DEMO_DAYS = 30;
/** The address `serve` and `demo` listen on: loopback, so nothing beyond this machine reaches it. */
export const DEFAULT_LISTEN = '127.0.0.1:8787';
/** How often `serve` probes itself for exposure. */
export const DEFAULT_PROBE_EVERY = '5m';
/** Rows (change capture: changes) per committed batch of `sync`. */
export const DEFAULT_BATCH_SIZE = 50_000;

/** What `simulate` makes without options: users, days of events, and the random seed. */
export const SIMULATE_USERS = 10_000;
export const SIMULATE_DAYS = 30;
export const SIMULATE_SEED = 42;
/** The PostgreSQL schema `policy suggest` and `scan` read without `--schema`. */
export const DEFAULT_SCHEMA = 'public';
/** With `sync --follow`: the pause between reads of the replication slot. */
export const DEFAULT_POLL_MS = 1000;
/** The period `metrics query` groups by without `--grain`. */
export const DEFAULT_GRAIN = 'week';
/** The most rows `sql` prints without `--max-rows`. */
export const DEFAULT_SQL_MAX_ROWS = 1000;
/** The role of a new account or token without `--role`. */
export const DEFAULT_ACCOUNT_ROLE = 'viewer';
/** The MQTT topic filter `ingest` subscribes to without `--topic`: every topic. */
export const DEFAULT_TOPIC = '#';
/** `ingest` without options: rows per committed batch, longest wait for a batch, largest message. */
export const INGEST_BATCH = 1000;
export const INGEST_FLUSH_MS = 1000;
export const INGEST_MAX_BYTES = 16_384;
/** Values `scan` samples per column without `--sample`. */
export const DEFAULT_SCAN_SAMPLE = 500;

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
  if (!existsSync(DEFAULT_STORE) && existsSync(DEMO_STORE)) {
    note(`(no ${DEFAULT_STORE} here: using the demo store ${DEMO_STORE}; --store chooses another)`);
    return DEMO_STORE;
  }
  return DEFAULT_STORE;
}

/** The metrics file without `--metrics`: ./fleetvault.metrics.yaml, else the demo's beside its store. */
export function metricsPath(flag: unknown, note: (line: string) => void): string {
  if (typeof flag === 'string') return flag;
  if (!existsSync(DEFAULT_METRICS) && existsSync(DEMO_DIR)) {
    const shipped = demoFile(DEFAULT_METRICS);
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

/** A file the package ships with the demo: its policy and metrics file. */
export function demoFile(name: typeof DEFAULT_POLICY | typeof DEFAULT_METRICS): string {
  return join(packageRoot(), 'examples', 'demo', name);
}

/** The built dashboard the server serves. */
export function webDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

/** The installed package's root folder, for shipped files such as the demo policy. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir)
      throw new FvError('FV_NOT_BUILT', 'the fleetvault package (its package.json) is not found');
    dir = up;
  }
  return resolve(dir);
}

/** What a sync stopped by a signal keeps (FV_INTERRUPTED's message). */
export const SYNC_KEPT = 'the batches written before it are kept, nothing of the one in progress';

/**
 * A signal the process's first Ctrl+C or SIGTERM aborts, with FV_INTERRUPTED naming `what` it
 * stopped and what it kept (`kept`). The handlers go with that first signal, of either kind, so a
 * second one ends the process at once; `release` removes them when the work ends first. The one
 * way every command stops on a signal: a sync, a change-capture follower, a server and the syncs
 * it schedules.
 */
export function stopSignal(what: string, kept: string): { readonly signal: AbortSignal; release(): void } {
  const stop = new AbortController();
  const release = () => {
    process.off('SIGINT', int);
    process.off('SIGTERM', term);
  };
  const on = (name: string) => () => {
    release();
    stop.abort(new FvError('FV_INTERRUPTED', `${what} stopped by ${name}: ${kept}`));
  };
  const int = on('SIGINT');
  const term = on('SIGTERM');
  process.on('SIGINT', int);
  process.on('SIGTERM', term);
  return { signal: stop.signal, release };
}

/** Resolves once `signal` is aborted (at once when it already is). */
export function aborted(signal: AbortSignal): Promise<void> {
  return signal.aborted
    ? Promise.resolve()
    : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}

/** Resolves when the process is asked to stop (Ctrl+C or SIGTERM), so a server can close cleanly. */
export function untilStopped(): Promise<void> {
  return aborted(stopSignal('the process', 'closing cleanly').signal);
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
