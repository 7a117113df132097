import type { Aggregate, Measure, Where } from './metric-definition.ts';

/** A measure whose value is aggregated from its rows: every kind but percentiles. */
export type AggregatedMeasure = Exclude<Measure, { readonly percentiles: readonly number[] }>;

/**
 * What an engine's compiler says for each measure kind, in its own dialect. The walk
 * (visitMeasure) is the same for every engine: it decides which hook a measure reaches and in what
 * order (a ratio's numerator before its denominator), so the engines cannot disagree on the kinds.
 */
export interface MeasureDialect<V> {
  /** `{ count: rows }`: the rows matching `where`. */
  count(where: Where | undefined): V;
  /** `{ count_distinct: column }`: the distinct non-NULL values of `column` on the rows matching `where`. */
  countDistinct(column: string, where: Where | undefined): V;
  /** `{ sum: column }`: NULL when no value was summed. */
  sum(column: string, where: Where | undefined): V;
  /** `{ avg: column }`: NULL when no value was averaged. */
  avg(column: string, where: Where | undefined): V;
  /** `{ ratio: [numerator, denominator] }`: NULL when the denominator is 0. */
  ratio(numerator: V, denominator: V): V;
}

function visitAggregate<V>(a: Aggregate, d: MeasureDialect<V>): V {
  if ('count' in a) return d.count(a.where);
  if ('count_distinct' in a) return d.countDistinct(a.count_distinct, a.where);
  if ('sum' in a) return d.sum(a.sum, a.where);
  return d.avg(a.avg, a.where);
}

/**
 * The value of an aggregated measure, built by a dialect's hooks.
 *
 * @example
 * visitMeasure({ ratio: [{ count: 'rows', where: { outcome: 'fail' } }, { count: 'rows' }] }, sqlHooks);
 * // sqlHooks.count({ outcome: 'fail' }), then sqlHooks.count(undefined), then sqlHooks.ratio(…)
 */
export function visitMeasure<V>(m: AggregatedMeasure, d: MeasureDialect<V>): V {
  if ('ratio' in m) {
    const numerator = visitAggregate(m.ratio[0], d);
    return d.ratio(numerator, visitAggregate(m.ratio[1], d));
  }
  return visitAggregate(m, d);
}

/** Every column a measure's aggregates and conditions read (`.` for a percentile measure: all of them). */
export function measureColumns(m: Measure): string[] {
  if ('percentiles' in m) return ['.'];
  const of = (column: string | undefined, where: Where | undefined) => [
    ...Object.keys(where ?? {}),
    ...(column === undefined ? [] : [column]),
  ];
  return visitMeasure<string[]>(m, {
    count: (where) => of(undefined, where),
    countDistinct: of,
    sum: of,
    avg: of,
    ratio: (numerator, denominator) => [...numerator, ...denominator],
  });
}
