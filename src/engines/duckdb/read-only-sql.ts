import { type ChildProcess, fork } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, FvError } from '../../errors/index.ts';
import type { GuardedResult, SandboxLimits } from '../../store/index.ts';

export type { SandboxLimits };

export const SANDBOX_DEFAULTS = { memoryMb: 512, threads: 1 } as const;
const MAX_RESULT_BYTES = 8 * 1024 * 1024;
const WATCH_MS = 25;

/** What the parent sends the child, once. */
export interface SandboxRequest {
  readonly path: string;
  readonly sql: string;
  readonly maxRows: number;
  readonly duckdbMemoryMb: number;
  readonly threads: number;
  readonly maxResultBytes: number;
  /** The same limits the parent enforces, which the child also enforces on itself. */
  readonly memoryMb: number;
  readonly timeoutMs: number;
}

/** What the child answers, once, before it exits. */
export type SandboxReply =
  | { readonly ok: true; readonly result: GuardedResult }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export const tooLong = (ms: number) => `the statement ran longer than ${ms} ms and was stopped`;
export const tooBig = (mb: number) => `the statement used more than ${mb} MB and was stopped`;

/** The built worker beside this module; when running from the TypeScript sources (tests), in dist/. */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  const file = join(dirname(here), 'read-only-sql-worker.js');
  if (here.endsWith('.js')) return file;
  const root = here.slice(0, here.lastIndexOf(`${sep}src${sep}`));
  return join(root, 'dist', relative(root, file));
}

/** Children that have loaded DuckDB and wait for their statement (they say `{ ready: true }`). */
const ready = new WeakSet<ChildProcess>();
/** How long a child may take to load DuckDB before the statement's own clock starts. */
const STARTUP_MS = 30_000;

function forkWorker(worker: string, memoryMb: number): ChildProcess {
  const child = fork(worker, [], {
    execArgv: [`--max-old-space-size=${Math.max(64, Math.floor(memoryMb / 4))}`],
    env: {},
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    serialization: 'json',
  });
  child.on('message', (m) => {
    if ((m as { ready?: boolean }).ready) ready.add(child);
  });
  return child;
}

/**
 * One child started ahead, idle, with DuckDB loaded but no store open (so it never holds a lock a
 * sync needs), for callers that run statement after statement (the server): starting a process
 * and loading DuckDB is most of a small statement's time. It does not keep its parent alive, and
 * exits with it.
 */
let spare: { child: ChildProcess; worker: string; memoryMb: number } | undefined;

function takeChild(worker: string, memoryMb: number, keepSpare: boolean): ChildProcess {
  let child: ChildProcess;
  const s = spare;
  spare = undefined;
  if (s && s.worker === worker && s.memoryMb === memoryMb && s.child.connected && s.child.exitCode === null) {
    child = s.child;
    child.ref();
    (child.channel as { ref?: () => void } | undefined)?.ref?.();
  } else {
    s?.child.kill('SIGKILL');
    child = forkWorker(worker, memoryMb);
  }
  if (keepSpare) {
    const next = forkWorker(worker, memoryMb);
    next.on('error', () => {});
    next.unref();
    (next.channel as { unref?: () => void } | undefined)?.unref?.();
    spare = { child: next, worker, memoryMb };
  }
  return child;
}

/** Resident memory of a process in MB, from /proc (Linux); undefined where there is none. */
function residentMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs one analyst statement over a DuckDB store in a child process of its own: the store opened
 * read-only with external access off, settings locked, one thread and a small memory limit; the
 * statement checked on its parse tree and on its bound plan (sql-guard.ts: analytics tables only,
 * as listed in `_fv_tables`) and capped in rows. The child is killed, not asked to stop, at the
 * deadline or when its resident memory passes the cap (DuckDB's own limit does not cover every
 * allocation: a list built in one expression grows past it), so nothing it does reaches the
 * caller's memory, connection or time. The child watches the same limits on itself, in case the
 * parent's timers are late or the parent is gone. Its environment is empty: no secret reaches it.
 * The deadline counts from the moment the child has DuckDB loaded (starting a process is the
 * machine's time, not the statement's). With `spare`, a child for the next statement is started
 * ahead.
 * Refusals: FV_SQL_REFUSED (the guard), FV_SQL_LIMIT (time, memory, result size), FV_SQL_FAILED.
 *
 * @example
 * await readOnlySql('.fleetvault/store.duckdb', 'SELECT count(*) FROM devices', { maxRows: 1000, timeoutMs: 5000 });
 */
export function readOnlySql(
  path: string,
  sql: string,
  limits: SandboxLimits,
  opts: { readonly spare?: boolean } = {},
): Promise<GuardedResult> {
  const memoryMb = limits.memoryMb ?? SANDBOX_DEFAULTS.memoryMb;
  const worker = workerFile();
  if (!existsSync(worker))
    return Promise.reject(new FvError('FV_SQL_FAILED', 'the SQL sandbox is not built; run `npm run build`'));
  return new Promise<GuardedResult>((resolve, reject) => {
    const request: SandboxRequest = {
      path,
      sql,
      maxRows: limits.maxRows,
      duckdbMemoryMb: Math.max(32, Math.floor(memoryMb / 2)),
      threads: limits.threads ?? SANDBOX_DEFAULTS.threads,
      maxResultBytes: MAX_RESULT_BYTES,
      memoryMb,
      timeoutMs: limits.timeoutMs,
    };
    const child = takeChild(worker, memoryMb, opts.spare === true);
    let reply: SandboxReply | undefined;
    let killed: string | undefined;
    const kill = (why: string) => {
      if (killed || reply) return;
      killed = why;
      child.kill('SIGKILL');
    };
    // The deadline is the statement's: it starts once the child has loaded DuckDB and has it.
    let deadline = setTimeout(() => kill('the SQL sandbox did not start in time'), STARTUP_MS);
    const watch = setInterval(() => {
      const mb = child.pid === undefined ? undefined : residentMb(child.pid);
      if (mb !== undefined && mb > memoryMb) kill(tooBig(memoryMb));
    }, WATCH_MS);
    const done = () => {
      clearTimeout(deadline);
      clearInterval(watch);
    };
    const start = () => {
      if (killed) return;
      clearTimeout(deadline);
      deadline = setTimeout(() => kill(tooLong(limits.timeoutMs)), limits.timeoutMs);
      child.send(request);
    };
    child.on('message', (m) => {
      if ((m as { ready?: boolean }).ready) start();
      else reply = m as SandboxReply;
    });
    child.on('error', (error) => {
      done();
      reject(
        new FvError(
          'FV_SQL_FAILED',
          `the SQL sandbox did not start (${(error as { code?: string }).code ?? 'error'})`,
        ),
      );
    });
    child.on('exit', () => {
      done();
      if (reply?.ok) resolve(reply.result);
      else if (reply) reject(new FvError(reply.code, reply.message));
      else if (killed) reject(new FvError(ready.has(child) ? 'FV_SQL_LIMIT' : 'FV_SQL_FAILED', killed));
      else reject(new FvError('FV_SQL_FAILED', 'the statement ended its process without an answer'));
    });
    if (ready.has(child)) start();
  });
}
