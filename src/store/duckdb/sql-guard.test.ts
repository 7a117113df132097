import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSql, guardedSql } from './sql-guard.ts';

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
];

const LEGIT = [
  'SELECT count(*) FROM devices',
  'SELECT product_model, count(*) AS n FROM devices GROUP BY 1 ORDER BY 2 DESC',
  "SELECT d.region, avg((e.outcome = 'fail')::INT) FROM connection_events e JOIN devices d ON d.id = e.device_id GROUP BY ALL",
  "WITH recent AS (SELECT * FROM connection_events WHERE ts > TIMESTAMPTZ '2026-01-01') SELECT count(*) FROM recent",
  "SELECT date_trunc('week', ts) AS w, quantile_cont(rssi, 0.5) FROM connection_events GROUP BY 1",
  'SELECT * FROM devices LIMIT 5',
  "SELECT 'it''s; not DROP TABLE devices' AS s",
  'SUMMARIZE devices',
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
    await c.run("INSERT INTO devices SELECT uuid(), 'cam', 'eu' FROM range(10)");
    c.closeSync();
    w.closeSync();
    instance = await DuckDBInstance.create(path, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
    });
    db = await instance.connect();
    await db.run('SET lock_configuration = true');
  });

  afterAll(() => {
    db?.closeSync();
    instance?.closeSync();
  });

  it.each(HOSTILE)('refuses: %s', async (sql) => {
    await expect(guardedSql(db, sql, TABLES, { maxRows: 100, timeoutMs: 5000 })).rejects.toMatchObject({
      code: expect.stringMatching(/^FV_SQL_(REFUSED|FAILED)$/),
    });
  });

  it.each(LEGIT)('allows: %s', async (sql) => {
    await expect(checkSql(db, sql, TABLES)).resolves.toBeUndefined();
    await expect(guardedSql(db, sql, TABLES, { maxRows: 100, timeoutMs: 5000 })).resolves.toBeDefined();
  });

  it('caps rows and stops long queries', async () => {
    const capped = await guardedSql(db, 'SELECT * FROM devices', TABLES, { maxRows: 3, timeoutMs: 5000 });
    expect(capped.rows.length).toBe(3);
    expect(capped.truncated).toBe(true);
    const slow =
      'SELECT count(*) FROM devices a, devices b, devices c, devices d, devices e, devices f, devices g, devices h, devices i, devices j';
    await expect(guardedSql(db, slow, TABLES, { maxRows: 10, timeoutMs: 200 })).rejects.toMatchObject({
      code: 'FV_SQL_REFUSED',
    });
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
      'x',
      ',',
    );
    await fc.assert(
      fc.asyncProperty(fc.array(pieces, { minLength: 1, maxLength: 12 }), async (parts) => {
        const sql = parts.join(' ');
        try {
          const r = await guardedSql(db, sql, TABLES, { maxRows: 50, timeoutMs: 2000 });
          const text = JSON.stringify(r);
          expect(text).not.toContain('SECRET-META');
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
