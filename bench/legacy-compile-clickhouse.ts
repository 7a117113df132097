// The ClickHouse metric compiler as it was before issue 17, kept only so bench/compiler-bench.ts
// can time it against today's on the same store in the same run. Not used by fleetvault itself.

import type { MetricRowsOptions } from '../src/metrics/index.ts';
import type { Aggregate, Grain, MetricDefinition, Where } from '../src/metrics/metric-definition.ts';
import { isWhole, type Population, populations } from '../src/metrics/population.ts';
import type { ValueKind } from '../src/policy/index.ts';

const q = (name: string) => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;
const str = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const lit = (v: string | number | boolean) =>
  typeof v === 'string' ? str(v) : typeof v === 'boolean' ? (v ? '1' : '0') : String(Number(v));
const isTime = (k: ValueKind | undefined) => k === 'timestamp' || k === 'timestamptz';

/** What the compiler needs to know about the store: each table's column kinds and where to read it. */
interface ClickHouseSchema {
  kind(table: string, column: string): ValueKind | undefined;
  columnsOf(table: string): readonly string[];
  /** The table holding every shard's rows (Distributed), or the one table on a single server. */
  readable(table: string): string;
}

const PERIOD: Readonly<Record<Grain, string>> = { day: 'toDate', week: 'toMonday', month: 'toStartOfMonth' };

/**
 * Compiles a metric for ClickHouse, to SQL that runs on 18.16 and on current servers alike: no
 * CTEs, window functions, FILTER, GROUPING SETS or query parameters; one JOIN per SELECT, GLOBAL
 * so the joined rows reach every shard; each table read FINAL (newest version of each row, no
 * tombstones). Answers equal DuckDB's: exact distinct counts, times to the microsecond, and
 * percentiles interpolated as `quantile_cont` does. The period bounds are inlined as literals.
 * Columns and options as compileMetric (compile-sql.ts) describes them.
 */
