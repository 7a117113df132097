import { describe, expect, it } from 'vitest';
import { periodRanges, SPLIT_PERIODS_MAX } from './clickhouse-reader.ts';

const day = (s: string) => Date.parse(`${s}T00:00:00Z`);
const days = (ranges: ReadonlyArray<{ from: number; to: number }>) =>
  ranges.map((r) => [new Date(r.from).toISOString().slice(0, 10), new Date(r.to).toISOString().slice(0, 10)]);

describe('periodRanges', () => {
  it('cuts a range into its calendar periods, in order, covering it exactly', () => {
    expect(days(periodRanges({ from: day('2026-10-05'), to: day('2026-10-26') }, 'week'))).toEqual([
      ['2026-10-05', '2026-10-12'],
      ['2026-10-12', '2026-10-19'],
      ['2026-10-19', '2026-10-26'],
    ]);
    expect(days(periodRanges({ from: day('2026-11-01'), to: day('2027-02-01') }, 'month'))).toEqual([
      ['2026-11-01', '2026-12-01'],
      ['2026-12-01', '2027-01-01'],
      ['2027-01-01', '2027-02-01'],
    ]);
    expect(periodRanges({ from: day('2026-02-27'), to: day('2026-03-02') }, 'day')).toHaveLength(3);
    // A range not on period bounds keeps its ends: each row still falls in exactly one piece.
    expect(days(periodRanges({ from: day('2026-10-07'), to: day('2026-10-14') }, 'week'))).toEqual([
      ['2026-10-07', '2026-10-12'],
      ['2026-10-12', '2026-10-14'],
    ]);
  });

  it('stops counting past the most periods a query is split into', () => {
    const year = periodRanges({ from: day('2026-01-01'), to: day('2027-01-01') }, 'day');
    expect(year.length).toBe(SPLIT_PERIODS_MAX + 1);
  });
});
