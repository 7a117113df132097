import {
  aggregate,
  boundDuckDb,
  bucketComparisons,
  firstAfterAggregates,
  firstAfterRollup,
  firstStepColumns,
  type Grain,
  type MetricDefinition,
  type MetricRowsOptions,
  type PartKind,
  type PerUnitShape,
  percentileEdges,
  rollupFor,
  type Where,
} from '../../metrics/index.ts';
import { type MeasureDialect, measureColumns, visitMeasure } from '../../metrics/measure-visitor.ts';
import { PerUnitParts } from '../../metrics/per-unit-parts.ts';
import { isWhole, type Population, populations } from '../../metrics/population.ts';
import { aggregateName, type RollupAggregate, type RollupSpec } from '../../store/index.ts';

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const lit = (v: string | number | boolean) =>
  typeof v === 'string'
    ? `'${v.replaceAll("'", "''")}'`
    : typeof v === 'boolean'
      ? String(v)
      : String(Number(v));

/** A column reference as written in the metrics file: `col` (base table) or `table.col`. */
export function columnRef(ref: string): string {
  const [a, b] = ref.split('.');
  return b === undefined ? `b.${q(a as string)}` : `${q(a as string)}.${q(b)}`;
}

function condition(w: Where | undefined): string {
  if (!w) return 'TRUE';
  return Object.entries(w)
    .map(([col, v]) =>
      Array.isArray(v)
        ? `${columnRef(col)} IN (${v.map(lit).join(', ')})`
        : `${columnRef(col)} = ${lit(v as string)}`,
    )
    .join(' AND ');
}

/** The rows behind one side of a value (see population.ts), as a condition on the joined rows. */
function populationCondition(p: Population): string {
  const parts = p.where ? [condition(p.where)] : [];
  for (const c of p.present) parts.push(`${columnRef(c)} IS NOT NULL`);
  return parts.join(' AND ') || 'TRUE';
}

/**
 * The rows a metric is computed over: the base table as `b`, its joins, and for a `first_after`
 * measure the per-row first matching time as `fa.t` (rows without one drop out). With `range`
 * (SQL for the period's bounds), the first-match search reads only base rows inside it and
 * matches no earlier than its start: the same answer for those rows, without the whole history.
 * With `rollup` (rollups.ts firstAfterRollup), the search reads the rollup's periods instead of the
 * matching rows, and those rows only for base rows whose own period holds matches on both sides
 * of their time.
 */
export function fromParts(
  def: MetricDefinition,
  range?: { readonly from: string; readonly to: string },
  rollup?: RollupSpec,
): { ctes: string[]; joins: string[] } {
  const ctes: string[] = [];
  const joins = def.joins.map(
    (j) => `JOIN ${q(j.table)} ${q(j.table)} ON b.${q(j.on[0])} = ${q(j.table)}.${q(j.on[1])}`,
  );
  const m = def.measure;
  if ('percentiles' in m && typeof m.of !== 'string') {
    const f = m.of.first_after;
    const w = f.where
      ? Object.entries(f.where).map(([c, v]) =>
          Array.isArray(v) ? `x.${q(c)} IN (${v.map(lit).join(', ')})` : `x.${q(c)} = ${lit(v as string)}`,
        )
      : [];
    const inRange = range ? [`y.${q(def.time)} >= ${range.from}`, `y.${q(def.time)} < ${range.to}`] : [];
    if (range) w.push(`x.${q(f.time)} >= ${range.from}`);
    if (rollup) {
      // Per base row in range, its time `a` and the rollup's periods with a match at or after it.
      // A period whose earliest match is at or after `a` holds no earlier one; a period with
      // matches on both sides of `a` (only the period of `a` can) sends its row to the search of
      // the matching rows. The periods before the range's start hold no match at or after `a`.
      const agg = firstAfterAggregates(f);
      const [n, lo, hi] = [agg.count, agg.min, agg.max].map((a) => `r.${q(aggregateName(a))}`);
      const periods = [
        `r.${q(f.on[1])} = y.k`,
        `${n} > 0`,
        `${hi} >= y.a`,
        ...(range ? [`r._fv_day >= ${periodOfDay(dayOf(range.from), rollup.grain)}`] : []),
      ];
      // One row per link key: the earliest time among its base rows in range (the first match at
      // or after any of them is the first at or after that one).
      ctes.push(
        `fy AS (SELECT y.${q(f.on[0])} AS k, min(y.${q(def.time)}) AS a FROM ${q(def.from)} y${inRange.length ? ` WHERE ${inRange.join(' AND ')}` : ''} GROUP BY 1)`,
        `fr AS (SELECT y.k, y.a, min(${lo}) AS t, bool_or(${lo} < y.a) AS split FROM ${q(rollup.name)} r JOIN fy y ON ${periods.join(' AND ')} GROUP BY y.k, y.a)`,
        `fa AS (SELECT k, t FROM fr WHERE NOT split UNION ALL SELECT x.${q(f.on[1])} AS k, min(x.${q(f.time)}) AS t FROM ${q(f.table)} x JOIN fr y ON y.split AND y.k = x.${q(f.on[1])} WHERE ${[...w, `x.${q(f.time)} >= y.a`].join(' AND ')} GROUP BY 1)`,
      );
    } else
      ctes.push(
        `fa AS (SELECT x.${q(f.on[1])} AS k, min(x.${q(f.time)}) AS t FROM ${q(f.table)} x JOIN ${q(def.from)} y ON y.${q(f.on[0])} = x.${q(f.on[1])} WHERE ${[...w, ...inRange, `x.${q(f.time)} >= y.${q(def.time)}`].join(' AND ')} GROUP BY 1)`,
      );
    joins.push(`JOIN fa ON fa.k = b.${q(f.on[0])}`);
  }
  return { ctes, joins };
}

