import { chmodSync, existsSync } from 'node:fs';
import { type DuckDBConnection, type DuckDBDataChunk, DuckDBInstance } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import type { Value } from '../../policy/index.ts';
import { ingestedRows, ingestedRowsError, ingestedRowsMeta } from '../../store/ingested-rows.ts';
import type { RollupSpec } from '../../store/rollup-spec.ts';
import type {
  HeldLink,
  Store,
  StoreColumn,
  StoreTableSpec,
  TableState,
  TableWriter,
  WriteMode,
} from '../../store/store.ts';
import { batchChecker, type ValueLimits } from '../../store/value-limits.ts';
import { dayOf, rollupSelect } from './compile-duckdb.ts';
import {
  appendChunked,
  DUCKDB_LIMITS,
  type DuckColumn,
  duckDbErrorKind,
  duckDbType,
} from './duckdb-values.ts';
import { collectGarbage } from './native-memory.ts';

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;
const META = '_fv_meta';
const TABLES = '_fv_tables';
const REBUILD_SUFFIX = '__fv_rebuild';

/** Whether a DuckDB file's tables (names in `main`) are a fleetvault store's. */
export const holdsStore = (tables: readonly string[]) => tables.includes(META);
/** A table of the store's own bookkeeping, not one the sync wrote. */
export const isBookkeeping = (table: string) => table.startsWith('_fv_');
/** Each table's upsert staging table (temporary), so writers of several tables can share a transaction. */
const stageOf = (table: string) => `_fv_stage_${table.replace(/[^A-Za-z0-9_]/g, '_')}`;
const FORGOTTEN = '_fv_forgotten';
/** Links of rows held back (quarantined, refused), for erasures to follow: `Store.holdLinks`. */
const HELD = '_fv_held_links';
/** The rollups this store keeps (rollup-spec.ts), by name, with their spec as JSON. */
export const ROLLUPS = '_fv_rollups';
/**
 * Days of a rollup's base table written since the rollup was last brought up to date (lo and hi
 * inclusive; NULL: unbounded). Written in the same transaction as the rows; a rollup with any
 * entry here is not read (the base table answers) until refreshDerived recomputes those days.
 */
export const ROLLUP_DIRTY = '_fv_rollup_dirty';
const LIVE = '_fv_live_keys';
/** Each table's staging table for `insertNew` (temporary). */
const newRowsOf = (table: string) => `_fv_new_${table.replace(/[^A-Za-z0-9_]/g, '_')}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// DuckDB would otherwise take up to 80% of the machine's memory and a thread per core; a writer
// (sync, change capture, ingest) needs far less: appends go a chunk at a time, and what does not
// fit (a large upsert's join) spills to the store's own temp directory, transformed values only.
// With these a sync of 10M rows, or of 3M wide rows, stays under 512 MiB resident, DuckDB's
// buffer pool included (bench/RESULTS.md, copy-memory): the pool only caches blocks a sync has
// already written. Metrics read through their own instance, not this one. 64 MB was too little:
// change capture of rows holding 40 kB values, on a loaded machine, failed in DuckDB's automatic
// checkpoint ("failed to pin block of size 256 KiB (61.0/61.0 MiB used)", after a durable commit),
// two runs out of two, and again on 2026-12-07; at 96 MB, none (test/cdc-large-values.e2e.test.ts
// under five busy loops, twice). 96 rather than 128 MB: between two reopens (releaseMemory) a copy
// refills the pool with the blocks it writes, and the fleet's 3M devices peaked at 495–552 MiB
// with 128 MB, 468–503 with 96 (bench/RESULTS.md, fourth pass).
const DEFAULT_MEMORY_LIMIT = '96MB';
/**
 * The pool while rollups are rebuilt (refreshDerived, after the run's copy: the staging database
 * is closed by then). A grouping of 10M rows by (day, device, …) fails at 64 MB with two threads
 * (each thread's partitions need their blocks pinned at once) even with spilling on; at 128 MB it
 * passes and spills what does not fit, so the rebuild's resident memory stays near this bound
 * whatever the table's size. 160 MB (was 192), with the store reopened between two rollups: the
 * fleet's rollups built after its copy peaked at 462 MiB instead of 531.
 */
const REFRESH_MEMORY_LIMIT = '160MB';
/**
 * Base rows a rollup groups at once at most (about: whole days, see rollupWindows);
 * FLEETVAULT_ROLLUP_WINDOW_ROWS changes it (a larger machine may group more at once).
 */
const ROLLUP_WINDOW_ROWS = 10_000_000;
const BULK_FLUSH = '16MB';
const DEFAULT_THREADS = '2';

/**
 * The rows a rollup window holds at most: FLEETVAULT_ROLLUP_WINDOW_ROWS when set (a whole number
 * above 0, or FV_USAGE naming it), ROLLUP_WINDOW_ROWS otherwise. Read when the store opens, so a
 * bad value stops a run before it writes anything.
 */
export function rollupWindowRows(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.FLEETVAULT_ROLLUP_WINDOW_ROWS;
  if (text === undefined || text === '') return ROLLUP_WINDOW_ROWS;
  const rows = Number(text);
  if (!Number.isSafeInteger(rows) || rows <= 0)
    throw new FvError(
      'FV_USAGE',
      `FLEETVAULT_ROLLUP_WINDOW_ROWS must be a whole number of rows above 0, not "${text}"`,
    );
  return rows;
}

/**
 * A DuckDB failure while writing a table's batch, as the user sees it: FV_STORE_WRITE naming the
 * table and DuckDB's kind of error (`Out of Memory Error`, `FATAL Error`, `IO Error`), never its
 * message (a constraint error quotes values). An FvError, or anything else, passes as it is.
 */
export function writeFailure(table: string, error: unknown): unknown {
  const kind = error instanceof FvError ? undefined : duckDbErrorKind(error);
  if (!kind) return error;
  return new FvError(
    'FV_STORE_WRITE',
    `DuckDB store: writing ${table} failed (${kind}); the next run resumes from the table's last checkpoint`,
  );
}

