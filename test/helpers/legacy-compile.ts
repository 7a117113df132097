// The DuckDB metric compiler as it was before issue 17, kept only so bench/compiler-bench.ts can
// time it against today's on the same store in the same run. Not used by fleetvault itself.
import type { Aggregate, Grain, MetricDefinition, Where } from '../../src/metrics/metric-definition.ts';
import { isWhole, type Population, populations } from '../../src/metrics/population.ts';

const q = (name: string) => `"${name.replaceAll('"', '""')}"`;
const lit = (v: string | number | boolean) =>
  typeof v === 'string'
    ? `'${v.replaceAll("'", "''")}'`
    : typeof v === 'boolean'
      ? String(v)
      : String(Number(v));

/** A column reference as written in the metrics file: `col` (base table) or `table.col`. */
function columnRef(ref: string): string {
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

function aggregate(a: Aggregate): string {
  const filter = a.where ? ` FILTER (WHERE ${condition(a.where)})` : '';
  if ('count' in a) return `count(*)${filter}`;
  if ('count_distinct' in a) return `count(DISTINCT ${columnRef(a.count_distinct)})${filter}`;
  if ('sum' in a) return `sum(${columnRef(a.sum)})${filter}`;
  return `avg(${columnRef(a.avg)})${filter}`;
}

/**
 * The rows a metric is computed over: the base table as `b`, its joins, and for a `first_after`
 * measure the per-row first matching time as `fa.t` (rows without one drop out). With `range`
 * (SQL for the period's bounds), the first-match search reads only base rows inside it and
 * matches no earlier than its start: the same answer for those rows, without the whole history.
 */
function fromParts(
  def: MetricDefinition,
  range?: { readonly from: string; readonly to: string },
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
    if (range) {
      w.push(`y.${q(def.time)} >= ${range.from}`, `y.${q(def.time)} < ${range.to}`);
      w.push(`x.${q(f.time)} >= ${range.from}`);
    }
    ctes.push(
      `fa AS (SELECT x.${q(f.on[1])} AS k, min(x.${q(f.time)}) AS t FROM ${q(f.table)} x JOIN ${q(def.from)} y ON y.${q(f.on[0])} = x.${q(f.on[1])} WHERE ${[...w, `x.${q(f.time)} >= y.${q(def.time)}`].join(' AND ')} GROUP BY 1)`,
    );
    joins.push(`JOIN fa ON fa.k = b.${q(f.on[0])}`);
  }
  return { ctes, joins };
}

interface MetricRowsOptions {
  /** Leave the values out: the differencing checks need the units only. */
  readonly unitsOnly?: boolean;
  /**
   * Apply no filter; instead, after the dimensions, one column per filter (f0…) saying whether
   * the row's value is one the filter lists (false for NULL), grouped on like a dimension.
   */
  readonly pieces?: boolean;
}

interface CompiledMetric {
  readonly sql: string;
  readonly params: readonly string[];
}

/**
 * Compiles a metric to one SQL statement grouped by calendar period and the requested dimensions,
 * plus one total row per period. Columns: `period`, the dimensions as d0…, the outputs, then the
 * distinct privacy units behind each side of the value (see population.ts), then `is_total` (1 on
 * period totals). Only rows that contribute to the value are read, so a group none of whose rows
 * contributes does not appear. Parameters: $1 and $2 bound the period (UTC), then one per filter
 * value.
 *
 * The differencing checks (differencing.ts) use the options.
 */
export function legacyCompileMetric(
  def: MetricDefinition,
  grain: Grain,
  by: readonly string[],
  filters: ReadonlyArray<readonly [string, readonly string[]]>,
  opts: MetricRowsOptions = {},
): CompiledMetric {
  const time = columnRef(def.time);
  const m = def.measure;
  const { ctes, joins } = fromParts(def, { from: '$1::TIMESTAMPTZ', to: '$2::TIMESTAMPTZ' });
  let outputs: string[];
  if (opts.unitsOnly || opts.pieces) outputs = [];
  else if ('ratio' in m) {
    outputs = [`(${aggregate(m.ratio[0])})::DOUBLE / nullif(${aggregate(m.ratio[1])}, 0) AS value`];
  } else if ('percentiles' in m) {
    // Whole microseconds subtracted, then scaled: exact, where epoch() doubles lose the last digits.
    const of = typeof m.of === 'string' ? columnRef(m.of) : `(epoch_us(fa.t) - epoch_us(${time})) / 1000000`;
    outputs = m.percentiles.map((p) => `quantile_cont(${of}, ${p}) AS ${q(`p${Math.round(p * 100)}`)}`);
  } else {
    outputs = [`${aggregate(m)} AS value`];
  }
  const pops = populations(m);
  const unit = columnRef(def.unit);
  const units = pops.map(
    (p, i) =>
      `count(DISTINCT ${unit})${isWhole(p) ? '' : ` FILTER (WHERE ${populationCondition(p)})`} AS units${i}`,
  );
  const params: string[] = [];
  const where = [`${time} >= $1::TIMESTAMPTZ`, `${time} < $2::TIMESTAMPTZ`];
  // Rows that contribute to no side of the value are not read at all.
  if (!pops.some(isWhole)) where.push(`(${pops.map((p) => `(${populationCondition(p)})`).join(' OR ')})`);
  let n = 3;
  const flags: string[] = [];
  for (const [i, [dim, values]] of filters.entries()) {
    const listed = `${columnRef(dim)}::VARCHAR IN (${values.map(() => `$${n++}`).join(', ')})`;
    if (opts.pieces) flags.push(`coalesce(${listed}, FALSE)::INTEGER AS f${i}`);
    else where.push(listed);
    params.push(...values);
  }
  const dims = by.map((d, i) => `${columnRef(d)}::VARCHAR AS d${i}`);
  const groupKeys = [...by.map((_, i) => `d${i}`), ...flags.map((_, i) => `f${i}`)];
  const totalKeys = ['period', ...flags.map((_, i) => `f${i}`)].join(', ');
  const sql = [
    ctes.length ? `WITH ${ctes.join(', ')}` : '',
    `SELECT ${[`date_trunc('${grain}', ${time}) AS period`, ...dims, ...flags, ...outputs, ...units, `${dims.length ? 'grouping(d0)' : '1'} AS is_total`].join(', ')}`,
    `FROM ${q(def.from)} b ${joins.join(' ')}`,
    `WHERE ${where.join(' AND ')}`,
    // The period totals come from the same scan: one grouping set per period beside the groups.
    dims.length
      ? `GROUP BY GROUPING SETS ((period, ${groupKeys.join(', ')}), (${totalKeys})) ORDER BY ALL`
      : `GROUP BY ${totalKeys} ORDER BY ALL`,
  ]
    .filter(Boolean)
    .join('\n');
  return { sql, params };
}
