import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copySql } from './copy-reader.ts';
import { CopyTextParser } from './copy-text-parser.ts';

describe('COPY text parser', () => {
  it('parses typed fields, nulls and escapes across arbitrary chunk boundaries (property)', () => {
    const text = 'a\\tb\\\\c\t42\t\\N\t1700000000000000\tt\n\u00e9t\u00e9 \u2603\t-1\t3.5\t0\tf\n';
    const buf = Buffer.from(text);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: buf.length - 1 }), { maxLength: 6 }), (cuts) => {
        const parser = new CopyTextParser(['text', 'integer', 'float', 'timestamptz', 'boolean']);
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const rows = [];
        let start = 0;
        for (const p of [...points, buf.length]) {
          rows.push(...parser.push(buf.subarray(start, p)));
          start = p;
        }
        expect(rows).toEqual([
          ['a\tb\\c', 42, null, 1700000000000000n, true],
          ['\u00e9t\u00e9 \u2603', -1, 3.5, 0n, false],
        ]);
        return parser.clean;
      }),
    );
  });
});

describe('COPY statement', () => {
  it('names only the requested columns and resumes strictly after the checkpoint', () => {
    const sql = copySql({
      schema: 'public',
      table: 'users',
      columns: [
        { name: 'id', kind: 'bigint' },
        { name: 'updated_at', kind: 'timestamptz' },
        { name: 'country', kind: 'text' },
      ],
      orderBy: ['updated_at', 'id'],
      after: [1700000000000000n, 42n],
      batchSize: 10,
    });
    expect(sql).toBe(
      `COPY (SELECT "id", (extract(epoch from "updated_at") * 1000000)::int8, "country" FROM "public"."users" WHERE ("updated_at", "id") > ((timestamptz '1970-01-01 00:00:00+00' + 1700000000000000 * interval '1 microsecond'), 42) ORDER BY "updated_at", "id") TO STDOUT`,
    );
    expect(sql).not.toContain('password');
  });

  it('quotes hostile names and text positions', () => {
    const sql = copySql({
      schema: 'public',
      table: 'we"ird',
      columns: [{ name: "k'; DROP TABLE x; --", kind: 'text' }],
      orderBy: ["k'; DROP TABLE x; --"],
      after: ["o'brien\\"],
      batchSize: 1,
    });
    expect(sql).toContain(`"we""ird"`);
    expect(sql).toContain(`E'o''brien\\\\'`);
  });
});
