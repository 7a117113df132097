/** One cell of an answer before suppression. */
export interface Cell {
  readonly period: string;
  readonly dims: readonly (string | null)[];
  readonly values: Readonly<Record<string, number | null>>;
  readonly units: number;
}

export type Suppression = 'none' | 'below_k' | 'complement';

export interface SuppressedCell extends Omit<Cell, 'values' | 'units'> {
  readonly values: Readonly<Record<string, number | null>>;
  /** The privacy-unit count, or null when the cell is suppressed. */
  readonly units: number | null;
  readonly suppressed: Suppression;
}

/**
 * k-anonymity over one answer. Primary: a cell with fewer than k privacy units is suppressed.
 * Secondary: within a period, the period total minus the visible cells reveals the suppressed
 * cells taken together, so more cells (smallest first) are suppressed until that remainder holds
 * at least k units, a lower bound on the distinct units of the suppressed cells combined. A total
 * under k is suppressed too.
 *
 * @example
 * suppress(cells, totals, 10);
 */
export function suppress(
  cells: readonly Cell[],
  totals: ReadonlyMap<string, number>,
  k: number,
): SuppressedCell[] {
  const byPeriod = new Map<string, Cell[]>();
  for (const c of cells) byPeriod.set(c.period, [...(byPeriod.get(c.period) ?? []), c]);
  const hidden = new Map<Cell, Suppression>();
  for (const [period, group] of byPeriod) {
    const total = totals.get(period) ?? 0;
    for (const c of group) if (c.units < k) hidden.set(c, 'below_k');
    const visible = group.filter((c) => !hidden.has(c)).sort((a, b) => a.units - b.units);
    let visibleUnits = visible.reduce((s, c) => s + c.units, 0);
    const anyHidden = () => group.some((c) => hidden.has(c));
    while (anyHidden() && total - visibleUnits < k && visible.length > 0) {
      const next = visible.shift() as Cell;
      hidden.set(next, 'complement');
      visibleUnits -= next.units;
    }
  }
  return cells.map((c) => {
    const why = hidden.get(c);
    if (!why) return { ...c, suppressed: 'none' };
    const values = Object.fromEntries(Object.keys(c.values).map((key) => [key, null]));
    return { period: c.period, dims: c.dims, values, units: null, suppressed: why };
  });
}
