// The staged fast path of cursor sync into DuckDB and ClickHouse (issue 16): PostgreSQL's own CSV
// of the read list streams through a named pipe into an in-memory DuckDB staging database; pseudonyms are computed
// there by a scalar function running the padded HMAC, generalizations are SQL expressions, the
// distinct text values of each batch are scanned by the detectors before anything is written, and
// the transformed rows go to the store with the batch's sealed checkpoint: to DuckDB as data chunks
// in one transaction, to ClickHouse as lines of its insert format the staging database renders
// (`StagedText`), the checkpoint after them.
//
// Raw values live only in this process's memory and the staging database's: the staging database
// is in memory with spilling off (`temp_directory = ''`, an out-of-memory error instead of a temp
// file), no external access but the pipe, and its configuration locked; the pipe is a FIFO in a
// private 0700 directory (nothing of it reaches a disk).
import { execFileSync } from 'node:child_process';
import { closeSync, constants, createWriteStream, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BIGINT,
  DOUBLE,
  type DuckDBConnection,
  type DuckDBDataChunk,
  DuckDBInstance,
  DuckDBScalarFunction,
  type DuckDBUUIDValue,
  type DuckDBVector,
  INTEGER,
  UUID,
  VARCHAR,
} from '@duckdb/node-api';
import type { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { duckDbErrorKind, duckDbType, NativeMemory } from '../engines/duckdb/index.ts';
import { FvError } from '../errors/index.ts';
import type { Transform, Value, ValueKind } from '../policy/index.ts';
import { type MasterKey, type PiiScanner, PseudonymHasher } from '../privacy/index.ts';
import { copySql, type ReadRequest } from '../source/index.ts';
import type { HeldLink, TableWriter, WriteMode } from '../store/index.ts';
import { decimalCheck, type ValueCheck, valueError } from '../store/value-limits.ts';
import { type BatchRefusal, detectionRefusal, SAMPLE_KEYS } from './batch-pipeline.ts';
import type { ErasedKeys } from './erased-keys.ts';
import type { HeldColumns } from './held-links.ts';
import { readAhead } from './read-ahead.ts';
import { WEAK_SHARE } from './row-transformer.ts';
import type { QuarantineCount } from './sync-result.ts';
import { decodePosition, encodePosition, selfReference, type TablePlan } from './table-plan.ts';

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const lit = (s: string) => `'${s.replaceAll("'", "''")}'`;

/** Rows per staged batch: large enough to amortize each batch's queries, small enough for 512 MiB. */
export const STAGED_BATCH = 50_000;
/**
 * A staged batch's size in the staging database at most, estimated as its CSV bytes (the text
 * DuckDB keeps out of line) plus, per row, each column's fixed width in a vector (`STAGE_WIDTH`):
 * a batch ends at the first row end at or past it, so wide rows make shorter batches.
 */
export const STAGED_BYTES = 16 * 2 ** 20;
/**
 * The staging database's memory: two batches in flight (one loading, one scanned and transformed),
 * the transformed copy the store is appending, the CSV reader's buffer and the scan's hash tables.
 */
const STAGING_MEMORY = `${(6 * STAGED_BYTES) / 2 ** 20}MB`;
/** The CSV reader's buffer (DuckDB's default is 32 MB; it must exceed the 2 MB longest row). */
const CSV_BUFFER = 4 * 2 ** 20;

/** The staging type of each read kind (times and dates arrive as integers, see `copySql`). */
const STAGE_TYPE: Partial<Record<ValueKind, string>> = {
  integer: 'INTEGER',
  bigint: 'BIGINT',
  float: 'DOUBLE',
  boolean: 'BOOLEAN',
  text: 'VARCHAR',
  // PostgreSQL's text of the number, cast to the store's DECIMAL once checked (see `decimals`).
  decimal: 'VARCHAR',
  date: 'INTEGER',
  timestamp: 'BIGINT',
  timestamptz: 'BIGINT',
};

/** Bytes a staged value takes in a DuckDB vector (a VARCHAR's 16: inline text or a pointer). */
const STAGE_WIDTH: Record<string, number> = { INTEGER: 4, BIGINT: 8, DOUBLE: 8, BOOLEAN: 1, VARCHAR: 16 };

/** The fixed bytes of one staged row of `read` in the staging database (validity bits aside). */
export function stagedRowWidth(read: ReadonlyArray<{ kind: ValueKind }>): number {
  return read.reduce((sum, c) => sum + (STAGE_WIDTH[STAGE_TYPE[c.kind] ?? 'VARCHAR'] ?? 16), 0);
}

/**
 * Why a table cannot take the staged path (it then takes the row path), or undefined when it can.
 * The staged path appends only (a rebuild or a first copy), and leaves to the row path the tables
 * with uuids in the source, and transforms it has no SQL for.
 */
export function stagedFallbackReason(
  plan: TablePlan,
  mode: WriteMode,
  writer: TableWriter,
): string | undefined {
  if (mode === 'upsert') return 'an incremental upsert';
  for (const c of plan.read) if (!STAGE_TYPE[c.kind]) return `column ${c.name} of kind ${c.kind}`;
  for (const col of plan.store.columns) {
    const rule = plan.policy.columns.get(col.name);
    if (rule?.action === 'generalize' && rule.transform) {
      const kind = plan.read.find((c) => c.name === col.name)?.kind ?? 'text';
      if (generalizeSql(rule.transform, 'x', kind) === undefined)
        return `transform ${rule.transform.name} of column ${col.name}`;
    }
  }
  if (!writer.appendChunks && !writer.stagedText) return 'the store takes rows only';
  return undefined;
}

const MICROS_PER_HOUR = 3_600_000_000n;
/** A dotted IPv4 address as `net.isIPv4` accepts it: four decimal octets, no leading zeros. */
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])';
const IPV4 = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;
const MICROS_PER_DAY = 86_400_000_000n;

/**
 * A generalization as a DuckDB expression over `x` (the staged value: microseconds, days, a
 * number, text), yielding the in-flight form the row path's transform yields (times as
 * microseconds, dates as days); undefined for a transform without SQL. `ip_prefix` masks dotted
 * IPv4 in SQL and hands every other value to a scalar function running the transform itself
 * (`fv_ip_prefix_<bits>`).
 * Equivalence with the JavaScript transforms: staged-copy.test.ts.
 */