export function legacyCompileClickHouseMetric(
  def: MetricDefinition,
  grain: Grain,
  by: readonly string[],
  filters: ReadonlyArray<readonly [string, readonly string[]]>,
  range: { readonly from: number; readonly to: number },
  schema: ClickHouseSchema,
  opts: MetricRowsOptions = {},
): string {
  const joins = def.joins.map((j, i) => ({ ...j, alias: `j${i}` }));
  /** A column as written in the metrics file (`col` or `table.col`) → its name in the query. */
  const ref = (r: string): { sql: string; kind: ValueKind | undefined } => {
    const [a, b] = r.split('.') as [string, string | undefined];
    if (b === undefined) return { sql: q(a), kind: schema.kind(def.from, a) };
    const j = joins.find((x) => x.table === a);
    if (!j) return { sql: q(b), kind: schema.kind(def.from, b) };
    return { sql: q(`${j.alias}__${b}`), kind: schema.kind(j.table, b) };
  };
  const micros = (r: string) => {
    const c = ref(r);
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
  const aggregate = (a: Aggregate): string => {
    const cond = condition(a.where);
    if ('count' in a) return cond ? `countIf(${cond})` : 'count()';
    if ('count_distinct' in a) {
      const c = ref(a.count_distinct).sql;
      return cond ? `uniqExactIf(${c}, ${cond})` : `uniqExact(${c})`;
    }
    const fn = 'sum' in a ? 'sum' : 'avg';
    const c = ref('sum' in a ? a.sum : a.avg).sql;
    // DuckDB gives NULL, not 0 or nan, when no value was aggregated.
    return cond
      ? `if(countIf(${cond} AND isNotNull(${c})) = 0, NULL, ${fn}If(${c}, ${cond}))`
      : `if(count(${c}) = 0, NULL, ${fn}(${c}))`;
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

  // FROM: the base table, each join as a subquery of its live rows with its columns renamed.
  const sources: string[] = [];
  for (const j of joins) {
    const cols = schema
      .columnsOf(j.table)
      .map((c) => `${q(c)} AS ${q(`${j.alias}__${c}`)}`)
      .join(', ');
    sources.push(
      `GLOBAL ALL INNER JOIN (SELECT ${cols} FROM ${q(schema.readable(j.table))} FINAL WHERE _fv_deleted = 0) AS ${j.alias} ON ${q(j.on[0])} = ${q(`${j.alias}__${j.on[1]}`)}`,
    );
  }
  const m = def.measure;
  let outputs: string[];
  if (opts.unitsOnly || opts.pieces) outputs = [];
  else if ('ratio' in m) {
    outputs = [`(${aggregate(m.ratio[0])}) / nullIf(${aggregate(m.ratio[1])}, 0) AS value`];
  } else if ('percentiles' in m) {
    let x: string;
    if (typeof m.of === 'string') x = `toFloat64(${ref(m.of).sql})`;
    else {
      const f = m.of.first_after;
      const xs = (c: string) => q(c);
      const xMicros = isTime(schema.kind(f.table, f.time))
        ? `(toInt64(toUInt32(${q(f.time)})) * 1000000 + ${q(`${f.time}__us`)})`
        : `(toInt64(toUInt16(${q(f.time)})) * 86400000000)`;
      const w = condition(f.where, xs);
      // Only rows in the asked range can be counted, and their first match comes no earlier than
      // the range's start: both sides of this join are cut to that before the join ships them.
      const baseTime = ref(def.time);
      const inRange = `${baseTime.sql} >= ${bound(baseTime.kind, range.from)} AND ${baseTime.sql} < ${bound(baseTime.kind, range.to)}`;
      const after = `${q(f.time)} >= ${bound(schema.kind(f.table, f.time), range.from)}`;
      const first =
        `SELECT ${q(f.on[1])} AS fa_k, min(${xMicros}) AS fa_t FROM ${q(schema.readable(f.table))} FINAL ` +
        `GLOBAL ALL INNER JOIN (SELECT ${q(f.on[0])} AS fy_k, ${micros(def.time)} AS fy_t FROM ${q(schema.readable(def.from))} FINAL WHERE _fv_deleted = 0 AND ${inRange}) AS fy ON ${q(f.on[1])} = fy_k ` +
        `WHERE _fv_deleted = 0${w ? ` AND ${w}` : ''} AND ${after} AND ${xMicros} >= fy_t GROUP BY fa_k`;
      sources.push(`GLOBAL ALL INNER JOIN (${first}) AS fa ON ${q(f.on[0])} = fa_k`);
      x = `(fa_t - ${micros(def.time)}) / 1000000`;
    }
    // quantile_cont: the value at position p·(n−1) of the sorted values, linearly interpolated.
    const s = `arraySort(groupArray(${x}))`;
    const n = `toInt64(length(${s}))`;
    outputs = m.percentiles.map((p) => {
      const pos = `(${p} * (${n} - 1))`;
      const at = (i: string) => `arrayElement(${s}, toUInt64(${i}) + 1)`;
      return `if(${n} = 0, NULL, ${at(`floor(${pos})`)} + (${pos} - floor(${pos})) * (${at(`ceil(${pos})`)} - ${at(`floor(${pos})`)})) AS ${q(`p${Math.round(p * 100)}`)}`;
    });
  } else {
    outputs = [`${aggregate(m)} AS value`];
  }

  const time = ref(def.time);
  const where = [
    `_fv_deleted = 0`,
    `${time.sql} >= ${bound(time.kind, range.from)}`,
    `${time.sql} < ${bound(time.kind, range.to)}`,
  ];
  const pops = populations(m);
  // Rows that contribute to no side of the value are not read at all.
  if (!pops.some(isWhole)) where.push(`(${pops.map((p) => `(${populationCondition(p)})`).join(' OR ')})`);
  const flags: string[] = [];
  for (const [i, [d, values]] of filters.entries()) {
    const listed = `${dim(d)} IN (${values.map(str).join(', ')})`;
    if (opts.pieces) flags.push(`toUInt8(ifNull(${listed}, 0)) AS f${i}`);
    else where.push(listed);
  }
  const flagKeys = flags.map((_, i) => `f${i}`);

  // 18.16 allows one JOIN per SELECT: with more, each further join wraps the rows so far.
  let from = `${q(schema.readable(def.from))} FINAL`;
  let rest = sources;
  if (sources.length > 1) {
    from = `(SELECT * FROM ${from} ${sources[0]} WHERE _fv_deleted = 0)`;
    for (const s of sources.slice(1, -1)) from = `(SELECT * FROM ${from} ${s})`;
    rest = sources.slice(-1);
  }
  const period = `${PERIOD[grain]}(${time.sql}) AS period`;
  const unit = ref(def.unit).sql;
  const units = pops.map((p, i) =>
    isWhole(p)
      ? `uniqExact(${unit}) AS units${i}`
      : `uniqExactIf(${unit}, ${populationCondition(p)}) AS units${i}`,
  );
  const body = [`FROM ${from} ${rest.join(' ')}`, `WHERE ${where.join(' AND ')}`];
  if (by.length === 0) {
    const keys = ['period', ...flagKeys].join(', ');
    return [
      `SELECT ${[period, ...flags, ...outputs, ...units, 'toUInt8(1) AS is_total'].join(', ')}`,
      ...body,
    ]
      .concat(`GROUP BY ${keys} ORDER BY ${keys}`)
      .join('\n');
  }
  // The period totals come from the same scan as the groups (18.16 has no GROUPING SETS): each
  // row is counted twice, once in its group and once, dimensions blanked, in its period's total.
  const dims = by.map(
    (d, i) => `if(is_total = 1, CAST(NULL AS Nullable(String)), toNullable(${dim(d)})) AS d${i}`,
  );
  const keys = ['period', 'is_total', ...by.map((_, i) => `d${i}`), ...flagKeys];
  return [
    `SELECT ${[period, ...dims, ...flags, ...outputs, ...units, 'arrayJoin([toUInt8(0), toUInt8(1)]) AS is_total'].join(', ')}`,
    ...body,
    `GROUP BY ${keys.join(', ')}`,
    `ORDER BY period, ${[...by.map((_, i) => `d${i}`), ...flagKeys].join(', ')}`,
  ].join('\n');
}
