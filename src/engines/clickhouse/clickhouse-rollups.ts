import type { ValueKind } from '../../policy/index.ts';
import type { RollupAggregate, RollupSpec, RollupWhere } from '../../store/rollup-spec.ts';
import { isTime, chString as lit, microsColumn, chIdent as q } from './clickhouse-values.ts';

/**
 * ClickHouse's rollups (rollup-spec.ts): per shard a MergeTree (Replicated with replicas) of the
 * rollup's rows computed from that shard's own base rows, so a device's rollup rows sit on the
 * shard of its base rows (the base table's sharding), partitioned by the Monday of `_fv_day`; a
 * Distributed table reads them all. The bookkeeping:
 *
 * - `rollup:<name>` in the store's settings (_fv_meta): the rollup's spec as JSON once it is built
 *   (empty once dropped). Only a built rollup is ever read.
 * - ROLLUP_DIRTY: one entry per write that may change a base table's days, recorded BEFORE the
 *   rows are written (a run killed after its rows leaves the entry) and again after them (a
 *   refresh that read the first entry while the rows were on their way cannot leave the rollup
 *   current without them). A rollup of a table with a pending entry is not read: the base table
 *   answers. refreshDerived recomputes the days (whole weeks) of the entries it read, then marks
 *   exactly those entries done (a newer version of the same id: insert-only, no mutation).
 */
export const ROLLUP_DIRTY = '_fv_rollup_dirty';
export const rollupMeta = (name: string) => `rollup:${name}`;

/**
 * Days of a base table a write touched: of the rows written or removed, by time column (day
 * numbers since 1970-01-01, inclusive); `time` '' with no bounds: any day of any time column.
 */
export interface DirtyDays {
  readonly time: string;
  readonly lo: number | null;
  readonly hi: number | null;
}

/** The UTC day of a stored time or date column as days since 1970-01-01 (UInt16; NULL stays NULL). */
export const dayNumber = (column: string) => `toUInt16(toDate(${q(column)}))`;

const condition = (w: RollupWhere | undefined): string[] =>
  w
    ? Object.entries(w).map(([c, v]) =>
        Array.isArray(v)
          ? `${q(c)} IN (${v.map(value).join(', ')})`
          : `${q(c)} = ${value(v as string | number | boolean)}`,
      )
    : [];
const value = (v: string | number | boolean) =>
  typeof v === 'string' ? lit(v) : typeof v === 'boolean' ? (v ? '1' : '0') : String(Number(v));

/**
 * A stored time or date column as microseconds since 1970 (Int64): times keep their microseconds
 * in a `__us` column, dates are midnight UTC. How compile-clickhouse compares times exactly.
 */
export const microsOf = (column: string, time: boolean) =>
  time
    ? `(toInt64(toUInt32(${q(column)})) * 1000000 + ${q(microsColumn(column))})`
    : `(toInt64(toUInt16(${q(column)})) * 86400000000)`;

/**
 * An aggregate over base rows, as compile-clickhouse's first step computes it. `min` and `max`
 * are of a time or date column (`isTimeColumn` tells which), as microseconds (microsOf); 0 where
 * no row matches (ClickHouse's empty minIf), so a reader checks the count of matching rows first.
 */
export function rollupAggregateSql(a: RollupAggregate, isTimeColumn: (c: string) => boolean): string {
  const cond = [...condition(a.where), ...(a.present ?? []).map((c) => `isNotNull(${q(c)})`)];
  if (a.fn === 'count') return cond.length ? `countIf(${cond.join(' AND ')})` : 'count()';
  if (a.fn === 'min' || a.fn === 'max') {
    const column = a.column as string;
    const us = microsOf(column, isTimeColumn(column));
    return `${a.fn}If(${us}, ${[...cond, `isNotNull(${q(column)})`].join(' AND ')})`;
  }
  const c = q(a.column as string);
  if (a.fn === 'sum') return cond.length ? `sumIf(${c}, ${cond.join(' AND ')})` : `sum(${c})`;
  return cond.length ? `countIf(${[...cond, `isNotNull(${c})`].join(' AND ')})` : `count(${c})`;
}

/**
 * The SELECT of a rollup's rows from base table `from` (a shard's own table), its live rows only
 * (FINAL unless `settled`): for the days `days` (inclusive; whole weeks for a rollup by week),
 * all days, or none (`'none'`: the shape only, to create the table from).
 */
export function rollupSelectClickHouse(
  r: RollupSpec,
  from: string,
  settled: boolean,
  days: readonly [number, number] | 'none' | undefined,
  isTimeColumn: (c: string) => boolean,
): string {
  // Dates and times alike: toDate of a DateTime('UTC') is its UTC day.
  const date = `toDate(${q(r.time)})`;
  const day = `assumeNotNull(${r.grain === 'week' ? `toMonday(${date})` : date})`;
  const where = ['_fv_deleted = 0', `isNotNull(${q(r.time)})`];
  if (days === 'none') where.push('0');
  else if (days) where.push(`${dayNumber(r.time)} >= ${days[0]}`, `${dayNumber(r.time)} <= ${days[1]}`);
  return [
    `SELECT ${[`${day} AS _fv_day`, ...r.columns.map(q), ...r.aggregates.map((a) => `${rollupAggregateSql(a, isTimeColumn)} AS ${q(a.name)}`)].join(', ')}`,
    `FROM ${q(from)}${settled ? '' : ' FINAL'}`,
    `WHERE ${where.join(' AND ')}`,
    `GROUP BY ${['_fv_day', ...r.columns.map(q)].join(', ')}`,
  ].join('\n');
}

/** Days of `us` (epoch microseconds) or a date's day number, as whole days since 1970-01-01. */
export function dayOfValue(v: unknown, kind: ValueKind): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (isTime(kind)) {
    const us = typeof v === 'bigint' ? v : BigInt(v as number);
    const d = 86_400_000_000n;
    return Number((us - (((us % d) + d) % d)) / d);
  }
  if (kind === 'date') return Number(v);
  return undefined;
}

/** The Monday (day number) of the week holding day `d` (day 0, 1970-01-01, was a Thursday). */
export const mondayOf = (d: number) => d - ((((d + 3) % 7) + 7) % 7);
