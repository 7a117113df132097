import { describe, expect, it } from 'vitest';
import { decimalShape, decimalText, decimalUnits } from './decimal-shape.ts';

describe('exact decimals', () => {
  it('keeps the source precision and scale where it fits, and caps the rest at 38 digits and 20 integer digits', () => {
    expect(decimalShape('numeric(10,2)')).toEqual({ precision: 10, scale: 2 });
    expect(decimalShape('numeric(5)')).toEqual({ precision: 5, scale: 0 });
    expect(decimalShape('numeric(22,2)')).toEqual({ precision: 22, scale: 2 });
    expect(decimalShape('numeric')).toEqual({ precision: 30, scale: 10 });
    expect(decimalShape('numeric(60,4)')).toEqual({ precision: 24, scale: 4 });
    expect(decimalShape('numeric(38)')).toEqual({ precision: 20, scale: 0 });
    expect(decimalShape('numeric(38,30)')).toEqual({ precision: 38, scale: 30 });
    expect(decimalShape('numeric(60,40)')).toEqual({ precision: 38, scale: 37 });
    // 20 integer digits held, 21 refused (ClickHouse 18.16 crashed printing those).
    const plain = decimalShape('numeric');
    expect(decimalText(decimalUnits('-99999999999999999999.5', plain, 't.c'), 10)).toBe(
      '-99999999999999999999.5000000000',
    );
    expect(() => decimalUnits('100000000000000000000', plain, 't.c')).toThrow(/DECIMAL\(30,10\)/);
  });

  it('sums money without binary rounding: 0.1 + 0.2 is 0.3, 67426.54 stays 67426.54', () => {
    const s = decimalShape('numeric(12,2)');
    const total = ['0.10', '0.20'].map((v) => decimalUnits(v, s, 't.c')).reduce((a, b) => a + b);
    expect(decimalText(total, 2)).toBe('0.30');
    expect(decimalText(decimalUnits('67426.54', s, 't.c'), 2)).toBe('67426.54');
    expect(decimalText(decimalUnits('-0.005', s, 't.c'), 2)).toBe('-0.01');
    expect(decimalText(decimalUnits('12', s, 't.c'), 2)).toBe('12.00');
  });

  it('refuses what the column cannot hold, naming the column and never the value', () => {
    const s = decimalShape('numeric(5,2)');
    expect(() => decimalUnits('1234.5', s, 'orders.total')).toThrow(/orders\.total/);
    expect(() => decimalUnits('NaN', s, 'orders.total')).toThrow(/orders\.total.*NaN/);
    try {
      decimalUnits('98765.43', s, 'orders.total');
    } catch (e) {
      expect(String(e)).not.toContain('98765');
    }
  });
});