export function generalizeSql(t: Transform, x: string, kind: ValueKind): string | undefined {
  const date = kind === 'date';
  // DuckDB's `//` truncates toward zero; the transforms floor (times before 1970).
  const floorDiv = (a: string, d: bigint | number) => `((${a} - (((${a}) % ${d}) + ${d}) % ${d}) // ${d})`;
  const days = date ? x : floorDiv(x, MICROS_PER_DAY);
  const fromDays = (d: string) => (date ? d : `(${d})::BIGINT * ${MICROS_PER_DAY}`);
  if (t.name === 'truncate:hour' && !date) return `(${floorDiv(x, MICROS_PER_HOUR)} * ${MICROS_PER_HOUR})`;
  if (t.name === 'truncate:day') return fromDays(days);
  if (t.name === 'truncate:week') return fromDays(`${floorDiv(`(${days} + 3)`, 7)} * 7 - 3`);
  if (t.name === 'truncate:month') {
    // As the transform computes it: `Date.UTC` reads the years 0 to 99 as 1900 to 1999.
    const m = `date_trunc('month', DATE '1970-01-01' + (${days})::INTEGER)::DATE`;
    const utc = `CASE WHEN year(${m}) BETWEEN 0 AND 99 THEN (${m} + INTERVAL 1900 YEAR)::DATE ELSE ${m} END`;
    return fromDays(`date_diff('day', DATE '1970-01-01', ${utc})`);
  }
  // The transform reads a time's year from its milliseconds (micros divided toward zero).
  const yearDays = date ? x : floorDiv(`(${x} // 1000)`, 86_400_000);
  if (t.name === 'year') return `year(DATE '1970-01-01' + (${yearDays})::INTEGER)::INTEGER`;
  if (t.name === 'bucket') {
    const bounds = bucketBounds(t);
    if (!bounds) return undefined;
    const first = bounds[0] as number;
    const arms = [`WHEN ${x}::DOUBLE < ${first} THEN ${lit(`<${first}`)}`];
    for (let i = 1; i < bounds.length; i++)
      arms.push(`WHEN ${x}::DOUBLE < ${bounds[i]} THEN ${lit(`${bounds[i - 1]}..${bounds[i]}`)}`);
    return `CASE WHEN ${x} IS NULL THEN NULL ${arms.join(' ')} ELSE ${lit(`>=${bounds[bounds.length - 1]}`)} END`;
  }
  if (t.name === 'ip_prefix') {
    // Dotted IPv4 (the form PostgreSQL writes) in SQL, octet by octet; anything else through the
    // transform itself.
    const bits = t.detail.levels[0] as number;
    const ip = `split_part(${x}, '/', 1)`;
    const octets = [0, 1, 2, 3].map((k) => {
      const keep = Math.min(8, Math.max(0, bits - 8 * k));
      const o = `split_part(${ip}, '.', ${k + 1})`;
      // The pattern below admits no leading zero: a kept octet's text is its number's.
      return keep === 8
        ? o
        : keep === 0
          ? `'0'`
          : `(${o}::INTEGER & ${(0xff << (8 - keep)) & 0xff})::VARCHAR`;
    });
    const v4 = `concat(${octets.join(", '.', ")}, '/${bits}')`;
    return `CASE WHEN ${x} IS NULL THEN NULL WHEN regexp_full_match(${ip}, '${IPV4}') THEN ${v4} ELSE fv_ip_prefix_${bits}(${x}) END`;
  }
  return undefined;
}

/** A bucket transform's bounds, read back from its detail family (`bucket:-90,-80`). */
function bucketBounds(t: Transform): number[] | undefined {
  const list = t.detail.family
    .replace(/^bucket:/, '')
    .split(',')
    .map(Number);
  return list.length > 0 && list.every(Number.isFinite) ? list : undefined;
}

/** A staged value (times as micros, dates as days) as the DuckDB type of the stored column. */
function toStored(expr: string, kind: ValueKind): string {
  if (kind === 'timestamp') return `make_timestamp((${expr})::BIGINT)`;
  if (kind === 'timestamptz') return `make_timestamp((${expr})::BIGINT)::TIMESTAMPTZ`;
  if (kind === 'date') return `(DATE '1970-01-01' + (${expr})::INTEGER)`;
  return expr;
}

/** Each staging slot's pseudonyms, by pseudonymized column: UUID storage and validity, row by row. */
export type SlotPseudonyms = Array<Array<{ readonly uuids: Uint8Array; readonly valid: Uint8Array }>>;

/**
 * The pseudonyms of column `column`, computed beforehand for the batch in the staging slot a row
 * names (`fv_pseudonym_<n>(rowid, _fv_slot)`), copied into the UUID vector: the hashing itself ran on
 * the pseudonym hasher (on its own thread where there are cores to spare).
 */
export function pseudonymFunction(name: string, slots: SlotPseudonyms, column: number): DuckDBScalarFunction {
  return DuckDBScalarFunction.create({
    name,
    returnType: UUID,
    parameterTypes: [BIGINT, INTEGER],
    mainFunction: (_info, input, output) => {
      const rows = input.rowCount; // a native call: once per chunk, not per row
      if (rows === 0) return;
      const ids = (input.getColumnVector(0) as unknown as { items: BigInt64Array }).items;
      // Low words only: no BigInt per row.
      const rowid = new Int32Array(ids.buffer, ids.byteOffset, rows * 2);
      const slot = (input.getColumnVector(1) as DuckDBVector<number>).getItem(0) as number;
      const p = slots[slot]?.[column];
      if (!p) throw new Error(`no pseudonyms staged for slot ${slot}`);
      const from = new DataView(p.uuids.buffer, p.uuids.byteOffset, p.uuids.byteLength);
      const view = (output as unknown as { dataView: DataView }).dataView;
      for (let i = 0; i < rows; i++) {
        // A batch table's row ids are 0…rows-1 in load order, far below 2^31.
        const r = rowid[i * 2] as number;
        if (p.valid[r] === 0) {
          output.setItem(i, null);
          continue;
        }
        const at = i * 16;
        const src = r * 16;
        view.setInt32(at, from.getInt32(src, true), true);
        view.setInt32(at + 4, from.getInt32(src + 4, true), true);
        view.setInt32(at + 8, from.getInt32(src + 8, true), true);
        view.setInt32(at + 12, from.getInt32(src + 12, true), true);
      }
      output.flush();
    },
  });
}