/** The larger of two DuckDB sizes such as '64MB' or '1GB' (a size it cannot read loses). */
function larger(a: string, b: string): string {
  const bytes = (x: string) => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)\s*$/i.exec(x);
    const unit = (m?.[2] ?? '').toUpperCase().replace('I', '');
    const scale = { B: 1, KB: 2 ** 10, MB: 2 ** 20, GB: 2 ** 30, TB: 2 ** 40 }[unit];
    return m && scale ? Number(m[1]) * scale : -1;
  };
  return bytes(a) >= bytes(b) ? a : b;
}

function restrict(path: string): void {
  for (const p of [path, `${path}.wal`]) if (existsSync(p)) chmodSync(p, 0o600);
}

/**
 * Records which days of `table`'s rollups a write is about to change: `days(time)` is a SELECT
 * of one column, the day numbers of the rows written or removed (SQL over `time`, the rollup's
 * time column); undefined: every day (a first copy, a rebuild).
 */
async function touchRollups(
  db: DuckDBConnection,
  table: string,
  days?: (time: string) => string,
): Promise<void> {
  const r = await db.runAndReadAll(`SELECT name, spec FROM ${ROLLUPS} WHERE tbl = ${lit(table)}`);
  for (const [name, spec] of r.getRows()) {
    const time = (JSON.parse(String(spec)) as RollupSpec).time;
    await db.run(
      days
        ? `INSERT INTO ${ROLLUP_DIRTY} SELECT ${lit(String(name))}, min(d), max(d) FROM (${days(q(time))}) x(d) HAVING count(d) > 0`
        : `INSERT INTO ${ROLLUP_DIRTY} VALUES (${lit(String(name))}, NULL, NULL)`,
    );
  }
}

class DuckDbTableWriter implements TableWriter {
  /** A first copy marks every day of the table's rollups once: nothing it writes was there. */
  private touchedAll = false;
  /** The store's opening its stage table was made in (temporary tables go with a connection). */
  private stagedIn = -1;

  private readonly target: string;
  private readonly stageTable: string;
  private readonly columns: readonly DuckColumn[];
  /** For each stored column, its position in a row key, or -1. */
  private readonly keyPosition: readonly number[];
  private readonly check: (rows: readonly Value[][]) => void;

  /**
   * `connection` is the store's current one: the store may reopen its database between two
   * batches (releaseMemory), and the writer goes on there.
   */
  constructor(
    private readonly connection: () => { db: DuckDBConnection; opening: number },
    private readonly spec: StoreTableSpec,
    private readonly mode: WriteMode,
    private readonly tx: { open: boolean },
  ) {
    this.target = mode === 'rebuild' ? `${spec.name}${REBUILD_SUFFIX}` : spec.name;
    this.stageTable = stageOf(spec.name);
    this.columns = spec.columns;
    this.keyPosition = spec.columns.map((c) => spec.key.indexOf(c.name));
    this.check = batchChecker(DUCKDB_LIMITS, spec.name, spec.columns);
  }

  private get db(): DuckDBConnection {
    return this.connection().db;
  }

  async writeBatch(
    rows: readonly Value[][],
    deletedKeys: readonly Value[][],
    checkpoint: string | undefined,
  ): Promise<void> {
    const db = this.db;
    this.check(rows);
    // Inside `atomically` the caller's transaction holds this batch together with everything else.
    const own = !this.tx.open;
    if (own) await db.run('BEGIN TRANSACTION');
    try {
      if (this.mode === 'upsert') {
        await this.stage(rows, deletedKeys);
        const on = this.spec.key.map((k) => `t.${q(k)} = s.${q(k)}`).join(' AND ');
        const cols = this.spec.columns.map((c) => q(c.name)).join(', ');
        // The days of the rows replaced or deleted and of the rows written.
        await touchRollups(
          db,
          this.target,
          (time) =>
            `SELECT ${dayOf(`t.${time}`)} FROM ${q(this.target)} t SEMI JOIN ${q(this.stageTable)} s ON ${on} UNION ALL SELECT ${dayOf(`s.${time}`)} FROM ${q(this.stageTable)} s WHERE NOT s._fv_deleted`,
        );
        await db.run(`DELETE FROM ${q(this.target)} t USING ${q(this.stageTable)} s WHERE ${on}`);
        await db.run(
          `INSERT INTO ${q(this.target)} (${cols}) SELECT ${cols} FROM ${q(this.stageTable)} WHERE NOT _fv_deleted`,
        );
      } else {
        await this.touchAll();
        await this.appendRows(this.target, rows);
      }
      const field = this.mode === 'rebuild' ? 'rebuild_checkpoint' : 'checkpoint';
      if (checkpoint !== undefined) {
        await db.run(
          `UPDATE ${TABLES} SET ${field} = ${lit(checkpoint)} WHERE name = ${lit(this.spec.name)}`,
        );
      }
      if (own) await db.run('COMMIT');
    } catch (error) {
      if (own) await db.run('ROLLBACK').catch(() => {});
      throw writeFailure(this.spec.name, error);
    }
  }

