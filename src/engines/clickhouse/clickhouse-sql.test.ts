import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSql } from '../duckdb/sql-guard.ts';
import { DecimalText, refuseNamedSet, sameTokens } from './clickhouse-sql.ts';

const TABLES = new Set(['payments', 'devices']);
const DECIMALS = new Set(['amount']);

let db: DuckDBConnection;
beforeAll(async () => {
  db = await (await DuckDBInstance.create(':memory:')).connect();
});
afterAll(() => db.closeSync());

/** The refusal `DecimalText` gives a statement on a server before 20, or undefined. */
async function verdict(sql: string, decimals: ReadonlySet<string> = DECIMALS): Promise<string | undefined> {
  const watch = new DecimalText(decimals);
  await checkSql(db, sql, TABLES, {
    names: new Set(),
    prefixes: [],
    generators: new Set(),
    inspect: watch.inspect,
  });
  try {
    watch.refuseText();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('DecimalText: decimals turned into text, refused on ClickHouse before 20', () => {
  it.each([
    // The attacks: a wide decimal made or summed, then printed inside the statement.
    ["SELECT length(toString(toDecimal128('99999999999999999999999999', 0))) AS n FROM devices", 'tostring'],
    ['SELECT length(toString(sum(amount) * 1000000)) FROM payments', 'tostring'],
    ['SELECT toString(a) FROM (SELECT amount AS a FROM payments) AS t', 'tostring'],
    ['WITH t AS (SELECT * FROM payments) SELECT concat(toString(1), x) FROM t', 'concat'],
    ['SELECT visibleWidth(x) FROM (SELECT * FROM payments) AS t', 'visiblewidth'],
    ['SELECT CAST(sum(amount) AS String) FROM payments', 'a cast to text'],
    ['SELECT CAST(CAST(1 AS Decimal(38, 0)) AS FixedString(40)) FROM devices', 'a cast to text'],
    ['SELECT CAST(p.amount AS text) FROM payments AS p', 'a cast to text'],
    ["SELECT toString(JSONExtract('{}', 'a', 'Decimal128(0)')) FROM devices", 'tostring'],
    ['SELECT toStringCutToZero(toString(AMOUNT)) FROM payments', 'tostringcuttozero'],
  ])('refuses %s', async (sql, named) => {
    const message = await verdict(sql);
    expect(message).toContain(named);
    expect(message).toContain('ClickHouse 20 or newer');
    expect(message).not.toContain('9999');
  });

  it.each([
    // ClickHouse's function-style CAST takes its type as a string a statement can compute.
    [
      "SELECT max(length(toString(\"CAST\"('9999999999999999999999999999', reverse(')0(821lamiceD'))))) AS n FROM devices",
      'function tostring',
    ],
    ["SELECT max(length(\"CAST\"(toDecimal128('9', 0), 'String'))) AS n FROM devices", 'function cast'],
    ["SELECT toString(arrayReduce('sum', [toDecimal64('1', 0)])) FROM devices", 'function tostring'],
  ])('refuses a type or function named by a string: %s', async (sql, named) => {
    expect(await verdict(sql)).toContain(named);
  });

  it.each([
    // Text without decimals, decimals without text: answered (the result's columns are still
    // described before the statement runs).
    'SELECT toString(count()) AS n FROM devices',
    "SELECT concat('a', toString(toStartOfWeek(now()))) FROM devices",
    'SELECT toFloat64(sum(amount)) AS total FROM payments',
    "SELECT toDecimal64(sum(amount), 2) FROM payments WHERE 1 = 1 AND 'x' = 'x'",
    'SELECT count() FROM payments',
    // Formatting that cannot take a decimal, beside a decimal sum cast to a float.
    "SELECT formatDateTime(toStartOfDay(now()), '%Y-%m-%d') AS d, toFloat64(sum(amount)) AS total FROM payments GROUP BY d",
    "SELECT splitByChar(',', 'a,b'), rand32(), generateUUIDv4(), toFloat64(sum(amount)) FROM payments",
  ])('answers %s', async (sql) => {
    expect(await verdict(sql)).toBeUndefined();
  });

  it('takes * as reading every column only while some table holds a decimal', async () => {
    // DuckDB's tree keeps toString(*) as toString() with no argument: taken as a star.
    for (const sql of ['SELECT toString(*) FROM devices', "SELECT toString(COLUMNS('a')) FROM devices"]) {
      expect(await verdict(sql)).toContain('tostring');
      expect(await verdict(sql, new Set())).toBeUndefined();
    }
    expect(await verdict('SELECT toString(now()), count(*) FROM devices')).toBeUndefined();
  });
});

describe('sameTokens: what the guard parses is what ClickHouse runs', () => {
  it.each([
    ['SELECT 1 AS a /* /* */ , (SELECT count() FROM system.tables) AS n -- */', 'a comment at character 15'],
    ['SELECT 1 -- x', 'a comment'],
    ['SELECT 1 # x', 'a comment'],
    ['SELECT 1 */ 2', 'a comment'],
    ["SELECT 'a\\' AS a, (SELECT 1 FROM system.tables) AS n, ' ' AS b", 'a backslash in a quoted text'],
    ['SELECT "a\\"" FROM devices', 'a backslash in a quoted text'],
    ['SELECT 1 AS a\u0000, name FROM system.tables', 'a character outside printable ASCII'],
    ["SELECT 'a\u0000b'", 'a control character'],
    ['SELECT $$x$$', 'the character "$"'],
    ['SELECT `x` FROM devices', 'the character "`"'],
    ['SELECT 1\u00a0AS a', 'a character outside printable ASCII'],
    ["SELECT 'open", 'a quoted text not closed'],
  ])('refuses %j', (sql, why) => {
    expect(() => sameTokens(sql)).toThrow(why);
  });

  it.each([
    "SELECT count() AS n FROM devices WHERE region = 'eu'",
    'SELECT \'it\'\'s -- not a comment /* nor this */ # nor this $1\' AS a, "odd ""name""" FROM devices',
    "SELECT 'héllo' AS greeting,\n\tcount(*) FROM devices;",
    'SELECT 10 / 2 * 3 AS n',
  ])('lets %j through', (sql) => {
    expect(() => sameTokens(sql)).not.toThrow();
  });
});

describe('refuseNamedSet: the set of an IN is values or a subquery, never a name ClickHouse reads as a table', () => {
  const check = (sql: string) =>
    checkSql(db, sql, TABLES, {
      names: new Set(),
      prefixes: [],
      generators: new Set(),
      inspect: refuseNamedSet,
    });
  it.each([
    'SELECT 0 IN system.one AS a',
    'SELECT 0 IN (devices) AS a',
    'SELECT 0 NOT IN (true) AS a',
    'SELECT 0 IN (false, 1) AS a',
    'SELECT id FROM devices WHERE id IN (current_date)',
    'SELECT 0 IN numbers(10) AS a',
    "SELECT 0 NOT IN (merge('system', '^one$')) AS a",
  ])('refuses %s', async (sql) => {
    await expect(check(sql)).rejects.toThrow('the set of an IN is a name, a word or a single call');
  });
  it.each([
    "SELECT id FROM devices WHERE region IN ('eu', 'us')",
    'SELECT id FROM devices WHERE id NOT IN (1, -2, 3 + 4)',
    'SELECT id FROM devices WHERE id IN (SELECT id FROM payments)',
    "SELECT id FROM devices WHERE day IN (toDate('2026-01-01'), CAST('2026-01-02' AS DATE))",
    "SELECT id FROM devices WHERE day IN (CAST('2026-01-02' AS DATE))",
  ])('answers %s', async (sql) => {
    await expect(check(sql)).resolves.toBeUndefined();
  });
});
