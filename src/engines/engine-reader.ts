import type { GuardedResult, SandboxLimits } from '../store/index.ts';
import type { MetricRowsOptions } from './compile-sql.ts';
import type { Grain, MetricDefinition } from './metric-definition.ts';

/**
 * A row of a metric: period, each dimension, each output, the distinct units of each population
 * (population.ts), is_total (1 or 0); without the outputs for the differencing checks
 * (compile-sql.ts says how).
 */
export type MetricRow = ReadonlyArray<string | number | null>;

/**
 * What a MetricsReader needs from a store engine, read-only: the rows of a compiled metric and a
 * few facts about the store. DuckDB and ClickHouse each compile in their own dialect.
 */
export interface MetricsEngine {
  metricRows(
    def: MetricDefinition,
    grain: Grain,
    by: readonly string[],
    filters: ReadonlyArray<readonly [string, readonly string[]]>,
    range: { readonly from: number; readonly to: number },
    opts?: MetricRowsOptions,
  ): Promise<MetricRow[]>;
  /** The day (YYYY-MM-DD, UTC) of the latest row of a metric's base table, if any. */
  latestDay(def: MetricDefinition): Promise<string | undefined>;
  meta(): Promise<Map<string, string>>;
  /** The analytics tables (what the sync wrote) with their row counts. */
  tables(): Promise<Array<{ name: string; rows: number }>>;
  /** One analyst SELECT over the analytics tables, checked, capped and time-limited. */
  sql(text: string, limits: SandboxLimits): Promise<GuardedResult>;
  close(): void;
}
