/** One cell of an answer before suppression. */
export interface Cell {
  readonly period: string;
  readonly dims: readonly (string | null)[];
  readonly values: Readonly<Record<string, number | null>>;
  /**
   * The distinct privacy units behind each side of the value (population.ts): one number, or the
   * numerator's and the denominator's for a ratio.
   */
  readonly units: readonly number[];
}

/** 'not_released': a group differential privacy's partition selection did not release. */
export type Suppression = 'none' | 'below_k' | 'complement' | 'not_released';

export interface SuppressedCell extends Omit<Cell, 'values' | 'units'> {
  readonly values: Readonly<Record<string, number | null>>;
  /** The units the gate applied to (for a ratio, the smaller side), or null when suppressed. */
  readonly units: number | null;
  /** A ratio's units per side (`numerator`, `denominator`), or null when suppressed. */
  readonly sides?: Readonly<Record<string, number | null>>;
  readonly suppressed: Suppression;
}

/**
 * k-anonymity over one answer, side by side (a ratio's numerator and denominator each count).
 * Primary: a cell with fewer than k privacy units on any side is suppressed. Secondary: within a
 * period, the period total minus the visible cells reveals the suppressed cells taken together,
 * so more cells (smallest first) are suppressed until that remainder holds at least k units on
 * every side, a lower bound on the distinct units of the suppressed cells combined. A total
 * under k is suppressed too.
 *
 * @example
 * suppress(cells, totals, 10, ['value']);
 */
export function suppress(
  cells: readonly Cell[],
  totals: ReadonlyMap<string, readonly number[]>,
  k: number,
  sides: readonly string[] = ['value'],
): SuppressedCell[] {
  const byPeriod = new Map<string, Cell[]>();
  for (const c of cells) byPeriod.set(c.period, [...(byPeriod.get(c.period) ?? []), c]);
  const hidden = new Map<Cell, Suppression>();
  const at = (c: Cell, s: number) => c.units[s] ?? 0;
  for (const [period, group] of byPeriod) {
    const total = totals.get(period) ?? [];
    for (const c of group) if (sides.some((_, s) => at(c, s) < k)) hidden.set(c, 'below_k');
    const visible = group.filter((c) => !hidden.has(c));
    const visibleUnits = sides.map((_, s) => visible.reduce((sum, c) => sum + at(c, s), 0));
    const anyHidden = () => group.some((c) => hidden.has(c));
    for (;;) {
      const side = sides.findIndex((_, s) => (total[s] ?? 0) - (visibleUnits[s] ?? 0) < k);
      if (!anyHidden() || side < 0 || visible.length === 0) break;
      visible.sort((a, b) => at(a, side) - at(b, side));
      const next = visible.shift() as Cell;
      hidden.set(next, 'complement');
      sides.forEach((_, s) => {
        visibleUnits[s] = (visibleUnits[s] ?? 0) - at(next, s);
      });
    }
  }
  const ratio = sides.length > 1;
  return cells.map((c) => {
    const why = hidden.get(c);
    if (!why) {
      const shown = { period: c.period, dims: c.dims, values: c.values, units: Math.min(...c.units) };
      return ratio
        ? { ...shown, sides: Object.fromEntries(sides.map((s, i) => [s, at(c, i)])), suppressed: 'none' }
        : { ...shown, suppressed: 'none' };
    }
    const values = Object.fromEntries(Object.keys(c.values).map((key) => [key, null]));
    const hiddenCell = { period: c.period, dims: c.dims, values, units: null, suppressed: why };
    return ratio ? { ...hiddenCell, sides: Object.fromEntries(sides.map((s) => [s, null])) } : hiddenCell;
  });
}
