import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPlan, checkSql, guardedSql, lockForAnalysts } from './sql-guard.ts';

const TABLES = new Set(['devices', 'connection_events']);

const HOSTILE = [
  'DELETE FROM devices',
  "UPDATE devices SET region = 'x'",
  'INSERT INTO devices SELECT * FROM devices',
  'DROP TABLE devices',
  'CREATE TABLE x AS SELECT 1',
  'ALTER TABLE devices ADD COLUMN x INT',
  'SELECT 1; SELECT 2',
  'SELECT 1; DROP TABLE devices',
  "COPY devices TO '/tmp/out.csv'",
  "ATTACH '/tmp/other.db' AS o",
  'DETACH main',
  'INSTALL httpfs',
  'LOAD httpfs',
  'PRAGMA database_list',
  "PRAGMA enable_profiling = 'json'",
  'SET threads = 1',
  'SET enable_external_access = true',
  'RESET ALL',
  "SELECT * FROM read_csv('/etc/passwd')",
  "SELECT * FROM read_text('/etc/hostname')",
  "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
  "SELECT * FROM 'data.csv'",
  "SELECT * FROM glob('/*')",
  "SELECT getenv('HOME')",
  "SELECT current_setting('memory_limit')",
  'SELECT * FROM duckdb_settings()',
  'SELECT * FROM duckdb_tables()',
  'SELECT * FROM information_schema.tables',
  'SELECT * FROM pg_catalog.pg_class',
  'SELECT * FROM _fv_meta',
  'FROM _fv_forgotten',
  // A CTE named after a protected table does not hide it from its own body.
  'WITH _fv_meta AS (FROM _fv_meta) FROM _fv_meta',
  'WITH RECURSIVE _fv_meta AS (SELECT * FROM _fv_meta) SELECT * FROM _fv_meta',
  'WITH x AS (SELECT 1), _fv_meta AS (FROM _fv_meta) FROM _fv_meta',
  'WITH devices AS (FROM _fv_meta) FROM devices',
  // A recursive CTE's anchor: whatever it binds to, the plan shows it.
  'WITH RECURSIVE _fv_meta AS (SELECT * FROM _fv_meta UNION ALL SELECT * FROM _fv_meta WHERE false) SELECT * FROM _fv_meta',
  'WITH RECURSIVE r AS (SELECT key FROM _fv_meta UNION ALL SELECT key FROM r WHERE false) SELECT * FROM r',
  "SELECT * FROM '_fv_meta'",
  "FROM 's.duckdb'",
  'SELECT * FROM devices, (SELECT * FROM _fv_meta)',
  'SELECT (SELECT count(*) FROM _fv_forgotten) AS n',
  'SELECT count(*) FROM devices WHERE EXISTS (FROM _fv_forgotten)',
  'WITH _fv_forgotten AS (SELECT * FROM _fv_forgotten) SELECT (SELECT count(*) FROM _fv_forgotten)',
  'WITH information_schema AS (SELECT 1) FROM information_schema.tables',
  'WITH sqlite_master AS (FROM sqlite_master) FROM sqlite_master',
  'SELECT * FROM s.main._fv_meta',
  'SELECT * FROM s.main.devices',
  'SELECT * FROM system.main.duckdb_tables',
  'FROM sqlite_master',
  'FROM duckdb_settings()',
  'SELECT current_database()',
  'SELECT version()',
  'SHOW TABLES',
  'SHOW ALL TABLES',
  'SHOW DATABASES',
  'SHOW VARIABLES',
  'SHOW devices',
  'DESCRIBE devices',
  'DESCRIBE SELECT * FROM devices',
  'SUMMARIZE devices',
  "PRAGMA table_info('devices')",
  'PRAGMA show_tables',
  "CALL pragma_table_info('devices')",
  'PIVOT devices ON region USING count(*)',
  'SELECT * FROM main._fv_tables',
  'SELECT * FROM other.main.devices',
  'SELECT * FROM sqlite_master',
  "SELECT * FROM query('SELECT * FROM _fv_meta')",
  "SELECT * FROM query_table('_fv_meta')",
  'SELECT * FROM devices /* ; DROP TABLE devices */ WHERE 1=1; DELETE FROM devices',
  "SELECT 'x'; -- \nDROP TABLE devices",
  'SELECT * FROM "_fv_meta"',
  'WITH m AS (SELECT * FROM _fv_meta) SELECT * FROM m',
  'SELECT (SELECT value FROM _fv_meta LIMIT 1)',
  'SELECT * FROM devices WHERE id IN (SELECT key FROM _fv_meta)',
  "SELECT json_execute_serialized_sql('{}')",
  "EXPORT DATABASE '/tmp/x'",
  'CHECKPOINT',
  'VACUUM',
  'BEGIN TRANSACTION',
  'CALL pragma_version()',
  'SUMMARIZE _fv_meta',
  'DESCRIBE _fv_meta',
  'EXPLAIN ANALYZE SELECT 1',
  'EXPLAIN SELECT * FROM devices',
];

