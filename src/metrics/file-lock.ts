import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A lock left longer than this was left by a process that stopped: it is held only for one
 * synchronous read and replace of a small file.
 */
const STALE_MS = 10_000;

const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

/** Creates `path` only if it does not exist (O_EXCL), holding `body`; false when it exists. */
function create(path: string, body: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    if (code(e) === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, body);
  } finally {
    closeSync(fd);
  }
  return true;
}

function readIfThere(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (code(e) === 'ENOENT') return undefined;
    throw e;
  }
}

function removeIfThere(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
  }
}

function ageOf(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch (e) {
    if (code(e) === 'ENOENT') return 0;
    throw e;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return code(e) === 'EPERM';
  }
}

/**
 * An exclusive lock between processes on one file: `<file>.lock`, created with O_EXCL and holding
 * the holder's pid, host and a nonce. A lock whose process on this host is gone (or is this very
 * process: it never holds one across an await), or one older than STALE_MS, is stale and is broken
 * under a second lock (`<file>.lock.break`), so that two waiters never both break it and one of
 * them removes the other's fresh lock.
 */
export class FileLock {
  readonly path: string;

  constructor(file: string) {
    this.path = `${file}.lock`;
  }

  /** Runs `work` (synchronous: the lock is never held across an await) while holding the lock. */
  async hold<T>(work: () => T): Promise<T> {
    const mine = JSON.stringify({
      pid: process.pid,
      host: hostname(),
      nonce: randomBytes(8).toString('hex'),
    });
    for (let attempt = 0; !create(this.path, mine); attempt++) {
      if (!this.breakIfStale(mine)) await sleep(Math.min(20, 1 + attempt) * (0.5 + Math.random()));
    }
    try {
      return work();
    } finally {
      if (readIfThere(this.path) === mine) removeIfThere(this.path);
    }
  }

  /** The lock's content when it is stale, else undefined (held, being written, or gone). */
  private stale(): string | undefined {
    const text = readIfThere(this.path);
    if (text === undefined) return undefined;
    if (ageOf(this.path) > STALE_MS) return text;
    let holder: { pid?: unknown; host?: unknown };
    try {
      holder = JSON.parse(text);
    } catch {
      return undefined; // created a moment ago, its holder not written yet
    }
    if (holder.host !== hostname() || typeof holder.pid !== 'number') return undefined;
    return holder.pid === process.pid || !alive(holder.pid) ? text : undefined;
  }

  /** Removes a stale lock, once, under the breaker lock; true when it did. */
  private breakIfStale(mine: string): boolean {
    const seen = this.stale();
    if (seen === undefined) return false;
    const breaker = `${this.path}.break`;
    if (!create(breaker, mine)) {
      if (ageOf(breaker) > STALE_MS) removeIfThere(breaker);
      return false;
    }
    try {
      // Only the stale lock seen, never one taken since: while the breaker is held nobody else
      // removes it, so it cannot have been replaced between this read and the unlink.
      if (readIfThere(this.path) !== seen) return false;
      removeIfThere(this.path);
      return true;
    } finally {
      removeIfThere(breaker);
    }
  }
}
