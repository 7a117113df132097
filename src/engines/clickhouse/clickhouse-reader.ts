import type { DuckDBConnection } from '@duckdb/node-api';
import { DuckDBInstance } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import {
  type Grain,
  type MetricDefinition,
  type MetricRow,
  type MetricRowsOptions,
  type MetricsEngine,
  nextPeriod,
  periodStart,
} from '../../metrics/index.ts';
import type { ValueKind } from '../../policy/index.ts';
import type { RollupSpec, StoreColumn } from '../../store/index.ts';
import type { SandboxLimits } from '../duckdb/read-only-sql.ts';
import type { GuardedResult } from '../duckdb/sql-guard.ts';
import type { Engine, StoredTables } from '../engine.ts';
import { type ClickHouseNode, clickHouseEntry } from './clickhouse-node.ts';
import { limitHit, limitMessage, metricReadSettings, readonlyLevel } from './clickhouse-read-settings.ts';
import { ROLLUP_DIRTY, rollupMeta } from './clickhouse-rollups.ts';
import { clickHouseGuardedSql } from './clickhouse-sql.ts';
import {
  allTable,
  layoutMeta,
  localTable,
  readableTable,
  routedColumn,
  unsettledMeta,
} from './clickhouse-store.ts';
import { parseClickHouseUrl } from './clickhouse-url.ts';
import { chString } from './clickhouse-values.ts';

const q = (name: string) => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

/** The most periods a range stopped by the memory limit is asked again in, one at a time. */
export const SPLIT_PERIODS_MAX = 62;

/** `range` (whole periods, as the metrics reader widens it) cut into its periods, in order. */
export function periodRanges(
  range: { readonly from: number; readonly to: number },
  grain: Grain,
): Array<{ from: number; to: number }> {
  const out: Array<{ from: number; to: number }> = [];
  for (let t = range.from; t < range.to && out.length <= SPLIT_PERIODS_MAX; ) {
    const next = Math.min(nextPeriod(periodStart(t, grain), grain), range.to);
    out.push({ from: t, to: next });
    t = next;
  }
  return out;
}

/** What a query reads of the store's own records before it runs (ClickHouseMetricsEngine.bookkeeping). */
interface Bookkeeping {
  readonly marks: ReadonlyMap<string, string>;
  /** On a cluster: the store's database, and each Distributed table's routing column by name. */
  readonly routes: { readonly database: string; readonly columns: ReadonlyMap<string, string> } | undefined;
  /** Base tables with a write their rollups have not taken; undefined when the store has no record of it. */
  readonly pending: ReadonlySet<string> | undefined;
}

/** Whether the store marks `table` settled (unsettledMeta): one version of each row, read without FINAL. */
const isSettled = (marks: ReadonlyMap<string, string>, table: string) =>
  marks.get(unsettledMeta(table)) === '0';

/** Notes Distributed table `name`'s routing column (routedColumn) from its `engine_full`, if it has one. */
function routeOf(columns: Map<string, string>, name: unknown, engine: unknown): void {
  const column = routedColumn(String(engine));
  if (column !== undefined) columns.set(String(name), column);
}

/**
 * The rollups that hold exactly what their base tables hold: built (listed in the settings), of
 * a table with no write pending since the last refresh (ROLLUP_DIRTY) and settled (read without
 * FINAL, as the rollup was computed). None when the store keeps no record of pending writes (one
 * written before rollups existed): the compiled SQL on the base tables answers.
 */
function currentRollups(
  marks: ReadonlyMap<string, string>,
  settled: (table: string) => boolean,
  pending: ReadonlySet<string> | undefined,
): RollupSpec[] {
  if (!pending) return [];
  return [...marks.entries()]
    .filter(([k, v]) => k.startsWith(rollupMeta('')) && v !== '')
    .map(([, v]) => JSON.parse(v) as RollupSpec)
    .filter((r) => settled(r.table) && !pending.has(r.table));
}

