import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { FvError } from '../errors/index.ts';

/**
 * A small list of records in a JSON file (mode 0600), re-read when the file changes so that a CLI
 * command and a running server see each other's writes, and replaced atomically on write.
 */
export class JsonFile<T> {
  private cache: { mtimeMs: number; records: T[] } | undefined;

  constructor(
    readonly path: string,
    private readonly what: string,
    /** A record check: the reason an entry is refused, or undefined when it is well formed. */
    private readonly invalid: (record: T) => string | undefined = () => undefined,
  ) {}

  read(): T[] {
    if (!existsSync(this.path)) return [];
    const mtimeMs = statSync(this.path).mtimeMs;
    if (this.cache?.mtimeMs === mtimeMs) return this.cache.records;
    try {
      const records = JSON.parse(readFileSync(this.path, 'utf8')) as T[];
      if (!Array.isArray(records)) throw new Error('not a list');
      records.forEach((r, i) => {
        const why = this.invalid(r);
        // An entry edited by hand into a shape fleetvault never writes: the whole file is refused.
        if (why)
          throw new FvError('FV_STATE_CORRUPT', `${this.what} file ${this.path}: entry ${i + 1} ${why}`);
      });
      this.cache = { mtimeMs, records };
      return records;
    } catch (error) {
      if (error instanceof FvError) throw error;
      throw new FvError('FV_STATE_CORRUPT', `${this.what} file ${this.path} is not valid`);
    }
  }

  write(records: readonly T[]): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(records, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
    this.cache = undefined;
  }
}
