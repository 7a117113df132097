import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { resolveTransform, type Transform } from './index.ts';

const t = (spec: unknown) => resolveTransform(spec) as Transform;
const DAY = 86_400_000_000n;

describe('transforms', () => {
  it('year keeps only the calendar year', () => {
    expect(t('year').apply(Date.UTC(1987, 6, 14) / 86_400_000, 'date')).toBe(1987);
    expect(t('year').apply(BigInt(Date.UTC(2001, 0, 1, 5)) * 1000n, 'timestamptz')).toBe(2001);
    expect(t('year').apply(null, 'date')).toBeNull();
  });

  it('truncate keeps no more detail than its unit (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 17n }), (micros) => {
        const day = t('day').apply(micros, 'timestamptz') as bigint;
        const hour = t({ truncate: 'hour' }).apply(micros, 'timestamptz') as bigint;
        const week = t('week').apply(micros, 'timestamp') as bigint;
        const month = t('month').apply(micros, 'timestamp') as bigint;
        const monday = new Date(Number(week / 1000n)).getUTCDay() === 1;
        const first = new Date(Number(month / 1000n)).getUTCDate() === 1;
        return (
          day % DAY === 0n &&
          day <= micros &&
          micros - day < DAY &&
          hour % 3_600_000_000n === 0n &&
          micros - hour < 3_600_000_000n &&
          monday &&
          first &&
          month <= micros
        );
      }),
    );
  });

  it('ip_prefix keeps the network only', () => {
    expect(t('ip_prefix').apply('203.0.113.77', 'text')).toBe('203.0.113.0/24');
    expect(t({ ip_prefix: 16 }).apply('192.168.7.9', 'text')).toBe('192.168.0.0/16');
    expect(t('ip_prefix').apply('2001:db8:abcd:12:1:2:3:4', 'text')).toBe('2001:db8:abcd:0:0:0:0:0/48');
    expect(t('ip_prefix').apply('not an ip', 'text')).toBeNull();
  });

  it('bucket labels half-open ranges', () => {
    const b = t({ bucket: [-90, -80, -70] });
    expect([
      b.apply(-95, 'integer'),
      b.apply(-90, 'integer'),
      b.apply(-75, 'integer'),
      b.apply(-10, 'integer'),
    ]).toEqual(['<-90', '-90..-80', '-80..-70', '>=-70']);
  });

  it('rejects unknown names and bad parameters with a message', () => {
    expect(resolveTransform('decade')).toMatch(/unknown transform/);
    expect(resolveTransform({ bucket: [3, 1] })).toMatch(/increasing/);
    expect(resolveTransform({ ip_prefix: 33 })).toMatch(/0 to 24/);
    expect(resolveTransform({ truncate: 'minute' })).toMatch(/hour, day, week, month/);
  });

  it('each transform declares the kinds it accepts', () => {
    expect(t('year').accepts('text')).toBe(false);
    expect(t('ip_prefix').accepts('text')).toBe(true);
    expect(t('hour').accepts('date')).toBe(false);
  });
});
