import type { Value, ValueKind } from '../classes.ts';
import type { Transform, TransformFactory } from './transform.ts';

function yearOf(value: Value, kind: ValueKind): number | null {
  if (value === null) return null;
  const ms = kind === 'date' ? Number(value) * 86_400_000 : Number(BigInt(value as bigint) / 1000n);
  return new Date(ms).getUTCFullYear();
}

const yearTransform: Transform = {
  name: 'year',
  classes: ['personal', 'sensitive', 'time'],
  accepts: (kind) => kind === 'date' || kind === 'timestamp' || kind === 'timestamptz',
  outputKind: () => 'integer',
  apply: yearOf,
  describe: () => 'kept as the year only',
  detail: { family: 'time', levels: [0] },
};

/** `transform: year`: a date or time kept as its calendar year (UTC). */
export const yearTransformFactory: TransformFactory = {
  name: 'year',
  aliases: ['year'],
  create: (param) =>
    param === undefined || param === null || param === true ? yearTransform : 'takes no parameter',
};
