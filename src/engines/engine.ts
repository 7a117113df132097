import type { Grain, MetricDefinition, MetricRowsOptions, MetricsEngine } from '../metrics/index.ts';
import type { ValueKind } from '../policy/index.ts';
import type { RollupSpec, Store } from '../store/index.ts';
import type { SandboxLimits } from './duckdb/read-only-sql.ts';
import type { GuardedResult } from './duckdb/sql-guard.ts';

/** One metric query as a compiler takes it: the period's bounds in epoch milliseconds (UTC). */
export interface MetricShape {
  readonly grain: Grain;
  readonly by: readonly string[];
  readonly filters: ReadonlyArray<readonly [string, readonly string[]]>;
  readonly range: { readonly from: number; readonly to: number };
}

/** What a compiler may need to know about the stored tables (ClickHouse types its SQL by them). */
export interface StoredTables {
  kind(table: string, column: string): ValueKind | undefined;
  columnsOf(table: string): readonly string[];
  /** The table holding every shard's rows (Distributed), or the one table on a single server. */
  readable(table: string): string;
  /**
   * Whether the table holds at most one version of each key and no live row behind a newer
   * tombstone (ClickHouseStore.refreshDerived), so reading it without FINAL gives the same rows.
   * Absent or false: read FINAL. DuckDB's tables always hold one version.
   */
  settled?(table: string): boolean;
  /**
   * A sharded store's table of the shard a query runs on, as SQL: that shard's own rows. With `routedBy`,
   * a join of rows that live together on one shard reads it instead of shipping a table to every
   * shard.
   */
  local?(table: string): string;
  /** The column whose value decides the shard of a table's rows, as stored; undefined if unknown. */
  routedBy?(table: string): string | undefined;
  /**
   * The shard layout (shard weights) a table's rows were placed under, as recorded when it was
   * created or rebuilt; undefined if not recorded. Two tables routed by the same value live
   * together only if they were placed under the same layout.
   */
  layout?(table: string): string | undefined;
  /**
   * Rollups that hold exactly what their base tables hold now, which a compiler may read instead,
   * whatever the range: the compiler chooses those that answer its query (rollupsAnswering).
   */
  readonly rollups?: readonly RollupSpec[];
  /**
   * Known to the reader: no base row's first-match search from a rollup needs the matching rows
   * (CompiledMetric.splitCheck counted none), so the statement leaves that search out.
   */
  readonly noSplitSearch?: boolean;
}

/** A metric compiled to one statement of the engine's dialect, with its parameters in order. */
export interface CompiledMetric {
  readonly sql: string;
  readonly params: readonly string[];
  /** Settings of the engine the statement runs with (ClickHouse), beside the reader's own. */
  readonly settings?: Readonly<Record<string, string>>;
  /**
   * ClickHouse, a first-match search from a rollup: a statement counting the base rows whose own
   * period holds matches on both sides of their time. When it counts none, the reader compiles
   * again with `noSplitSearch`: ClickHouse reads every matching row for that search even when
   * no row needs it (DuckDB skips a join with nothing to join).
   */
  readonly splitCheck?: string;
}

/**
 * A storage engine: everything fleetvault does that depends on where the rows live. One object per
 * engine (src/engines/<engine>/index.ts); `engineFor(location)` picks it. Its physical layout
 * (bookkeeping tables, tombstone flags, extra columns) stays private to its folder.
 */
export interface Engine {
  readonly name: 'duckdb' | 'clickhouse';
  /** Opens the store for a sync, an ingest or maintenance: the writer. */
  openStore(location: string): Promise<Store>;
  /** Opens the store read-only for metrics, status and analyst SQL. */
  openReader(location: string): Promise<MetricsEngine>;
  /** Compiles a metric to the engine's dialect (columns as MetricRow describes them). */
  compile(
    def: MetricDefinition,
    shape: MetricShape,
    tables: StoredTables,
    opts?: MetricRowsOptions,
  ): CompiledMetric;
  /**
   * One analyst SELECT, checked by the engine's guard, capped and time-limited: the same path for
   * `fleetvault sql` and the server's /api/sql.
   */
  sql(location: string, text: string, limits: SandboxLimits): Promise<GuardedResult>;
  /** The files on this machine that hold the store (none for a store on a server). */
  files(location: string): readonly string[];
  /**
   * Refuses what `serve` must not do with this store (FV_USAGE, FV_STORE_PRIVILEGE): on a server
   * store, serve reads as a read-only user and never syncs on a schedule.
   */
  checkServing(location: string, scheduledSync: boolean): Promise<void>;
}
