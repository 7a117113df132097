import { FvError } from '../errors/index.ts';
import type { ContributionBounds } from './contribution-bounds.ts';
import { clampOf } from './contribution-bounds.ts';
import type { MetricDefinition } from './metric-definition.ts';

/** Buckets of a percentile's domain under differential privacy. */
export const PERCENTILE_BUCKETS = 64;

/** Times between two events: 0, then 1 s to 10⁷ s (about 116 days) in 63 equal ratios (×1.29). */
const SECONDS_TOP = 7;

/**
 * The bucket edges (B + 1, increasing) of a percentile metric's values under differential
 * privacy: a bounded domain, fixed before any data is read, so the buckets say nothing about it.
 * A time to a first match (seconds) is bucketed on a log scale from 1 s to 10⁷ s, below 1 s in
 * the first bucket; a column's values linearly between its clamp bounds from the policy (refused
 * without them). Values beyond either end count in the end bucket.
 *
 * @example
 * percentileEdges(def, bounds); // [0, 1, 1.29, 1.67, …, 10000000]
 */
export function percentileEdges(def: MetricDefinition, bounds: ContributionBounds): number[] {
  const m = def.measure;
  if (!('percentiles' in m)) throw new RangeError(`metric ${def.name} is not a percentile`);
  if (typeof m.of !== 'string')
    return [
      0,
      ...Array.from(
        { length: PERCENTILE_BUCKETS },
        (_, k) => 10 ** ((SECONDS_TOP * k) / (PERCENTILE_BUCKETS - 1)),
      ),
    ];
  const c = clampOf(def, m.of, bounds);
  if (!c || !(c[1] > c[0]))
    throw new FvError(
      'FV_PRIVACY_UNSUPPORTED',
      `metric ${def.name} is a percentile of ${m.of}, which has no clamp bounds in the policy's privacy section`,
    );
  const [lo, hi] = c;
  return Array.from({ length: PERCENTILE_BUCKETS + 1 }, (_, k) => lo + ((hi - lo) * k) / PERCENTILE_BUCKETS);
}

/**
 * The bucket of `value` (SQL) as a chain of comparisons against the inner edges, written by each
 * engine's `cases` (DuckDB CASE, ClickHouse multiIf): exact comparisons of the same literals, so
 * both engines bucket alike.
 */
export function bucketComparisons(value: string, edges: readonly number[]): Array<readonly [string, number]> {
  return edges.slice(1, -1).map((e, i) => [`${value} < ${String(e)}`, i] as const);
}