/** Metrics from a ClickHouse store (one server or a cluster), read-only. */
export class ClickHouseMetricsEngine implements MetricsEngine {
  private schema: Map<string, StoreColumn[]> | undefined;
  /** Every read runs read-only with the per-query memory and row limits (metricReadSettings). */
  private readonly settings = metricReadSettings();
  /** Query shapes the memory limit stopped over a whole range and that answered period by period. */
  private readonly tooBigWhole = new Set<string>();

  private constructor(
    private readonly node: ClickHouseNode,
    private readonly sharded: boolean,
    private readonly parserInstance: DuckDBInstance,
    private readonly parser: DuckDBConnection,
    private readonly compile: Engine['compile'],
  ) {}

  /** Opens the store at `url` read-only; metrics are compiled by `compile` (the engine's). */
  static async open(url: string, compile: Engine['compile']): Promise<ClickHouseMetricsEngine> {
    const where = parseClickHouseUrl(url);
    const node = clickHouseEntry(where);
    try {
      await node.ping();
      // A readonly = 1 user is refused: no per-query limit could be set for it.
      readonlyLevel(await node.readonlySetting(), where.user);
    } catch (error) {
      await node.close();
      throw error;
    }
    // Analyst SQL is checked on DuckDB's parse tree before ClickHouse sees it; nothing is stored here.
    const parserInstance = await DuckDBInstance.create(':memory:', { enable_external_access: 'false' });
    const parser = await parserInstance.connect();
    return new ClickHouseMetricsEngine(node, where.cluster !== undefined, parserInstance, parser, compile);
  }

  private async tableColumns(): Promise<Map<string, StoreColumn[]>> {
    if (!this.schema) {
      const rows = await this.node.rows(
        'SELECT name, columns FROM _fv_tables FINAL',
        'read bookkeeping',
        this.settings,
      );
      this.schema = new Map(rows.map((r) => [String(r[0]), JSON.parse(String(r[1])) as StoreColumn[]]));
    }
    return this.schema;
  }

