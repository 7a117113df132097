import { describe, expect, it } from 'vitest';
import { pgTextValue } from './pg-text-value.ts';

describe('PostgreSQL text values (change capture)', () => {
  it('reads times as exact microseconds in UTC, whatever the offset', () => {
    const micros = (iso: string) => BigInt(Date.parse(iso)) * 1000n;
    expect(pgTextValue('2026-11-29 04:59:21.679162+00', 'timestamptz')).toBe(
      micros('2026-11-29T04:59:21Z') + 679162n,
    );
    expect(pgTextValue('2026-11-29 06:59:21.5+02', 'timestamptz')).toBe(
      micros('2026-11-29T04:59:21Z') + 500000n,
    );
    expect(pgTextValue('2026-11-29 00:29:21-04:30', 'timestamptz')).toBe(micros('2026-11-29T04:59:21Z'));
    expect(pgTextValue('1969-12-31 23:59:59.25', 'timestamp')).toBe(-750000n);
    expect(pgTextValue('2026-01-02', 'date')).toBe(Date.UTC(2026, 0, 2) / 86_400_000);
    expect(pgTextValue('0044-03-15 BC', 'date')).toBeUndefined();
    expect(pgTextValue('yesterday', 'timestamptz')).toBeUndefined();
  });

  it('reads numbers, booleans and text as the COPY reader does', () => {
    expect(pgTextValue('9007199254740993', 'bigint')).toBe(9007199254740993n);
    expect(pgTextValue('-60', 'integer')).toBe(-60);
    expect(pgTextValue('1.5e3', 'float')).toBe(1500);
    expect(pgTextValue('t', 'boolean')).toBe(true);
    expect(pgTextValue('f', 'boolean')).toBe(false);
    expect(pgTextValue('x', 'boolean')).toBeUndefined();
    expect(pgTextValue("it's", 'text')).toBe("it's");
  });
});