const LEGIT = [
  'SELECT count(*) FROM devices',
  'SELECT product_model, count(*) AS n FROM devices GROUP BY 1 ORDER BY 2 DESC',
  "SELECT d.region, avg((e.outcome = 'fail')::INT) FROM connection_events e JOIN devices d ON d.id = e.device_id GROUP BY ALL",
  "WITH recent AS (SELECT * FROM connection_events WHERE ts > TIMESTAMPTZ '2026-01-01') SELECT count(*) FROM recent",
  "SELECT date_trunc('week', ts) AS w, quantile_cont(rssi, 0.5) FROM connection_events GROUP BY 1",
  'SELECT * FROM devices LIMIT 5',
  "SELECT 'it''s; not DROP TABLE devices' AS s",
  // A CTE may take any name; what it reads is what counts.
  'WITH duckdb_tables AS (SELECT 1 AS x) SELECT * FROM duckdb_tables',
  "WITH devices AS (SELECT * FROM devices WHERE region = 'eu') SELECT count(*) FROM devices",
  'WITH a AS (SELECT * FROM devices), b AS (SELECT * FROM a) SELECT count(*) FROM b',
  'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r',
  'SELECT * FROM range(3)',
  'SELECT * FROM generate_series(1, 3)',
  'SELECT unnest([1, 2, 3])',
  'SELECT * FROM (VALUES (1), (2)) t(x)',
  'SELECT d.region, e.n FROM devices d, LATERAL (SELECT count(*) AS n FROM connection_events c WHERE c.device_id = d.id) e',
];