  /**
   * The rows of one metric query, compiled for this store as it is now (see below). A query
   * stopped by the per-query memory limit is asked again one period at a time, when the range
   * holds 2 to SPLIT_PERIODS_MAX periods and no contribution bounds apply (differential privacy
   * bounds a unit's rows over the whole range): each period's rows, units and totals are its own,
   * so the answer is the same, and no query may use more memory than the limit allows. A period
   * that still needs more is refused as the whole range was. The reader remembers a query shape
   * (metric, grain, dimensions, filters) that needed this and asks it period by period at once
   * from then on (a dashboard asks the same shapes again and again).
   */
  async metricRows(
    def: MetricDefinition,
    grain: Grain,
    by: readonly string[],
    filters: ReadonlyArray<readonly [string, readonly string[]]>,
    range: { readonly from: number; readonly to: number },
    opts: MetricRowsOptions = {},
  ): Promise<MetricRow[]> {
    const tables = await this.tableColumns();
    // Read for every query: a write may unsettle a table or leave its rollups behind at any time,
    // and `sync --full` may route a table anew.
    const { marks, routes, pending } = await this.bookkeeping();
    const settled = (t: string) => isSettled(marks, t);
    const rollups = currentRollups(marks, settled, pending);
    const compute = async (r: { readonly from: number; readonly to: number }) => {
      const schema: StoredTables = {
        kind: (t, c): ValueKind | undefined => tables.get(t)?.find((x) => x.name === c)?.kind,
        columnsOf: (t) => (tables.get(t) ?? []).map((c) => c.name),
        readable: (t) => readableTable(t, this.sharded),
        ...(routes
          ? {
              // Named with its database: a shard resolves a bare name in its own default database.
              local: (t: string) => `${q(routes.database)}.${q(localTable(t))}`,
              routedBy: (t: string) => routes.columns.get(allTable(t)),
              layout: (t: string) => marks.get(layoutMeta(t)),
            }
          : {}),
        settled,
        rollups,
      };
      const shape = { grain, by, filters, range: r };
      let c = this.compile(def, shape, schema, opts);
      if (c.splitCheck !== undefined) {
        // Counted first: without rows to search, the statement does not read the matching table.
        const [n] = await this.node.rows(c.splitCheck, `compute ${def.name}`, {
          ...this.settings,
          ...c.settings,
        });
        if (Number(n?.[0]) === 0) c = this.compile(def, shape, { ...schema, noSplitSearch: true }, opts);
      }
      return this.node.rows(c.sql, `compute ${def.name}`, { ...this.settings, ...c.settings });
    };
    const refusal = (error: unknown) => {
      const hit = limitHit(error);
      return hit
        ? new FvError(
            'FV_METRIC_QUERY',
            `${def.name}: ${limitMessage(hit)}; narrow the range, grain, dimensions or filters`,
          )
        : error;
    };
    const periods = opts.bounds ? [] : periodRanges(range, grain);
    const splittable = periods.length >= 2 && periods.length <= SPLIT_PERIODS_MAX;
    /** The query's shape: one the limit stopped whole is asked period by period from then on. */
    const shape = JSON.stringify([def.name, grain, by, filters, opts]);
    const byPeriod = async () => {
      const out: Awaited<ReturnType<typeof compute>> = [];
      // In the range's order: the rows stay ordered by period first, as one query orders them.
      for (const p of periods)
        out.push(...(await compute(p).catch((e: unknown) => Promise.reject(refusal(e)))));
      return out;
    };
    let rows: Awaited<ReturnType<typeof compute>>;
    if (splittable && this.tooBigWhole.has(shape)) rows = await byPeriod();
    else
      try {
        rows = await compute(range);
      } catch (error) {
        if (!splittable || limitHit(error) !== 'memory') throw refusal(error);
        rows = await byPeriod();
        if (this.tooBigWhole.size >= 500) this.tooBigWhole.clear();
        this.tooBigWhole.add(shape);
      }
    const numeric = 1 + by.length;
    // Everything after the period and the dimensions is a number (flags, values, units, is_total).
    return rows.map((r) => r.map((v, i) => (i >= numeric && v !== null ? Number(v) : v)));
  }

  /**
   * What a query must know of the store as it is now, in one round trip: its settings
   * (`_fv_meta`), on a cluster its database and each Distributed table's routing column
   * (routedColumn), and the base tables with a write their rollups have not taken yet
   * (ROLLUP_DIRTY). A store never written, or written before rollups existed, lacks a table the
   * one query reads: then each part is read alone, as far as it exists.
   */
  private async bookkeeping(): Promise<Bookkeeping> {
    const rows = await this.node
      .rows(
        [
          "SELECT 'm', key, value FROM _fv_meta FINAL",
          "SELECT 'd', currentDatabase(), ''",
          "SELECT 'r', name, engine_full FROM system.tables WHERE database = currentDatabase() AND engine = 'Distributed'",
          `SELECT DISTINCT 'p', tbl, '' FROM ${ROLLUP_DIRTY} FINAL WHERE done = 0`,
        ].join(' UNION ALL '),
        'read bookkeeping',
        this.settings,
      )
      .catch((error: unknown) => {
        if (error instanceof FvError && /\(code (60|81)\)$/.test(error.message)) return undefined;
        throw error;
      });
    if (!rows) return this.bookkeepingApart();
    const marks = new Map<string, string>();
    const columns = new Map<string, string>();
    const pending = new Set<string>();
    let database = '';
    for (const [kind, a, b] of rows) {
      if (kind === 'm') marks.set(String(a), String(b));
      else if (kind === 'd') database = String(a);
      else if (kind === 'p') pending.add(String(a));
      else routeOf(columns, a, b);
    }
    return { marks, routes: this.sharded ? { database, columns } : undefined, pending };
  }