  async appendChunks(
    next: () => Promise<DuckDBDataChunk | undefined>,
    checkpoint: string | undefined,
  ): Promise<number> {
    if (this.mode === 'upsert') throw new Error('appendChunks: an upsert goes through writeBatch');
    const db = this.db;
    const own = !this.tx.open;
    if (own) await db.run('BEGIN TRANSACTION');
    let rows = 0;
    try {
      await this.touchAll();
      const a = await db.createAppender(this.target);
      try {
        for (let chunk = await next(); chunk; chunk = await next()) {
          rows += chunk.rowCount;
          a.appendDataChunk(chunk);
        }
        a.flushSync();
      } finally {
        a.closeSync();
      }
      const field = this.mode === 'rebuild' ? 'rebuild_checkpoint' : 'checkpoint';
      if (checkpoint !== undefined) {
        await db.run(
          `UPDATE ${TABLES} SET ${field} = ${lit(checkpoint)} WHERE name = ${lit(this.spec.name)}`,
        );
      }
      if (own) await db.run('COMMIT');
      return rows;
    } catch (error) {
      if (own) await db.run('ROLLBACK').catch(() => {});
      throw writeFailure(this.spec.name, error);
    }
  }

  /** An append (first copy) changes any day; a rebuild's rows count when it is swapped in (finish). */
  private async touchAll(): Promise<void> {
    if (this.touchedAll || this.mode === 'rebuild') return;
    await touchRollups(this.db, this.spec.name);
    this.touchedAll = true;
  }

  private async appendRows(table: string, rows: readonly Value[][]): Promise<void> {
    const a = await this.db.createAppender(table);
    appendChunked(a, this.columns, rows.length, (r, c) => (rows[r] as Value[])[c] ?? null, this.spec.name);
    a.flushSync();
    a.closeSync();
  }

  /** The batch into the stage table: its rows, then its deleted keys (other columns NULL), flagged. */
  private async stage(rows: readonly Value[][], deletedKeys: readonly Value[][]): Promise<void> {
    const { opening } = this.connection();
    if (this.stagedIn !== opening) {
      const cols = this.spec.columns.map((c) => `${q(c.name)} ${duckDbType(c)}`).join(', ');
      await this.db.run(`CREATE OR REPLACE TEMP TABLE ${q(this.stageTable)} (${cols}, _fv_deleted BOOLEAN)`);
      this.stagedIn = opening;
    }
    await this.db.run(`DELETE FROM ${q(this.stageTable)}`);
    const a = await this.db.createAppender(this.stageTable, 'main', 'temp');
    const n = this.columns.length;
    appendChunked(
      a,
      [...this.columns, { kind: 'boolean' }],
      rows.length + deletedKeys.length,
      (r, c) => {
        const deleted = r >= rows.length;
        if (c === n) return deleted;
        if (!deleted) return (rows[r] as Value[])[c] ?? null;
        const k = this.keyPosition[c] as number;
        return k >= 0 ? ((deletedKeys[r - rows.length] as Value[])[k] ?? null) : null;
      },
      this.spec.name,
    );
    a.flushSync();
    a.closeSync();
  }

  async finish(checkpoint: string | undefined): Promise<void> {
    if (this.mode !== 'rebuild') return;
    const db = this.db;
    await db.run('BEGIN TRANSACTION');
    try {
      await db.run(`DROP TABLE IF EXISTS ${q(this.spec.name)}`);
      await db.run(`ALTER TABLE ${q(this.target)} RENAME TO ${q(this.spec.name)}`);
      await touchRollups(db, this.spec.name);
      const cp = checkpoint === undefined ? 'NULL' : lit(checkpoint);
      const columns = lit(JSON.stringify(this.spec.columns));
      await db.run(
        `UPDATE ${TABLES} SET columns = ${columns}, checkpoint = ${cp}, rebuild_checkpoint = NULL WHERE name = ${lit(this.spec.name)}`,
      );
      // The rows devices added went with the old copy (the store allowed it, see openWriter).
      await db.run(`DELETE FROM ${META} WHERE key = ${lit(ingestedRowsMeta(this.spec.name))}`);
      await db.run('COMMIT');
    } catch (error) {
      await db.run('ROLLBACK').catch(() => {});
      throw error;
    }
  }
}

/**
 * The embedded analytics store: one DuckDB file, mode 0600, holding only transformed values,
 * the schema each table was built with and a sealed checkpoint per table.
 *
 * @example
 * const store = await DuckDbStore.open('.fleetvault/store.duckdb');
 */
export class DuckDbStore implements Store {
  private readonly tx = { open: false };
  private discardIngested = false;
  /** Tables `insertNew` has made sure of, with their staging table, in this process. */
  private readonly streamed = new Set<string>();
  /** How many times releaseMemory reopened the database (writers remake their temporary tables). */
  private opening = 0;
  readonly limits: ValueLimits = DUCKDB_LIMITS;

  private constructor(
    readonly location: string,
    private instance: DuckDBInstance,
    private db: DuckDBConnection,
    private readonly windowRows: number,
  ) {}

  /** The store's file as a DuckDB instance with a writer's limits (FV_STORE_OPEN if it cannot). */
  private static async instance(path: string): Promise<DuckDBInstance> {
    try {
      return await DuckDBInstance.create(path, {
        enable_external_access: 'false',
        memory_limit: process.env.FLEETVAULT_STORE_MEMORY ?? DEFAULT_MEMORY_LIMIT,
        threads: process.env.FLEETVAULT_STORE_THREADS ?? DEFAULT_THREADS,
        // Blocks evicted from the pool go back to the system at once, not after the allocator's
        // decay: a long sync evicts the blocks it wrote all along.
        allocator_bulk_deallocation_flush_threshold: BULK_FLUSH,
      });
    } catch (error) {
      const why = String((error as Error).message).split('\n')[0];
      throw new FvError('FV_STORE_OPEN', `cannot open store ${path}: ${why}`);
    }
  }

