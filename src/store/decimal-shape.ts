import { FvError } from '../errors/index.ts';
import type { Value } from '../policy/index.ts';

/** Precision and scale of an exact decimal column in a store. */
export interface DecimalShape {
  readonly precision: number;
  readonly scale: number;
}

/** The widest decimal both stores hold exactly (DuckDB DECIMAL and ClickHouse Decimal: 38 digits). */
export const MAX_PRECISION = 38;
/**
 * Integer digits a stored decimal keeps at most, on every engine. ClickHouse 18.16 (Debian's)
 * crashes printing a wider Decimal128 as text (its integer printing looks sized for 64-bit numbers,
 * 20 characters; measured here: 3M values of 26 or 28 integer digits read as text crashed it at
 * once; 20, 21 and 24 digits never did). The same on every engine, so any store reads back what it holds.
 */
export const MAX_INTEGER_DIGITS = 20;
/** Scale given to a `numeric` without declared precision. */
export const UNCONSTRAINED_SCALE = 10;

/**
 * The store's decimal for a PostgreSQL numeric type as `format_type` prints it: `numeric(10,2)`
 * keeps its precision and scale; a wider one is capped at 38 digits and at 20 integer digits
 * (MAX_INTEGER_DIGITS); a plain `numeric` becomes DECIMAL(30,10) (20 integer digits, 10 decimals).
 *
 * @example
 * decimalShape('numeric(10,2)'); // { precision: 10, scale: 2 }
 */
export function decimalShape(sourceType: string): DecimalShape {
  const m = /\((\d+)(?:,\s*(-?\d+))?\)/.exec(sourceType);
  if (!m) return { precision: UNCONSTRAINED_SCALE + MAX_INTEGER_DIGITS, scale: UNCONSTRAINED_SCALE };
  const p = Number(m[1]);
  const s = Math.max(0, Number(m[2] ?? 0));
  const scale = p <= MAX_PRECISION ? Math.min(s, p) : Math.min(s, MAX_PRECISION - 1);
  return { precision: Math.min(p, MAX_PRECISION, scale + MAX_INTEGER_DIGITS), scale };
}

/**
 * The value as an integer count of 10^-scale (exact; more decimals than the scale are rounded
 * half away from zero, as PostgreSQL rounds numeric). Throws FV_STORE_VALUE, naming the column,
 * for NaN, infinities and values with more integer digits than the column holds.
 */
export function decimalUnits(v: NonNullable<Value>, shape: DecimalShape, where: string): bigint {
  const text = String(v).trim();
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new FvError(
      'FV_STORE_VALUE',
      `${where} holds a number a decimal column cannot store (NaN or infinity)`,
    );
  }
  let digits = `${m[2]}${m[3] ?? ''}`;
  let point = (m[2] as string).length + Number(m[4] ?? 0);
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  if (point > digits.length) digits = digits.padEnd(point, '0');
  const keep = point + shape.scale;
  let units = BigInt(digits.slice(0, keep).padEnd(keep, '0') || '0');
  if (digits.length > keep && Number(digits[keep]) >= 5) units += 1n;
  if (units >= 10n ** BigInt(shape.precision)) {
    throw new FvError(
      'FV_STORE_VALUE',
      `${where} holds a number wider than its store column DECIMAL(${shape.precision},${shape.scale})`,
    );
  }
  return m[1] === '-' ? -units : units;
}

/** Decimal text with exactly `scale` decimals, from units of 10^-scale. */
export function decimalText(units: bigint, scale: number): string {
  const neg = units < 0n;
  const s = (neg ? -units : units).toString().padStart(scale + 1, '0');
  const body = scale === 0 ? s : `${s.slice(0, s.length - scale)}.${s.slice(s.length - scale)}`;
  return neg ? `-${body}` : body;
}
