import type { Value, ValueKind } from '../policy/index.ts';
import type { RollupSpec } from './rollup-spec.ts';
import type { ValueLimits } from './value-limits.ts';

/** A column of a store table: its kind in the store and the source type it came from. */
export interface StoreColumn {
  readonly name: string;
  readonly kind: ValueKind;
  readonly sourceType: string;
}

export interface StoreTableSpec {
  readonly name: string;
  readonly columns: readonly StoreColumn[];
  /** Columns that identify a row (the transformed primary key). */
  readonly key: readonly string[];
  /**
   * The pseudonym column that decides a row's shard on a sharded store, so that an owner's rows
   * live together; the key decides when absent.
   */
  readonly shardBy?: string;
}

/** How a run writes a table. */
export type WriteMode =
  /** The table held no rows when the run began: append, nothing can be replaced. */
  | 'append'
  /** Replace rows with the same key; delete the keys marked deleted. */
  | 'upsert'
  /** Build a new copy beside the old one; `finish` swaps it in atomically. */
  | 'rebuild';

/** What the store remembers about a table between runs. */
export interface TableState {
  readonly columns: readonly StoreColumn[];
  /** Sealed (encrypted, authenticated) checkpoint; opaque to the store. */
  readonly checkpoint?: string;
  readonly rows: number;
}

/** Writes one table during one run. Each `writeBatch` commits rows and checkpoint together. */
export interface TableWriter {
  /** `checkpoint` undefined leaves the table's checkpoint as it is (a stream writes beside the sync). */
  writeBatch(
    rows: readonly Value[][],
    deletedKeys: readonly Value[][],
    checkpoint: string | undefined,
  ): Promise<void>;
  /** Ends the run: for a rebuild, swaps the new copy in with its final checkpoint. */
  finish(checkpoint: string | undefined): Promise<void>;
  /**
   * DuckDB, for appends (rebuild, first copy): adds the chunks `next` hands out until it
   * answers undefined (each already in the table's column types, transformed values only), and the
   * checkpoint, in one transaction. The staged sync path (src/sync/staged-copy.ts) uses it.
   */
  appendChunks?(
    next: () => Promise<import('@duckdb/node-api').DuckDBDataChunk | undefined>,
    checkpoint: string | undefined,
  ): Promise<number>;
  /**
   * For appends on a store fed text (ClickHouse): how the staged sync path hands it the rows.
   * A writer has this or `appendChunks`, or neither (then the row path writes the table).
   */
  readonly stagedText?: StagedText | undefined;
}

/**
 * A text-fed store's side of the staged sync path: the staging database renders each transformed
 * row as one line of the store's insert format (`rowSql`), checks the values against the store's
 * limits (`limits`), and `append` sends a batch's lines with its checkpoint.
 */
export interface StagedText {
  /**
   * One row's line, newline included, as a DuckDB SQL expression over the transformed row's
   * columns, each named by `ident(column)`. Asked once per batch: it may carry the batch's version.
   */
  rowSql(ident: (name: string) => string): string;
  /**
   * Functions `rowSql` may call, each taking a DOUBLE and answering its text (VARCHAR), run by the
   * staging database value by value: a number's text as the store's row path writes it.
   */
  readonly functions: ReadonlyArray<{ readonly name: string; readonly text: (v: number) => string }>;
  /**
   * Per bounded column: a DuckDB SQL condition over the same columns, true when the row's value
   * is one the store cannot hold, and the words of the refusal (FV_STORE_VALUE, never the value).
   */
  limits(ident: (name: string) => string): ReadonlyArray<{ column: string; outside: string; why: string }>;
  /**
   * Sends the pieces `next` hands out (each the lines of whole rows, in order) until it answers
   * undefined, then moves the checkpoint past them; answers how many rows it wrote.
   */
  append(
    next: () => Promise<{ text: string; rows: number } | undefined>,
    checkpoint: string | undefined,
  ): Promise<number>;
}

/**
 * A held-back row's link: its own key, one pseudonymized column and that column's pseudonym, or
 * null when the held-back row has none there (a device moved to no owner): that too is newer than
 * the stored row, whose older owner must no longer reach it.
 */
export interface HeldLink {
  readonly key: string;
  readonly column: string;
  readonly link: string | null;
}

/**
 * The analytics store seam: DuckDB embedded by default; other engines implement the same few
 * methods. Values arrive already transformed; the store never sees a raw source value.
 */