export interface CompiledMetric {
  readonly sql: string;
  readonly params: readonly string[];
}

const DAY_US = 86_400_000_000;

/** A column of the base table (written without a table). */
const isBase = (ref: string) => !ref.includes('.');

/**
 * The first day of the period holding `time`, as whole days since 1970-01-01 (UTC): integer
 * arithmetic on epoch microseconds, where `date_trunc` on a TIMESTAMPTZ goes through the calendar
 * library (~10× slower). Floor division, so times before 1970 fall on the right day too; weeks
 * start on Monday (1970-01-01 was a Thursday, day 0). Months are calendar work: the caller cuts
 * days first and months from those (monthOfDay), over far fewer rows.
 */
function dayExpr(time: string, grain: Grain): string {
  const us = `epoch_us(${time})`;
  const day = `((${us} - ((${us} % ${DAY_US}) + ${DAY_US}) % ${DAY_US}) // ${DAY_US})`;
  return grain === 'week' ? `(${day} - ((${day} + 3) % 7 + 7) % 7)` : day;
}

/** The UTC day holding `time` (SQL), as whole days since 1970-01-01: how rollups key their rows. */
export const dayOf = (time: string) => dayExpr(time, 'day');

/** A day number's period: itself, or the Monday of its week (day 0, 1970-01-01, was a Thursday). */
const periodOfDay = (d: string, grain: Grain) => (grain === 'week' ? `(${d} - ((${d} + 3) % 7 + 7) % 7)` : d);

/** The first-step SQL of an aggregate over base rows (`b`). */
function baseAggregate(a: RollupAggregate): string {
  const cond = [
    ...(a.where ? [condition(a.where)] : []),
    ...(a.present ?? []).map((c) => `${columnRef(c)} IS NOT NULL`),
  ].join(' AND ');
  const agg =
    a.fn === 'count'
      ? 'count(*)'
      : `${a.fn === 'count_of' ? 'count' : a.fn}(${columnRef(a.column as string)})`;
  return cond ? `${agg} FILTER (WHERE ${cond})` : agg;
}

/**
 * The SELECT that builds a rollup's rows (rollup-spec.ts) from its base table, for the days
 * `days` (SQL condition on the day, `d`; whole weeks for a rollup by week) or all of them. `_fv_day`
 * is the row's day, or its week's Monday. Aggregates as the compiler's first step
 * computes them (baseAggregate), so the compiler reading the rollup gets the same partials.
 */
export function rollupSelect(r: RollupSpec, days?: (d: string) => string): string {
  const day = dayOf(`b.${q(r.time)}`);
  return [
    `SELECT ${[`${periodOfDay(day, r.grain)} AS _fv_day`, ...r.columns.map((c) => `b.${q(c)}`), ...r.aggregates.map((a) => `${baseAggregate(a)} AS ${q(a.name)}`)].join(', ')}`,
    `FROM ${q(r.table)} b`,
    `WHERE b.${q(r.time)} IS NOT NULL${days ? ` AND ${days(day)}` : ''}`,
    'GROUP BY ALL',
  ].join('\n');
}