  static async open(path: string): Promise<DuckDbStore> {
    const windowRows = rollupWindowRows();
    const created = !existsSync(path);
    const instance = await DuckDbStore.instance(path);
    if (created) restrict(path);
    const db = await instance.connect();
    await db.run(`CREATE TABLE IF NOT EXISTS ${META} (key VARCHAR PRIMARY KEY, value VARCHAR)`);
    await db.run(
      `CREATE TABLE IF NOT EXISTS ${FORGOTTEN} (domain VARCHAR, pseudonym UUID, erased_at TIMESTAMPTZ DEFAULT now())`,
    );
    await db.run(
      `CREATE TABLE IF NOT EXISTS ${HELD} (tbl VARCHAR, keycol VARCHAR, key UUID, col VARCHAR, link UUID)`,
    );
    await db.run(
      `CREATE TABLE IF NOT EXISTS ${TABLES} (name VARCHAR PRIMARY KEY, columns VARCHAR, checkpoint VARCHAR, rebuild_checkpoint VARCHAR)`,
    );
    await db.run(
      `CREATE TABLE IF NOT EXISTS ${ROLLUPS} (name VARCHAR PRIMARY KEY, tbl VARCHAR, spec VARCHAR)`,
    );
    await db.run(`CREATE TABLE IF NOT EXISTS ${ROLLUP_DIRTY} (name VARCHAR, lo BIGINT, hi BIGINT)`);
    return new DuckDbStore(path, instance, db, windowRows);
  }

  async bindKey(fingerprint: string): Promise<void> {
    const r = await this.db.runAndReadAll(`SELECT value FROM ${META} WHERE key = 'key_fingerprint'`);
    const have = r.getRows()[0]?.[0];
    if (have === undefined) {
      await this.db.run(`INSERT INTO ${META} VALUES ('key_fingerprint', ${lit(fingerprint)})`);
    } else if (have !== fingerprint) {
      throw new FvError('FV_KEY_MISMATCH', `store ${this.location} was built with a different key`);
    }
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db.run(`INSERT OR REPLACE INTO ${META} VALUES (${lit(key)}, ${lit(value)})`);
  }

  setMetaNow(key: string, value: string): Promise<void> {
    return this.setMeta(key, value);
  }

  async tableState(name: string): Promise<TableState | undefined> {
    const r = await this.db.runAndReadAll(
      `SELECT columns, checkpoint FROM ${TABLES} WHERE name = ${lit(name)}`,
    );
    const row = r.getRows()[0];
    if (!row) return undefined;
    const exists = await this.tableExists(name);
    const rows = exists
      ? Number((await this.db.runAndReadAll(`SELECT count(*) FROM ${q(name)}`)).getRows()[0]?.[0])
      : 0;
    return {
      columns: JSON.parse(String(row[0])) as StoreColumn[],
      ...(row[1] !== null ? { checkpoint: String(row[1]) } : {}),
      rows,
    };
  }

  private async tableExists(name: string): Promise<boolean> {
    const r = await this.db.runAndReadAll(
      `SELECT 1 FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND table_name = ${lit(name)}`,
    );
    return r.getRows().length > 0;
  }

  allowDiscardingIngested(): void {
    this.discardIngested = true;
  }

  async openWriter(spec: StoreTableSpec, mode: WriteMode): Promise<TableWriter> {
    if (mode === 'rebuild' && !this.discardIngested) {
      const n = await ingestedRows(this, spec.name);
      if (n > 0) throw ingestedRowsError(spec.name, n, 'rebuilding it from the source');
    }
    const columnsJson = lit(JSON.stringify(spec.columns));
    const ddl = (table: string) =>
      `CREATE TABLE ${q(table)} (${spec.columns.map((c) => `${q(c.name)} ${duckDbType(c)}`).join(', ')})`;
    await this.db.run('BEGIN TRANSACTION');
    try {
      if (mode === 'rebuild') {
        await this.db.run(`DROP TABLE IF EXISTS ${q(spec.name + REBUILD_SUFFIX)}`);
        await this.db.run(ddl(spec.name + REBUILD_SUFFIX));
        await this.db.run(
          `INSERT INTO ${TABLES} (name, columns) VALUES (${lit(spec.name)}, ${columnsJson}) ON CONFLICT (name) DO UPDATE SET rebuild_checkpoint = NULL`,
        );
      } else if (!(await this.tableExists(spec.name))) {
        await this.db.run(ddl(spec.name));
        await this.db.run(
          `INSERT OR REPLACE INTO ${TABLES} (name, columns, checkpoint) VALUES (${lit(spec.name)}, ${columnsJson}, NULL)`,
        );
      }
      await this.db.run('COMMIT');
    } catch (error) {
      await this.db.run('ROLLBACK').catch(() => {});
      throw error;
    }
    return new DuckDbTableWriter(() => ({ db: this.db, opening: this.opening }), spec, mode, this.tx);
  }

