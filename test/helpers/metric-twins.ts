import type { Grain } from '../../src/metrics/index.ts';
import { overEvents } from './event-metrics.ts';

/**
 * A metric written by hand on the production schema, with raw ids. Columns: p (period), d (the
 * dimension), v (the value), u (the users the k gate applies to: those behind the value, for a
 * ratio the smaller side), and for a ratio n and m, the users behind numerator and denominator.
 */
export interface Twin {
  readonly sql: (grain: Grain, dim: string) => string;
  readonly dim: string;
  readonly pgDim: string;
}

/** The shipped metrics written by hand on the production schema, with raw ids. */
export const PRODUCTION_SQL: Record<string, Twin> = {
  activations: {
    dim: 'product_model',
    pgDim: 'product_model',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', activated_at AT TIME ZONE 'UTC')::date::text p, ${d}::text d, count(*)::float8 v, count(DISTINCT user_id) u FROM devices WHERE activated_at >= $1 AND activated_at < $2 GROUP BY 1, 2`,
  },
  active_devices: {
    dim: 'devices.region',
    pgDim: 'd.region',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', e.ts AT TIME ZONE 'UTC')::date::text p, ${d}::text d, count(DISTINCT e.device_id)::float8 v, count(DISTINCT d.user_id) u FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1 AND e.ts < $2 GROUP BY 1, 2`,
  },
  connection_attempts: {
    dim: 'error_code',
    pgDim: 'e.error_code',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', e.ts AT TIME ZONE 'UTC')::date::text p, ${d}::text d, count(*)::float8 v, count(DISTINCT d.user_id) u FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1 AND e.ts < $2 GROUP BY 1, 2`,
  },
  connection_failures: {
    dim: 'error_code',
    pgDim: 'e.error_code',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', e.ts AT TIME ZONE 'UTC')::date::text p, ${d}::text d, count(*)::float8 v, count(DISTINCT d.user_id) u FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1 AND e.ts < $2 AND e.outcome = 'fail' GROUP BY 1, 2`,
  },
  connection_failure_rate: {
    dim: 'devices.firmware_version',
    pgDim: 'd.firmware_version',
    sql: (g, d) =>
      `SELECT p, d, v, least(n, m) u, n, m FROM (SELECT date_trunc('${g}', e.ts AT TIME ZONE 'UTC')::date::text p, ${d}::text d, (count(*) FILTER (WHERE e.outcome = 'fail'))::float8 / count(*) v, count(DISTINCT d.user_id) FILTER (WHERE e.outcome = 'fail') n, count(DISTINCT d.user_id) m FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1 AND e.ts < $2 GROUP BY 1, 2) x`,
  },
  time_to_first_connection: {
    dim: 'product_model',
    pgDim: 'd.product_model',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', d.activated_at AT TIME ZONE 'UTC')::date::text p, ${d}::text d, percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM fa.t) - extract(epoch FROM d.activated_at)) v, count(DISTINCT d.user_id) u
       FROM devices d JOIN (SELECT e.device_id k, min(e.ts) t FROM connection_events e JOIN devices y ON y.id = e.device_id WHERE e.outcome = 'success' AND y.activated_at >= $1 AND y.activated_at < $2 AND e.ts >= $1 AND e.ts >= y.activated_at GROUP BY 1) fa ON fa.k = d.id
       WHERE d.activated_at >= $1 AND d.activated_at < $2 GROUP BY 1, 2`,
  },
  integration_adoption: {
    dim: 'provider',
    pgDim: 'provider',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', linked_at AT TIME ZONE 'UTC')::date::text p, ${d}::text d, count(DISTINCT user_id)::float8 v, count(DISTINCT user_id) u FROM integrations WHERE linked_at >= $1 AND linked_at < $2 GROUP BY 1, 2`,
  },
  firmware_adoption: {
    dim: 'firmware_version',
    pgDim: 'firmware_version',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', last_seen_at AT TIME ZONE 'UTC')::date::text p, ${d}::text d, count(DISTINCT id)::float8 v, count(DISTINCT user_id) u FROM devices WHERE last_seen_at >= $1 AND last_seen_at < $2 GROUP BY 1, 2`,
  },
};

const EVENTS = overEvents([
  'error_code',
  'devices.product_model',
  'devices.firmware_version',
  'devices.region',
]);

/**
 * Measures with `where`, over the demo schema, that the shipped file does not hold: one of each
 * kind (count_distinct, sum, avg, a ratio with both sides filtered, a percentile of a column).
 * Their twins gate on the users of exactly the rows each value is computed from.
 */
export const FILTERED_METRICS_YAML = `version: 1
privacy_unit: user
metrics:
  failing_devices:
    measure: { count_distinct: device_id, where: { outcome: fail } }
    ${EVENTS}
  failed_wait_ms:
    measure: { sum: duration_ms, where: { outcome: fail } }
    ${EVENTS}
  failing_signal:
    measure: { avg: rssi, where: { outcome: fail } }
    ${EVENTS}
  tls_share_of_failures:
    measure: { ratio: [ { count: rows, where: { error_code: E_TLS } }, { count: rows, where: { outcome: fail } } ] }
    ${EVENTS}
  attempt_duration_p50:
    measure: { percentiles: [0.5], of: duration_ms }
    ${EVENTS}
`;

