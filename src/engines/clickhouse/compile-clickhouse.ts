import type { PartKind } from '../../metrics/contribution-bounds.ts';
import {
  aggregate,
  boundClickHouse,
  bucketComparisons,
  firstAfterAggregates,
  firstAfterRollup,
  firstStepColumns,
  type Grain,
  type MetricDefinition,
  type MetricRowsOptions,
  type PerUnitShape,
  percentileEdges,
  rollupFor,
  rollupsAnswering,
  type Where,
} from '../../metrics/index.ts';
import { type AggregatedMeasure, type MeasureDialect, visitMeasure } from '../../metrics/measure-visitor.ts';
import { PerUnitParts } from '../../metrics/per-unit-parts.ts';
import { isWhole, type Population, populations } from '../../metrics/population.ts';
import type { ValueKind } from '../../policy/index.ts';
import { aggregateName, type RollupAggregate } from '../../store/index.ts';
import type { StoredTables } from '../engine.ts';
import { microsOf } from './clickhouse-rollups.ts';

const q = (name: string) => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
const str = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const lit = (v: string | number | boolean) =>
  typeof v === 'string' ? str(v) : typeof v === 'boolean' ? (v ? '1' : '0') : String(Number(v));
const isTime = (k: ValueKind | undefined) => k === 'timestamp' || k === 'timestamptz';

const PERIOD: Readonly<Record<Grain, string>> = { day: 'toDate', week: 'toMonday', month: 'toStartOfMonth' };

/**
 * Compiles a metric for ClickHouse, to SQL that runs on 18.16 and on current servers alike: no
 * CTEs, window functions, FILTER, GROUPING SETS or query parameters; one JOIN per SELECT, GLOBAL
 * so the joined rows reach every shard unless they already live on the shard of the rows they join
 * (joinRead); each table read FINAL (newest version of each row, no
 * tombstones) unless the store says it is settled (no superseded version left to hide). Answers equal DuckDB's: exact distinct counts, times to the microsecond, and
 * percentiles interpolated as `quantile_cont` does. The period bounds are inlined as literals.
 * Columns and options as compileMetric (../duckdb/compile-duckdb.ts) describes them.
 */
