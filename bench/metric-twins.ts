import type { Grain } from '../src/metrics/index.ts';

/** The same metrics written by hand on the production schema, with raw ids. */
export const PRODUCTION_SQL: Record<
  string,
  { sql: (grain: Grain, dim: string) => string; dim: string; pgDim: string }
> = {
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
  connection_failure_rate: {
    dim: 'devices.firmware_version',
    pgDim: 'd.firmware_version',
    sql: (g, d) =>
      `SELECT date_trunc('${g}', e.ts AT TIME ZONE 'UTC')::date::text p, ${d}::text d, (count(*) FILTER (WHERE e.outcome = 'fail'))::float8 / count(*) v, count(DISTINCT d.user_id) u FROM connection_events e JOIN devices d ON d.id = e.device_id WHERE e.ts >= $1 AND e.ts < $2 GROUP BY 1, 2`,
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