  async atomically<T>(fn: () => Promise<T>): Promise<T> {
    if (this.tx.open) throw new Error('atomically does not nest');
    await this.db.run('BEGIN TRANSACTION');
    this.tx.open = true;
    try {
      const out = await fn();
      await this.db.run('COMMIT');
      return out;
    } catch (error) {
      await this.db.run('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      this.tx.open = false;
    }
  }

  /** Runs `fn` in a transaction of its own, or in the caller's (`atomically`). */
  private async inTransaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.tx.open) return fn();
    await this.db.run('BEGIN TRANSACTION');
    try {
      const out = await fn();
      await this.db.run('COMMIT');
      return out;
    } catch (error) {
      await this.db.run('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  /**
   * Brings the rollups up to date after a run's writes. With `rollups` (derived from the metrics
   * file, metrics/rollups.ts), those are the rollups kept from now on: others are dropped, new
   * ones built. Then each rollup with days written since (ROLLUP_DIRTY) has those days recomputed
   * from its base table and its entries cleared, in one transaction: a rollup is read only when
   * it has no entry, so it never answers differently from its base table.
   */
  async refreshDerived(rollups?: readonly RollupSpec[]): Promise<void> {
    const db = this.db;
    if (rollups) {
      const wanted = new Map(rollups.map((r) => [r.name, r]));
      const have = (await db.runAndReadAll(`SELECT name FROM ${ROLLUPS}`)).getRows().map((r) => String(r[0]));
      await this.inTransaction(async () => {
        for (const name of have.filter((n) => !wanted.has(n))) {
          await db.run(`DROP TABLE IF EXISTS ${q(name)}`);
          await db.run(`DELETE FROM ${ROLLUPS} WHERE name = ${lit(name)}`);
          await db.run(`DELETE FROM ${ROLLUP_DIRTY} WHERE name = ${lit(name)}`);
        }
        for (const r of rollups.filter((x) => !have.includes(x.name))) {
          await db.run(
            `INSERT INTO ${ROLLUPS} VALUES (${lit(r.name)}, ${lit(r.table)}, ${lit(JSON.stringify(r))})`,
          );
          await db.run(`INSERT INTO ${ROLLUP_DIRTY} VALUES (${lit(r.name)}, NULL, NULL)`);
        }
      });
    }
    const dirty = await db.runAndReadAll(
      `SELECT r.name, any_value(r.spec), bool_or(d.lo IS NULL), bool_or(d.hi IS NULL), min(d.lo), max(d.hi) FROM ${ROLLUPS} r JOIN ${ROLLUP_DIRTY} d USING (name) GROUP BY r.name`,
    );
    if (dirty.getRows().length === 0) return;
    const pool = process.env.FLEETVAULT_STORE_MEMORY ?? DEFAULT_MEMORY_LIMIT;
    const raise = () => this.db.run(`SET memory_limit = ${lit(larger(pool, REFRESH_MEMORY_LIMIT))}`);
    await raise();
    try {
      // Between two rollups the store is reopened (releaseMemory; not inside a caller's
      // transaction): what one rollup's windows left in the instance does not carry into the next
      // (the fleet's rollups crept from 346 to 528 MiB built on one instance).
      await this.recompute(dirty.getRows(), async () => {
        await this.releaseMemory();
        await raise();
      });
    } finally {
      await this.db.run(`SET memory_limit = ${lit(pool)}`);
    }
  }

  /**
   * The day windows a rollup's days to recompute (`days`: a condition on a day, '' for all) are
   * grouped in, each holding about ROLLUP_WINDOW_ROWS base rows, whole weeks for a rollup by week:
   * one grouping of 103M events (the fleet benchmark) reached 1.27 GB resident with a 192 MB pool;
   * a window's grouping is no larger than a 10M-row table's, whatever the table's size.
   */
  private async rollupWindows(r: RollupSpec, days: (d: string) => string): Promise<Array<[number, number]>> {
    const day = dayOf(q(r.time));
    const cond = days(day);
    const [lo, hi, n] = ((
      await this.db.runAndReadAll(
        `SELECT min(${day}), max(${day}), count(*) FROM ${q(r.table)} WHERE ${q(r.time)} IS NOT NULL${cond ? ` AND ${cond}` : ''}`,
      )
    ).getRows()[0] ?? []) as [unknown, unknown, unknown];
    if (lo === null || lo === undefined || hi === null || hi === undefined) return [];
    const first = Number(lo);
    const last = Number(hi);
    const monday = (d: number) => d - ((((d + 3) % 7) + 7) % 7);
    const start = r.grain === 'week' ? monday(first) : first;
    const span = last - start + 1;
    const pieces = Math.max(1, Math.ceil(Number(n) / this.windowRows));
    let step = Math.max(1, Math.ceil(span / pieces));
    if (r.grain === 'week') step = Math.ceil(step / 7) * 7;
    const out: Array<[number, number]> = [];
    for (let a = start; a <= last; a += step)
      out.push([a, Math.min(a + step - 1, r.grain === 'week' ? monday(last) + 6 : last)]);
    return out;
  }

  /**
   * A condition on a rollup's time column itself holding the days `a` to `b` (and a day more on
   * each side), ANDed to the exact condition on the day: DuckDB prunes row groups by it (a table
   * appended in time order reads each window's rows only), where a condition on the computed day
   * reads the whole table for every window. '' for a column of another type.
   */
  private async timeSpan(r: RollupSpec): Promise<(a: number, b: number) => string> {
    const type = (
      await this.db.runAndReadAll(
        `SELECT data_type FROM duckdb_columns() WHERE table_name = ${lit(r.table)} AND column_name = ${lit(r.time)}`,
      )
    ).getRows()[0]?.[0];
    const t = `b.${q(r.time)}`;
    const at = (day: number) =>
      type === 'TIMESTAMP WITH TIME ZONE'
        ? `to_timestamp(${day * 86_400})`
        : type === 'TIMESTAMP'
          ? `make_timestamp(${day * 86_400_000_000})`
          : type === 'DATE'
            ? `(DATE '1970-01-01' + ${day})`
            : undefined;
    return (a, b) => {
      const [lo, hi] = [at(a - 1), at(b + 2)];
      return lo && hi ? ` AND ${t} >= ${lo} AND ${t} < ${hi}` : '';
    };
  }

  /**
   * Recomputes the dirty days of each rollup (refreshDerived), one transaction per rollup, with
   * `between` after each but the last.
   */
  private async recompute(
    dirty: ReadonlyArray<ReadonlyArray<unknown>>,
    between: () => Promise<void>,
  ): Promise<void> {
    for (const [i, [name, specJson, openLow, openHigh, lo, hi]] of dirty.entries()) {
      if (i > 0) await between();
      const db = this.db;
      const r = JSON.parse(String(specJson)) as RollupSpec;
      if (!(await this.tableExists(r.table))) continue;
      const whole = openLow === true && openHigh === true;
      // A rollup by week recomputes the whole weeks holding the days written (Monday to Sunday).
      const monday = (d: number) => (r.grain === 'week' ? d - ((((d + 3) % 7) + 7) % 7) : d);
      const [from, to] = [monday(Number(lo)), monday(Number(hi)) + (r.grain === 'week' ? 6 : 0)];
      const days = (d: string) =>
        [openLow ? '' : `${d} >= ${from}`, openHigh ? '' : `${d} <= ${to}`].filter(Boolean).join(' AND ');
      await this.inTransaction(async () => {
        const rebuild = whole || !(await this.tableExists(r.name));
        if (rebuild) await db.run(`CREATE OR REPLACE TABLE ${q(r.name)} AS ${rollupSelect(r)} LIMIT 0`);
        else await db.run(`DELETE FROM ${q(r.name)} WHERE ${days('_fv_day')}`);
        const span = await this.timeSpan(r);
        for (const [a, b] of await this.rollupWindows(r, rebuild ? () => '' : days))
          await db.run(
            `INSERT INTO ${q(r.name)} ${rollupSelect(r, (d) => `${d} >= ${a} AND ${d} <= ${b}${span(a, b)}`)}`,
          );
        await db.run(`DELETE FROM ${ROLLUP_DIRTY} WHERE name = ${lit(String(name))}`);
      });
    }
  }

  async meta(key: string): Promise<string | undefined> {
    const r = await this.db.runAndReadAll(`SELECT value FROM ${META} WHERE key = ${lit(key)}`);
    const v = r.getRows()[0]?.[0];
    return v === undefined || v === null ? undefined : String(v);
  }

  async metaEntries(prefix: string): Promise<Map<string, string>> {
    const r = await this.db.runAndReadAll(
      `SELECT key, value FROM ${META} WHERE starts_with(key, ${lit(prefix)}) ORDER BY key`,
    );
    return new Map(r.getRows().map((x) => [String(x[0]), x[1] === null ? '' : String(x[1])]));
  }

  async expire(table: string, column: string, cutoff: Date): Promise<number> {
    const where = `${q(column)} < ${lit(cutoff.toISOString())}::TIMESTAMPTZ`;
    const n = Number(
      (await this.db.runAndReadAll(`SELECT count(*) FROM ${q(table)} WHERE ${where}`)).getRows()[0]?.[0] ?? 0,
    );
    if (n > 0)
      await this.inTransaction(async () => {
        await touchRollups(this.db, table, (time) => `SELECT ${dayOf(time)} FROM ${q(table)} WHERE ${where}`);
        await this.db.run(`DELETE FROM ${q(table)} WHERE ${where}`);
      });
    return n;
  }

  async linked(
    table: string,
    column: string,
    pseudonyms: readonly string[],
    returning: string,
  ): Promise<string[]> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0 || !(await this.tableExists(table))) return [];
    const r = await this.db.runAndReadAll(
      `SELECT DISTINCT ${q(returning)}::VARCHAR FROM ${q(table)} WHERE ${q(column)} IN (${list.map((p) => `${lit(p)}::UUID`).join(', ')}) AND ${q(returning)} IS NOT NULL`,
    );
    return r.getRows().map((x) => String(x[0]));
  }

  async clear(table: string, column: string, pseudonyms: readonly string[]): Promise<number> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0 || !(await this.tableExists(table))) return 0;
    const where = `${q(column)} IN (${list.map((p) => `${lit(p)}::UUID`).join(', ')})`;
    return this.inTransaction(async () => {
      await touchRollups(this.db, table, (time) => `SELECT ${dayOf(time)} FROM ${q(table)} WHERE ${where}`);
      return Number(
        (
          await this.db.runAndReadAll(`UPDATE ${q(table)} SET ${q(column)} = NULL WHERE ${where}`)
        ).getRows()[0]?.[0] ?? 0,
      );
    });
  }

  async holdLinks(table: string, keyColumn: string, links: readonly HeldLink[]): Promise<void> {
    const list = links.filter((l) => UUID.test(l.key) && (l.link === null || UUID.test(l.link)));
    if (list.length === 0) return;
    await this.inTransaction(async () => {
      await this.db.run(`CREATE OR REPLACE TEMP TABLE _fv_held_new (key VARCHAR, col VARCHAR, link VARCHAR)`);
      const a = await this.db.createAppender('_fv_held_new', 'main', 'temp');
      for (const l of list) {
        a.appendVarchar(l.key);
        a.appendVarchar(l.column);
        if (l.link === null) a.appendNull();
        else a.appendVarchar(l.link);
        a.endRow();
      }
      a.flushSync();
      a.closeSync();
      // Each (key, column) keeps its latest link: a held-back device that moved keeps its owner now.
      await this.db.run(
        `DELETE FROM ${HELD} h USING _fv_held_new n WHERE h.tbl = ${lit(table)} AND h.key = n.key::UUID AND h.col = n.col`,
      );
      await this.db.run(
        `INSERT INTO ${HELD} SELECT DISTINCT ON (key, col) ${lit(table)}, ${lit(keyColumn)}, key::UUID, col, link::UUID FROM _fv_held_new`,
      );
      await this.db.run('DROP TABLE _fv_held_new');
    });
  }

  async heldLinks(table: string, column: string, pseudonyms: readonly string[]): Promise<string[]> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0) return [];
    const r = await this.db.runAndReadAll(
      `SELECT DISTINCT key::VARCHAR FROM ${HELD} WHERE tbl = ${lit(table)} AND col = ${lit(column)} AND link IN (${list.map((p) => `${lit(p)}::UUID`).join(', ')})`,
    );
    return r.getRows().map((x) => String(x[0]));
  }

  async heldAmong(table: string, column: string, keys: readonly string[]): Promise<Set<string>> {
    const list = keys.filter((p) => UUID.test(p));
    if (list.length === 0) return new Set();
    const r = await this.db.runAndReadAll(
      `SELECT DISTINCT key::VARCHAR FROM ${HELD} WHERE tbl = ${lit(table)} AND col = ${lit(column)} AND key IN (${list.map((p) => `${lit(p)}::UUID`).join(', ')})`,
    );
    return new Set(r.getRows().map((x) => String(x[0])));
  }

  async holdsLinks(table: string): Promise<boolean> {
    const r = await this.db.runAndReadAll(`SELECT 1 FROM ${HELD} WHERE tbl = ${lit(table)} LIMIT 1`);
    return r.currentRowCount > 0;
  }

  async releaseHeld(table: string, keys?: readonly string[]): Promise<void> {
    if (keys === undefined) {
      const r = await this.db.runAndReadAll(`SELECT keycol FROM ${HELD} WHERE tbl = ${lit(table)} LIMIT 1`);
      const keycol = r.getRows()[0]?.[0];
      if (keycol === undefined || !(await this.tableExists(table))) return;
      await this.db.run(
        `DELETE FROM ${HELD} WHERE tbl = ${lit(table)} AND key IN (SELECT ${q(String(keycol))} FROM ${q(table)})`,
      );
      return;
    }
    const list = keys.filter((p) => UUID.test(p));
    if (list.length === 0) return;
    // A batch of written rows' keys (50,000): through a table, not a list of literals.
    await this.db.run(`CREATE OR REPLACE TEMP TABLE _fv_released (k VARCHAR)`);
    try {
      const a = await this.db.createAppender('_fv_released', 'main', 'temp');
      for (const k of list) {
        a.appendVarchar(k);
        a.endRow();
      }
      a.flushSync();
      a.closeSync();
      await this.db.run(
        `DELETE FROM ${HELD} h USING _fv_released r WHERE h.tbl = ${lit(table)} AND h.key = r.k::UUID`,
      );
    } finally {
      await this.db.run('DROP TABLE IF EXISTS _fv_released');
    }
  }

  async erase(table: string, column: string, pseudonyms: readonly string[]): Promise<number> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0) return 0;
    const among = list.map((p) => `${lit(p)}::UUID`).join(', ');
    const held = `DELETE FROM ${HELD} WHERE tbl = ${lit(table)} AND (key IN (SELECT key FROM ${HELD} WHERE tbl = ${lit(table)} AND col = ${lit(column)} AND link IN (${among})) OR (keycol = ${lit(column)} AND key IN (${among})))`;
    if (!(await this.tableExists(table))) {
      await this.db.run(held);
      return 0;
    }
    const where = `${q(column)} IN (${among})`;
    return this.inTransaction(async () => {
      await this.db.run(held);
      await touchRollups(this.db, table, (time) => `SELECT ${dayOf(time)} FROM ${q(table)} WHERE ${where}`);
      return Number(
        (await this.db.runAndReadAll(`DELETE FROM ${q(table)} WHERE ${where}`)).getRows()[0]?.[0] ?? 0,
      );
    });
  }

  async missingKeys(
    table: string,
    column: string,
    live: AsyncIterable<readonly bigint[]>,
  ): Promise<string[]> {
    if (!(await this.tableExists(table))) return [];
    await this.db.run(`CREATE OR REPLACE TEMP TABLE ${LIVE} (k UUID)`);
    try {
      for await (const keys of live) {
        const a = await this.db.createAppender(LIVE, 'main', 'temp');
        appendChunked(a, [{ kind: 'uuid' }], keys.length, (r) => keys[r] as bigint);
        a.flushSync();
        a.closeSync();
      }
      const r = await this.db.runAndReadAll(
        `SELECT t.${q(column)}::VARCHAR FROM ${q(table)} t ANTI JOIN ${LIVE} l ON t.${q(column)} = l.k`,
      );
      return r.getRows().map((x) => String(x[0]));
    } finally {
      await this.db.run(`DROP TABLE IF EXISTS ${LIVE}`);
    }
  }

  async insertNew(spec: StoreTableSpec, rows: readonly Value[][]): Promise<number> {
    batchChecker(DUCKDB_LIMITS, spec.name, spec.columns)(rows);
    const cols = spec.columns.map((c) => q(c.name)).join(', ');
    const staged = newRowsOf(spec.name);
    if (!this.streamed.has(spec.name)) {
      // Once per table and process: a stream adds to the same table batch after batch.
      await this.openWriter(spec, 'append'); // creates the table when missing
      await this.db.run(
        `CREATE OR REPLACE TEMP TABLE ${q(staged)} (${spec.columns.map((c) => `${q(c.name)} ${duckDbType(c)}`).join(', ')})`,
      );
      this.streamed.add(spec.name);
    }
    const own = !this.tx.open;
    if (own) await this.db.run('BEGIN TRANSACTION');
    try {
      await this.db.run(`DELETE FROM ${q(staged)}`);
      const a = await this.db.createAppender(staged, 'main', 'temp');
      appendChunked(a, spec.columns, rows.length, (r, c) => (rows[r] as Value[])[c] ?? null, spec.name);
      a.flushSync();
      a.closeSync();
      // The keys the table holds go from the batch first: a semi join hashes the batch and scans
      // the table once (an anti join from the batch would hash the whole table every time).
      const held = spec.key.map((k) => `t.${q(k)}`).join(', ');
      const same = (a: string, b: string) => spec.key.map((k) => `${a}.${q(k)} = ${b}.${q(k)}`).join(' AND ');
      await this.db.run(
        `DELETE FROM ${q(staged)} n USING (SELECT ${held} FROM ${q(spec.name)} t SEMI JOIN ${q(staged)} x ON ${same('t', 'x')}) t WHERE ${same('n', 't')}`,
      );
      await touchRollups(this.db, spec.name, (time) => `SELECT ${dayOf(time)} FROM ${q(staged)}`);
      const added = Number(
        (
          await this.db.runAndReadAll(
            `INSERT INTO ${q(spec.name)} (${cols}) SELECT ${cols} FROM ${q(staged)}`,
          )
        ).getRows()[0]?.[0] ?? 0,
      );
      if (added > 0) {
        const key = ingestedRowsMeta(spec.name);
        const total = (await ingestedRows(this, spec.name)) + added;
        await this.db.run(`DELETE FROM ${META} WHERE key = ${lit(key)}`);
        await this.db.run(`INSERT INTO ${META} VALUES (${lit(key)}, '${total}')`);
      }
      if (own) await this.db.run('COMMIT');
      return added;
    } catch (error) {
      if (own) await this.db.run('ROLLBACK').catch(() => {});
      throw error;
    }
  }

  async tombstones(): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    for (const [domain, p] of (
      await this.db.runAndReadAll(`SELECT domain, pseudonym::VARCHAR FROM ${FORGOTTEN}`)
    ).getRows()) {
      const set = out.get(String(domain)) ?? new Set<string>();
      set.add(String(p));
      out.set(String(domain), set);
    }
    return out;
  }

  async tombstonesAmong(domain: string, candidates: readonly bigint[]): Promise<Set<string>> {
    if (candidates.length === 0) return new Set();
    await this.db.run(`CREATE OR REPLACE TEMP TABLE ${LIVE} (k UUID)`);
    try {
      const a = await this.db.createAppender(LIVE, 'main', 'temp');
      appendChunked(a, [{ kind: 'uuid' }], candidates.length, (r) => candidates[r] as bigint);
      a.flushSync();
      a.closeSync();
      const r = await this.db.runAndReadAll(
        `SELECT DISTINCT f.pseudonym::VARCHAR FROM ${FORGOTTEN} f SEMI JOIN ${LIVE} l ON f.pseudonym = l.k WHERE f.domain = ${lit(domain)}`,
      );
      return new Set(r.getRows().map((x) => String(x[0])));
    } finally {
      await this.db.run(`DROP TABLE IF EXISTS ${LIVE}`);
    }
  }

  async tombstoneCounts(): Promise<Map<string, { count: number; latest: number }>> {
    const r = await this.db.runAndReadAll(
      `SELECT domain, count(*), coalesce(epoch_ms(max(erased_at)), 0) FROM ${FORGOTTEN} GROUP BY domain`,
    );
    return new Map(
      r.getRows().map(([d, n, t]) => [String(d), { count: Number(n), latest: Number(t) }] as const),
    );
  }

  async tombstonesIn(domain: string, since?: number): Promise<Set<string>> {
    const after = since === undefined ? '' : ` AND erased_at >= epoch_ms(${Math.floor(since)}::BIGINT)`;
    const r = await this.db.runAndReadAll(
      `SELECT DISTINCT pseudonym::VARCHAR FROM ${FORGOTTEN} WHERE domain = ${lit(domain)}${after}`,
    );
    return new Set(r.getRows().map((x) => String(x[0])));
  }

  async addTombstones(domain: string, pseudonyms: readonly string[]): Promise<void> {
    const list = pseudonyms.filter((p) => UUID.test(p));
    if (list.length === 0) return;
    await this.db.run(
      `INSERT INTO ${FORGOTTEN} (domain, pseudonym) VALUES ${list.map((p) => `(${lit(domain)}, ${lit(p)}::UUID)`).join(', ')}`,
    );
  }

  async releaseMemory(): Promise<void> {
    if (this.tx.open) return;
    // Results of the work before hold the instance until collected; closed, its file is written out.
    collectGarbage();
    this.db.closeSync();
    this.instance.closeSync();
    this.instance = await DuckDbStore.instance(this.location);
    this.db = await this.instance.connect();
    // Temporary tables went with the connection.
    this.streamed.clear();
    this.opening++;
  }

  async close(): Promise<void> {
    this.db.closeSync();
    this.instance.closeSync();
    restrict(this.location);
  }
}
