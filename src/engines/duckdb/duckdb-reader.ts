import { existsSync } from 'node:fs';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { FvError } from '../../errors/index.ts';
import type {
  Grain,
  MetricDefinition,
  MetricRow,
  MetricRowsOptions,
  MetricsEngine,
} from '../../metrics/index.ts';
import type { RollupSpec } from '../../store/index.ts';
import type { Engine, StoredTables } from '../engine.ts';
import { columnRef } from './compile-duckdb.ts';
import { ROLLUP_DIRTY, ROLLUPS } from './duckdb-store.ts';
import { openReadOnlyFile } from './read-only-file.ts';
import { readOnlySql, type SandboxLimits } from './read-only-sql.ts';
import type { GuardedResult } from './sql-guard.ts';

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** DuckDB's compiler reads the store's own tables by name: it types nothing by them. */
export const AS_NAMED: StoredTables = {
  kind: () => undefined,
  columnsOf: () => [],
  readable: (table) => table,
};

/** Metrics from a DuckDB store file opened read-only, with settings locked. */
export class DuckDbMetricsEngine implements MetricsEngine {
  private constructor(
    private readonly path: string,
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    private readonly compile: Engine['compile'],
  ) {}

  /** Opens the store at `path` read-only; metrics are compiled by `compile` (the engine's). */
  static async open(path: string, compile: Engine['compile']): Promise<DuckDbMetricsEngine> {
    if (!existsSync(path)) throw new FvError('FV_STORE_MISSING', `store ${path} does not exist`);
    const instance = await openReadOnlyFile(path, `store ${path}`);
    const db = await instance.connect();
    // Periods are cut in UTC; then no statement may change a setting.
    await db.run("SET TimeZone = 'UTC'");
    await db.run('SET lock_configuration = true');
    return new DuckDbMetricsEngine(path, instance, db, compile);
  }

  async metricRows(
    def: MetricDefinition,
    grain: Grain,
    by: readonly string[],
    filters: ReadonlyArray<readonly [string, readonly string[]]>,
    range: { readonly from: number; readonly to: number },
    opts: MetricRowsOptions = {},
  ): Promise<MetricRow[]> {
    const tables = { ...AS_NAMED, rollups: await this.currentRollups() };
    const c = this.compile(def, { grain, by, filters, range }, tables, opts);
    return (await this.db.runAndReadAll(c.sql, [...c.params])).getRowsJson() as MetricRow[];
  }

  /**
   * The rollups that hold exactly what their base tables hold (no day written since their last
   * refresh); the compiler chooses those that can answer a query (rollupsAnswering).
   */
  private async currentRollups(): Promise<RollupSpec[]> {
    const r = await this.db
      .runAndReadAll(
        `SELECT spec FROM ${ROLLUPS} r WHERE NOT EXISTS (SELECT 1 FROM ${ROLLUP_DIRTY} d WHERE d.name = r.name) AND EXISTS (SELECT 1 FROM duckdb_tables() t WHERE t.schema_name = 'main' AND t.table_name = r.name)`,
      )
      .catch(() => undefined); // a store written before rollups existed has neither table
    return (r?.getRows() ?? []).map((x) => JSON.parse(String(x[0])) as RollupSpec);
  }

  async latestDay(def: MetricDefinition): Promise<string | undefined> {
    const sql = `SELECT strftime(max(${columnRef(def.time)}), '%Y-%m-%d') FROM ${q(def.from)} b`;
    const day = (await this.db.runAndReadAll(sql)).getRows()[0]?.[0];
    return typeof day === 'string' ? day : undefined;
  }

  async meta(): Promise<Map<string, string>> {
    const r = await this.db.runAndReadAll('SELECT key, value FROM _fv_meta').catch(() => undefined);
    return new Map((r?.getRows() ?? []).map((x) => [String(x[0]), String(x[1])]));
  }

  private async names(): Promise<string[]> {
    return (await this.db.runAndReadAll('SELECT name FROM _fv_tables ORDER BY name'))
      .getRows()
      .map((r) => String(r[0]));
  }

  async tables(): Promise<Array<{ name: string; rows: number }>> {
    const out: Array<{ name: string; rows: number }> = [];
    for (const name of await this.names()) {
      const n = await this.db.runAndReadAll(`SELECT count(*) FROM ${q(name)}`).catch(() => undefined);
      out.push({ name, rows: Number(n?.getRows()[0]?.[0] ?? 0) });
    }
    return out;
  }

  /** Analyst SQL never touches this connection: it runs in a sandboxed child process (read-only-sql.ts). */
  async sql(text: string, limits: SandboxLimits): Promise<GuardedResult> {
    return readOnlySql(this.path, text, limits, { spare: true });
  }

  close(): void {
    this.db.closeSync();
    this.instance.closeSync();
  }
}
