import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Cell, suppress } from './k-anonymity.ts';

const cellArb = fc.record({
  period: fc.constantFrom('2026-10-05', '2026-10-12'),
  dims: fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')),
  units: fc.integer({ min: 1, max: 40 }),
  values: fc.record({ value: fc.integer({ min: 0, max: 1000 }) }),
});

describe('k-anonymity suppression', () => {
  it('hides every cell under k, and leaves the suppressed cells of a period at least k units together (property)', () => {
    fc.assert(
      fc.property(fc.array(cellArb, { maxLength: 12 }), fc.integer({ min: 2, max: 20 }), (raw, k) => {
        const seen = new Set<string>();
        const cells: Cell[] = raw.filter((c) => {
          const id = `${c.period}|${c.dims.join()}`;
          if (seen.has(id)) return false;
          seen.add(id);
          return true;
        });
        // Disjoint groups: the period total is the sum of its cells.
        const totals = new Map<string, number>();
        for (const c of cells) totals.set(c.period, (totals.get(c.period) ?? 0) + c.units);
        const out = suppress(cells, totals, k);
        for (const [period, total] of totals) {
          const inPeriod = out.filter((c) => c.period === period);
          const visible = inPeriod.filter((c) => c.suppressed === 'none');
          const hidden = inPeriod.length - visible.length;
          for (const c of visible) expect(c.units).toBeGreaterThanOrEqual(k);
          const remainder = total - visible.reduce((s, c) => s + (c.units ?? 0), 0);
          if (hidden > 0) expect(remainder).toBeGreaterThanOrEqual(Math.min(k, total));
        }
        for (const c of out) if (c.suppressed !== 'none') expect(c.values.value).toBeNull();
      }),
    );
  });

  it('suppresses a second cell when one small cell could be recovered from the total', () => {
    const cells: Cell[] = [
      { period: 'p', dims: ['a'], units: 3, values: { value: 3 } },
      { period: 'p', dims: ['b'], units: 50, values: { value: 50 } },
      { period: 'p', dims: ['c'], units: 12, values: { value: 12 } },
    ];
    const out = suppress(cells, new Map([['p', 65]]), 10);
    expect(out.map((c) => c.suppressed)).toEqual(['below_k', 'none', 'complement']);
  });
});