/** The first day of the month holding day `d` (days since 1970-01-01), as days since 1970-01-01. */
const monthOfDay = (d: string) =>
  `(date_trunc('month', DATE '1970-01-01' + CAST(${d} AS INTEGER))::DATE - DATE '1970-01-01')`;
const asDate = (d: string) => `(DATE '1970-01-01' + CAST(${d} AS INTEGER))`;

/**
 * Compiles a metric to one SQL statement grouped by calendar period and the requested dimensions,
 * plus one total row per period. Columns: `period`, the dimensions as d0…, the outputs, then the
 * distinct privacy units behind each side of the value (see population.ts), then `is_total` (1 on
 * period totals). Only rows that contribute to the value are read, so a group none of whose rows
 * contributes does not appear. Parameters: $1 and $2 bound the period (UTC), then one per filter
 * value.
 *
 * Rows are first reduced to one per (period, dimensions, privacy unit), with partial aggregates
 * and, per side, how many of the unit's rows are behind it; a group then counts its units as rows
 * and only a period's total counts distinct units (the same units: each is one row per group).
 * Percentiles need every value and are computed in one step.
 *
 * The differencing checks (differencing.ts) use the options. `rollups`: current rollups that can
 * answer the range's periods (rollupsAnswering); `searchRollups`: current rollups a first-match
 * search may read, whatever the range (firstAfterRollup).
 */
