/**
 * Contribution bounding for differential privacy, applied to a compiled metric's per-unit step
 * (one row per period, group and privacy unit, with partial aggregates). Each engine's compiler
 * wraps its per-unit SQL with one function here and changes nothing else, so the bound is one seam
 * whatever shape the compilers take.
 */

import type { MetricDefinition } from './metric-definition.ts';

/** The bounds the policy sets (policy/privacy-model.ts): rows per group and period, groups per period. */
export interface ContributionBounds {
  readonly maxRows: number;
  readonly maxGroups: number;
  /** `table.column` → [low, high]: a summed column's values are bounded by these. */
  readonly clamp: Readonly<Record<string, readonly [number, number]>>;
}

/** The clamp bounds of a summed column (`col` of the base table or `table.col`); undefined: none. */
export function clampOf(
  def: MetricDefinition,
  ref: string,
  bounds: ContributionBounds,
): readonly [number, number] | undefined {
  return bounds.clamp[ref.includes('.') ? ref : `${def.from}.${ref}`];
}

/** What one partial aggregate of the per-unit step is, so it can be bounded. */
export type PartKind =
  | { readonly kind: 'count' }
  | { readonly kind: 'sum'; readonly low: number; readonly high: number };

/** The per-unit step's columns, by name. */
export interface PerUnitShape {
  readonly period: string;
  readonly dims: readonly string[];
  readonly unit: string;
  /** Extra keys (distinct values of a non-unit column): each adds one row per value. */
  readonly keys: readonly string[];
  /** Every other column of the step, kept as is (filter flags). */
  readonly carried: readonly string[];
  /** The partial aggregates, in order, with what each one is. */
  readonly parts: ReadonlyArray<{ readonly name: string; readonly kind: PartKind }>;
  /** The partial counting all the unit's rows (of this group and period). */
  readonly rows: string;
}

/**
 * A unit's partials after bounding: all scaled by maxRows / its rows when it has more (as if it
 * had kept maxRows of them, in the same proportions: a ratio's numerator and denominator are
 * scaled alike, so capping does not bias it), each count then at most maxRows, a sum clamped to
 * maxRows·[low, high].
 */
function boundedParts(
  parts: ReadonlyArray<{ readonly name: string; readonly kind: PartKind; readonly as: string }>,
  rows: string,
  b: ContributionBounds,
): string[] {
  const scale = (x: string) => `${x} * ${b.maxRows} / greatest(${rows}, ${b.maxRows})`;
  return parts.map(({ name, kind, as }) =>
    kind.kind === 'count'
      ? `${scale(name)} AS ${as}`
      : `greatest(${b.maxRows * kind.low}, least(${scale(name)}, ${b.maxRows * kind.high})) AS ${as}`,
  );
}

/**
 * DuckDB: keep each unit's first maxGroups groups of a period and, per group, its first maxRows
 * extra-key rows (first by a hash of the unit's own values, so the choice depends on that unit
 * alone), then cap its partials.
 *
 * @example
 * boundDuckDb('SELECT … GROUP BY ALL', shape, { maxRows: 1, maxGroups: 2, clamp: {} });
 */
export function boundDuckDb(perUnit: string, shape: PerUnitShape, b: ContributionBounds): string {
  const group = shape.dims.length > 0 ? shape.dims.join(', ') : '0';
  const keys = shape.keys.length > 0 ? shape.keys.join(', ') : '0';
  const cols = [shape.period, ...shape.dims, ...shape.carried, shape.unit, ...shape.keys];
  return [
    `SELECT ${[
      ...cols,
      ...boundedParts(
        shape.parts.map((p) => ({ ...p, as: p.name })),
        shape.rows,
        b,
      ),
    ].join(', ')}`,
    `FROM (${perUnit}) _fv_b`,
    `QUALIFY dense_rank() OVER (PARTITION BY ${shape.period}, ${shape.unit} ORDER BY hash(${group}), ${group}) <= ${b.maxGroups}`,
    `AND row_number() OVER (PARTITION BY ${[shape.period, ...shape.dims, shape.unit].join(', ')} ORDER BY hash(${keys}), ${keys}) <= ${b.maxRows}`,
  ].join('\n');
}

/**
 * ClickHouse (18.16: no window functions): LIMIT BY keeps a unit's first maxRows key rows per
 * group; its groups of a period are ranked by a hash of their values, the first maxGroups kept.
 * The partials are renamed on the way in (`_fv_q…`): ClickHouse reads `least(x, 2) AS x` as a
 * cyclic alias.
 */
export function boundClickHouse(perUnit: string, shape: PerUnitShape, b: ContributionBounds): string {
  const group =
    shape.dims.length > 0
      ? `cityHash64(${shape.dims.map((d) => `ifNull(${d}, '')`).join(', ')})`
      : 'toUInt64(0)';
  const keys =
    shape.keys.length > 0 ? `cityHash64(${shape.keys.map((k) => `toString(${k})`).join(', ')})` : '0';
  const cols = [shape.period, ...shape.dims, ...shape.carried, shape.unit, ...shape.keys];
  const renamed = shape.parts.map((p, i) => ({ name: `_fv_q${i}`, kind: p.kind, as: p.name }));
  // Rows first (at most maxRows key rows per unit and group), then the unit's kept groups: those
  // whose hash is among its maxGroups smallest in the period. A sum is clamped as a Float64:
  // 18.16's least and greatest refuse a decimal beside a number.
  const partial = (p: (typeof renamed)[number]) =>
    p.kind.kind === 'sum' ? `toFloat64(${p.as}) AS ${p.name}` : `${p.as} AS ${p.name}`;
  const rows = [
    `SELECT ${[...cols, ...renamed.map(partial), `${group} AS _fv_gh`].join(', ')}`,
    `FROM (${perUnit}) ORDER BY ${keys} LIMIT ${b.maxRows} BY ${[shape.period, ...shape.dims, shape.unit].join(', ')}`,
  ].join(' ');
  const kept = `SELECT ${shape.period}, ${shape.unit}, arraySlice(arraySort(groupUniqArray(_fv_gh)), 1, ${b.maxGroups}) AS _fv_kept FROM (${rows}) GROUP BY ${shape.period}, ${shape.unit}`;
  const rowsAt = shape.parts.findIndex((p) => p.name === shape.rows);
  const capped = boundedParts(renamed, `_fv_q${rowsAt}`, b);
  return [
    `SELECT ${[...cols, ...capped].join(', ')}`,
    `FROM (${rows}) ALL INNER JOIN (${kept}) USING (${shape.period}, ${shape.unit})`,
    'WHERE has(_fv_kept, _fv_gh)',
  ].join('\n');
}