/**
 * A batch table's pseudonymized columns, read out as DuckDB holds them (16-byte string images,
 * validity, the values longer than 12 bytes as strings) and hashed by the pseudonym hasher.
 */
export async function batchPseudonyms(
  db: DuckDBConnection,
  b: string,
  columns: ReadonlyArray<{ readonly name: string; readonly key: Uint8Array }>,
  hasher: PseudonymHasher | undefined,
  rows: number,
): Promise<SlotPseudonyms[number]> {
  if (columns.length === 0 || !hasher) return [];
  const result = await db.run(`SELECT ${columns.map((c) => q(c.name)).join(', ')} FROM ${b}`);
  const cells = columns.map(() => new ArrayBuffer(rows * 16));
  const valid = columns.map(() => new Uint8Array(rows));
  const long: string[][] = columns.map(() => []);
  let at = 0;
  for (let c = 0; c < result.chunkCount; c++) {
    const chunk = result.getChunk(c);
    const n = chunk.rowCount;
    if (n === 0) continue;
    if (at + n > rows) throw new Error(`batch table ${b} holds more than its ${rows} rows`);
    columns.forEach((_, k) => {
      const v = chunk.getColumnVector(k) as DuckDBVector<string | null>;
      const { dataView: data, validity } = v as unknown as {
        dataView: DataView;
        validity: { itemValid(i: number): boolean };
      };
      new Uint8Array(cells[k] as ArrayBuffer, at * 16, n * 16).set(
        new Uint8Array(data.buffer, data.byteOffset, n * 16),
      );
      const ok = valid[k] as Uint8Array;
      const longer = long[k] as string[];
      for (let i = 0; i < n; i++) {
        if (!validity.itemValid(i)) continue;
        ok[at + i] = 1;
        if (data.getUint32(i * 16, true) > 12) longer.push(v.getItem(i) as string);
      }
    });
    at += n;
  }
  if (at !== rows) throw new Error(`batch table ${b} holds ${at} rows, not ${rows}`);
  return Promise.all(
    columns.map(async (c, k) => ({
      uuids: await hasher.hash(
        c.key,
        cells[k] as ArrayBuffer,
        valid[k] as Uint8Array,
        long[k] as string[],
        rows,
      ),
      valid: valid[k] as Uint8Array,
    })),
  );
}

/** A store's text of a number (StagedText.functions) as a scalar function, value by value. */
export function numberTextFunction(name: string, text: (v: number) => string): DuckDBScalarFunction {
  return DuckDBScalarFunction.create({
    name,
    returnType: VARCHAR,
    parameterTypes: [DOUBLE],
    mainFunction: (_info, input, output) => {
      const v = input.getColumnVector(0) as DuckDBVector<number | null>;
      const rows = input.rowCount;
      for (let i = 0; i < rows; i++) {
        const x = v.getItem(i);
        output.setItem(i, x === null ? null : text(x));
      }
      output.flush();
    },
  });
}

/** A transform applied by the transform itself, value by value, as a scalar function. */
export function transformFunction(name: string, t: Transform): DuckDBScalarFunction {
  return DuckDBScalarFunction.create({
    name,
    returnType: VARCHAR,
    parameterTypes: [VARCHAR],
    mainFunction: (_info, input, output) => {
      const v = input.getColumnVector(0) as DuckDBVector<string | null>;
      const rows = input.rowCount;
      for (let i = 0; i < rows; i++) {
        const s = v.getItem(i);
        const out = s === null ? null : t.apply(s, 'text');
        output.setItem(i, out === null ? null : String(out));
      }
      output.flush();
    },
  });
}

interface Scanned {
  readonly column: string;
  readonly scanner: PiiScanner;
}

export interface StagedContext {
  readonly source: Client;
  readonly schema: string;
  readonly key: MasterKey;
  readonly scanner: PiiScanner;
  readonly after?: Value[];
  readonly signal?: AbortSignal;
  /** Seals a position for the store (the table's checkpoint context). */
  readonly seal: (position: Value[]) => string;
  readonly onBatch?: (rowsRead: number) => void;
  /** Pseudonyms erased by `forget` (or with an erased owner), by domain: their rows are not copied. */
  readonly erased?: Pick<ErasedKeys, 'held' | 'lookedUp' | 'among'>;
  /**
   * Called with the table's own keys of a batch's rows dropped for an erased owner (a device of
   * an erased user), before that batch and its checkpoint are written, as the row path does.
   */
  readonly onErased?: (domain: string, pseudonyms: readonly string[]) => Promise<void>;
  /**
   * The table's links an erasure follows (`heldColumns`), and where the links of a batch's
   * quarantined rows go before that batch is written, as on the row path.
   */
  readonly held?: { readonly columns: HeldColumns; readonly keep: (links: HeldLink[]) => Promise<void> };
  /** Called after each batch is written, with its rows, before anything else reaches the store. */
  readonly afterWrite?: (rows: number) => Promise<void>;
}

export type StagedResult =
  | {
      readonly ok: true;
      readonly rowsRead: number;
      readonly rowsWritten: number;
      /** Rows soft-deleted in the source or dropped for an erased owner. */
      readonly rowsDeleted: number;
      readonly quarantined: QuarantineCount[];
      readonly position: Value[] | undefined;
    }
  | {
      readonly ok: false;
      readonly rowsRead: number;
      readonly rowsWritten: number;
      /** Whether any batch reached the store (so the table cannot start over on the row path). */
      readonly written?: boolean;
      /** A batch refused (`block`), or the staging database's failure (`FV_STAGING_FAILED`). */
      readonly refusal: BatchRefusal | { readonly code: 'FV_STAGING_FAILED'; readonly message: string };
    };

/** Where a batch ends: at `rows` rows, or at the first row end where the estimate reaches `bytes`. */
export interface BatchBound {
  readonly rows: number;
  readonly bytes: number;
  /** Bytes counted per row on top of its CSV bytes (`stagedRowWidth`). */
  readonly rowWidth: number;
}

