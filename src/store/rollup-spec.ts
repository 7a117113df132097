import { createHash } from 'node:crypto';

/** A condition on a base table's columns (the metrics file's `where`). */
export type RollupWhere = Readonly<
  Record<string, string | number | boolean | ReadonlyArray<string | number>>
>;

/**
 * One aggregate a rollup keeps per (day, columns): the rows matching `where` whose `present`
 * columns are not NULL (`count`), or the sum, the non-NULL count, the least or the greatest value
 * of `column` over the rows matching `where` (`min` and `max` of a time column: a first match's
 * search, rollups.ts firstAfterRollup).
 */
export interface RollupAggregate {
  readonly fn: 'count' | 'sum' | 'count_of' | 'min' | 'max';
  readonly column?: string;
  readonly where?: RollupWhere;
  readonly present?: readonly string[];
}

/**
 * A rollup of a base table: its rows reduced to one per (UTC day, or Monday of the UTC week, of
 * `time`; `columns`), with `aggregates`. Only the base table's own columns: a joined table's columns (a device's product
 * or firmware, which change) are joined at query time, so the rollup never holds a stale copy.
 */
export interface RollupSpec {
  /** The store table holding it (`_fv_rollup_…`): named by its content, so a change is a new rollup. */
  readonly name: string;
  readonly table: string;
  readonly time: string;
  /** Rows per day (answers any grain) or per week (answers weeks, with fewer rows). */
  readonly grain: 'day' | 'week';
  /** Group columns of the base table, sorted. */
  readonly columns: readonly string[];
  readonly aggregates: ReadonlyArray<RollupAggregate & { readonly name: string }>;
}

const canonical = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(canonical)
    : v && typeof v === 'object'
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v;

const digest = (v: unknown, n: number) =>
  createHash('sha256')
    .update(JSON.stringify(canonical(v)))
    .digest('hex')
    .slice(0, n);

/** The column of a rollup holding an aggregate: named by what it is, the same in every rollup. */
export function aggregateName(a: RollupAggregate): string {
  const { fn, column, where, present } = a;
  return `_fv_a_${fn}_${digest({ column, where, present: present && present.length > 0 ? present : undefined }, 12)}`;
}

/**
 * A rollup of `table` at (day of `time`, `columns`) with `aggregates`, named by its content.
 *
 * @example
 * rollupSpec('connection_events', 'ts', 'day', ['device_id'], [{ fn: 'count' }]).name; // '_fv_rollup_…'
 */
export function rollupSpec(
  table: string,
  time: string,
  grain: 'day' | 'week',
  columns: readonly string[],
  aggregates: readonly RollupAggregate[],
): RollupSpec {
  const cols = [...new Set(columns)].sort();
  const byName = new Map(aggregates.map((a) => [aggregateName(a), a]));
  const aggs = [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, a]) => ({ ...a, name }));
  const name = `_fv_rollup_${digest({ table, time, grain, cols, aggs: aggs.map((a) => a.name) }, 16)}`;
  return { name, table, time, grain, columns: cols, aggregates: aggs };
}
