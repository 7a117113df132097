// The staged path's TabSeparated fields (rendered by DuckDB SQL) against the row path's encoders,
// over random values of every kind ClickHouse stores from the staged path.
import { DuckDBInstance } from '@duckdb/node-api';
import { describe, expect, it } from 'vitest';
import {
  encoders,
  FLOAT_TEXT,
  floatText,
  tsvFieldsSql,
  uuidText,
} from '../engines/clickhouse/clickhouse-values.ts';
import type { Value } from '../policy/index.ts';
import type { StoreColumn } from '../store/store.ts';
import { numberTextFunction } from './staged-copy.ts';

const columns: StoreColumn[] = [
  { name: 'i', kind: 'integer', sourceType: 'integer' },
  { name: 'b', kind: 'bigint', sourceType: 'bigint' },
  { name: 'f', kind: 'float', sourceType: 'double precision' },
  { name: 'o', kind: 'boolean', sourceType: 'boolean' },
  { name: 's', kind: 'text', sourceType: 'text' },
  { name: 'u', kind: 'uuid', sourceType: 'text' },
  { name: 'd', kind: 'date', sourceType: 'date' },
  { name: 't', kind: 'timestamp', sourceType: 'timestamp' },
  { name: 'z', kind: 'timestamptz', sourceType: 'timestamptz' },
];
const TYPES = [
  'INTEGER',
  'BIGINT',
  'DOUBLE',
  'BOOLEAN',
  'VARCHAR',
  'UUID',
  'DATE',
  'TIMESTAMP',
  'TIMESTAMPTZ',
];
const MAX_MICROS = 49_710n * 86_400_000_000n - 1n;
const ALPHABET = ['a', 'Z', ' ', '\t', '\n', '\r', '\\', "'", '"', 'é', '😀', ',', '\\N', '0'];

/** One of a few chosen values, or a random one, or NULL. */
function pick<T>(special: readonly T[], random: () => T): T | null {
  const r = Math.random();
  if (r < 0.1) return null;
  if (r < 0.4) return special[Math.floor(Math.random() * special.length)] as T;
  return random();
}

const randomBig = () => BigInt.asIntN(64, BigInt(Math.floor(Math.random() * 2 ** 32)) * 4294967311n);

function randomRow(): Value[] {
  return [
    pick([0, -1, 2 ** 31 - 1, -(2 ** 31)], () => Math.floor((Math.random() - 0.5) * 2 ** 32)),
    pick([0n, -(2n ** 63n), 2n ** 63n - 1n], randomBig),
    pick(
      [
        0,
        -0,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        1.26976e26,
        1e21,
        1e-7,
        5e-324,
        0.1 + 0.2,
      ],
      () => (Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 60 - 30),
    ),
    pick([true, false], () => Math.random() < 0.5),
    pick(['', '\\', '\t\n\r', 'plain'], () =>
      Array.from(
        { length: Math.floor(Math.random() * 12) },
        () => ALPHABET[Math.floor(Math.random() * ALPHABET.length)],
      ).join(''),
    ),
    pick(
      [0n, 2n ** 128n - 1n],
      () => (randomBig() << 64n) ^ (BigInt.asUintN(64, randomBig()) & (2n ** 128n - 1n)),
    ),
    pick([0, 49_709], () => Math.floor(Math.random() * 49_710)),
    pick([0n, MAX_MICROS, 999_999n], () => BigInt(Math.floor(Math.random() * Number(MAX_MICROS)))),
    pick([0n, MAX_MICROS, 1_000_000n], () => BigInt(Math.floor(Math.random() * Number(MAX_MICROS)))),
  ];
}

/** A value as a DuckDB literal of the column's type. */
function literal(v: Value, i: number): string {
  if (v === null) return `NULL::${TYPES[i]}`;
  const kind = (columns[i] as StoreColumn).kind;
  if (kind === 'float') return `CAST('${Object.is(v, -0) ? '-0.0' : String(v)}' AS DOUBLE)`;
  if (kind === 'text') return `'${String(v).replaceAll("'", "''")}'`;
  if (kind === 'uuid') return `'${uuidText(BigInt.asUintN(128, v as bigint))}'::UUID`;
  if (kind === 'date') return `(DATE '1970-01-01' + ${v})`;
  if (kind === 'timestamp') return `make_timestamp(${v})`;
  if (kind === 'timestamptz') return `make_timestamp(${v})::TIMESTAMPTZ`;
  return `CAST('${String(v)}' AS ${TYPES[i]})`;
}

describe('tsvFieldsSql', () => {
  it('renders every value as the row path encodes it', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    try {
      await db.run(`SET TimeZone = 'UTC'`);
      db.registerScalarFunction(numberTextFunction(FLOAT_TEXT, floatText));
      const rows = Array.from({ length: 3000 }, randomRow);
      for (const r of rows) if (r[5] !== null) r[5] = BigInt.asUintN(128, r[5] as bigint);
      await db.run(
        `CREATE TABLE t (k INTEGER, ${columns.map((c, i) => `"${c.name}" ${TYPES[i]}`).join(', ')})`,
      );
      for (let at = 0; at < rows.length; at += 500) {
        const values = rows
          .slice(at, at + 500)
          .map((r, j) => `(${at + j}, ${r.map(literal).join(', ')})`)
          .join(', ');
        await db.run(`INSERT INTO t VALUES ${values}`);
      }
      const sql = tsvFieldsSql(columns, (name) => `"${name}"`);
      const got = (await db.runAndReadAll(`SELECT ${sql} FROM t ORDER BY k`)).getRows().map((r) => r[0]);
      const enc = encoders('t', columns);
      const want = rows.map((r) => r.map((v, i) => (enc[i] as (v: Value) => string)(v)).join('\t'));
      for (const [i, line] of want.entries()) expect(got[i], `row ${i}`).toBe(line);
    } finally {
      db.closeSync();
      instance.closeSync();
    }
  });
});