describe('SQL guard', () => {
  let instance: DuckDBInstance;
  let db: DuckDBConnection;

  beforeAll(async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'fv-guard-')), 's.duckdb');
    const w = await DuckDBInstance.create(path);
    const c = await w.connect();
    await c.run('CREATE TABLE devices (id UUID, product_model VARCHAR, region VARCHAR)');
    await c.run(
      'CREATE TABLE connection_events (id UUID, device_id UUID, ts TIMESTAMPTZ, outcome VARCHAR, rssi INTEGER)',
    );
    await c.run('CREATE TABLE _fv_meta (key VARCHAR, value VARCHAR)');
    await c.run("INSERT INTO _fv_meta VALUES ('k', 'SECRET-META')");
    await c.run('CREATE TABLE _fv_forgotten (domain VARCHAR, pseudonym VARCHAR)');
    await c.run("INSERT INTO _fv_forgotten VALUES ('user', 'SECRET-ERASED')");
    await c.run('CREATE VIEW meta_view AS SELECT * FROM _fv_meta');
    await c.run("INSERT INTO devices SELECT uuid(), 'cam', 'eu' FROM range(10)");
    c.closeSync();
    w.closeSync();
    instance = await DuckDBInstance.create(path, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
    });
    db = await instance.connect();
    await lockForAnalysts(db);
  });

  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  const run = (sql: string, tables: ReadonlySet<string> = TABLES) => guardedSql(db, sql, tables, 's', 100);

  it.each(HOSTILE)('refuses: %s', async (sql) => {
    await expect(run(sql)).rejects.toMatchObject({
      code: expect.stringMatching(/^FV_SQL_(REFUSED|FAILED)$/),
    });
  });

  it.each(LEGIT)('allows: %s', async (sql) => {
    await expect(checkSql(db, sql, TABLES)).resolves.toBeUndefined();
    await expect(run(sql)).resolves.toBeDefined();
  });

  it('decides on the bound plan: a name allowed by mistake still cannot reach what it binds to', async () => {
    // If the allow-list named a view over internal state, or a catalog view, the parse tree would
    // pass; the plan shows what they read.
    const wrong = new Set([...TABLES, 'meta_view', 'sqlite_master', 'duckdb_settings']);
    for (const sql of ['SELECT * FROM meta_view', 'SELECT * FROM sqlite_master']) {
      await expect(checkSql(db, sql, wrong)).resolves.toBeUndefined();
      await expect(checkPlan(db, sql, wrong, 's')).rejects.toMatchObject({
        code: 'FV_SQL_REFUSED',
        message: expect.stringMatching(/is not an analytics table/),
      });
    }
    // Shadowing by a recursive CTE's anchor, checked on the plan alone: it binds to the table.
    await expect(
      checkPlan(
        db,
        'WITH RECURSIVE _fv_meta AS (SELECT * FROM _fv_meta UNION ALL SELECT * FROM _fv_meta WHERE false) SELECT * FROM _fv_meta',
        TABLES,
        's',
      ),
    ).rejects.toMatchObject({ code: 'FV_SQL_REFUSED', message: expect.stringMatching(/s\.main\._fv_meta/) });
    // A count the optimizer folds into a constant still shows its table in the bound plan.
    await expect(checkPlan(db, 'SELECT count(*) FROM _fv_forgotten', TABLES, 's')).rejects.toMatchObject({
      code: 'FV_SQL_REFUSED',
    });
    await expect(checkPlan(db, 'SELECT count(*) FROM devices', TABLES, 's')).resolves.toBeUndefined();
    // Another catalog's table of the same name is not ours.
    await expect(checkPlan(db, 'SELECT count(*) FROM devices', TABLES, 'other')).rejects.toMatchObject({
      code: 'FV_SQL_REFUSED',
    });
  });

  it('caps rows', async () => {
    const capped = await guardedSql(db, 'SELECT * FROM devices', TABLES, 's', 3);
    expect(capped.rows.length).toBe(3);
    expect(capped.truncated).toBe(true);
  });

  it('whatever string it lets through reads nothing but the allowed tables (property)', async () => {
    const pieces = fc.constantFrom(
      'SELECT',
      '*',
      'FROM',
      'devices',
      '_fv_meta',
      "read_csv('/etc/passwd')",
      ';',
      'DROP TABLE devices',
      'WHERE',
      '1=1',
      '--',
      '/*',
      '*/',
      "'",
      '"',
      "getenv('HOME')",
      'UNION ALL',
      'SELECT 1',
      '(',
      ')',
      'duckdb_tables()',
      'WITH _fv_meta AS (FROM _fv_meta)',
      'WITH devices AS (SELECT * FROM _fv_forgotten)',
      'FROM',
      'sqlite_master',
      'SHOW',
      'DESCRIBE',
      'x',
      ',',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { minLength: 1, maxLength: 12 }), async (parts) => {
        const sql = parts.join(' ');
        try {
          const r = await guardedSql(db, sql, TABLES, 's', 50);
          const text = JSON.stringify(r);
          expect(text).not.toContain('SECRET-META');
          expect(text).not.toContain('SECRET-ERASED');
          expect(text).not.toContain('root:');
        } catch (error) {
          expect((error as { code?: string }).code).toMatch(/^FV_SQL_(REFUSED|FAILED)$/);
          expect(String((error as Error).message)).not.toContain('SECRET-META');
        }
      }),
      { numRuns: 400 },
    );
  });
});
