import { DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectorCorpus } from '../../../test/helpers/detector-corpus.ts';
import { INERT_SHAPE_SQL, piiScanner } from './pii-scanner.ts';

// The staged sync skips values of the inert shape when it scans a batch (they are counted, not
// read): that is only sound if no detector can match one of them.
describe('the inert shape (hex digests and UUIDs a scan may skip)', () => {
  const scanner = piiScanner();
  let instance: DuckDBInstance;
  let inert: (values: readonly string[]) => Promise<string[]>;

  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    inert = async (values) => {
      await db.run('CREATE OR REPLACE TABLE v (i INTEGER, t VARCHAR)');
      const a = await db.createAppender('v');
      values.forEach((t, i) => {
        a.appendInteger(i);
        a.appendVarchar(t);
        a.endRow();
      });
      a.flushSync();
      a.closeSync();
      const r = await db.runAndReadAll(`SELECT i FROM v WHERE ${INERT_SHAPE_SQL('t')} ORDER BY i`);
      return r.getRows().map(([i]) => values[Number(i)] as string);
    };
  });
  afterAll(() => instance?.closeSync());

  it('takes digests and UUIDs, and leaves everything else to the detectors', async () => {
    const takes = [
      'c4ca4238a0b923820dcc509a6f75849b',
      '6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b',
      'a87ff679-a2f3-e71d-9181-a67b7542122c',
      'deadbeef',
      '1234567a',
      '12345678901234567890123456789012345678a', // digits a letter touches are no number
      'a87ff679-1234-e71d-91b1-a67b7542122c', // one part of 4 digits
    ];
    const leaves = [
      'C4CA4238A0B923820DCC509A6F75849B', // capitals (an IBAN starts with two)
      '12345678', // eight digits: a phone number's length
      '123456789012', // no letter at all
      '1234-5678-9012-3456', // a card with dashes
      '12345678-1234-1234-1234-123456789012', // a UUID of digits only
      'a87ff679-1234-e71d-9181-a67b7542122c', // two parts of 4 digits: 8 a phone number could be
      'abc1234', // shorter than 8
      'a87ff679-a2f3-e71d-9181-a67b7542122c0', // 37 characters
      'tok_c4ca4238a0b923820dcc509a6f75849b',
      'ab:cd:ef:01:23:45',
      '',
    ];
    expect(await inert(takes)).toEqual(takes);
    expect(await inert(leaves)).toEqual([]);
  });

  it('no detector matches any corpus value of the shape, and no personal value has it', async () => {
    const corpus = detectorCorpus();
    const shaped = new Set(await inert(corpus.map((c) => c.value)));
    expect(shaped.size).toBeGreaterThan(0);
    for (const c of corpus) {
      // A value labelled with its column is scanned by that column's scanner (a bare MAC in `mac`).
      const s = c.column ? scanner.forColumn(c.column) : scanner;
      if (!shaped.has(c.value) || s.inertSql('x') === undefined) continue;
      expect(c.label === 'none' || c.label.startsWith('not:'), `${c.label}: ${c.value}`).toBe(true);
      expect(s.detect(c.value), c.value).toBeUndefined();
      expect(s.detectWeak(c.value), c.value).toBeUndefined();
    }
  });

  it('no detector matches a generated value of the shape (property)', async () => {
    // Lowercase hex and dashes, digit-heavy, at the lengths of digests and UUIDs.
    const unit = fc.constantFrom(...'0123456789012345678901234567890123456789abcdef-'.split(''));
    const values = fc.sample(
      fc.oneof(
        fc.string({ unit, minLength: 8, maxLength: 70 }),
        fc.string({ unit, minLength: 36, maxLength: 36 }),
        fc.uuid().map((u) => u.replace(/[a-f]/g, (c) => (c < 'c' ? '7' : c))),
      ),
      { numRuns: 20_000, seed: 16 },
    );
    const shaped = await inert(values);
    expect(shaped.length).toBeGreaterThan(1000);
    for (const v of shaped) {
      expect(scanner.detect(v), v).toBeUndefined();
      expect(scanner.detectWeak(v), v).toBeUndefined();
    }
  });

  it('does not apply to scanners with a custom pattern or a column’s bare forms', () => {
    expect(scanner.inertSql('x')).toBe(INERT_SHAPE_SQL('x'));
    expect(scanner.forColumn('etag').inertSql('x')).toBe(INERT_SHAPE_SQL('x'));
    expect(scanner.forColumn('mac').inertSql('x')).toBeUndefined();
    expect(piiScanner([{ name: 'hex', pattern: /[0-9a-f]{32}/u }]).inertSql('x')).toBeUndefined();
  });
});