/**
 * Cuts PostgreSQL's CSV into batches of whole rows (a newline outside quotes ends a row), as the
 * bytes arrived: no parsing, no copy. A batch ends at `bound.rows` rows or at the first row end
 * where its CSV bytes plus `bound.rowWidth` per row reach `bound.bytes`. Stopping early ends the
 * COPY.
 */
export async function* csvBatches(
  stream: AsyncIterable<unknown> & { destroyed: boolean; destroy(): void },
  table: string,
  signal: AbortSignal | undefined,
  bound: BatchBound,
): AsyncGenerator<{ parts: Buffer[]; rows: number }> {
  const { rows: size, bytes: maxBytes, rowWidth } = bound;
  let parts: Buffer[] = [];
  let rows = 0;
  /** Bytes of the batch in `parts` (the current chunk's not counted). */
  let held = 0;
  let quoted = false;
  try {
    for await (const data of stream) {
      signal?.throwIfAborted();
      let chunk = data as Buffer;
      // Quotes and newlines found with `indexOf` (memchr), not byte by byte; `quote` is the next
      // quote at or after `i` (-1: none left in the chunk, -2: not looked for yet).
      let i = 0;
      let quote = -2;
      for (;;) {
        if (quoted) {
          const close = chunk.indexOf(34, i);
          if (close < 0) break;
          quoted = false;
          i = close + 1;
          continue;
        }
        if (quote !== -1 && quote < i) quote = chunk.indexOf(34, i);
        const newline = chunk.indexOf(10, i);
        if (quote >= 0 && (newline < 0 || quote < newline)) {
          quoted = true;
          i = quote + 1;
          continue;
        }
        if (newline < 0) break;
        i = newline + 1;
        if (++rows === size || held + i + rows * rowWidth >= maxBytes) {
          parts.push(chunk.subarray(0, i));
          yield { parts, rows };
          parts = [];
          rows = 0;
          held = 0;
          chunk = chunk.subarray(i);
          i = 0;
          quote = -2;
        }
      }
      if (chunk.length > 0) {
        parts.push(chunk);
        held += chunk.length;
      }
    }
    if (quoted || (parts.length > 0 && rows === 0))
      throw new FvError('FV_SOURCE_QUERY', `COPY of ${table} ended in the middle of a row`);
    if (rows > 0) yield { parts, rows };
  } finally {
    if (!stream.destroyed) stream.destroy();
  }
}

/**
 * A failure of the staging database (DuckDB's own error: `Out of Memory Error: …`) as one clear
 * error naming the table and the kind of error, never the message, which may quote a value. Errors
 * of ours, the source's and the store's pass unchanged.
 */
export function stagingFailure(table: string, error: unknown): unknown {
  const kind = error instanceof FvError ? undefined : duckDbErrorKind(error);
  if (!kind) return error;
  return new FvError(
    'FV_STAGING_FAILED',
    `sync of ${table}: the staging database failed (${kind}, limit ${STAGING_MEMORY}); nothing of that batch was written`,
  );
}

/** The private staging database: in memory, no spilling, only the pipe readable, locked. */
export async function openStaging(fifo: string): Promise<{ instance: DuckDBInstance; db: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:', {
    temp_directory: '',
    memory_limit: STAGING_MEMORY,
    threads: '1',
    // Scans return rows in the order they were loaded (the transform SELECT relies on it).
    preserve_insertion_order: 'true',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const db = await instance.connect();
  await db.run(`SET allowed_paths = [${lit(fifo)}]`);
  await db.run('SET enable_external_access = false');
  await db.run(`SET TimeZone = 'UTC'`);
  await db.run('SET lock_configuration = true');
  return { instance, db };
}

/**
 * A pseudonymized column whose domain holds erased pseudonyms: with the domain's tombstones (`set`),
 * or with how to find the erased among one batch's pseudonyms (`lookup`) when the domain holds
 * too many to stage.
 */
type ErasedColumn =
  | { readonly column: string; readonly set: ReadonlySet<string> }
  | { readonly column: string; readonly lookup: (batch: bigint[]) => Promise<Set<string>> };

/** How a staged batch's rows deleted in the source, or dropped for an erased owner, are left out. */
interface StagedDeletes {
  /** Condition on a batch table's rows: not deleted (for the scans and the generalization check). */
  readonly keep: string;
  /**
   * Marks batch `b`'s deleted rows; answers their count and the own keys (UUID text) of the rows
   * dropped for an erased owner, when the table is keyed by one pseudonym (`domain`).
   */
  mark(b: string): Promise<{ rows: number; erased: string[] }>;
  /**
   * The SELECT of the rows to write: transformed, deleted rows left out, flagged ones too; with
   * `row`, each row's place in the batch first (`_fv_r`).
   */
  output(b: string, flagged: boolean, row?: boolean): string;
  /** The domain of the table's own key, when it is one pseudonym (its erased rows become tombstones). */
  readonly domain: string | undefined;
}

/**
 * The deletions of a staged copy, as the row path makes them (row-transformer.ts): a row whose
 * soft-delete column is set, or holding a pseudonym erased in its domain, is not written and is
 * neither scanned nor checked; a dropped row whose key is itself one pseudonym takes that
 * pseudonym with it (a device of an erased user is erased too, and so are its events later in the
 * run). Erased pseudonyms are compared after the transform (a transformed copy `t` of the batch),
 * so each value is hashed once.
 */
