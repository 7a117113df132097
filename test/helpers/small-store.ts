import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseMetrics } from '../../src/metrics/index.ts';

/**
 * A small DuckDB store whose every population is known by construction, for tests that need exact
 * numbers of people behind each group. One week (Monday 2026-10-05), k = 10, 212 users with one
 * device each:
 *
 * | users    | product | firmware | fails (2026-10-07, one each)          |
 * |----------|---------|----------|---------------------------------------|
 * | 1–60     | cam     | 1.0      | 1–4 E_DNS, 5–24 E_TLS, 25–40 E_AUTH   |
 * | 61–100   | cam     | 2.0      | 61–75 E_AUTH                          |
 * | 101–147  | cam     | 2.5      | 101–105 E_AUTH                        |
 * | 148–150  | cam     | 9.9      | 148–150 E_TLS                         |
 * | 151–200  | plug    | p1       | none                                  |
 * | 201–212  | lamp    | l1       | none                                  |
 *
 * Every device also has two successful attempts (error_code NULL, rssi -60, duration 100 ms).
 * Fails have rssi -80 and duration 5000 ms. NULL durations: the fails of users 25–30, and every
 * attempt of users 190–212 (so no lamp has one). Odd users live in `eu`, even ones in `us`.
 */
export async function smallStore(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'fv-small-')), 'store.duckdb');
  const instance = await DuckDBInstance.create(path);
  const db = await instance.connect();
  try {
    await db.run(`CREATE TABLE devices AS SELECT md5('d' || i)::UUID AS id, md5('u' || i)::UUID AS user_id,
      CASE WHEN i <= 150 THEN 'cam' WHEN i <= 200 THEN 'plug' ELSE 'lamp' END AS product_model,
      CASE WHEN i <= 60 THEN '1.0' WHEN i <= 100 THEN '2.0' WHEN i <= 147 THEN '2.5' WHEN i <= 150 THEN '9.9'
           WHEN i <= 200 THEN 'p1' ELSE 'l1' END AS firmware_version,
      CASE WHEN i % 2 = 1 THEN 'eu' ELSE 'us' END AS region,
      TIMESTAMPTZ '2026-09-01 00:00:00+00' AS activated_at
      FROM range(1, 213) t(i)`);
    await db.run(`CREATE TABLE connection_events AS
      SELECT md5('s' || i || '-' || j)::UUID AS id, md5('d' || i)::UUID AS device_id,
             TIMESTAMPTZ '2026-10-06 12:00:00+00' + to_seconds(i * 60 + j) AS ts, 'success' AS outcome,
             NULL::VARCHAR AS error_code, -60 AS rssi, CASE WHEN i >= 190 THEN NULL ELSE 100 END AS duration_ms
        FROM range(1, 213) a(i), range(2) b(j)
      UNION ALL
      SELECT md5('f' || i)::UUID, md5('d' || i)::UUID, TIMESTAMPTZ '2026-10-07 12:00:00+00' + to_seconds(i), 'fail',
             CASE WHEN i <= 4 THEN 'E_DNS' WHEN i <= 24 OR i >= 148 THEN 'E_TLS' ELSE 'E_AUTH' END,
             -80, CASE WHEN i BETWEEN 25 AND 30 THEN NULL ELSE 5000 END
        FROM range(1, 213) a(i) WHERE i <= 40 OR i BETWEEN 61 AND 75 OR i BETWEEN 101 AND 105 OR i BETWEEN 148 AND 150`);
    await db.run('CREATE TABLE _fv_meta (key VARCHAR, value VARCHAR)');
    await db.run("INSERT INTO _fv_meta VALUES ('k', '10')");
    await db.run('CREATE TABLE _fv_tables (name VARCHAR, columns VARCHAR)');
    await db.run("INSERT INTO _fv_tables VALUES ('devices', '[]'), ('connection_events', '[]')");
  } finally {
    db.closeSync();
    instance.closeSync();
  }
  return path;
}

const EVENTS = `from: connection_events
    join: { devices: { on: [device_id, id] } }
    unit: devices.user_id
    time: ts
    dimensions: [outcome, error_code, devices.product_model, devices.firmware_version, devices.region]`;

/** Metrics over the small store: every measure kind, with and without `where`. */
export const SMALL_METRICS = parseMetrics(
  `version: 1
privacy_unit: user
metrics:
  connection_attempts:
    measure: { count: rows }
    ${EVENTS}
  connection_failures:
    measure: { count: rows, where: { outcome: fail } }
    ${EVENTS}
  failing_devices:
    measure: { count_distinct: device_id, where: { outcome: fail } }
    ${EVENTS}
  failed_wait_ms:
    measure: { sum: duration_ms, where: { outcome: fail } }
    ${EVENTS}
  failing_signal:
    measure: { avg: rssi, where: { outcome: fail } }
    ${EVENTS}
  failure_rate:
    measure: { ratio: [ { count: rows, where: { outcome: fail } }, { count: rows } ] }
    ${EVENTS}
  tls_share_of_failures:
    measure: { ratio: [ { count: rows, where: { error_code: E_TLS } }, { count: rows, where: { outcome: fail } } ] }
    ${EVENTS}
  attempt_duration:
    measure: { percentiles: [0.5], of: duration_ms }
    ${EVENTS}
`,
  'small.metrics.yaml',
);

/** The statement that grew a server past 9 GB for three minutes (issue 13): one expression, no interrupt. */
export const WORST_SQL = "SELECT length(list_aggr(range(0, 100000000), 'list'))";
