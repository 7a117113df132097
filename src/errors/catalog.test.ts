import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG } from './catalog.ts';

describe('error catalog', () => {
  it('every code is documented in docs/ERRORS.md with its solve line, and nothing else is', () => {
    const doc = readFileSync(new URL('../../docs/ERRORS.md', import.meta.url), 'utf8');
    const documented = [...doc.matchAll(/^\| `(FV_[A-Z_]+)` \| (\d) \| (.+) \|$/gm)].map((m) => [
      m[1],
      Number(m[2]),
      m[3],
    ]);
    expect(documented).toEqual(Object.entries(ERROR_CATALOG).map(([code, v]) => [code, v.exit, v.solve]));
  });
});
