// The k gate counts the people a value is computed from: for a measure with `where`, the users of
// the rows it keeps; for a column, the users of the rows where it is not NULL; for a ratio, each
// side. Numbers below follow from the small store's table (test/helpers/small-store.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMALL_METRICS, smallStore } from '../../test/helpers/small-store.ts';
import { type MetricAnswer, MetricsReader } from './index.ts';

const WEEK = '2026-10-05';

describe('filtered measures are gated on the people behind each value', () => {
  let reader: MetricsReader;

  beforeAll(async () => {
    reader = await MetricsReader.open(await smallStore(), SMALL_METRICS);
  });
  afterAll(() => reader?.close());

  const ask = (metric: string, by: string[]): Promise<MetricAnswer> =>
    reader.query({ metric, grain: 'week', by, from: WEEK, to: WEEK });
  const group = (a: MetricAnswer, dim: string | null) => a.groups.find((g) => g.dims[0] === dim);

  it('a count with where: users of the failing rows, and no group without a failing row', async () => {
    const a = await ask('connection_failures', ['error_code']);
    // E_DNS: 4 failing users. E_TLS 23, E_AUTH 36; the total (63) minus both would give E_DNS
    // back, so the smaller (E_TLS) is hidden too. No successful attempt reaches this metric, so
    // the NULL (no error) group of 212 users does not exist.
    expect(a.groups.map((g) => [g.dims[0], g.suppressed])).toEqual([
      ['E_AUTH', 'none'],
      ['E_DNS', 'below_k'],
      ['E_TLS', 'complement'],
    ]);
    expect(group(a, 'E_AUTH')).toMatchObject({ units: 36, values: { value: 36 } });
    expect(a.totals).toMatchObject([{ period: WEEK, units: 63, values: { value: 63 } }]);
  });

  it('a group with far more than k users but fewer than k behind the value is suppressed', async () => {
    const all = await ask('connection_attempts', ['devices.firmware_version']);
    expect(group(all, '2.5')).toMatchObject({ units: 47, suppressed: 'none' });
    const failures = await ask('connection_failures', ['devices.firmware_version']);
    expect(group(failures, '2.5')).toMatchObject({ units: null, suppressed: 'below_k' });
    expect(group(failures, '1.0')).toMatchObject({ units: 40, values: { value: 40 } });
    expect(group(failures, 'p1')).toBeUndefined();
  });

  it('count_distinct, sum and avg with where count the rows they aggregate', async () => {
    const devices = await ask('failing_devices', ['error_code']);
    expect(group(devices, 'E_AUTH')).toMatchObject({ units: 36, values: { value: 36 } });
    // The fails of users 25–30 have no duration: they are not behind the sum.
    const wait = await ask('failed_wait_ms', ['error_code']);
    expect(group(wait, 'E_AUTH')).toMatchObject({ units: 30, values: { value: 150_000 } });
    expect(wait.totals[0]).toMatchObject({ units: 57 });
    const signal = await ask('failing_signal', ['error_code']);
    expect(group(signal, 'E_AUTH')).toMatchObject({ units: 36, values: { value: -80 } });
  });

  it('a ratio is gated on both sides and shows both', async () => {
    const a = await ask('failure_rate', ['devices.firmware_version']);
    expect(group(a, '1.0')).toMatchObject({
      units: 40,
      sides: { numerator: 40, denominator: 60 },
      values: { value: 40 / 160 },
      suppressed: 'none',
    });
    // 47 users, 5 of them failing: the numerator is under k.
    expect(group(a, '2.5')).toMatchObject({ suppressed: 'below_k', sides: { numerator: null } });
    // No one failed: a numerator of no one is under k as well.
    expect(group(a, 'p1')).toMatchObject({ suppressed: 'below_k' });
    // Both sides filtered: E_TLS fails over all fails, per region.
    const tls = await ask('tls_share_of_failures', ['devices.region']);
    expect(group(tls, 'eu')).toMatchObject({ units: 11, sides: { numerator: 11, denominator: 32 } });
    expect(group(tls, 'us')).toMatchObject({ units: 12, sides: { numerator: 12, denominator: 31 } });
  });

  it('a percentile counts the users whose rows have a value; a group without one does not appear', async () => {
    const a = await ask('attempt_duration', ['devices.product_model']);
    expect(group(a, 'cam')).toMatchObject({ units: 150, values: { p50: 100 } });
    expect(group(a, 'plug')).toMatchObject({ units: 39 });
    expect(group(a, 'lamp')).toBeUndefined();
  });
});