const eventsTwin =
  (value: string, where: string, users = 'count(DISTINCT d.user_id) u'): Twin['sql'] =>
  (g, d) =>
    `SELECT date_trunc('${g}', e.ts AT TIME ZONE 'UTC')::date::text p, ${d}::text d, ${value} v, ${users} FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1 AND e.ts < $2 AND ${where} GROUP BY 1, 2`;

export const FILTERED_TWINS: Record<string, Twin> = {
  failing_devices: {
    dim: 'devices.region',
    pgDim: 'd.region',
    sql: eventsTwin('count(DISTINCT e.device_id)::float8', "e.outcome = 'fail'"),
  },
  failed_wait_ms: {
    dim: 'error_code',
    pgDim: 'e.error_code',
    sql: eventsTwin('sum(e.duration_ms)::float8', "e.outcome = 'fail' AND e.duration_ms IS NOT NULL"),
  },
  failing_signal: {
    dim: 'devices.product_model',
    pgDim: 'd.product_model',
    sql: eventsTwin('avg(e.rssi)::float8', "e.outcome = 'fail' AND e.rssi IS NOT NULL"),
  },
  tls_share_of_failures: {
    dim: 'devices.product_model',
    pgDim: 'd.product_model',
    sql: (g, d) =>
      `SELECT p, d, v, least(n, m) u, n, m FROM (${eventsTwin(
        "(count(*) FILTER (WHERE e.error_code = 'E_TLS'))::float8 / nullif(count(*) FILTER (WHERE e.outcome = 'fail'), 0)",
        "(e.error_code = 'E_TLS' OR e.outcome = 'fail')",
        "count(DISTINCT d.user_id) FILTER (WHERE e.error_code = 'E_TLS') n, count(DISTINCT d.user_id) FILTER (WHERE e.outcome = 'fail') m",
      )(g, d)}) x`,
  },
  attempt_duration_p50: {
    dim: 'error_code',
    pgDim: 'e.error_code',
    sql: eventsTwin(
      'percentile_cont(0.5) WITHIN GROUP (ORDER BY e.duration_ms)',
      'e.duration_ms IS NOT NULL',
    ),
  },
};

/** Hand-written DuckDB SQL on the store for the dashboard's metrics: the floor for our compiler. */
export const STORE_SQL: Record<string, (grain: Grain) => string> = {
  activations: (g) =>
    `SELECT date_trunc('${g}', activated_at) p, product_model d, count(*) v, count(DISTINCT user_id) u FROM devices WHERE activated_at >= $1::TIMESTAMPTZ AND activated_at < $2::TIMESTAMPTZ GROUP BY 1, 2`,
  connection_failure_rate: (g) =>
    `SELECT date_trunc('${g}', e.ts) p, d.product_model, d.firmware_version, count(*) FILTER (WHERE e.outcome = 'fail') / count(*) v, count(DISTINCT d.user_id) u FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1::TIMESTAMPTZ AND e.ts < $2::TIMESTAMPTZ GROUP BY 1, 2, 3`,
  time_to_first_connection: (g) =>
    `SELECT date_trunc('${g}', d.activated_at) p, d.product_model, quantile_cont(epoch(fa.t) - epoch(d.activated_at), [0.5, 0.9]) v, count(DISTINCT d.user_id) u
     FROM devices d JOIN (SELECT e.device_id k, min(e.ts) t FROM connection_events e JOIN devices y ON y.id = e.device_id WHERE e.outcome = 'success' AND y.activated_at >= $1::TIMESTAMPTZ AND y.activated_at < $2::TIMESTAMPTZ AND e.ts >= $1::TIMESTAMPTZ AND e.ts >= y.activated_at GROUP BY 1) fa ON fa.k = d.id
     WHERE d.activated_at >= $1::TIMESTAMPTZ AND d.activated_at < $2::TIMESTAMPTZ GROUP BY 1, 2`,
  integration_adoption: (g) =>
    `SELECT date_trunc('${g}', linked_at) p, provider, count(DISTINCT user_id) v FROM integrations WHERE linked_at >= $1::TIMESTAMPTZ AND linked_at < $2::TIMESTAMPTZ GROUP BY 1, 2`,
};

/** The dashboard's queries, as the benchmark runs them. */
export const DASHBOARD_QUERIES: ReadonlyArray<{ metric: string; grain: Grain; by: string[]; pgDim: string }> =
  [
    { metric: 'activations', grain: 'week', by: ['product_model'], pgDim: 'product_model' },
    {
      metric: 'connection_failure_rate',
      grain: 'week',
      by: ['devices.product_model', 'devices.firmware_version'],
      pgDim: "d.product_model || '/' || d.firmware_version",
    },
    { metric: 'time_to_first_connection', grain: 'month', by: ['product_model'], pgDim: 'd.product_model' },
    { metric: 'integration_adoption', grain: 'month', by: ['provider'], pgDim: 'provider' },
  ];

/** One dashboard query's p50 timings, as the metrics stage reports them. */
export interface MetricTiming {
  metric: string;
  from: string;
  to: string;
  fleetvaultMs: number;
  cachedMs: number;
  duckdbMs: number;
  postgresMs: number;
}