export function compileMetric(
  def: MetricDefinition,
  grain: Grain,
  by: readonly string[],
  filters: ReadonlyArray<readonly [string, readonly string[]]>,
  opts: MetricRowsOptions = {},
  rollups: readonly RollupSpec[] = [],
  searchRollups: readonly RollupSpec[] = rollups,
): CompiledMetric {
  const time = columnRef(def.time);
  const m = def.measure;
  const { ctes, joins } = fromParts(
    def,
    { from: '$1::TIMESTAMPTZ', to: '$2::TIMESTAMPTZ' },
    firstAfterRollup(def, searchRollups),
  );
  const pops = populations(m);
  const unit = columnRef(def.unit);
  const params: string[] = [];
  const where = [`${time} >= $1::TIMESTAMPTZ`, `${time} < $2::TIMESTAMPTZ`];
  // Rows that contribute to no side of the value are not read at all.
  if (!pops.some(isWhole)) where.push(`(${pops.map((p) => `(${populationCondition(p)})`).join(' OR ')})`);
  /** Filters on a joined table's columns (also in `where`): they wait for the join (below). */
  const joinedWhere: string[] = [];
  let n = 3;
  const flags: string[] = [];
  // A bounded percentile is a noised histogram (differential privacy), which has no pieces (the
  // k-anonymous differencing check): its filters are conditions.
  const pieces = opts.pieces && !('percentiles' in m && opts.bounds);
  for (const [i, [dim, values]] of filters.entries()) {
    const listed = `${columnRef(dim)}::VARCHAR IN (${values.map(() => `$${n++}`).join(', ')})`;
    if (pieces) flags.push(`coalesce(${listed}, FALSE)::INTEGER AS f${i}`);
    else (isBase(dim) ? where : joinedWhere).push(listed);
    params.push(...values);
  }
  const dims = by.map((d, i) => `${columnRef(d)}::VARCHAR AS d${i}`);
  const dimKeys = by.map((_, i) => `d${i}`);
  const flagKeys = flags.map((_, i) => `f${i}`);
  const from = `FROM ${q(def.from)} b ${joins.join(' ')}`;
  const valuesWanted = !(opts.unitsOnly || opts.pieces);

  if ('percentiles' in m && opts.bounds) {
    // Differential privacy: a histogram over the bounded domain's buckets, from each unit's
    // bounded rows (at most maxRows values per group, maxGroups groups per period): rows period,
    // dimensions, bucket, values in it, is_total; a bucket of NULL carries a group's distinct units.
    const of = typeof m.of === 'string' ? columnRef(m.of) : `(epoch_us(fa.t) - epoch_us(${time})) / 1000000`;
    const edges = percentileEdges(def, opts.bounds);
    const bucket = `CASE ${bucketComparisons(of, edges)
      .map(([c, i]) => `WHEN ${c} THEN ${i}`)
      .join(' ')} ELSE ${edges.length - 2} END`;
    // One row per value: the row's own key (a first match is per base row) or the value itself.
    const key = typeof m.of === 'string' ? of : `b.${q(m.of.first_after.on[0])}`;
    const day = dayExpr(time, grain === 'month' ? 'day' : grain);
    const perUnit = [
      ctes.length ? `WITH ${ctes.join(', ')}` : '',
      `SELECT ${[`${grain === 'month' ? monthOfDay(day) : day} AS period`, ...dims, `${unit} AS u`, `${key} AS x0`, `${bucket} AS bk`, 'count(*) AS p0'].join(', ')}`,
      from,
      `WHERE ${[...where, ...joinedWhere].join(' AND ')}`,
      'GROUP BY ALL',
    ]
      .filter(Boolean)
      .join('\n');
    const shape: PerUnitShape = {
      rows: 'p0',
      period: 'period',
      dims: dimKeys,
      unit: 'u',
      keys: ['x0'],
      carried: ['bk'],
      parts: [{ name: 'p0', kind: { kind: 'count' } }],
    };
    const r = boundDuckDb(perUnit, shape, opts.bounds);
    const nulls = by.map((_, i) => `NULL::VARCHAR AS d${i}`);
    const selects = [
      `SELECT ${[`${asDate('period')} AS period`, ...nulls, 'bk', 'count(*) AS n', '1 AS is_total'].join(', ')} FROM r GROUP BY period, bk`,
    ];
    if (by.length > 0)
      selects.push(
        `SELECT ${[`${asDate('period')} AS period`, ...dimKeys, 'bk', 'count(*) AS n', '0 AS is_total'].join(', ')} FROM r GROUP BY period, ${dimKeys.join(', ')}, bk`,
        `SELECT ${[`${asDate('period')} AS period`, ...dimKeys, 'NULL::INTEGER AS bk', 'count(DISTINCT u) AS n', '0 AS is_total'].join(', ')} FROM r GROUP BY period, ${dimKeys.join(', ')}`,
      );
    const sql = [
      `WITH r AS (${r})`,
      selects.join('\nUNION ALL\n'),
      `ORDER BY ${['period', ...dimKeys, 'is_total', 'bk'].join(', ')}`,
    ].join('\n');
    return { sql, params };
  }

  if ('percentiles' in m) {
    let outputs: string[] = [];
    if (valuesWanted) {
      // Whole microseconds subtracted, then scaled: exact, where epoch() doubles lose the last digits.
      const of =
        typeof m.of === 'string' ? columnRef(m.of) : `(epoch_us(fa.t) - epoch_us(${time})) / 1000000`;
      outputs = m.percentiles.map((p) => `quantile_cont(${of}, ${p}) AS ${q(`p${Math.round(p * 100)}`)}`);
    }
    const units = pops.map(
      (p, i) =>
        `count(DISTINCT ${unit})${isWhole(p) ? '' : ` FILTER (WHERE ${populationCondition(p)})`} AS units${i}`,
    );
    const day = dayExpr(time, grain === 'month' ? 'day' : grain);
    const period = asDate(grain === 'month' ? monthOfDay(day) : day);
    const groupKeys = [...dimKeys, ...flagKeys];
    const totalKeys = ['period', ...flagKeys].join(', ');
    const sql = [
      ctes.length ? `WITH ${ctes.join(', ')}` : '',
      `SELECT ${[`${period} AS period`, ...dims, ...flags, ...outputs, ...units, `${dims.length ? 'grouping(d0)' : '1'} AS is_total`].join(', ')}`,
      from,
      `WHERE ${[...where, ...joinedWhere].join(' AND ')}`,
      // The period totals come from the same scan: one grouping set per period beside the groups.
      dims.length
        ? `GROUP BY GROUPING SETS ((period, ${groupKeys.join(', ')}), (${totalKeys})) ORDER BY ALL`
        : `GROUP BY ${totalKeys} ORDER BY ALL`,
    ]
      .filter(Boolean)
      .join('\n');
    return { sql, params };
  }

  // The first step's columns: partial aggregates (p0…), then per side how many rows are behind it.
  const collected = new PerUnitParts(def, opts.bounds, (i) => `p${i}`);
  const { parts, keys } = collected;
  /** The aggregate behind each part, in the parts' order: what a rollup must hold to answer it. */
  const aggs: RollupAggregate[] = [];
  const part = (a: RollupAggregate, kind: PartKind = { kind: 'count' }): string => {
    const name = collected.part(baseAggregate(a), kind);
    aggs[parts.indexOf(baseAggregate(a))] = a;
    return name;
  };
  const sumKind = (ref: string): PartKind => collected.sumKind(ref);
  /** The average's sum and count, apart, for differential privacy (den only for an average). */
  let den: ((total: boolean) => string) | undefined;
  const sides = pops.map((p) => part(aggregate.count(p.where, p.present)));
  /**
   * All of a unit's rows in its group that are read (on a side of the value): what contribution
   * bounding scales by. Of one side, that side's rows; of two sides, neither of them every row,
   * rows on either (which a rollup does not keep: such a bounded query reads the base table).
   */
  const eitherSide = opts.bounds !== undefined && pops.length > 1 && !pops.some(isWhole);
  const rowsPart = opts.bounds ? (pops.length === 1 ? (sides[0] as string) : part(aggregate.count())) : '';
  /** Units behind a first-step flag: rows of a group (one per unit) or, for totals, distinct units. */
  const unitsOf = (flag: string, total: boolean) =>
    total || keys.length > 0
      ? `count(DISTINCT u) FILTER (WHERE ${flag} > 0)`
      : `count(u) FILTER (WHERE ${flag} > 0)`;
  /** Each measure kind in two steps: first-step columns, then the value from them (total: per period). */
  const partials: MeasureDialect<(total: boolean) => string> = {
    count(where) {
      const c = part(aggregate.count(where));
      // Bounded counts are scaled (contribution-bounds.ts): their sums are not whole.
      return () => (opts.bounds ? `sum(${c})` : `CAST(sum(${c}) AS BIGINT)`);
    },
    countDistinct(column, where) {
      const col = columnRef(column);
      const cond = [...(where ? [condition(where)] : []), `${col} IS NOT NULL`].join(' AND ');
      if (col === unit) {
        // Distinct units: counted as the units are.
        const c = part(aggregate.count(where, [column]));
        return (total) => unitsOf(c, total);
      }
      const x = `x${keys.length}`;
      keys.push(`CASE WHEN ${cond} THEN ${col} END`);
      return () => `count(DISTINCT ${x})`;
    },
    sum(column, where) {
      const s = part(aggregate.sum(column, where), sumKind(column));
      return () => `sum(${s})`;
    },
    avg(column, where) {
      const s = part(aggregate.sum(column, where), sumKind(column));
      const c = part(aggregate.countOf(column, where));
      if (opts.bounds) {
        den = () => `sum(${c})`;
        return () => `sum(${s})`;
      }
      return () => `sum(${s})::DOUBLE / nullif(sum(${c}), 0)`;
    },
    ratio(num, d) {
      if (!opts.bounds) return (t) => `(${num(t)})::DOUBLE / nullif(${d(t)}, 0)`;
      den = d;
      return num;
    },
  };
  const value = valuesWanted ? visitMeasure(m, partials) : undefined;
  const day = dayExpr(time, grain === 'month' ? 'day' : grain);
  // GROUP BY ALL: every column but the partial aggregates, whatever the tables' columns are named.
  let reduced: string;
  if (def.joins.length > 0 && measureColumns(m).every(isBase)) {
    // Everything aggregated is on the base table: its rows are reduced to one per (period, join
    // keys, base columns used) before the join, which then meets far fewer rows. Sums of the
    // partials over the join are what the aggregates over the joined rows would be.
    const { names, keyColumns: keyCols } = firstStepColumns({ ...def, measure: m }, by, filters);
    const cols = names.map((c) => `b.${q(c)}`);
    const rollup = eitherSide ? undefined : rollupFor(def, grain, [...names, ...keyCols], aggs, rollups);
    // A rollup of this step's period (days for months) and of exactly its columns holds one row
    // per key already: read as it is, not grouped again.
    const firstPeriod = grain === 'month' ? 'day' : grain;
    const asIs =
      rollup !== undefined &&
      rollup.grain === firstPeriod &&
      new Set([...names, ...keyCols]).size === rollup.columns.length;
    const sumOf = (a: string) => (asIs ? a : `sum(${a})`);
    const early = rollup
      ? // The same partials from the rollup: its rows are the base rows already reduced per day.
        [
          `SELECT ${[`${periodOfDay('b._fv_day', firstPeriod)} AS _fv_period`, ...cols, ...keys.map((k, i) => `${k} AS _fv_x${i}`), ...aggs.map((a, i) => `${sumOf(`b.${q(aggregateName(a))}`)} AS _fv_p${i}`)].join(', ')}`,
          `FROM ${q(rollup.name)} b`,
          `WHERE ${[
            `b._fv_day >= ${dayOf('$1::TIMESTAMPTZ')}`,
            `b._fv_day < ${dayOf('$2::TIMESTAMPTZ')}`,
            // A rollup row none of whose base rows is on a side of the value: as if not read.
            ...(pops.some(isWhole)
              ? []
              : [
                  `(${sides.map((p) => `b.${q(aggregateName(aggs[Number(p.slice(1))] as RollupAggregate))} > 0`).join(' OR ')})`,
                ]),
            ...where.slice(pops.some(isWhole) ? 2 : 3),
          ].join(' AND ')}`,
          asIs ? '' : 'GROUP BY ALL',
        ]
          .filter(Boolean)
          .join('\n')
      : [
          `SELECT ${[`${day} AS _fv_period`, ...cols, ...keys.map((k, i) => `${k} AS _fv_x${i}`), ...parts.map((p, i) => `${p} AS _fv_p${i}`)].join(', ')}`,
          `FROM ${q(def.from)} b`,
          `WHERE ${where.join(' AND ')}`,
          'GROUP BY ALL',
        ].join('\n');
    reduced = [
      `SELECT ${['b._fv_period AS period', ...dims, ...flags, `${unit} AS u`, ...keys.map((_, i) => `b._fv_x${i} AS x${i}`), ...parts.map((_, i) => `sum(b._fv_p${i}) AS p${i}`)].join(', ')}`,
      `FROM (${early}) b ${joins.join(' ')}`,
      joinedWhere.length ? `WHERE ${joinedWhere.join(' AND ')}` : '',
      'GROUP BY ALL',
    ]
      .filter(Boolean)
      .join('\n');
  } else {
    reduced = [
      `SELECT ${[`${day} AS period`, ...dims, ...flags, `${unit} AS u`, ...keys.map((k, i) => `${k} AS x${i}`), ...parts.map((p, i) => `${p} AS p${i}`)].join(', ')}`,
      from,
      `WHERE ${[...where, ...joinedWhere].join(' AND ')}`,
      'GROUP BY ALL',
    ].join('\n');
  }
  if (grain === 'month') {
    // Days first, by arithmetic; then months from the days, over far fewer rows.
    const firstKeys = [...dimKeys, ...flagKeys, 'u', ...keys.map((_, i) => `x${i}`)];
    const sums = parts.map((_, i) => `sum(p${i}) AS p${i}`);
    reduced = `SELECT ${[`${monthOfDay('period')} AS period`, ...firstKeys, ...sums].join(', ')} FROM (${reduced}) r0 GROUP BY ALL`;
  }
  if (opts.bounds) {
    const shape: PerUnitShape = {
      rows: rowsPart,
      period: 'period',
      dims: dimKeys,
      unit: 'u',
      keys: keys.map((_, i) => `x${i}`),
      carried: flagKeys,
      parts: collected.shape(),
    };
    reduced = boundDuckDb(reduced, shape, opts.bounds);
  }
  const select = (total: boolean) => {
    const out = !value
      ? []
      : opts.bounds
        ? [`${value(total)} AS num`, ...(den ? [`${den(total)} AS den`] : [])]
        : [`${value(total)} AS value`];
    const units = sides.map((s, i) => `${unitsOf(s, total)} AS units${i}`);
    const groupDims = total ? by.map((_, i) => `NULL::VARCHAR AS d${i}`) : dimKeys;
    const groupBy = ['period', ...(total ? [] : dimKeys), ...flagKeys];
    return `SELECT ${[`${asDate('period')} AS period`, ...groupDims, ...flagKeys, ...out, ...units, `${total ? 1 : 0} AS is_total`].join(', ')} FROM r GROUP BY ${groupBy.join(', ')}`;
  };
  const sql = [
    `WITH ${[...ctes, `r AS (${reduced})`].join(', ')}`,
    // Groups count their rows (one per unit); only the period totals count distinct units.
    dims.length ? `${select(false)}\nUNION ALL\n${select(true)}` : select(true),
    `ORDER BY ${['period', ...dimKeys, ...flagKeys, 'is_total'].join(', ')}`,
  ].join('\n');
  return { sql, params };
}
