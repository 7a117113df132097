import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duckdb, type Engine } from '../../src/engines/index.ts';
import { parseMetrics } from '../../src/metrics/index.ts';
import type { Value } from '../../src/policy/index.ts';
import type { StoreColumn, StoreTableSpec } from '../../src/store/index.ts';
import { overEvents } from './event-metrics.ts';

/**
 * A small store whose every population is known by construction, for tests that need exact
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
  await writeSmallStore(duckdb, path);
  return path;
}

const text = (name: string): StoreColumn => ({ name, kind: 'text', sourceType: 'text' });
const uuid = (name: string): StoreColumn => ({ name, kind: 'uuid', sourceType: 'bigint' });
const time = (name: string): StoreColumn => ({
  name,
  kind: 'timestamptz',
  sourceType: 'timestamp with time zone',
});
const int = (name: string): StoreColumn => ({ name, kind: 'integer', sourceType: 'integer' });
/** A plain `numeric`: DECIMAL(30,10), up to 20 integer digits (decimal-shape.ts). */
const decimal = (name: string): StoreColumn => ({ name, kind: 'decimal', sourceType: 'numeric' });

export const DEVICES: StoreTableSpec = {
  name: 'devices',
  columns: [
    uuid('id'),
    uuid('user_id'),
    text('product_model'),
    text('firmware_version'),
    text('region'),
    time('activated_at'),
  ],
  key: ['id'],
  shardBy: 'user_id',
};
export const EVENTS_TABLE: StoreTableSpec = {
  name: 'connection_events',
  columns: [
    uuid('id'),
    uuid('device_id'),
    time('ts'),
    text('outcome'),
    text('error_code'),
    int('rssi'),
    int('duration_ms'),
    decimal('fee'),
  ],
  key: ['id'],
  shardBy: 'device_id',
};

/** A pseudonym (UUID, as the store takes it) for number `n` of a kind of thing. */
const id = (kind: number, n: number) =>
  (BigInt(kind) << 96n) | (0x4000n << 64n) | (0x8000n << 48n) | BigInt(n);
const device = (i: number) => id(1, i);
/** Microseconds since 1970 (UTC). */
const at = (iso: string, seconds: number) => BigInt(Date.parse(iso) + seconds * 1000) * 1000n;
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);

function deviceRow(i: number): Value[] {
  const model = i <= 150 ? 'cam' : i <= 200 ? 'plug' : 'lamp';
  const firmware =
    i <= 60 ? '1.0' : i <= 100 ? '2.0' : i <= 147 ? '2.5' : i <= 150 ? '9.9' : i <= 200 ? 'p1' : 'l1';
  return [device(i), id(2, i), model, firmware, i % 2 === 1 ? 'eu' : 'us', at('2026-09-01T00:00:00Z', 0)];
}

/** Every failed attempt's fee: 20 integer digits, as wide as a stored decimal may be. */
export const FEE = '12345678901234567890.5';

const failing = (i: number) =>
  i <= 40 || (i >= 61 && i <= 75) || (i >= 101 && i <= 105) || (i >= 148 && i <= 150);

function eventRows(): Value[][] {
  const rows: Value[][] = [];
  for (const i of range(1, 212)) {
    for (const j of [0, 1]) {
      const ts = at('2026-10-06T12:00:00Z', i * 60 + j);
      rows.push([id(3, i * 2 + j), device(i), ts, 'success', null, -60, i >= 190 ? null : 100, null]);
    }
  }
  for (const i of range(1, 212).filter(failing)) {
    const code = i <= 4 ? 'E_DNS' : i <= 24 || i >= 148 ? 'E_TLS' : 'E_AUTH';
    const ms = i >= 25 && i <= 30 ? null : 5000;
    rows.push([id(4, i), device(i), at('2026-10-07T12:00:00Z', i), 'fail', code, -80, ms, FEE]);
  }
  return rows;
}

/**
 * Writes the small store's rows (the table above) through an engine's own writer, k = 10: the
 * same rows on every engine, so every engine must give the same answers.
 */
export async function writeSmallStore(engine: Engine, location: string): Promise<void> {
  const store = await engine.openStore(location);
  try {
    await store.bindKey('small-store');
    await store.setMeta('k', '10');
    for (const [spec, rows] of [
      [DEVICES, range(1, 212).map(deviceRow)],
      [EVENTS_TABLE, eventRows()],
    ] as const) {
      const w = await store.openWriter(spec, 'append');
      await w.writeBatch(rows, [], 'small');
      await w.finish('small');
    }
  } finally {
    await store.close();
  }
}

const EVENTS = overEvents([
  'outcome',
  'error_code',
  'devices.product_model',
  'devices.firmware_version',
  'devices.region',
]);

/** Metrics over the small store (YAML): every measure kind, with and without `where`. */
export const SMALL_METRICS_YAML = `version: 1
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
  failed_fees:
    measure: { sum: fee, where: { outcome: fail } }
    ${EVENTS}
  mean_fee:
    measure: { avg: fee }
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
`;

export const SMALL_METRICS = parseMetrics(SMALL_METRICS_YAML, 'small.metrics.yaml');

/** The statement that grew a server past 9 GB for three minutes (issue 13): one expression, no interrupt. */
export const WORST_SQL = "SELECT length(list_aggr(range(0, 100000000), 'list'))";