async function stagedDeletes(
  db: DuckDBConnection,
  plan: TablePlan,
  erasedIn: readonly ErasedColumn[],
  select: readonly string[],
): Promise<StagedDeletes> {
  const soft = plan.policy.softDelete;
  const own = plan.store.key.length === 1 ? plan.policy.columns.get(plan.store.key[0] as string) : undefined;
  const domain = own?.action === 'pseudonymize' ? (own.domain ?? own.name) : undefined;
  /** The rows to write read from the batch table itself, those `keep` holds and none flagged. */
  const fromBatch =
    (keep: string) =>
    (b: string, flagged: boolean, row?: boolean): string =>
      `SELECT ${row ? 'rowid AS _fv_r, ' : ''}${select.join(', ')} FROM ${b} WHERE ${keep}${flagged ? ' AND rowid NOT IN (SELECT _fv_r FROM flagged)' : ''}`;
  if (soft === undefined && erasedIn.length === 0)
    return {
      keep: 'TRUE',
      domain,
      mark: async () => ({ rows: 0, erased: [] }),
      output: fromBatch('TRUE'),
    };
  const keep = 'rowid NOT IN (SELECT _fv_r FROM d)';
  if (erasedIn.length === 0)
    return {
      keep,
      domain,
      mark: async (b) => {
        await db.run(
          `CREATE OR REPLACE TABLE d AS SELECT rowid AS _fv_r FROM ${b} WHERE ${q(soft as string)} IS NOT NULL`,
        );
        return {
          rows: Number((await db.runAndReadAll('SELECT count(*) FROM d')).getRows()[0]?.[0] ?? 0),
          erased: [],
        };
      },
      output: fromBatch(keep),
    };
  /** Puts `values` (UUID text) into `_fv_erased_<i>`, replacing what it held. */
  const fill = async (i: number, values: Iterable<string>) => {
    await db.run(`CREATE OR REPLACE TABLE _fv_erased_text (p VARCHAR)`);
    const a = await db.createAppender('_fv_erased_text');
    for (const v of values) {
      a.appendVarchar(v);
      a.endRow();
    }
    a.flushSync();
    a.closeSync();
    await db.run(
      `CREATE OR REPLACE TABLE _fv_erased_${i} AS SELECT DISTINCT CAST(p AS UUID) AS p FROM _fv_erased_text`,
    );
    await db.run('DROP TABLE _fv_erased_text');
  };
  // Held sets once for the table; a looked-up domain's per batch, from the batch's own pseudonyms.
  for (const [i, e] of erasedIn.entries()) await fill(i, 'set' in e ? e.set : []);
  // An erased pseudonym drops its row, but in a reference within the table's own domain (a
  // user's `referred_by`) it is cleared and the row kept, as on the row path.
  const dropping = erasedIn.flatMap((e, i) =>
    selfReference(plan.policy, e.column) ? [] : [`t.${q(e.column)} IN (SELECT p FROM _fv_erased_${i})`],
  );
  const erasedRow = dropping.length > 0 ? dropping.join(' OR ') : 'false';
  const clearing = erasedIn.flatMap((e, i) =>
    selfReference(plan.policy, e.column) ? [{ column: e.column, i }] : [],
  );
  const columns = plan.store.columns.map((c) => q(c.name)).join(', ');
  return {
    keep,
    domain,
    mark: async (b) => {
      await db.run(
        `CREATE OR REPLACE TABLE t AS SELECT rowid AS _fv_r, ${soft === undefined ? 'false' : `${q(soft)} IS NOT NULL`} AS _fv_soft, ${select.join(', ')} FROM ${b}`,
      );
      for (const [i, e] of erasedIn.entries()) {
        if (!('lookup' in e)) continue;
        const r = await db.runAndReadAll(
          `SELECT DISTINCT ${q(e.column)} FROM t WHERE ${q(e.column)} IS NOT NULL`,
        );
        const batch = r.getRows().map((x) => (x[0] as DuckDBUUIDValue).toUint128());
        await fill(i, await e.lookup(batch));
      }
      for (const c of clearing)
        await db.run(
          `UPDATE t SET ${q(c.column)} = NULL WHERE ${q(c.column)} IN (SELECT p FROM _fv_erased_${c.i})`,
        );
      await db.run(
        `CREATE OR REPLACE TABLE d AS SELECT _fv_r, (${erasedRow}) AS _fv_erased, ${domain ? `CAST(t.${q(plan.store.key[0] as string)} AS VARCHAR)` : 'NULL'} AS _fv_k FROM t WHERE _fv_soft OR ${erasedRow}`,
      );
      const rows = Number((await db.runAndReadAll('SELECT count(*) FROM d')).getRows()[0]?.[0] ?? 0);
      const erased = domain
        ? (await db.runAndReadAll('SELECT DISTINCT _fv_k FROM d WHERE _fv_erased AND _fv_k IS NOT NULL'))
            .getRows()
            .map((r) => String(r[0]))
        : [];
      return { rows, erased };
    },
    output: (_b, flagged, row) =>
      `SELECT ${row ? '_fv_r, ' : ''}${columns} FROM t WHERE _fv_r NOT IN (SELECT _fv_r FROM d)${flagged ? ' AND _fv_r NOT IN (SELECT _fv_r FROM flagged)' : ''}`,
  };
}

/**
 * Copies one table through the staging database. The caller checked `stagedFallbackReason`, opened
 * the writer (append or rebuild) and finishes it.
 */
