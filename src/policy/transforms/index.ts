import { bucketTransformFactory } from './bucket-transform.ts';
import { ipPrefixTransformFactory } from './ip-prefix-transform.ts';
import type { Transform, TransformFactory } from './transform.ts';
import { truncateTransformFactory } from './truncate-transform.ts';
import { yearTransformFactory } from './year-transform.ts';

export type { Transform, TransformFactory } from './transform.ts';

/** The registry: one entry per transform; a new transform is one file and one line here. */
export const TRANSFORMS: readonly TransformFactory[] = [
  yearTransformFactory,
  truncateTransformFactory,
  ipPrefixTransformFactory,
  bucketTransformFactory,
];

function names(): string {
  return [...new Set(TRANSFORMS.flatMap((t) => [t.name, ...t.aliases]))].join(', ');
}

/**
 * Resolves the `transform:` value of a policy column: a bare name (`year`, `day`, `ip_prefix`)
 * or a one-key map (`{ bucket: [...] }`, `{ truncate: hour }`). Returns a message when invalid.
 */
export function resolveTransform(spec: unknown): Transform | string {
  if (typeof spec === 'string') {
    const byAlias = TRANSFORMS.find((t) => t.aliases.includes(spec));
    if (byAlias) return byAlias.create(undefined, spec);
    return `unknown transform "${spec}"; known: ${names()}`;
  }
  if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
    const entries = Object.entries(spec);
    const [name, param] = entries[0] ?? [];
    const factory = TRANSFORMS.find((t) => t.name === name);
    if (entries.length !== 1 || !factory)
      return `a transform is one of ${names()}, optionally as { name: parameter }`;
    return factory.create(param);
  }
  return `a transform is one of ${names()}, optionally as { name: parameter }`;
}
