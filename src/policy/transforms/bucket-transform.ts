import type { Value } from '../classes.ts';
import type { Transform, TransformFactory } from './transform.ts';

function label(bounds: readonly number[], x: number): string {
  const first = bounds[0] as number;
  if (x < first) return `<${first}`;
  for (let i = 1; i < bounds.length; i++) {
    if (x < (bounds[i] as number)) return `${bounds[i - 1]}..${bounds[i]}`;
  }
  return `>=${bounds[bounds.length - 1]}`;
}

function bucketTransform(bounds: readonly number[]): Transform {
  return {
    name: 'bucket',
    classes: ['personal', 'sensitive', 'measure', 'attribute'],
    accepts: (kind) => kind === 'integer' || kind === 'bigint' || kind === 'float' || kind === 'decimal',
    outputKind: () => 'text',
    apply: (value: Value) => (value === null ? null : label(bounds, Number(value))),
    describe: () => `number kept as its bucket among [${bounds.join(', ')}]`,
    // Other bounds cut the numbers elsewhere: never provably coarser, so a change needs approval.
    detail: { family: `bucket:${bounds.join(',')}`, levels: [] },
  };
}

/** `transform: { bucket: [-90, -80, -70] }`: a number kept as the half-open range holding it. */
export const bucketTransformFactory: TransformFactory = {
  name: 'bucket',
  aliases: [],
  create(param) {
    const ok =
      Array.isArray(param) &&
      param.length > 0 &&
      param.every((b, i) => typeof b === 'number' && Number.isFinite(b) && (i === 0 || b > param[i - 1]));
    return ok ? bucketTransform(param as number[]) : 'bucket takes a non-empty list of increasing numbers';
  },
};