  /** bookkeeping() part by part, for a store that lacks some of its tables. */
  private async bookkeepingApart(): Promise<Bookkeeping> {
    const marks = await this.meta();
    let routes: Bookkeeping['routes'];
    if (this.sharded) {
      const rows = await this.node.rows(
        `SELECT currentDatabase(), name, engine_full FROM system.tables WHERE database = currentDatabase() AND engine = 'Distributed'`,
        'read the catalog',
        this.settings,
      );
      const columns = new Map<string, string>();
      for (const [, name, engine] of rows) routeOf(columns, name, engine);
      routes = { database: String(rows[0]?.[0] ?? ''), columns };
    }
    const pending = await this.node
      .rows(
        `SELECT DISTINCT tbl FROM ${ROLLUP_DIRTY} FINAL WHERE done = 0`,
        'read bookkeeping',
        this.settings,
      )
      .then((r) => new Set(r.map((x) => String(x[0]))))
      .catch(() => undefined); // a store written before rollups existed: none read
    return { marks, routes, pending };
  }

  async latestDay(def: MetricDefinition): Promise<string | undefined> {
    // A settled table holds one version of each row: no FINAL, which would merge every row of it.
    const { marks } = await this.bookkeeping();
    const final = isSettled(marks, def.from) ? '' : ' FINAL';
    const r = await this.node.rows(
      `SELECT toString(toDate(max(${q(def.time)}))) FROM ${q(readableTable(def.from, this.sharded))}${final} WHERE _fv_deleted = 0`,
      `read ${def.from}`,
      this.settings,
    );
    const day = r[0]?.[0];
    return day && day !== '0000-00-00' && day !== '1970-01-01' ? day : undefined;
  }

  async meta(): Promise<Map<string, string>> {
    // A store never written has no bookkeeping yet: nothing recorded, not an error.
    const made = await this.node.rows(
      "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = '_fv_meta'",
      'read bookkeeping',
      this.settings,
    );
    if (Number(made[0]?.[0] ?? 0) === 0) return new Map();
    const r = await this.node.rows(
      'SELECT key, value FROM _fv_meta FINAL',
      'read bookkeeping',
      this.settings,
    );
    return new Map(r.map((x) => [String(x[0]), String(x[1])]));
  }

  /**
   * Live rows per table, in one request: a settled table's counted without FINAL (one version of
   * each row), any other's through its view (FINAL). The dashboard asks for them on every page.
   * When one count fails (a table a sync is creating), each is counted alone, 0 for one missing.
   */
  async tables(): Promise<Array<{ name: string; rows: number }>> {
    const names = [...(await this.tableColumns()).keys()].sort();
    if (names.length === 0) return [];
    const { marks } = await this.bookkeeping();
    const count = (name: string) =>
      isSettled(marks, name)
        ? `SELECT ${chString(name)}, count() FROM ${q(readableTable(name, this.sharded))} WHERE _fv_deleted = 0`
        : `SELECT ${chString(name)}, count() FROM ${q(name)}`;
    const counted = await this.node
      .rows(names.map(count).join(' UNION ALL '), 'count rows', this.settings)
      .catch(() => undefined);
    if (counted) {
      const rows = new Map(counted.map((r) => [String(r[0]), Number(r[1])]));
      return names.map((name) => ({ name, rows: rows.get(name) ?? 0 }));
    }
    const out: Array<{ name: string; rows: number }> = [];
    for (const name of names) {
      const n = await this.node
        .rows(`SELECT count() FROM ${q(name)}`, `count ${name}`, this.settings)
        .catch(() => [['0']]);
      out.push({ name, rows: Number(n[0]?.[0] ?? 0) });
    }
    return out;
  }

  async sql(text: string, limits: SandboxLimits): Promise<GuardedResult> {
    const tables = await this.tableColumns();
    const decimals = new Set(
      [...tables.values()].flatMap((cs) =>
        cs.filter((c) => c.kind === 'decimal').map((c) => c.name.toLowerCase()),
      ),
    );
    return clickHouseGuardedSql(this.parser, this.node, text, new Set(tables.keys()), decimals, limits);
  }

  close(): void {
    this.parser.closeSync();
    this.parserInstance.closeSync();
    void this.node.close();
  }
}
