import { FvError } from '../errors/index.ts';
import type { Value, ValueKind } from '../policy/index.ts';
import { decimalShape, decimalUnits } from './decimal-shape.ts';
import type { StoreColumn } from './store.ts';

/**
 * Why a store column cannot hold a (non-null) value, in words that never quote it, such as
 * `outside Int32`; undefined when it can.
 */
export type ValueCheck = (v: NonNullable<Value>) => string | undefined;

/**
 * What an engine's columns hold, per value kind; undefined where every value of the kind fits.
 * Decimals are checked per column against the precision and scale their source type gives
 * (`decimalCheck`), the same on every engine.
 */
export type ValueLimits = Readonly<Record<Exclude<ValueKind, 'decimal'>, ValueCheck | undefined>>;

/** A whole number in [min, max] (JavaScript numbers: integer, date kinds). */
export const numberIn =
  (min: number, max: number, type: string): ValueCheck =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? undefined : `outside ${type}`;

/** A bigint (or whole number) in [min, max] (bigint and time kinds, times in microseconds). */
export const bigintIn =
  (min: bigint, max: bigint, type: string): ValueCheck =>
  (v) => {
    if (typeof v !== 'bigint' && !(typeof v === 'number' && Number.isInteger(v))) return `outside ${type}`;
    const b = BigInt(v);
    return b >= min && b <= max ? undefined : `outside ${type}`;
  };

/** A number or decimal text that fits the store's DECIMAL for a PostgreSQL numeric type. */
export function decimalCheck(sourceType: string): ValueCheck {
  const shape = decimalShape(sourceType);
  const type = `DECIMAL(${shape.precision},${shape.scale})`;
  return (v) => {
    try {
      decimalUnits(v, shape, '');
      return undefined;
    } catch {
      return `outside ${type}`;
    }
  };
}

export const INT32 = numberIn(-(2 ** 31), 2 ** 31 - 1, 'a 32-bit integer');
export const INT64 = bigintIn(-(2n ** 63n), 2n ** 63n - 1n, 'a 64-bit integer');

/** The first value of a row that the store cannot hold: its column and why. */
export interface ValueProblem {
  readonly column: string;
  readonly why: string;
}

/**
 * Prepares the check of rows of `columns` against an engine's limits: only the columns whose kind
 * has a limit are looked at, so the row loop stays cheap.
 */
export function rowChecker(
  limits: ValueLimits,
  columns: readonly StoreColumn[],
): (row: readonly Value[]) => ValueProblem | undefined {
  const checked: Array<{ index: number; column: string; check: ValueCheck }> = [];
  columns.forEach((c, index) => {
    const check = c.kind === 'decimal' ? decimalCheck(c.sourceType) : limits[c.kind];
    if (check) checked.push({ index, column: c.name, check });
  });
  return (row) => {
    for (const c of checked) {
      const v = row[c.index];
      if (v === null || v === undefined) continue;
      const why = c.check(v);
      if (why !== undefined) return { column: c.column, why };
    }
    return undefined;
  };
}

/** The refusal a writer raises for such a value: the table and column, never the value. */
export function valueError(table: string, p: ValueProblem): FvError {
  return new FvError(
    'FV_STORE_VALUE',
    `${table}.${p.column} holds a value ${p.why}, which the store cannot hold`,
  );
}

/**
 * What every writer runs on a batch before a byte of it is written: a value the store cannot hold
 * stops the batch with FV_STORE_VALUE naming the table and column, never the value.
 */
export function batchChecker(
  limits: ValueLimits,
  table: string,
  columns: readonly StoreColumn[],
): (rows: readonly Value[][]) => void {
  const check = rowChecker(limits, columns);
  return (rows) => {
    for (const r of rows) {
      const p = check(r);
      if (p) throw valueError(table, p);
    }
  };
}
