import type { Value, ValueKind } from '../classes.ts';
import type { Transform, TransformFactory } from './transform.ts';

const UNITS = ['hour', 'day', 'week', 'month'] as const;
type Unit = (typeof UNITS)[number];

const MICROS_PER_HOUR = 3_600_000_000n;
const MICROS_PER_DAY = 24n * MICROS_PER_HOUR;
// 1970-01-01 was a Thursday; ISO weeks start on Monday, 3 days earlier.
const WEEK_OFFSET_DAYS = 3;

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n ? q - 1n : q;
}

function truncateDays(days: number, unit: Unit): number {
  if (unit === 'week') return Math.floor((days + WEEK_OFFSET_DAYS) / 7) * 7 - WEEK_OFFSET_DAYS;
  if (unit === 'month') {
    const d = new Date(days * 86_400_000);
    return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1) / 86_400_000;
  }
  return days;
}

function truncateTransform(unit: Unit): Transform {
  return {
    name: `truncate:${unit}`,
    classes: ['personal', 'sensitive', 'time'],
    accepts: (kind) => kind === 'timestamp' || kind === 'timestamptz' || (kind === 'date' && unit !== 'hour'),
    outputKind: (kind) => kind,
    apply(value: Value, kind: ValueKind): Value {
      if (value === null) return null;
      if (kind === 'date') return truncateDays(Number(value), unit);
      const micros = BigInt(value as bigint);
      if (unit === 'hour') return floorDiv(micros, MICROS_PER_HOUR) * MICROS_PER_HOUR;
      const days = Number(floorDiv(micros, MICROS_PER_DAY));
      return BigInt(truncateDays(days, unit)) * MICROS_PER_DAY;
    },
    describe: () => `truncated to the ${unit} (UTC)`,
    // year 0 (the year transform), then month 1 … hour 4: more detail the higher.
    detail: { family: 'time', levels: [4 - UNITS.indexOf(unit)] },
  };
}

/** `transform: { truncate: day }` or the bare `hour`, `day`, `week`, `month`. */
export const truncateTransformFactory: TransformFactory = {
  name: 'truncate',
  aliases: [...UNITS],
  create(param, alias) {
    const unit = alias ?? param;
    if (typeof unit === 'string' && (UNITS as readonly string[]).includes(unit))
      return truncateTransform(unit as Unit);
    return `truncate takes one of ${UNITS.join(', ')}`;
  },
};