export function compileClickHouseMetric(
  def: MetricDefinition,
  grain: Grain,
  by: readonly string[],
  filters: ReadonlyArray<readonly [string, readonly string[]]>,
  range: { readonly from: number; readonly to: number },
  schema: StoredTables,
  opts: MetricRowsOptions = {},
): { sql: string; settings: Readonly<Record<string, string>>; splitCheck?: string } {
  const joins = def.joins.map((j, i) => ({ ...j, alias: `j${i}`, used: new Set([j.on[1]]) }));
  /** A table as read: FINAL merges row versions at query time, needless on a settled table. */
  const final = (table: string) => (schema.settled?.(table) ? '' : ' FINAL');
  const read = (table: string) => `${q(schema.readable(table))}${final(table)}`;
  /**
   * How a join reads table `right`: on a sharded store where each row of `left` lives on the shard
   * of the `right` row it joins (both routed by the joined value, under the same shard layout), each shard joins its own rows
   * (the shard's table, no GLOBAL); otherwise the joined rows are read whole and shipped to every
   * shard (GLOBAL). Only a join in the SELECT that reads the sharded table can be local.
   */
  const joinRead = (
    left: string,
    leftColumn: string,
    right: string,
    rightColumn: string,
    outermost: boolean,
  ) => {
    const local =
      outermost &&
      schema.local !== undefined &&
      schema.routedBy?.(left) === leftColumn &&
      schema.routedBy?.(right) === rightColumn &&
      schema.layout?.(left) === schema.layout?.(right);
    return local
      ? { join: 'ALL INNER JOIN', table: `${schema.local?.(right) as string}${final(right)}`, local }
      : { join: 'GLOBAL ALL INNER JOIN', table: read(right), local };
  };
  /**
   * A column as written in the metrics file (`col` or `table.col`) → its name in the query. A
   * joined table's columns are noted as they are used: only those travel through the join.
   */
  const ref = (r: string, us = false): { sql: string; kind: ValueKind | undefined } => {
    const [a, b] = r.split('.') as [string, string | undefined];
    if (b === undefined) return { sql: q(a), kind: schema.kind(def.from, a) };
    const j = joins.find((x) => x.table === a);
    if (!j) return { sql: q(b), kind: schema.kind(def.from, b) };
    j.used.add(b);
    if (us) j.used.add(`${b}__us`);
    return { sql: q(`${j.alias}__${b}`), kind: schema.kind(j.table, b) };
  };
  const micros = (r: string) => {
    const c = ref(r, true);
    if (isTime(c.kind)) {
      const us = c.sql.replace(/`$/, '__us`');
      return `(toInt64(toUInt32(${c.sql})) * 1000000 + ${us})`;
    }
    return `(toInt64(toUInt16(${c.sql})) * 86400000000)`;
  };
  const condition = (w: Where | undefined, col: (c: string) => string = (c) => ref(c).sql): string =>
    w
      ? Object.entries(w)
          .map(([c, v]) =>
            Array.isArray(v) ? `${col(c)} IN (${v.map(lit).join(', ')})` : `${col(c)} = ${lit(v as string)}`,
          )
          .join(' AND ')
      : '';
  const populationCondition = (p: Population): string => {
    const parts = p.where ? [condition(p.where)] : [];
    for (const c of p.present) parts.push(`isNotNull(${ref(c).sql})`);
    return parts.join(' AND ') || '1';
  };
  /** A period bound (midnight UTC) as a literal of the column's type. */
  const bound = (kind: ValueKind | undefined, t: number) =>
    isTime(kind)
      ? `toDateTime(${str(new Date(t).toISOString().slice(0, 19).replace('T', ' '))}, 'UTC')`
      : `toDate(${str(new Date(t).toISOString().slice(0, 10))})`;
  const dim = (r: string): string => {
    const c = ref(r);
    return c.kind === 'boolean'
      ? `multiIf(isNull(${c.sql}), NULL, ${c.sql} = 1, 'true', 'false')`
      : `toString(${c.sql})`;
  };

  const m = def.measure;
  const pops = populations(m);
  const valuesWanted = !(opts.unitsOnly || opts.pieces);
  /** Joins after the declared ones (the first-match search), in order. */
  const extra: string[] = [];
  /** A first-match search from a rollup: the statement counting the rows it searches (CompiledMetric). */
  let splitCheck: string | undefined;
  const withCheck = (sql: string, settings: Readonly<Record<string, string>>) =>
    splitCheck === undefined ? { sql, settings } : { sql, settings, splitCheck };
  let percentiles: string[] = [];
  /** Under differential privacy: a percentile's value and the key of its row (one value each). */
  let pctValue = '';
  let pctKey = '';
  if ('percentiles' in m) {
    // The first-match join also decides whose rows count (population.ts), values or not.
    let x = typeof m.of === 'string' ? `toFloat64(${ref(m.of).sql})` : '';
    if (typeof m.of !== 'string') {
      const f = m.of.first_after;
      const xs = (c: string) => q(c);
      // As the rollup keeps the earliest and latest match: microseconds since 1970.
      const xMicros = microsOf(f.time, isTime(schema.kind(f.table, f.time)));
      const w = condition(f.where, xs);
      // Only rows in the asked range can be counted, and their first match comes no earlier than
      // the range's start: both sides of this join are cut to that before the join ships them.
      const baseTime = ref(def.time);
      const inRange = `${baseTime.sql} >= ${bound(baseTime.kind, range.from)} AND ${baseTime.sql} < ${bound(baseTime.kind, range.to)}`;
      const after = `${q(f.time)} >= ${bound(schema.kind(f.table, f.time), range.from)}`;
      // With each row's matches on its own shard, every shard finds the first match of its rows.
      const matches = joinRead(def.from, f.on[0], f.table, f.on[1], def.joins.length === 0);
      const rows = matches.local ? `${schema.local?.(def.from) as string}${final(def.from)}` : read(def.from);
      const search = firstAfterRollup(def, schema.rollups ?? []);
      let first: string;
      if (search) {
        // The rollup's periods instead of the matching rows (DuckDB's fromParts says why it is
        // the same answer): each link key's earliest base time in range, the earliest match of
        // its periods with a match at or after it, and whether one period has matches on both
        // sides of it; for those keys only, the matching rows are searched. The rollup's rows
        // sit on the shard of the rows they reduce, so it is read as the matching table is.
        const agg = firstAfterAggregates(f);
        const [n, lo, hi] = [agg.count, agg.min, agg.max].map((a) => q(aggregateName(a)));
        const rolled = matches.local
          ? (schema.local?.(search.name) as string)
          : q(schema.readable(search.name));
        const fromDay = `${search.grain === 'week' ? 'toMonday' : 'toDate'}(${bound('date', range.from)})`;
        const keys = `SELECT ${q(f.on[0])} AS fy_k, min(${micros(def.time)}) AS fy_t FROM ${rows} WHERE _fv_deleted = 0 AND ${inRange} GROUP BY fy_k`;
        const periods =
          `SELECT ${q(f.on[1])} AS fr_k, any(fy_t) AS fr_a, min(${lo}) AS fr_t, max(${lo} < fy_t) AS fr_split FROM ${rolled} ` +
          `${matches.join} (${keys}) AS fy ON ${q(f.on[1])} = fy_k WHERE ${n} > 0 AND ${hi} >= fy_t AND _fv_day >= ${fromDay} GROUP BY fr_k`;
        first = `SELECT fr_k AS fa_k, fr_t AS fa_t FROM (${periods}) WHERE fr_split = 0`;
        if (!schema.noSplitSearch) {
          first +=
            ' UNION ALL ' +
            `SELECT ${q(f.on[1])} AS fa_k, min(${xMicros}) AS fa_t FROM ${matches.table} ` +
            `${matches.join} (SELECT fr_k AS fs_k, fr_a AS fs_a FROM (${periods}) WHERE fr_split = 1) AS fs ON ${q(f.on[1])} = fs_k ` +
            `WHERE _fv_deleted = 0${w ? ` AND ${w}` : ''} AND ${xMicros} >= fs_a GROUP BY fa_k`;
          // Joined as the statement joins it: on each shard when the rows live together.
          splitCheck =
            `SELECT count() FROM ${read(def.from)} ${matches.join} (SELECT fr_k AS fs_k FROM (${periods}) WHERE fr_split = 1) AS fs ` +
            `ON ${q(f.on[0])} = fs_k WHERE _fv_deleted = 0 AND ${inRange}`;
        }
      } else
        first =
          `SELECT ${q(f.on[1])} AS fa_k, min(${xMicros}) AS fa_t FROM ${matches.table} ` +
          `${matches.join} (SELECT ${q(f.on[0])} AS fy_k, ${micros(def.time)} AS fy_t FROM ${rows} WHERE _fv_deleted = 0 AND ${inRange}) AS fy ON ${q(f.on[1])} = fy_k ` +
          `WHERE _fv_deleted = 0${w ? ` AND ${w}` : ''} AND ${after} AND ${xMicros} >= fy_t GROUP BY fa_k`;
      extra.push(`${matches.join} (${first}) AS fa ON ${q(f.on[0])} = fa_k`);
      x = `(fa_t - ${micros(def.time)}) / 1000000`;
    }
    pctValue = x;
    pctKey = typeof m.of === 'string' ? x : `toString(${ref(m.of.first_after.on[0]).sql})`;
    // quantile_cont: the value at position p·(n−1) of the sorted values, linearly interpolated.
    const s = `arraySort(groupArray(${x}))`;
    const n = `toInt64(length(${s}))`;
    if (valuesWanted)
      percentiles = m.percentiles.map((p) => {
        const pos = `(${p} * (${n} - 1))`;
        const at = (i: string) => `arrayElement(${s}, toUInt64(${i}) + 1)`;
        return `if(${n} = 0, NULL, ${at(`floor(${pos})`)} + (${pos} - floor(${pos})) * (${at(`ceil(${pos})`)} - ${at(`floor(${pos})`)})) AS ${q(`p${Math.round(p * 100)}`)}`;
      });
  }

  const time = ref(def.time);
  const where = [
    `_fv_deleted = 0`,
    `${time.sql} >= ${bound(time.kind, range.from)}`,
    `${time.sql} < ${bound(time.kind, range.to)}`,
  ];
  // Rows that contribute to no side of the value are not read at all.
  if (!pops.some(isWhole)) where.push(`(${pops.map((p) => `(${populationCondition(p)})`).join(' OR ')})`);
  const flags: string[] = [];
  /** The filters that are conditions, on the base table's columns and on a joined table's. */
  const baseFilters: string[] = [];
  const joinedFilters: string[] = [];
  // A bounded percentile is a noised histogram (differential privacy), which has no pieces (the
  // k-anonymous differencing check): its filters are conditions.
  const pieces = opts.pieces && !('percentiles' in m && opts.bounds);
  for (const [i, [d, values]] of filters.entries()) {
    const listed = `${dim(d)} IN (${values.map(str).join(', ')})`;
    if (pieces) flags.push(`toUInt8(ifNull(${listed}, 0)) AS f${i}`);
    else {
      where.push(listed);
      (d.includes('.') ? joinedFilters : baseFilters).push(listed);
    }
  }
  const flagKeys = flags.map((_, i) => `f${i}`);
  const dimKeys = by.map((_, i) => `d${i}`);
  // Every column is named (and so noted for the joins) before the joins are written.
  const dimSql = by.map(dim);
  const period = `${PERIOD[grain]}(${time.sql}) AS period`;
  const unit = ref(def.unit).sql;

  // The first step's columns: partial aggregates (`_fv_p…`, the store's prefix: no source column
  // is named so), each summed later, and extra keys.
  const collected = new PerUnitParts(def, opts.bounds, (i) => `_fv_p${i}`);
  const { parts, keys } = collected;
  /** The aggregate behind each part, in the parts' order: what a rollup must hold to answer it. */
  const aggs: RollupAggregate[] = [];
  const part = (sql: string, a: RollupAggregate, kind?: PartKind): string => {
    const name = collected.part(sql, kind);
    aggs[parts.indexOf(sql)] = a;
    return name;
  };
  /** The average's count, apart, for differential privacy. */
  let den: (() => string) | undefined;
  const sides = pops.map((p) =>
    part(isWhole(p) ? 'count()' : `countIf(${populationCondition(p)})`, aggregate.count(p.where, p.present)),
  );
  /** All of a unit's rows in its group: what contribution bounding scales by. */
  const rowsPart = opts.bounds ? part('count()', aggregate.count()) : '';
  /**
   * Units behind a first-step column, for a row of the outer step (`is_total` 1 or 0): a group has
   * one row per unit (unless extra keys repeat it), so it counts rows; a period total counts
   * distinct units.
   */
  const unitsOf = (c: string) =>
    keys.length > 0
      ? `uniqExactIf(_fv_u, ${c} > 0)`
      : `if(is_total = 1, uniqExactIf(_fv_u, ${c} > 0 AND is_total = 1), countIf(isNotNull(_fv_u) AND ${c} > 0 AND is_total = 0))`;
  /** A sum or an average in two steps: the partial sum and count, then the value from their sums. */
  const summed = (fn: 'sum' | 'avg', column: string, where: Where | undefined): (() => string) => {
    const cond = condition(where);
    const { sql: c, kind } = ref(column);
    // A sum of decimals is a Decimal(38, s), which 18.16 crashed printing as text past 25 integer
    // digits (README, Exact numbers): it leaves the server as a Float64, as the reader reads it.
    const out = (x: string) => (kind === 'decimal' ? `toFloat64(${x})` : x);
    const s = part(
      cond ? `sumIf(${c}, ${cond})` : `sum(${c})`,
      aggregate.sum(column, where),
      collected.sumKind(column),
    );
    // DuckDB gives NULL, not 0 or nan, when no value was aggregated.
    const n = part(
      cond ? `countIf(${cond} AND isNotNull(${c}))` : `count(${c})`,
      aggregate.countOf(column, where),
    );
    if (opts.bounds) {
      if (fn === 'avg') den = () => `sum(${n})`;
      return () => out(`sum(${s})`);
    }
    return () =>
      fn === 'sum'
        ? `if(sum(${n}) = 0, NULL, ${out(`sum(${s})`)})`
        : `if(sum(${n}) = 0, NULL, ${out(`sum(${s})`)} / sum(${n}))`;
  };
  /** Each measure kind in two steps: first-step columns, then the value from their sums. */
  const partials: MeasureDialect<() => string> = {
    count(where) {
      const cond = condition(where);
      const c = part(cond ? `countIf(${cond})` : 'count()', aggregate.count(where));
      return () => `sum(${c})`;
    },
    countDistinct(column, where) {
      const cond = condition(where);
      const c = ref(column).sql;
      const has = [...(cond ? [cond] : []), `isNotNull(${c})`].join(' AND ');
      // Distinct units are counted as the units are.
      if (c === unit) {
        const n = part(`countIf(${has})`, aggregate.count(where, [column]));
        return () => unitsOf(n);
      }
      const x = `_fv_x${keys.length}`;
      keys.push(`if(${has}, toNullable(${c}), NULL) AS ${x}`);
      return () => `uniqExact(${x})`;
    },
    sum: (column, where) => summed('sum', column, where),
    avg: (column, where) => summed('avg', column, where),
    ratio(num, d) {
      if (!opts.bounds) return () => `(${num()}) / nullIf(${d()}, 0)`;
      den = d;
      return num;
    },
  };
  const value = valuesWanted && !('percentiles' in m) ? visitMeasure(m, partials) : undefined;

  // FROM: the base table, each join as a subquery of its live rows with only the columns used.
  const sources = joins.map((j, i) => {
    const cols = [...j.used].map((c) => `${q(c)} AS ${q(`${j.alias}__${c}`)}`).join(', ');
    // The first join sits in the SELECT that reads the base table (joined below).
    const r = joinRead(def.from, j.on[0], j.table, j.on[1], i === 0);
    return `${r.join} (SELECT ${cols} FROM ${r.table} WHERE _fv_deleted = 0) AS ${j.alias} ON ${q(j.on[0])} = ${q(`${j.alias}__${j.on[1]}`)}`;
  });
  sources.push(...extra);
  /** The rows joined: of the base table (`base`, read with its tombstones) or of a rollup. */
  const joined = (base: string, live: boolean) => {
    // 18.16 allows one JOIN per SELECT: with more, each further join wraps the rows so far.
    let from = base;
    let rest = sources;
    if (sources.length > 1) {
      from = `(SELECT * FROM ${from} ${sources[0]}${live ? '' : ' WHERE _fv_deleted = 0'})`;
      for (const s of sources.slice(1, -1)) from = `(SELECT * FROM ${from} ${s})`;
      rest = sources.slice(-1);
    }
    return `FROM ${from} ${rest.join(' ')}`;
  };
  const body = [joined(read(def.from), false), `WHERE ${where.join(' AND ')}`];
  const dimsOf = (total: string) =>
    dimSql.map((d, i) => `if(${total} = 1, CAST(NULL AS Nullable(String)), toNullable(${d})) AS d${i}`);

  if ('percentiles' in m && opts.bounds) {
    // Differential privacy: the histogram DuckDB's compiler describes, from the same bounded rows.
    const edges = percentileEdges(def, opts.bounds);
    const bucket = `toInt32(multiIf(${bucketComparisons(pctValue, edges)
      .map(([c, i]) => `${c}, ${i}`)
      .join(', ')}, ${edges.length - 2}))`;
    const perUnit = [
      `SELECT ${[period, ...dimSql.map((d, i) => `toNullable(${d}) AS _fv_r${i}`), `${unit} AS _fv_u`, `${pctKey} AS _fv_x0`, `${bucket} AS _fv_bk`, 'count() AS _fv_p0'].join(', ')}`,
      ...body,
      `GROUP BY ${['period', ...by.map((_, i) => `_fv_r${i}`), '_fv_u', '_fv_x0', '_fv_bk'].join(', ')}`,
    ].join('\n');
    const rDims = by.map((_, i) => `_fv_r${i}`);
    const r = boundClickHouse(
      perUnit,
      {
        rows: '_fv_p0',
        period: 'period',
        dims: rDims,
        unit: '_fv_u',
        keys: ['_fv_x0'],
        carried: ['_fv_bk'],
        parts: [{ name: '_fv_p0', kind: { kind: 'count' } }],
      },
      opts.bounds,
    );
    const nulls = by.map((_, i) => `CAST(NULL AS Nullable(String)) AS d${i}`);
    const selects = [
      `SELECT ${['period', ...nulls, 'toNullable(_fv_bk) AS bk', 'count() AS n', 'toUInt8(1) AS is_total'].join(', ')} FROM (${r}) GROUP BY period, _fv_bk`,
    ];
    if (by.length > 0)
      selects.push(
        `SELECT ${['period', ...rDims.map((d, i) => `${d} AS d${i}`), 'toNullable(_fv_bk) AS bk', 'count() AS n', 'toUInt8(0) AS is_total'].join(', ')} FROM (${r}) GROUP BY ${['period', ...rDims, '_fv_bk'].join(', ')}`,
        `SELECT ${['period', ...rDims.map((d, i) => `${d} AS d${i}`), 'CAST(NULL AS Nullable(Int32)) AS bk', 'uniqExact(_fv_u) AS n', 'toUInt8(0) AS is_total'].join(', ')} FROM (${r}) GROUP BY ${['period', ...rDims].join(', ')}`,
      );
    return withCheck(selects.join('\nUNION ALL\n'), {});
  }

  if ('percentiles' in m) {
    // Every value is needed: one step over the rows.
    const units = pops.map((p, i) =>
      isWhole(p)
        ? `uniqExact(${unit}) AS units${i}`
        : `uniqExactIf(${unit}, ${populationCondition(p)}) AS units${i}`,
    );
    if (by.length === 0) {
      const keys = ['period', ...flagKeys].join(', ');
      const sql = [
        `SELECT ${[period, ...flags, ...percentiles, ...units, 'toUInt8(1) AS is_total'].join(', ')}`,
        ...body,
        `GROUP BY ${keys} ORDER BY ${keys}`,
      ].join('\n');
      return withCheck(sql, {});
    }
    // The period totals come from the same scan as the groups (18.16 has no GROUPING SETS): each
    // row is counted twice, once in its group and once, dimensions blanked, in its period's total.
    const sql = [
      `SELECT ${[period, ...dimsOf('is_total'), ...flags, ...percentiles, ...units, 'arrayJoin([toUInt8(0), toUInt8(1)]) AS is_total'].join(', ')}`,
      ...body,
      `GROUP BY ${['period', 'is_total', ...dimKeys, ...flagKeys].join(', ')}`,
      `ORDER BY period, ${[...dimKeys, ...flagKeys].join(', ')}`,
    ].join('\n');
    return withCheck(sql, {});
  }

  // First step: one row per (period, dimensions, unit) with the partial aggregates. Then groups
  // and period totals from those rows (each doubled, far fewer than the rows read).
  const firstKeys = [
    'period',
    ...by.map((_, i) => `_fv_r${i}`),
    ...flagKeys,
    '_fv_u',
    ...keys.map((_, i) => `_fv_x${i}`),
  ];
  const rollup =
    opts.bounds || !schema.rollups?.length
      ? undefined
      : (() => {
          const { names, keyColumns } = firstStepColumns(
            def as MetricDefinition & { measure: AggregatedMeasure },
            by,
            filters,
          );
          return rollupFor(
            def,
            grain,
            [...names, ...keyColumns],
            aggs,
            rollupsAnswering(schema.rollups ?? [], range),
          );
        })();
  let reduced: string;
  if (rollup) {
    // The same partials from the rollup: its rows are the base rows already reduced per (day, its
    // columns), on the shard of their base rows, so the step runs on every shard as on the base
    // table; the joined tables are read now, as they are.
    const day = (t: number) => `toDate(${str(new Date(t).toISOString().slice(0, 10))})`;
    const agg = (p: string) => q(aggregateName(aggs[Number(p.slice(5))] as RollupAggregate));
    reduced = [
      `SELECT ${[`${PERIOD[grain]}(_fv_day) AS period`, ...dimSql.map((d, i) => `toNullable(${d}) AS _fv_r${i}`), ...flags, `${unit} AS _fv_u`, ...keys, ...parts.map((_, i) => `sum(${agg(`_fv_p${i}`)}) AS _fv_p${i}`)].join(', ')}`,
      joined(q(schema.readable(rollup.name)), true),
      `WHERE ${[
        `_fv_day >= ${day(range.from)}`,
        `_fv_day < ${day(range.to)}`,
        // A rollup row none of whose base rows is on a side of the value: as if not read.
        ...(pops.some(isWhole) ? [] : [`(${sides.map((p) => `${agg(p)} > 0`).join(' OR ')})`]),
        ...baseFilters,
        ...joinedFilters,
      ].join(' AND ')}`,
      `GROUP BY ${firstKeys.join(', ')}`,
    ].join('\n');
  } else
    reduced = [
      `SELECT ${[period, ...dimSql.map((d, i) => `toNullable(${d}) AS _fv_r${i}`), ...flags, `${unit} AS _fv_u`, ...keys, ...parts.map((p, i) => `${p} AS _fv_p${i}`)].join(', ')}`,
      ...body,
      `GROUP BY ${firstKeys.join(', ')}`,
    ].join('\n');
  if (opts.bounds) {
    const shape: PerUnitShape = {
      rows: rowsPart,
      period: 'period',
      dims: by.map((_, i) => `_fv_r${i}`),
      unit: '_fv_u',
      keys: keys.map((_, i) => `_fv_x${i}`),
      carried: flagKeys,
      parts: collected.shape(),
    };
    reduced = boundClickHouse(reduced, shape, opts.bounds);
  }
  const units = sides.map((c, i) => `${unitsOf(c)} AS units${i}`);
  const total =
    by.length === 0 ? 'toUInt8(1) AS is_total' : 'arrayJoin([toUInt8(0), toUInt8(1)]) AS is_total';
  const groupDims = by.map(
    (_, i) => `if(is_total = 1, CAST(NULL AS Nullable(String)), _fv_r${i}) AS _fv_g${i}`,
  );
  const outer = [
    `SELECT ${['period', ...by.map((_, i) => `_fv_g${i} AS d${i}`), ...flagKeys, ...(!value ? [] : opts.bounds ? [`${value()} AS num`, ...(den ? [`${den()} AS den`] : [])] : [`${value()} AS value`]), ...units, 'is_total'].join(', ')}`,
    `FROM (SELECT *, ${[total, ...groupDims].join(', ')} FROM (${reduced}))`,
    `GROUP BY ${['period', 'is_total', ...by.map((_, i) => `_fv_g${i}`), ...flagKeys].join(', ')}`,
    `ORDER BY ${['period', ...dimKeys, ...flagKeys].join(', ')}`,
  ];
  // With extra keys (a distinct count of a column other than the unit) the outer step only sums
  // parts and counts distinct values, which the shards' first-step groups give unmerged as merged:
  // a group split across shards adds its parts and repeats values a distinct count counts once.
  // So each shard's groups go to the outer step as they are, without a merge of every key on the
  // server that asked (a setting of the query: a read-only reader may not write SETTINGS in it).
  // Not under contribution bounds (a unit's rows are clipped as a whole), and not without extra
  // keys (the outer step then counts the first step's rows as units).
  const unmerged = keys.length > 0 && !opts.bounds;
  return withCheck(outer.join('\n'), unmerged ? { distributed_group_by_no_merge: '1' } : {});
}
