import type { Aggregate, Measure, Where } from './metric-definition.ts';

/**
 * The rows one side of a value is computed from: those matching `where` whose `present` columns
 * are not NULL (an aggregate of a column skips its NULLs). k counts the distinct privacy units of
 * exactly these rows, so a `{ count: rows, where: { outcome: fail } }` is gated on the people who
 * failed, not on everyone in its group.
 */
export interface Population {
  /** `value`, or `numerator` and `denominator` for a ratio. */
  readonly side: string;
  readonly where?: Where;
  readonly present: readonly string[];
}

function ofAggregate(side: string, a: Aggregate): Population {
  const where = a.where ? { where: a.where } : {};
  if ('count' in a) return { side, ...where, present: [] };
  const col = 'count_distinct' in a ? a.count_distinct : 'sum' in a ? a.sum : a.avg;
  return { side, ...where, present: [col] };
}

/**
 * The populations behind a measure's value, one per side: a ratio has two (numerator, then
 * denominator) and both must hold at least k units; every other measure has one.
 *
 * @example
 * populations({ ratio: [{ count: 'rows', where: { outcome: 'fail' } }, { count: 'rows' }] });
 * // [{ side: 'numerator', where: { outcome: 'fail' }, present: [] }, { side: 'denominator', present: [] }]
 */
export function populations(m: Measure): Population[] {
  if ('ratio' in m) return [ofAggregate('numerator', m.ratio[0]), ofAggregate('denominator', m.ratio[1])];
  // A percentile of a first match counts only rows that have one: the join already drops the rest.
  if ('percentiles' in m) return [{ side: 'value', present: typeof m.of === 'string' ? [m.of] : [] }];
  return [ofAggregate('value', m)];
}

/** True when a population is every row of the metric (no condition to render). */
export function isWhole(p: Population): boolean {
  return p.where === undefined && p.present.length === 0;
}
