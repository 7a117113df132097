import { aggregateName, type RollupAggregate, type RollupSpec, rollupSpec } from '../store/index.ts';
import { type AggregatedMeasure, measureColumns, visitMeasure } from './measure-visitor.ts';
import type { Grain, MetricDefinition, MetricsFile, Where } from './metric-definition.ts';
import { populations } from './population.ts';

/** A column of the base table (written without a table). */
const isBase = (ref: string) => !ref.includes('.');

/** The first-step aggregates of a measure, as compile-duckdb's per-unit step names them. */
export const aggregate = {
  count: (where?: Where, present?: readonly string[]): RollupAggregate => ({
    fn: 'count',
    ...(where ? { where } : {}),
    ...(present && present.length > 0 ? { present } : {}),
  }),
  sum: (column: string, where?: Where): RollupAggregate => ({
    fn: 'sum',
    column,
    ...(where ? { where } : {}),
  }),
  countOf: (column: string, where?: Where): RollupAggregate => ({
    fn: 'count_of',
    column,
    ...(where ? { where } : {}),
  }),
};

/**
 * Whether a metric can be answered from a rollup: a measure aggregated from rows (no
 * percentiles), every aggregated column on the base table, and a join (the rollup keeps the join
 * key; the joined rows, the unit among them, are read at query time). Other metrics read tables
 * of a few hundred thousand rows and gain nothing from one.
 */
export function rollupEligible(
  def: MetricDefinition,
): def is MetricDefinition & { measure: AggregatedMeasure } {
  return !('percentiles' in def.measure) && def.joins.length > 0 && measureColumns(def.measure).every(isBase);
}

/** Every first-step aggregate the compiler may ask of a metric (bounded or not). */
export function metricAggregates(def: MetricDefinition & { measure: AggregatedMeasure }): RollupAggregate[] {
  const m = def.measure;
  const out = [aggregate.count(), ...populations(m).map((p) => aggregate.count(p.where, p.present))];
  visitMeasure<RollupAggregate[]>(m, {
    count: (where) => [aggregate.count(where)],
    countDistinct: (column, where) => (column === def.unit ? [aggregate.count(where, [column])] : []),
    // With its count of values: a sum of none is NULL (ClickHouse's compiler says so from the count).
    sum: (column, where) => [aggregate.sum(column, where), aggregate.countOf(column, where)],
    avg: (column, where) => [aggregate.sum(column, where), aggregate.countOf(column, where)],
    ratio: (a, b) => [...a, ...b],
  }).forEach((a) => {
    out.push(a);
  });
  return out;
}

/** The base columns every query of a metric needs in its first step, whatever its groups. */
function coreColumns(def: MetricDefinition & { measure: AggregatedMeasure }): string[] {
  const cols = def.joins.map((j) => j.on[0]);
  if (isBase(def.unit)) cols.push(def.unit);
  visitMeasure<null>(def.measure, {
    count: () => null,
    countDistinct: (column, where) => {
      // A distinct count of another column is a key of the first step: it and its condition stay.
      if (column !== def.unit) cols.push(column, ...Object.keys(where ?? {}));
      return null;
    },
    sum: () => null,
    avg: () => null,
    ratio: () => null,
  });
  return cols;
}

/**
 * The rollups derived from a metrics file: for each metric that can use one (rollupEligible), one
 * at (join keys, unit if on the base table) for queries grouped and filtered by the joined table
 * only, and one with the metric's base-table dimensions too, each per day (any grain) and per
 * week (weeks, from fewer rows); rollups of the same table, time and columns are one, keeping
 * every aggregate any of their metrics needs.
 *
 * @example
 * rollupsOf(readMetricsFile('fleetvault.metrics.yaml')).map((r) => r.columns);
 * // [['device_id'], ['device_id', 'error_code', 'outcome'], …]
 */
export function rollupsOf(file: MetricsFile): RollupSpec[] {
  const groups = new Map<
    string,
    { table: string; time: string; columns: string[]; aggs: RollupAggregate[] }
  >();
  for (const def of file.metrics.values()) {
    if (!rollupEligible(def)) continue;
    const core = coreColumns(def);
    const full = [...core, ...def.dimensions.filter(isBase)];
    for (const columns of [core, full]) {
      const cols = [...new Set(columns)].sort();
      const key = JSON.stringify([def.from, def.time, cols]);
      const g = groups.get(key) ?? { table: def.from, time: def.time, columns: cols, aggs: [] };
      g.aggs.push(...metricAggregates(def));
      groups.set(key, g);
    }
  }
  return [...groups.values()].flatMap((g) =>
    (['day', 'week'] as const).map((grain) => rollupSpec(g.table, g.time, grain, g.columns, g.aggs)),
  );
}

/**
 * The base-table columns a query's first step keys its rows by, for a metric that can use a
 * rollup: the base columns it groups and filters by, the unit when on the base table, the join
 * keys, then the columns the distinct-count keys read (with their conditions). Both compilers key
 * their first step so; a rollup must hold every one of them to answer.
 */
export function firstStepColumns(
  def: MetricDefinition & { measure: AggregatedMeasure },
  by: readonly string[],
  filters: ReadonlyArray<readonly [string, readonly string[]]>,
): { names: string[]; keyColumns: string[] } {
  const used = [...by, ...filters.map(([d]) => d), def.unit].filter(isBase);
  const names = [...new Set([...used, ...def.joins.map((j) => j.on[0])])];
  const keyColumns = visitMeasure<string[]>(def.measure, {
    count: () => [],
    countDistinct: (c, w) => (c === def.unit ? [] : [c, ...Object.keys(w ?? {})]),
    sum: () => [],
    avg: () => [],
    ratio: (a, b) => [...a, ...b],
  });
  return { names, keyColumns };
}

/**
 * The smallest rollup that holds every column and aggregate a query's first step reads, for a
 * metric that can use one; undefined: read the base table. The one choice both compilers make
 * (DuckDB's and ClickHouse's), from the rollups their reader says are current.
 */
export function rollupFor(
  def: MetricDefinition,
  grain: Grain,
  columns: readonly string[],
  aggregates: readonly RollupAggregate[],
  rollups: readonly RollupSpec[],
): RollupSpec | undefined {
  if (!rollupEligible(def)) return undefined;
  const names = aggregates.map(aggregateName);
  // A rollup by week answers weeks only; for them it is preferred (fewer rows), then fewer columns.
  const rank = (r: RollupSpec) => (r.grain === 'week' ? 0 : 1) * 1000 + r.columns.length;
  return rollups
    .filter(
      (r) =>
        r.table === def.from &&
        r.time === def.time &&
        (r.grain === 'day' || grain === 'week') &&
        columns.every((c) => r.columns.includes(c)) &&
        names.every((n) => r.aggregates.some((a) => a.name === n)),
    )
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name))[0];
}