export async function stagedCopy(
  plan: TablePlan,
  writer: TableWriter,
  ctx: StagedContext,
): Promise<StagedResult> {
  const table = plan.policy.name;
  const block = plan.policy.onDetect === 'block';
  const dir = mkdtempSync(join(tmpdir(), 'fleetvault-stage-'));
  const fifo = join(dir, 'batch.csv');
  execFileSync('mkfifo', ['-m', '600', fifo]);
  const { instance, db } = await openStaging(fifo);
  const loader = await instance.connect();
  /** What computes pseudonyms, for a table with pseudonymized columns. */
  let hasher: PseudonymHasher | undefined;
  /** The pseudonyms of the batch in each staging slot (b0, b1), once computed. */
  const slots: SlotPseudonyms = [[], []];
  let hashing: Promise<SlotPseudonyms[number]> = Promise.resolve([]);
  // The scan and transform of the batch before, and the store's append of the one before that.
  let handling: Promise<BatchRefusal | undefined> = Promise.resolve(undefined);
  let handlingRows = 0;
  let writing: Promise<void> = Promise.resolve();
  let rowsRead = 0;
  let rowsWritten = 0;
  /** Batches handed to the store (a batch of no rows still commits its checkpoint). */
  let appended = 0;
  try {
    const readKind = new Map(plan.read.map((c) => [c.name, c.kind]));
    const exprs: string[] = [];
    const scanned: Scanned[] = [];
    const generalized: Array<{ column: string; transform: string; expr: string }> = [];
    // Pseudonymized columns whose domain holds erased pseudonyms: a row holding one is dropped.
    const erasedIn: ErasedColumn[] = [];
    // Pseudonymized columns: hashed by the pseudonym hasher once a batch is loaded, read back by
    // `fv_pseudonym_<n>` from the batch's slot.
    const hashed: Array<{ name: string; key: Uint8Array }> = [];
    /** Decimal columns kept as they are: each batch's values are checked against the store's DECIMAL. */
    const decimals: Array<{ column: string; type: string; check: ValueCheck }> = [];
    for (const col of plan.store.columns) {
      const rule = plan.policy.columns.get(col.name);
      const src = q(col.name);
      const kind = readKind.get(col.name) ?? 'text';
      let expr: string;
      if (rule?.action === 'pseudonymize') {
        const domain = rule.domain ?? col.name;
        const name = `fv_pseudonym_${hashed.length}`;
        db.registerScalarFunction(pseudonymFunction(name, slots, hashed.length));
        hashed.push({ name: col.name, key: ctx.key.derive(`pseudonym:${domain}`) });
        expr = `${name}(rowid, _fv_slot)`;
        const set = ctx.erased?.held(domain);
        if (set) erasedIn.push({ column: col.name, set });
        else if (ctx.erased?.lookedUp(domain)) {
          const erased = ctx.erased;
          // The store answers between writes: after the batch before is written (one connection).
          const lookup = async (batch: bigint[]) => {
            await writing.catch(() => {});
            return erased.among(domain, batch);
          };
          erasedIn.push({ column: col.name, lookup });
        }
      } else if (rule?.action === 'generalize' && rule.transform) {
        const t = rule.transform;
        if (t.name === 'ip_prefix')
          db.registerScalarFunction(transformFunction(`fv_ip_prefix_${t.detail.levels[0]}`, t));
        const g = generalizeSql(t, src, kind) as string;
        generalized.push({ column: col.name, transform: t.name, expr: g });
        expr = toStored(g, t.outputKind(kind));
      } else {
        expr = toStored(src, kind);
        if (col.kind === 'decimal') {
          // TRY_CAST: DuckDB's own error would quote the value; the batch's check names the column.
          expr = `TRY_CAST(${src} AS ${duckDbType(col)})`;
          decimals.push({
            column: col.name,
            type: duckDbType(col),
            check: decimalCheck(col.sourceType ?? 'numeric'),
          });
        }
        const s = ctx.scanner.forColumn(col.name);
        const numeric = col.kind === 'integer' || col.kind === 'bigint' || col.kind === 'decimal';
        if (col.kind === 'text' || (numeric && s !== ctx.scanner))
          scanned.push({ column: col.name, scanner: s });
      }
      exprs.push(`CAST(${expr} AS ${duckDbType(col)})`);
    }
    if (hashed.length > 0) hasher = new PseudonymHasher();
    for (const f of writer.stagedText?.functions ?? [])
      db.registerScalarFunction(numberTextFunction(f.name, f.text));
    const select = exprs.map((e, i) => `${e} AS ${q((plan.store.columns[i] as { name: string }).name)}`);
    // A row's key as the row path names it: pseudonyms as UUID text, other values as text.
    const keyText = plan.store.key
      .map((k) => `CAST(${exprs[plan.store.columns.findIndex((c) => c.name === k)]} AS VARCHAR)`)
      .join(` || '/' || `);
    const deletes = await stagedDeletes(db, plan, erasedIn, select);
    const columns = `{${plan.read.map((c) => `${lit(c.name)}: ${lit(STAGE_TYPE[c.kind] as string)}`).join(', ')}}`;
    const readCsv = `read_csv(${lit(fifo)}, header = false, auto_detect = false, delim = ',', quote = '"', escape = '"', new_line = '\\n', allow_quoted_nulls = false, parallel = false, buffer_size = ${CSV_BUFFER}, columns = ${columns})`;
    const sql = copySql({
      schema: ctx.schema,
      table,
      columns: plan.read,
      orderBy: plan.orderBy,
      ...(ctx.after ? { after: ctx.after } : {}),
      batchSize: STAGED_BATCH,
    } satisfies ReadRequest).replace(/ TO STDOUT$/, ' TO STDOUT (FORMAT csv)');
    const stream = ctx.source.query(copyTo(sql));
    let rowsDeleted = 0;
    let position: Value[] | undefined;
    const quarantine = new Map<
      string,
      { column: string; detector: string; rows: number; sampleKeys: string[] }
    >();

    /** Loads one batch's CSV into slot `slot`'s table through the pipe, on the loading connection. */
    const load = async (parts: Buffer[], b: string, slot: number) => {
      const loading = loader.run(
        `CREATE OR REPLACE TABLE ${b} AS SELECT *, ${slot} AS _fv_slot FROM ${readCsv}`,
      );
      const ws = createWriteStream(fifo);
      const written = new Promise<void>((resolve, reject) => {
        ws.on('error', reject);
        ws.on('close', resolve);
      });
      for (const p of parts) ws.write(p);
      ws.end();
      let unblock: number | undefined;
      try {
        await loading;
      } catch (error) {
        // DuckDB stopped before (or while) reading: read the pipe's other end until the writer is
        // done, so it is left waiting neither for a reader nor for room in a full pipe (a batch
        // holding one 120 MB value hung there now and then), then let it fail.
        unblock = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
        let done = false;
        written.then(
          () => {
            done = true;
          },
          () => {
            done = true;
          },
        );
        const sink = Buffer.allocUnsafe(1 << 16);
        while (!done) {
          let n = 0;
          try {
            n = readSync(unblock, sink);
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') break;
          }
          if (n === 0) await new Promise((r) => setTimeout(r, 2));
        }
        throw error;
      } finally {
        if (unblock !== undefined) closeSync(unblock);
      }
      await written;
    };

    /** Scans, transforms and writes the batch in table `b`; a refusal when it must not be written. */
    const handle = async (
      count: number,
      b: string,
      slot: number,
      pseudonyms: Promise<SlotPseudonyms[number]>,
    ): Promise<BatchRefusal | undefined> => {
      slots[slot] = await pseudonyms;
      const dropped = await deletes.mark(b);
      for (const g of generalized) {
        // One value that keeps a value is enough (the scan stops there); only without one does
        // the batch's count of values decide.
        const kept = await db.runAndReadAll(
          `SELECT 1 FROM ${b} WHERE ${q(g.column)} IS NOT NULL AND (${g.expr}) IS NOT NULL LIMIT 1`,
        );
        if (kept.currentRowCount > 0) continue;
        // As on the row path: every value turned into NULL, and a row not deleted held one.
        const r = await db.runAndReadAll(`SELECT count(${q(g.column)}) FROM ${b} WHERE ${deletes.keep}`);
        if (Number(r.getRows()[0]?.[0] ?? 0) > 0)
          return {
            code: 'FV_TRANSFORM_UNFIT',
            message: `${table}.${g.column}: transform ${g.transform} turned every value of a batch into NULL (the values do not fit it); the batch was not written`,
          };
      }
      // The distinct values of each scanned column, with how many rows hold them.
      const hits: Array<{ column: string; values: Map<string, string> }> = [];
      for (const s of scanned) {
        // Values no detector can match (hex digests, UUIDs) are counted, not read: one NULL group.
        const inert = s.scanner.inertSql('CAST(v AS VARCHAR)');
        const value = inert ? `CASE WHEN ${inert} THEN NULL ELSE v END` : 'v';
        const r = await db.runAndReadAll(
          `SELECT ${value}, sum(n) FROM (SELECT ${q(s.column)} AS v, count(*) AS n FROM ${b} WHERE ${q(s.column)} IS NOT NULL AND ${deletes.keep} GROUP BY ALL) GROUP BY 1`,
        );
        const found = new Map<string, string>();
        const weak = new Map<string, string>();
        let present = 0;
        let weakRows = 0;
        for (const [v, c] of r.getRows()) {
          const rows = Number(c);
          present += rows;
          if (v === null) continue;
          const text = String(v);
          const d = s.scanner.detect(text);
          if (d !== undefined) {
            found.set(text, d);
            continue;
          }
          const w = s.scanner.detectWeak(text);
          if (w !== undefined) {
            weak.set(text, w);
            weakRows += rows;
          }
        }
        // Weak evidence counts when one in ten of the column's values in the batch match.
        if (weak.size > 0 && weakRows >= Math.max(1, present * WEAK_SHARE))
          for (const [v, d] of weak) found.set(v, d);
        if (found.size > 0) hits.push({ column: s.column, values: found });
      }
      let flagged = false;
      if (hits.length > 0) {
        await db.run('CREATE OR REPLACE TABLE hits (col INTEGER, v VARCHAR, detector VARCHAR)');
        const a = await db.createAppender('hits');
        hits.forEach((h, i) => {
          for (const [v, d] of h.values) {
            a.appendInteger(i);
            a.appendVarchar(v);
            a.appendVarchar(d);
            a.endRow();
          }
        });
        a.flushSync();
        a.closeSync();
        // Each row's first matching column, in store column order, as the row path reports it.
        const arms = hits
          .map(
            (h, i) =>
              `WHEN EXISTS (SELECT 1 FROM hits WHERE col = ${i} AND v = CAST(b.${q(h.column)} AS VARCHAR)) THEN ${i}`,
          )
          .join(' ');
        const hitValue = hits.map((h, i) => `WHEN ${i} THEN CAST(${q(h.column)} AS VARCHAR)`).join(' ');
        await db.run(
          `CREATE OR REPLACE TABLE flagged AS SELECT _fv_r, _fv_col, _fv_k, CASE _fv_col ${hitValue} END AS _fv_v FROM (SELECT rowid AS _fv_r, CASE ${arms} END AS _fv_col, ${keyText} AS _fv_k, * FROM ${b} b WHERE ${deletes.keep}) WHERE _fv_col IS NOT NULL`,
        );
        const r = await db.runAndReadAll(
          `SELECT f._fv_col, h.detector, count(*), list(f._fv_k ORDER BY f._fv_r)[1:${SAMPLE_KEYS}] FROM flagged f JOIN hits h ON h.col = f._fv_col AND h.v = f._fv_v GROUP BY ALL ORDER BY 1, 2`,
        );
        for (const [col, detector, c, keys] of r.getRows()) {
          const column = (hits[Number(col)] as (typeof hits)[number]).column;
          const sample = (keys as { items: unknown[] }).items.map(String);
          if (block) return detectionRefusal(table, column, String(detector), String(sample[0]));
          const id = `${column}\u0000${String(detector)}`;
          const t = quarantine.get(id) ?? { column, detector: String(detector), rows: 0, sampleKeys: [] };
          t.rows += Number(c);
          for (const k of sample) if (t.sampleKeys.length < SAMPLE_KEYS) t.sampleKeys.push(k);
          quarantine.set(id, t);
        }
        flagged = true;
      }
      // The quarantined rows' links (their key and owner pseudonyms), kept for erasures to follow.
      const heldLinks: HeldLink[] = [];
      if (flagged && !block && ctx.held) {
        const h = ctx.held.columns;
        const r = await db.runAndReadAll(
          `SELECT CAST(${exprs[h.keyIndex]} AS VARCHAR), ${h.links.map((l) => `CAST(${exprs[l.index]} AS VARCHAR)`).join(', ')} FROM ${b} WHERE rowid IN (SELECT _fv_r FROM flagged)`,
        );
        for (const [key, ...links] of r.getRows()) {
          if (key === null) continue;
          h.links.forEach((l, i) => {
            const link = links[i];
            heldLinks.push({
              key: String(key),
              column: l.column,
              link: link === null || link === undefined ? null : String(link),
            });
          });
        }
      }
      // A number the store's DECIMAL cannot hold (NaN, an infinity, too many integer digits), in a
      // row to be written, stops the table as on the row path: its check (`decimalCheck`) run on
      // the first such value, its words in the error.
      for (const d of decimals) {
        const bad = await db.runAndReadAll(
          `SELECT ${q(d.column)} FROM ${b} WHERE ${deletes.keep}${flagged ? ' AND rowid NOT IN (SELECT _fv_r FROM flagged)' : ''} AND ${q(d.column)} IS NOT NULL AND TRY_CAST(${q(d.column)} AS ${d.type}) IS NULL ORDER BY rowid LIMIT 1`,
        );
        const v = bad.getRows()[0]?.[0];
        if (v === undefined || v === null) continue;
        throw valueError(table, { column: d.column, why: d.check(String(v)) ?? `outside ${d.type}` });
      }
      const last = await db.runAndReadAll(
        `SELECT ${plan.orderBy.map((c) => `CAST(${q(c)} AS VARCHAR)`).join(', ')} FROM ${b} ORDER BY rowid DESC LIMIT 1`,
      );
      const raw = last.getRows()[0];
      if (raw)
        position = decodePosition(plan, encodePosition(raw.map((v) => (v === null ? null : String(v)))));
      const checkpoint = position ? ctx.seal(position) : undefined;
      // The batch's transformed rows, materialized (transformed values only), go to the store while
      // the staging database takes the next batch; batches commit one after another, in order.
      // Rows keep the source's order without a sort: the staging database preserves insertion order.
      let append: () => Promise<number>;
      if (writer.stagedText) {
        const text = writer.stagedText;
        const ident = (name: string) => q(name);
        const rows = `(${deletes.output(b, flagged, true)})`;
        // The first row's first value the store cannot hold, before anything is rendered (the
        // query reads only the bounded columns: the others, pseudonyms included, are not computed).
        const limits = text.limits(ident);
        if (limits.length > 0) {
          const outside = `CASE ${limits.map((l, i) => `WHEN ${l.outside} THEN ${i}`).join(' ')} END`;
          const bad = await db.runAndReadAll(
            `SELECT _fv_out FROM (SELECT _fv_r, ${outside} AS _fv_out FROM ${rows}) WHERE _fv_out IS NOT NULL ORDER BY _fv_r LIMIT 1`,
          );
          const first = bad.getRows()[0]?.[0];
          if (first !== undefined && first !== null) {
            const l = limits[Number(first)] as (typeof limits)[number];
            throw valueError(table, { column: l.column, why: l.why });
          }
        }
        // A store fed text: each row rendered as its line here, read out at once (the staging
        // database's copy freed before the next batch) as one string per chunk of rows: one
        // JavaScript string per row on the way, none per cell.
        const result = await db.run(`SELECT ${text.rowSql(ident)} FROM ${rows}`);
        const pieces: Array<{ text: string; rows: number }> = [];
        for (let c = 0; c < result.chunkCount; c++) {
          const chunk = result.getChunk(c);
          const n = chunk.rowCount;
          if (n === 0) continue;
          const v = chunk.getColumnVector(0) as DuckDBVector<string | null>;
          const lines = new Array<string>(n);
          for (let r = 0; r < n; r++) lines[r] = v.getItem(r) as string; // never NULL: concat
          pieces.push({ text: lines.join(''), rows: n });
        }
        let k = 0;
        const next = async () => pieces[k++];
        append = () => text.append(next, checkpoint);
      } else {
        const result = await db.run(deletes.output(b, flagged));
        let k = 0;
        const next = async (): Promise<DuckDBDataChunk | undefined> => {
          while (k < result.chunkCount) {
            const chunk = result.getChunk(k++);
            if (chunk.rowCount > 0) return chunk;
          }
          return undefined;
        };
        append = async () => (await writer.appendChunks?.(next, checkpoint)) ?? 0;
      }
      const previous = writing;
      writing = (async () => {
        await previous;
        // Tombstones first, as on the row path: a crash after them only repeats harmless work.
        if (deletes.domain && dropped.erased.length > 0) await ctx.onErased?.(deletes.domain, dropped.erased);
        if (heldLinks.length > 0) await ctx.held?.keep(heldLinks);
        appended++;
        const written = await append();
        rowsWritten += written;
        await ctx.afterWrite?.(written);
        rowsDeleted += dropped.rows;
        rowsRead += count;
        ctx.onBatch?.(rowsRead);
      })();
      writing.catch(() => {}); // awaited in turn; a failure surfaces there
      return undefined;
    };

    // Batch N+2 streams from PostgreSQL while batch N+1 loads into one staging table and batch N
    // is scanned and transformed from the other, and the batch before is written.
    let batches = 0;
    // The results of the batches before are unreachable by now: collect them every two batches.
    // Each batch counts as its bound, not its CSV bytes: what DuckDB hands over for a batch (its
    // pseudonymized columns read out, the scans, the transformed rows) weighs several times the
    // CSV of narrow rows, and counted by CSV bytes 50,000 events (about 3 MB) collected once in ten
    // batches, with the results of the others waiting (30M events: 544 MiB peak, 476 MiB this way).
    const native = new NativeMemory(2 * STAGED_BYTES);
    for await (const batch of readAhead(
      csvBatches(stream, table, ctx.signal, {
        rows: STAGED_BATCH,
        bytes: STAGED_BYTES,
        rowWidth: stagedRowWidth(plan.read),
      }),
    )) {
      const slot = batches++ % 2;
      const b = `b${slot}`;
      native.released(STAGED_BYTES);
      await load(batch.parts, b, slot);
      // Hashed (on the pseudonym thread, where there is one) while the batch before is handled.
      hashing = batchPseudonyms(loader, b, hashed, hasher, batch.rows);
      hashing.catch(() => {}); // awaited by its handling; a failure surfaces there
      const refusal = await handling;
      if (refusal) {
        await writing;
        return { ok: false, rowsRead: rowsRead + handlingRows, rowsWritten, refusal };
      }
      handling = handle(batch.rows, b, slot, hashing);
      handling.catch(() => {}); // awaited in turn; a failure surfaces there
      handlingRows = batch.rows;
    }
    const refusal = await handling;
    await writing;
    if (refusal) return { ok: false, rowsRead: rowsRead + handlingRows, rowsWritten, refusal };
    return { ok: true, rowsRead, rowsWritten, rowsDeleted, quarantined: [...quarantine.values()], position };
  } catch (error) {
    const failure = stagingFailure(table, error);
    // The staging database's own failure (a row longer than its CSV reader holds, out of memory)
    // is answered, not thrown: the batches before it are written (a failed write is thrown
    // instead), nothing of the failed one, and the caller decides (the row path, or a refusal).
    if (failure instanceof FvError && failure.code === 'FV_STAGING_FAILED') {
      // The batch before may still be scanned: its write starts now or never (a refusal, or the
      // failure itself), and only then is what was written known.
      await handling.catch(() => undefined);
      await writing;
      return {
        ok: false,
        rowsRead,
        rowsWritten,
        written: appended > 0,
        refusal: { code: failure.code, message: failure.message },
      };
    }
    throw failure;
  } finally {
    // The store may still be reading chunks the staging database owns.
    await handling.catch(() => {});
    await writing.catch(() => {});
    await hashing.catch(() => {});
    await hasher?.close();
    loader.closeSync();
    db.closeSync();
    instance.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}
