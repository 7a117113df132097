import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOG, type FvCode, httpStatusFor } from './catalog.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CATALOG = join(ROOT, 'src/errors/catalog.ts');

/** The source files of src/ and web/ (tests excluded: they name codes, they do not emit them). */
function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && !e.name.startsWith('.')) sources(p, out);
    } else if (/\.(ts|tsx|js|mjs|html)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Every `FV_…` literal of src/ and web/ outside the catalog, with the files naming it. */
function emitted(): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'web'))]) {
    if (file === CATALOG) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/\bFV_[A-Z0-9][A-Z0-9_]*/g)) {
      const files = found.get(m[0]) ?? [];
      if (!files.includes(relative(ROOT, file))) files.push(relative(ROOT, file));
      found.set(m[0], files);
    }
  }
  return found;
}

describe('error catalog', () => {
  it('every code is documented in docs/ERRORS.md with its exit code, HTTP status and solve line, and nothing else is', () => {
    const doc = readFileSync(join(ROOT, 'docs/ERRORS.md'), 'utf8');
    const documented = [...doc.matchAll(/^\| `(FV_[A-Z_]+)` \| (\d) \| (\d{3}) \| (.+) \|$/gm)].map((m) => [
      m[1],
      Number(m[2]),
      Number(m[3]),
      m[4],
    ]);
    expect(documented).toEqual(
      Object.entries(ERROR_CATALOG).map(([code, v]) => [code, v.exit, v.http, v.solve]),
    );
  });

  it('every FV_ literal in src/ and web/ is a catalogued code', () => {
    const unknown = [...emitted()].filter(([code]) => !(code in ERROR_CATALOG));
    expect(unknown).toEqual([]);
  });

  it('every catalogued code is emitted somewhere in src/ or web/ (no unused codes)', () => {
    const used = emitted();
    expect(Object.keys(ERROR_CATALOG).filter((code) => !used.has(code))).toEqual([]);
  });

  it('httpStatusFor answers each code with its catalogued status: 4xx for refusals, 5xx only for failures', () => {
    for (const code of Object.keys(ERROR_CATALOG) as FvCode[]) {
      expect(httpStatusFor(code)).toBe(ERROR_CATALOG[code].http);
    }
    expect(httpStatusFor('FV_INTERNAL')).toBe(500);
    expect(httpStatusFor('FV_AUTH_REQUIRED')).toBe(401);
    expect(httpStatusFor('FV_SQL_BUSY')).toBe(429);
  });
});