export interface Store {
  readonly location: string;
  /** What the engine's columns hold; every writer checks each batch against it before writing. */
  readonly limits: ValueLimits;
  /** Binds the store to a key; a store built under another key is refused. */
  bindKey(fingerprint: string): Promise<void>;
  /** Records a setting readers need, such as the policy's k. */
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Records a setting before anything written after it, inside `atomically` too: DuckDB writes it
   * in the transaction as `setMeta` does; ClickHouse, which holds the settings of `atomically`
   * back until its writes are done, writes this one at once (an erasure's record, kept before its
   * first delete).
   */
  setMetaNow(key: string, value: string): Promise<void>;
  meta(key: string): Promise<string | undefined>;
  /** Every setting whose key starts with `prefix`, by key (one per erasure, for example). */
  metaEntries(prefix: string): Promise<Map<string, string>>;
  /**
   * Runs `fn` as one store transaction: every batch written, row erased, tombstone and setting
   * inside commits together or not at all (a change-capture position with the rows it covers).
   */
  atomically<T>(fn: () => Promise<T>): Promise<T>;
  tableState(name: string): Promise<TableState | undefined>;
  /**
   * Opens a writer. A rebuild of a table holding rows `insertNew` added is refused
   * (FV_INGESTED_ROWS: a rebuild from the source would lose them) unless
   * `allowDiscardingIngested` was called; the rebuild then resets the table's count.
   */
  openWriter(spec: StoreTableSpec, mode: WriteMode): Promise<TableWriter>;
  /**
   * Adds the rows whose key the table does not hold (creating the table if needed) and resolves to
   * how many it added; never replaces or deletes a stored row. This is how device messages land:
   * a publisher cannot overwrite a row copied from production (or an earlier message) by reusing
   * its key, while a row a sync copies later for the same key replaces the message's. Keys are
   * unique within a call. The rows added are counted per table (`ingestedRowsMeta`), since no
   * source can rebuild them.
   */
  insertNew(spec: StoreTableSpec, rows: readonly Value[][]): Promise<number>;
  /** Lets this store's rebuilds drop the rows `insertNew` added (an explicit choice). */
  allowDiscardingIngested(): void;
  /** Deletes the rows of `table` whose `column` is before `cutoff`; resolves to how many. */
  expire(table: string, column: string, cutoff: Date): Promise<number>;
  /**
   * The values (text) of `returning` in the live rows whose `column` holds one of `pseudonyms`
   * (UUID text), without duplicates: what an erasure follows (a user's devices), found by reading.
   */
  linked(table: string, column: string, pseudonyms: readonly string[], returning: string): Promise<string[]>;
  /**
   * Deletes the rows whose `column` holds one of `pseudonyms` (UUID text), every stored version,
   * and resolves to how many live rows went. Held links go too: every link of a key whose
   * `column` link matches, or whose key does (`column` being the key column).
   */
  erase(table: string, column: string, pseudonyms: readonly string[]): Promise<number>;
  /**
   * Sets `column` to NULL in the rows whose `column` holds one of `pseudonyms` (UUID text), every
   * stored version, and resolves to how many live rows changed: an erased person's pseudonym in
   * a column of the table's own key domain (the user who referred another), whose row stays.
   */
  clear(table: string, column: string, pseudonyms: readonly string[]): Promise<number>;
  /**
   * Keeps the links (UUID text) of rows of `table` the store does not hold (held back by
   * `on_detect: quarantine`, or in a refused batch), keyed by the row's own pseudonymized key
   * (`keyColumn`): what an erasure follows to such a row's dependents (a held-back device's
   * events). Each (key, column) keeps its latest link. Pseudonyms only, never values.
   */
  holdLinks(table: string, keyColumn: string, links: readonly HeldLink[]): Promise<void>;
  /** The keys (UUID text) of `table`'s held links whose `column` holds one of `pseudonyms`. */
  heldLinks(table: string, column: string, pseudonyms: readonly string[]): Promise<string[]>;
  /**
   * Which of `keys` (UUID text) hold a link in `column` of `table`: their stored row, if any, is
   * older than that link (an update held back), so the link is followed instead of the row.
   */
  heldAmong(table: string, column: string, keys: readonly string[]): Promise<Set<string>>;
  /** Whether `table` has held links at all (a writer releases them only then). */
  holdsLinks(table: string): Promise<boolean>;
  /**
   * Drops the held links of keys written again (the row is the newer truth now): of `keys` (UUID
   * text), or without `keys` of every key the table holds (after a first copy or a rebuild).
   */
  releaseHeld(table: string, keys?: readonly string[]): Promise<void>;
  /**
   * The values of `column` (a pseudonymized key) held in `table` but absent from `live`, read
   * batch by batch (the source's keys, as they stream; a store without the table need not read
   * them): rows whose source row no longer exists. Resolves to UUID text.
   */
  missingKeys(table: string, column: string, live: AsyncIterable<readonly bigint[]>): Promise<string[]>;
  /** Pseudonyms erased on purpose, by domain: a later sync must not copy them back. */
  tombstones(): Promise<Map<string, Set<string>>>;
  /**
   * The pseudonyms of `domain` among `candidates` that are erased (UUID text): what one batch
   * needs to know, in memory bounded by the batch instead of by every erasure ever made.
   */
  tombstonesAmong(domain: string, candidates: readonly bigint[]): Promise<Set<string>>;
  /**
   * How many pseudonyms each domain holds erased, and when the latest of them was erased (epoch
   * milliseconds, the store's clock): a run holds a small domain's tombstones in memory and looks a
   * large one's up batch by batch, and reads which were added while it ran.
   */
  tombstoneCounts(): Promise<Map<string, { count: number; latest: number }>>;
  /** The erased pseudonyms of `domain` (UUID text); with `since`, those erased at or after it (epoch ms). */
  tombstonesIn(domain: string, since?: number): Promise<Set<string>>;
  addTombstones(domain: string, pseudonyms: readonly string[]): Promise<void>;
  /**
   * Brings what the store derives from its tables up to date after a run's writes (the one call
   * after them: runSync, forget). DuckDB: the rollups (`rollups`, when given, replace the ones
   * kept); their days written since are recomputed. ClickHouse: each table a write left with
   * superseded versions is merged, so readers skip FINAL again; rollups are DuckDB's only for now.
   * Until it runs, readers answer from the base tables (FINAL), never from stale derived rows.
   */
  refreshDerived(rollups?: readonly RollupSpec[]): Promise<void>;
  /**
   * Gives back what the engine kept in this process from the work before (its caches, the pages
   * its allocator retained), between the steps of a run and between a long copy's batches; called
   * with no store call under way and no transaction open (one open makes it a no-op). An open
   * writer goes on after it. DuckDB closes and reopens its database: a copy of millions of rows
   * otherwise holds on to what its batches left, and a sync carries each table's leftovers into
   * the next. A server store keeps nothing here.
   */
  releaseMemory(): Promise<void>;
  close(): Promise<void>;
}
