import { aggregateName, type RollupAggregate, type RollupSpec, rollupSpec } from '../store/index.ts';
import { type AggregatedMeasure, measureColumns, visitMeasure } from './measure-visitor.ts';
import type { FirstAfter, Grain, MetricDefinition, MetricsFile, Where } from './metric-definition.ts';
import { populations } from './population.ts';

/** A column of the base table (written without a table). */
const isBase = (ref: string) => !ref.includes('.');

/** An aggregate of `column` over the rows matching `where`. */
const ofColumn =
  (fn: 'sum' | 'count_of' | 'min' | 'max') =>
  (column: string, where?: Where): RollupAggregate => ({ fn, column, ...(where ? { where } : {}) });

/** The first-step aggregates of a measure, as compile-duckdb's per-unit step names them. */
export const aggregate = {
  count: (where?: Where, present?: readonly string[]): RollupAggregate => ({
    fn: 'count',
    ...(where ? { where } : {}),
    ...(present && present.length > 0 ? { present } : {}),
  }),
  sum: ofColumn('sum'),
  countOf: ofColumn('count_of'),
  min: ofColumn('min'),
  max: ofColumn('max'),
};

/**
 * What a rollup keeps of a first-match search (`first_after`) per (period, link key): how many
 * rows match, and the earliest and latest matching time. A base row's first match at or after its
 * own time `a` is then the earliest of the periods whose earliest match is at or after `a`, unless
 * one period holds matches on both sides of `a` (only the period of `a` can): for those rows only,
 * the matching rows of that table are searched.
 */
export function firstAfterAggregates(f: FirstAfter): {
  readonly count: RollupAggregate;
  readonly min: RollupAggregate;
  readonly max: RollupAggregate;
} {
  return {
    count: aggregate.count(f.where),
    min: aggregate.min(f.time, f.where),
    max: aggregate.max(f.time, f.where),
  };
}

/** A metric's first-match search, when its measure has one. */
export function firstAfterOf(def: MetricDefinition): FirstAfter | undefined {
  const m = def.measure;
  return 'percentiles' in m && typeof m.of !== 'string' ? m.of.first_after : undefined;
}

/**
 * The rollup a metric's first-match search can read instead of its table: of that table and
 * time, keyed by the link column alone, with firstAfterAggregates; by week before by day (fewer
 * rows). Any range: the search reads every period from the one holding the row's own time, and
 * never cuts a period.
 */
export function firstAfterRollup(
  def: MetricDefinition,
  rollups: readonly RollupSpec[],
): RollupSpec | undefined {
  const f = firstAfterOf(def);
  if (!f) return undefined;
  const names = Object.values(firstAfterAggregates(f)).map(aggregateName);
  return rollups
    .filter(
      (r) =>
        r.table === f.table &&
        r.time === f.time &&
        r.columns.length === 1 &&
        r.columns[0] === f.on[1] &&
        names.every((n) => r.aggregates.some((a) => a.name === n)),
    )
    .sort((a, b) => (a.grain === b.grain ? a.name.localeCompare(b.name) : a.grain === 'week' ? -1 : 1))[0];
}

const DAY_MS = 86_400_000;

/**
 * Of the current rollups, those that can answer a query's periods over `range` (epoch ms): whole
 * UTC days, and whole weeks (Monday to Monday) for one by week. What rollupFor chooses from.
 */
export function rollupsAnswering(
  rollups: readonly RollupSpec[],
  range: { readonly from: number; readonly to: number },
): RollupSpec[] {
  if (range.from % DAY_MS !== 0 || range.to % DAY_MS !== 0) return [];
  const mondays = new Date(range.from).getUTCDay() === 1 && new Date(range.to).getUTCDay() === 1;
  return rollups.filter((r) => r.grain === 'day' || mondays);
}

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
 * only, and one with the metric's base-table dimensions too; for each first-match search, one of
 * its table at its link column (firstAfterAggregates); each per day (any grain) and per week
 * (weeks, from fewer rows). Rollups of the same table, time and columns are one, keeping every
 * aggregate any of their metrics needs.
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
  const add = (table: string, time: string, columns: readonly string[], aggs: readonly RollupAggregate[]) => {
    const cols = [...new Set(columns)].sort();
    const key = JSON.stringify([table, time, cols]);
    const g = groups.get(key) ?? { table, time, columns: cols, aggs: [] };
    g.aggs.push(...aggs);
    groups.set(key, g);
  };
  for (const def of file.metrics.values()) {
    const f = firstAfterOf(def);
    if (f) add(f.table, f.time, [f.on[1]], Object.values(firstAfterAggregates(f)));
    if (!rollupEligible(def)) continue;
    const core = coreColumns(def);
    const full = [...core, ...def.dimensions.filter(isBase)];
    for (const columns of [core, full]) add(def.from, def.time, columns, metricAggregates(def));
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
