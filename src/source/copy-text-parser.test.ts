import { StringDecoder } from 'node:string_decoder';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Value, ValueKind } from '../policy/index.ts';
import { CopyTextParser, parseField } from './copy-text-parser.ts';

/** The string-based parser the byte-level one replaced: the oracle it must agree with. */
class StringParser {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  constructor(private readonly kinds: readonly ValueKind[]) {}
  push(chunk: Buffer): Value[][] {
    const text = this.rest + this.decoder.write(chunk);
    const rows: Value[][] = [];
    let start = 0;
    for (let nl = text.indexOf('\n', start); nl !== -1; nl = text.indexOf('\n', start)) {
      const fields = text.slice(start, nl).split('\t');
      rows.push(this.kinds.map((k, i) => parseField(fields[i] ?? '\\N', k)));
      start = nl + 1;
    }
    this.rest = text.slice(start);
    return rows;
  }
}

const KINDS: ValueKind[] = [
  'text',
  'integer',
  'float',
  'bigint',
  'timestamptz',
  'date',
  'boolean',
  'decimal',
  'uuid',
];

/** A field as PostgreSQL's COPY text writes it for each kind (or `\N`). */
const fieldOf = (kind: ValueKind): fc.Arbitrary<string> => {
  const value: fc.Arbitrary<string> = (() => {
    switch (kind) {
      case 'integer':
      case 'date':
        return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }).map(String);
      case 'float':
        return fc.oneof(
          fc.double({ noNaN: false }).map(String),
          fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e+20', '-0', '0.1'),
        );
      case 'bigint':
      case 'timestamptz':
        return fc
          .oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -999n, max: 999n }))
          .map(String);
      case 'boolean':
        return fc.constantFrom('t', 'f');
      case 'decimal':
        return fc.constantFrom('0', '-12.50', '99999999999999999999.123');
      default:
        // Any text, escaped the way COPY escapes it (backslash, tab, newline, carriage return).
        return fc
          .string({
            unit: fc.oneof(
              fc.constantFrom('\\', '\t', '\n', '\r', 'é', '☃', '😀', 'a', ' '),
              fc.string({ minLength: 1, maxLength: 1, unit: 'binary' }),
            ),
            maxLength: 20,
          })
          .map((s) =>
            s
              .replaceAll('\\', '\\\\')
              .replaceAll('\t', '\\t')
              .replaceAll('\n', '\\n')
              .replaceAll('\r', '\\r'),
          );
    }
  })();
  return fc.oneof({ arbitrary: value, weight: 5 }, { arbitrary: fc.constant('\\N'), weight: 1 });
};

describe('byte-level COPY text parser', () => {
  it('gives exactly what the string parser gave, for any rows of any kinds and any chunk cuts (property)', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.constantFrom(...KINDS), { minLength: 1, maxLength: 6 })
          .chain((kinds) =>
            fc.tuple(
              fc.constant(kinds),
              fc.array(fc.tuple(...kinds.map(fieldOf)), { maxLength: 12 }),
              fc.array(fc.nat(), { maxLength: 8 }),
            ),
          ),
        ([kinds, rows, cuts]) => {
          const buf = Buffer.from(rows.map((r) => `${r.join('\t')}\n`).join(''));
          const points = [...new Set(cuts.map((c) => (buf.length ? c % buf.length : 0)))].sort(
            (a, b) => a - b,
          );
          const mine = new CopyTextParser(kinds);
          const theirs = new StringParser(kinds);
          const a: Value[][] = [];
          const b: Value[][] = [];
          let start = 0;
          for (const p of [...points, buf.length]) {
            a.push(...mine.push(buf.subarray(start, p)));
            b.push(...theirs.push(buf.subarray(start, p)));
            start = p;
          }
          expect(a).toEqual(b);
          expect(a).toHaveLength(rows.length);
          expect(mine.clean).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('reads short rows as NULLs and keeps an unfinished row for the next chunk', () => {
    const p = new CopyTextParser(['text', 'integer', 'text']);
    expect(p.push(Buffer.from('a\t1\nb'))).toEqual([['a', 1, null]]);
    expect(p.clean).toBe(false);
    expect(p.push(Buffer.from('\t2\tc\n'))).toEqual([['b', 2, 'c']]);
    expect(p.clean).toBe(true);
  });
});
