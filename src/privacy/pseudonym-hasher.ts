// Pseudonyms computed batch column by batch column, on a worker thread (pseudonym-worker.ts) or in
// place. The padded HMAC is the largest single cost of a staged sync (two SHA-256 compressions per
// value, about 40% of its main thread for events with two pseudonyms); with cores to spare it runs
// on its own thread beside the PostgreSQL stream, staging and the store's appends.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FvError } from '../errors/index.ts';
import { columnHasher, type HashRequest } from './pseudonym-hash.ts';

export type HashResponse =
  | { readonly id: number; readonly out: ArrayBuffer }
  | { readonly id: number; readonly error: string };

/**
 * The worker's compiled script. Run from TypeScript sources (the tests), the thread still needs
 * JavaScript: it takes the build's (`npm test` builds before it runs anything).
 */
const script = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/src/privacy/pseudonym-worker.js', import.meta.url)
  : new URL('./pseudonym-worker.js', import.meta.url);

/**
 * Whether pseudonyms get a thread of their own: FLEETVAULT_PSEUDONYM_THREAD `1` or `0` when set
 * (anything else is FV_USAGE naming it), otherwise where the machine has more than two cores.
 */
export function pseudonymThread(env: NodeJS.ProcessEnv = process.env): boolean {
  const forced = env.FLEETVAULT_PSEUDONYM_THREAD;
  if (forced === undefined || forced === '') return availableParallelism() > 2;
  if (forced === '1' || forced === '0') return forced === '1';
  throw new FvError('FV_USAGE', `FLEETVAULT_PSEUDONYM_THREAD must be 1 or 0, not "${forced}"`);
}

/**
 * Computes pseudonyms one batch column at a time, in the order asked: on a worker thread where the
 * machine has more than two cores, in place otherwise (on two cores PostgreSQL, DuckDB and the sync
 * already share them: a thread there gained 5–10% for about 50 MB more resident, bench/RESULTS.md
 * copy-speed); FLEETVAULT_PSEUDONYM_THREAD=1 or 0 decides instead. The same
 * function (`columnHasher`) runs either way. Its answers are in DuckDB's UUID storage, row by row.
 *
 * @example
 * const hasher = new PseudonymHasher();
 * const uuids = await hasher.hash(key.derive('pseudonym:device'), cells, valid, long, rows);
 * await hasher.close();
 */
export class PseudonymHasher {
  private readonly worker: Worker | undefined;
  private readonly inPlace = columnHasher();
  private readonly pending = new Map<number, { resolve(b: Uint8Array): void; reject(e: Error): void }>();
  private next = 0;
  private failed: Error | undefined;

  constructor(opts: { thread?: boolean } = {}) {
    if (!(opts.thread ?? pseudonymThread())) return;
    // A small heap: the thread holds one batch column at a time (its buffers live outside it).
    const worker = new Worker(script, {
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 },
    });
    this.worker = worker;
    worker.unref();
    worker.on('message', (m: HashResponse) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if ('error' in m) p.reject(new FvError('FV_INTERNAL', `pseudonym thread: ${m.error}`));
      else p.resolve(new Uint8Array(m.out));
    });
    const fail = (error: Error) => {
      this.failed = error;
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
    worker.on('error', (e) => fail(new FvError('FV_INTERNAL', `pseudonym thread: ${e.name}`)));
    worker.on('exit', () => fail(new FvError('FV_INTERNAL', 'pseudonym thread: exited')));
  }

  /** Whether the pseudonyms are computed on a thread of their own. */
  get threaded(): boolean {
    return this.worker !== undefined;
  }

  /** The pseudonyms of one batch column; `cells` is handed over (it is emptied here). */
  hash(
    key: Uint8Array,
    cells: ArrayBuffer,
    valid: Uint8Array,
    long: readonly string[],
    rows: number,
  ): Promise<Uint8Array> {
    const id = this.next++;
    const request: HashRequest = { id, key, cells, valid, long, rows };
    const worker = this.worker;
    if (!worker) return Promise.resolve(new Uint8Array(this.inPlace(request)));
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage(request, [cells]);
    });
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
