// Differencing with filters: every attack we know of, each refused, and the answers that remain
// allowed. Numbers follow from the small store's table (test/helpers/small-store.ts); k = 10.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMALL_METRICS, smallStore } from '../../../test/helpers/small-store.ts';
import type { MetricAnswer, MetricQuery, MetricsReader } from '../../metrics/index.ts';
import { openMetricsReader } from '../index.ts';

const WEEK = '2026-10-05';
const FW = 'devices.firmware_version';
const ALL_FW = ['1.0', '2.0', '2.5', '9.9', 'p1', 'l1'];

describe('filters cannot be used to subtract a small group out of two answers', () => {
  let reader: MetricsReader;

  beforeAll(async () => {
    reader = await openMetricsReader(await smallStore(), SMALL_METRICS);
  });
  afterAll(() => reader?.close());

  const ask = (q: Partial<MetricQuery> & { filters?: Record<string, string[]> }): Promise<MetricAnswer> =>
    reader.query({ metric: 'connection_attempts', grain: 'week', from: WEEK, to: WEEK, ...q });
  // Rule 1 (differencing.ts): what the filter leaves out; rule 2: what it keeps.
  const leavesOut = { code: 'FV_METRIC_FILTER_UNSAFE', message: expect.stringMatching(/rows it leaves out/) };
  const keeps = {
    code: 'FV_METRIC_FILTER_UNSAFE',
    message: expect.stringMatching(/combination of the values/),
  };

  it('the reported attack: all firmware versions against all but one (3 users) is refused both ways', async () => {
    // All but 9.9 leaves out 3 users; listing 9.9 keeps a combination the by-firmware answer hides.
    await expect(ask({ filters: { [FW]: ALL_FW.filter((v) => v !== '9.9') } })).rejects.toMatchObject(
      leavesOut,
    );
    await expect(ask({ filters: { [FW]: ALL_FW } })).rejects.toMatchObject(keeps);
    // The unfiltered answer is what the first would be subtracted from.
    expect((await ask({})).totals[0]).toMatchObject({ units: 212 });
  });

  it('a value added to a filter whose complement is large (1.0 against 1.0 and 9.9) is refused', async () => {
    const one = await ask({ filters: { [FW]: ['1.0'] } });
    expect(one.totals[0]).toMatchObject({ units: 60, values: { value: 160 } });
    await expect(ask({ filters: { [FW]: ['1.0', '9.9'] } })).rejects.toMatchObject(keeps);
  });

  it('per group: a filter that leaves out 3 users of one group is refused though the period loses 65', async () => {
    const filters = { [FW]: ['1.0', '2.0', '2.5'] };
    expect((await ask({ filters })).totals[0]).toMatchObject({ units: 147 });
    await expect(ask({ filters, by: ['devices.product_model'] })).rejects.toMatchObject(leavesOut);
  });

  it('a second filter dimension that leaves out a few of the first one’s users is refused', async () => {
    // region = eu alone is fine; adding firmware (all but 9.9 and l1) leaves out user 149 and the
    // six eu lamps, which the two answers would differ by.
    expect((await ask({ filters: { 'devices.region': ['eu'] } })).totals[0]).toMatchObject({ units: 106 });
    await expect(
      ask({ filters: { 'devices.region': ['eu'], [FW]: ['1.0', '2.0', '2.5', 'p1'] } }),
    ).rejects.toMatchObject(leavesOut);
  });

  it('a group hidden to protect another cannot be shown by filtering on it', async () => {
    // By firmware, 9.9 (3 users) is under k, so the smallest visible group, l1 (12), is hidden as
    // well; the total minus the rest minus a filter on l1 alone would give 9.9 back.
    const by = await ask({ by: [FW] });
    const state = Object.fromEntries(by.groups.map((g) => [g.dims[0], g.suppressed]));
    expect(state).toMatchObject({ '9.9': 'below_k', l1: 'complement', '1.0': 'none' });
    await expect(ask({ filters: { [FW]: ['l1'] } })).rejects.toMatchObject(keeps);
    await expect(ask({ filters: { [FW]: ['9.9'] } })).rejects.toMatchObject(keeps);
  });

  it('a ratio is checked on its numerator too: leaving out 8 failing users of 112 is refused', async () => {
    const filters = { [FW]: ['1.0', '2.0'] };
    expect((await ask({ filters })).totals[0]).toMatchObject({ units: 100 });
    await expect(ask({ metric: 'failure_rate', filters })).rejects.toMatchObject(leavesOut);
  });

  it('refusals name the filtered dimension and k, never a value', async () => {
    const e = await ask({ filters: { [FW]: ['l1'] } }).catch((x: Error) => x);
    expect(String((e as Error).message)).toContain(FW);
    expect(String((e as Error).message)).toContain('k = 10');
    expect(String((e as Error).message)).not.toContain('l1');
  });

  it('a filter with no values is bad input, not an empty answer', async () => {
    await expect(ask({ filters: { [FW]: [] } })).rejects.toMatchObject({ code: 'FV_METRIC_QUERY' });
  });
});
