import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Cell, suppress } from './k-anonymity.ts';

const cellArb = fc.record({
  period: fc.constantFrom('2026-10-05', '2026-10-12'),
  dims: fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')),
  units: fc.tuple(fc.integer({ min: 1, max: 40 })),
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
        const sums = new Map<string, number>();
        for (const c of cells) sums.set(c.period, (sums.get(c.period) ?? 0) + (c.units[0] as number));
        const totals = new Map([...sums].map(([p, n]) => [p, [n]]));
        const out = suppress(cells, totals, k);
        for (const [period, total] of sums) {
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
      { period: 'p', dims: ['a'], units: [3], values: { value: 3 } },
      { period: 'p', dims: ['b'], units: [50], values: { value: 50 } },
      { period: 'p', dims: ['c'], units: [12], values: { value: 12 } },
    ];
    const out = suppress(cells, new Map([['p', [65]]]), 10);
    expect(out.map((c) => c.suppressed)).toEqual(['below_k', 'none', 'complement']);
  });

  it('gates a ratio on both sides: a numerator under k hides the cell however large its denominator', () => {
    const cells: Cell[] = [
      { period: 'p', dims: ['a'], units: [3, 400], values: { value: 0.01 } },
      { period: 'p', dims: ['b'], units: [40, 500], values: { value: 0.2 } },
      { period: 'p', dims: ['c'], units: [25, 30], values: { value: 0.9 } },
    ];
    const out = suppress(cells, new Map([['p', [68, 930]]]), 10, ['numerator', 'denominator']);
    // a: 3 failing users. Then the numerator total minus the visible ones (68 - 65 = 3) would
    // give a's numerator back, so the smallest numerator (c) goes too; the denominator is fine.
    expect(out.map((c) => c.suppressed)).toEqual(['below_k', 'none', 'complement']);
    expect(out[1]).toMatchObject({ units: 40, sides: { numerator: 40, denominator: 500 } });
    expect(out[0]).toMatchObject({ units: null, sides: { numerator: null, denominator: null } });
  });

  it('leaves every side of the hidden cells at least k units together (property, two sides)', () => {
    const ratioArb = fc
      .record({
        period: fc.constantFrom('2026-10-05', '2026-10-12'),
        dims: fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f')),
        num: fc.integer({ min: 0, max: 40 }),
        extra: fc.integer({ min: 0, max: 60 }),
      })
      .map((c) => ({
        period: c.period,
        dims: c.dims,
        units: [c.num, c.num + c.extra],
        values: { value: 1 },
      }));
    fc.assert(
      fc.property(
        fc.uniqueArray(ratioArb, { selector: (c) => `${c.period}|${c.dims[0]}`, maxLength: 12 }),
        fc.integer({ min: 2, max: 20 }),
        (cells, k) => {
          const totals = new Map<string, number[]>();
          for (const c of cells) {
            const t = totals.get(c.period) ?? [0, 0];
            totals.set(c.period, [
              (t[0] as number) + (c.units[0] as number),
              (t[1] as number) + (c.units[1] as number),
            ]);
          }
          const out = suppress(cells, totals, k, ['numerator', 'denominator']);
          for (const [period, total] of totals) {
            const inPeriod = out.filter((c) => c.period === period);
            const visible = inPeriod.filter((c) => c.suppressed === 'none');
            for (const c of visible) {
              expect(c.sides?.numerator).toBeGreaterThanOrEqual(k);
              expect(c.sides?.denominator).toBeGreaterThanOrEqual(k);
            }
            if (visible.length === inPeriod.length) continue;
            for (const [s, name] of ['numerator', 'denominator'].entries()) {
              const remainder =
                (total[s] as number) - visible.reduce((sum, c) => sum + (c.sides?.[name] ?? 0), 0);
              expect(remainder).toBeGreaterThanOrEqual(Math.min(k, total[s] as number));
            }
          }
        },
      ),
    );
  });
});
