import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLICKHOUSE_LIMITS, encoders } from '../engines/clickhouse/index.ts';
import { duckdb } from '../engines/index.ts';
import type { Value, ValueKind } from '../policy/index.ts';
import { rowChecker, type Store, type StoreColumn, type StoreTableSpec } from '../store/index.ts';
import { type JsonField, jsonIdentifier, jsonValue } from './json-values.ts';

const value = (f: JsonField) => ('why' in f ? f.why : f.value);

describe('jsonValue: what a device message may carry for a column', () => {
  it('holds integers to their source type, never wrapping', () => {
    expect(value(jsonValue(2147483647, 'integer', 'integer'))).toBe(2147483647);
    expect(value(jsonValue(2147483648, 'integer', 'integer'))).toBe('outside integer');
    expect(value(jsonValue(-2147483649, 'integer', 'integer'))).toBe('outside integer');
    expect(value(jsonValue(40_000, 'integer', 'smallint'))).toBe('outside smallint');
    expect(value(jsonValue('-32768', 'integer', 'smallint'))).toBe(-32768);
    expect(value(jsonValue(1.5, 'integer', 'integer'))).toBe('is not integer');
    expect(value(jsonValue('1e400', 'float', 'double precision'))).toBe('is not float');
    expect(value(jsonValue(1e39, 'float', 'real'))).toBe('outside real');
    expect(value(jsonValue('9223372036854775807', 'bigint', 'bigint'))).toBe(9223372036854775807n);
    expect(value(jsonValue('9223372036854775808', 'bigint', 'bigint'))).toBe('outside bigint');
    // Beyond 2^53 a JSON number has lost digits already: it must come as a string.
    expect(value(jsonValue(2 ** 60, 'bigint', 'bigint'))).toBe('is not bigint');
  });

  it('reads times as ISO 8601 or epoch milliseconds, to the microsecond, within what PostgreSQL and JavaScript hold', () => {
    const tz = 'timestamp with time zone';
    expect(value(jsonValue('2026-11-29T10:00:00.123456Z', 'timestamptz', tz))).toBe(1_795_946_400_123_456n);
    expect(value(jsonValue('2026-11-29T11:30:00+01:30', 'timestamptz', tz))).toBe(1_795_946_400_000_000n);
    expect(value(jsonValue('2026-11-29 10:00', 'timestamptz', tz))).toBe(1_795_946_400_000_000n);
    expect(value(jsonValue(1_795_946_400_123.5, 'timestamptz', tz))).toBe(1_795_946_400_123_500n);
    expect(value(jsonValue(1e16, 'timestamptz', tz))).toBe(`outside ${tz}`);
    expect(value(jsonValue(-1e16, 'timestamptz', tz))).toBe(`outside ${tz}`);
    expect(value(jsonValue(1e306, 'timestamptz', tz))).toBe('is not timestamptz');
    for (const bad of [
      'yesterday',
      '1',
      '2026-02-30T00:00:00Z',
      '2026-11-29T24:00:00Z',
      '2026-11-29T10:00:00+16:00',
    ])
      expect(value(jsonValue(bad, 'timestamptz', tz)), bad).toBe('is not timestamptz');
    expect(value(jsonValue('1969-07-20', 'date', 'date'))).toBe(-165);
    expect(value(jsonValue('2026-02-29', 'date', 'date'))).toBe('is not date');
  });

  it("gives an identifier PostgreSQL's text form, so one device never gets two pseudonyms", () => {
    expect(value(jsonIdentifier('0017', 'bigint', 'bigint'))).toBe('17');
    expect(value(jsonIdentifier(17, 'bigint', 'bigint'))).toBe('17');
    expect(value(jsonIdentifier(17.5, 'bigint', 'bigint'))).toBe('is not bigint');
    expect(value(jsonIdentifier('1e3', 'integer', 'integer'))).toBe('1000');
    expect(value(jsonIdentifier(2 ** 31, 'integer', 'integer'))).toBe('outside integer');
    expect(value(jsonIdentifier('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'uuid', 'uuid'))).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    expect(value(jsonIdentifier('SN-0017', 'text', 'text'))).toBe('SN-0017');
    expect(value(jsonIdentifier({ id: 1 }, 'text', 'text'))).toBe('is not text');
  });
});

/** One column per kind a message can carry, with its source type. */
const KINDS: ReadonlyArray<[ValueKind, string]> = [
  ['integer', 'integer'],
  ['integer', 'smallint'],
  ['bigint', 'bigint'],
  ['float', 'double precision'],
  ['float', 'real'],
  ['boolean', 'boolean'],
  ['text', 'text'],
  ['uuid', 'uuid'],
  ['date', 'date'],
  ['timestamp', 'timestamp without time zone'],
  ['timestamptz', 'timestamp with time zone'],
];

const hostile = fc.oneof(
  fc.jsonValue(),
  fc.constantFrom(
    2147483648,
    -2147483649,
    1e16,
    -1e16,
    8.64e15,
    8.64e15 + 1,
    -62_135_596_800_000,
    Number.MAX_SAFE_INTEGER,
    -Number.MAX_VALUE,
    1e308,
    '9223372036854775808',
    '-9223372036854775809',
    '275760-09-13T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '9999-12-31T23:59:59.999999Z',
    '1969-12-31T23:59:59.999999Z',
    '2106-02-07T06:28:16Z',
    '0000-01-01',
    '1900-01-01',
    'a\u0000b',
    '\ud800',
  ),
  fc.integer(),
  fc.double(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
);

describe('anything a message is accepted with, the store takes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fv-json-'));
  let store: Store;
  const columns: StoreColumn[] = [
    { name: 'id', kind: 'integer', sourceType: 'integer' },
    ...KINDS.map(([kind, sourceType], i) => ({ name: `c${i}`, kind, sourceType })),
  ];
  const spec: StoreTableSpec = { name: 'm', columns, key: ['id'] };
  beforeAll(async () => {
    store = await duckdb.openStore(join(dir, 'store.duckdb'));
  });
  afterAll(async () => {
    await store?.close();
  });

  it('DuckDB stores every row whose values pass the source type and its limits; ClickHouse encodes every row that passes its own', async () => {
    const duckProblem = rowChecker(store.limits, columns);
    const chProblem = rowChecker(CLICKHOUSE_LIMITS, columns);
    const encode = encoders('t', columns);
    let id = 0;
    let stored = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(hostile, { minLength: KINDS.length, maxLength: KINDS.length }),
        async (fields) => {
          const row: Value[] = [++id];
          for (const [i, [kind, type]] of KINDS.entries()) {
            const f = jsonValue(fields[i], kind, type);
            row.push('why' in f ? null : f.value);
          }
          if (!chProblem(row)) expect(() => encode.map((e, i) => e(row[i] ?? null))).not.toThrow();
          if (duckProblem(row)) return;
          expect(await store.insertNew(spec, [row])).toBe(1);
          stored++;
        },
      ),
      { numRuns: 400 },
    );
    expect(stored).toBeGreaterThan(100);
    // 400 store transactions: about 5 s on a quiet machine, and more on a shared one.
  }, 60_000);
});
