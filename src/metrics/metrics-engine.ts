import type { GuardedResult, SandboxLimits } from '../store/index.ts';
import type { ContributionBounds } from './contribution-bounds.ts';
import type { Grain, MetricDefinition } from './metric-definition.ts';

/**
 * A row of a metric: period, each dimension, each output, the distinct units of each population
 * (population.ts), is_total (1 or 0); without the outputs for the differencing checks
 * (each engine's compiler says how).
 */
export type MetricRow = ReadonlyArray<string | number | null>;

export interface MetricRowsOptions {
  /** Leave the values out: the differencing checks need the units only. */
  readonly unitsOnly?: boolean;
  /**
   * Apply no filter; instead, after the dimensions, one column per filter (f0…) saying whether
   * the row's value is one the filter lists (false for NULL), grouped on like a dimension.
   */
  readonly pieces?: boolean;
  /**
   * Differential privacy: bound each unit's contribution in the per-unit step
   * (contribution-bounds.ts) and give the value's parts, `num` and (for a ratio or an average)
   * `den`, in place of `value`, to be noised apart.
   */
  readonly bounds?: ContributionBounds;
}

/**
 * What a MetricsReader needs from a store engine, read-only: the rows of a compiled metric and a
 * few facts about the store. Each engine (src/engines/) compiles in its own dialect.
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
