import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FvError } from '../errors/index.ts';

/** Local state lives in one folder, readable by its owner only. */
export const STATE_DIR = '.fleetvault';
export const DEFAULT_KEY_FILE = join(STATE_DIR, 'master.key');
export const DEFAULT_STORE = join(STATE_DIR, 'store.duckdb');
export const DEFAULT_POLICY = 'fleetvault.policy.yaml';
export const DEFAULT_METRICS = 'fleetvault.metrics.yaml';

export function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
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
