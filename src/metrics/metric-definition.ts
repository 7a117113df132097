/** A condition on the base table: column equals a value, or is one of a list. */
export type Where = Readonly<Record<string, string | number | boolean | ReadonlyArray<string | number>>>;

/** A simple aggregate over the base rows. */
export type Aggregate =
  | { readonly count: 'rows'; readonly where?: Where }
  | { readonly count_distinct: string; readonly where?: Where }
  | { readonly sum: string; readonly where?: Where }
  | { readonly avg: string; readonly where?: Where };

/** Seconds from the metric's time column to the first matching row of another table. */
export interface FirstAfter {
  readonly table: string;
  /** [column of the base table, column of `table`] that link them. */
  readonly on: readonly [string, string];
  readonly time: string;
  readonly where?: Where;
}

export type Measure =
  | Aggregate
  | { readonly ratio: readonly [Aggregate, Aggregate] }
  | { readonly percentiles: readonly number[]; readonly of: string | { readonly first_after: FirstAfter } };

export interface Join {
  readonly table: string;
  /** [column of the base table, column of the joined table]. */
  readonly on: readonly [string, string];
}

/** One metric of the semantic layer, compiled to SQL for whichever store holds the data. */
export interface MetricDefinition {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly from: string;
  readonly joins: readonly Join[];
  readonly time: string;
  readonly measure: Measure;
  readonly dimensions: readonly string[];
  /** Values in an answer, e.g. `value`, or `p50`, `p90` for percentiles. */
  readonly outputs: readonly string[];
  /** How to show a value: a count, a share (0..1) or seconds. */
  readonly format: 'count' | 'ratio' | 'seconds' | 'number';
  /** Where the unit and each dimension stand in the metrics file (line:col), for problems. */
  readonly at?: { readonly unit: string; readonly dimensions: readonly string[] };
}

export interface MetricsFile {
  readonly file: string;
  readonly privacyUnit: string;
  /** Where privacy_unit stands in the file (line:col). */
  readonly privacyUnitAt?: string;
  readonly metrics: ReadonlyMap<string, MetricDefinition>;
}

export const GRAINS = ['day', 'week', 'month'] as const;
export type Grain = (typeof GRAINS)[number];
