import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ExposureState } from '../probe/index.ts';
import type { MetricsSource } from './store-handle.ts';

export interface PrometheusDeps {
  readonly metrics: MetricsSource;
  readonly exposure?: () => ExposureState;
  /** The process's own series (syncs, ingest) to expose beside the server's. */
  readonly registry?: Registry;
}

const LATEST_WEEK_REFRESH_MS = 60_000;

/** The latest complete answer of a count metric's week. */
interface LatestWeek {
  readonly value: number;
  readonly weekStart: number;
}

/**
 * `GET /metrics` in the Prometheus text format (prom-client), for a viewer token. Every label is
 * stable: routes are route patterns, metrics are names from the metrics file, and the week of
 * a business total is a value (a timestamp series), never a label, so no new series appears as
 * time passes.
 */
export function registerPrometheus(app: FastifyInstance, deps: PrometheusDeps): void {
  const registry = deps.registry ?? new Registry();
  const registers = [registry];
  const requests = new Counter({
    name: 'fleetvault_http_requests_total',
    help: 'HTTP requests by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  app.addHook('onResponse', async (req, reply) => {
    requests.inc({
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
    });
  });
  new Gauge({
    name: 'fleetvault_k',
    help: 'Minimum group size of every answer.',
    registers,
    collect() {
      this.set(deps.metrics.k);
    },
  });
  const exposure = deps.exposure;
  if (exposure) {
    new Gauge({
      name: 'fleetvault_exposure_findings',
      help: 'Findings of the latest exposure probe (0 is safe).',
      registers,
      collect() {
        this.set(exposure().findings.length);
      },
    });
    new Counter({
      name: 'fleetvault_exposure_probe_runs_total',
      help: 'Exposure probe runs since start.',
      registers,
      collect() {
        this.reset();
        this.inc(exposure().runs);
      },
    });
    new Gauge({
      name: 'fleetvault_exposure_last_probe_timestamp_seconds',
      help: 'When the exposure probe last ran (Unix time).',
      registers,
      collect() {
        const at = exposure().checkedAt;
        if (at) this.set(Date.parse(at) / 1000);
      },
    });
  }

  // Business metrics, k-safe: the latest weekly total of each count metric, absent when suppressed.
  // A weekly number changes slowly and a scheduled sync holds the store for seconds, so a scrape
  // answers from the last computation and refreshes it in the background once a minute: a scrape
  // is never slow, and no series goes stale while a sync runs.
  let cached: Map<string, LatestWeek> | undefined;
  let computedAt = 0;
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    refreshing ??= latestWeeks(deps.metrics)
      .then((m) => {
        if (m.size > 0 || !cached) cached = m;
        computedAt = Date.now();
      })
      .catch(() => {}) // the next scrape tries again; the last answer stays
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };
  const latest = async () => {
    if (!cached) await refresh();
    else if (Date.now() - computedAt > LATEST_WEEK_REFRESH_MS) void refresh();
    return cached ?? new Map<string, LatestWeek>();
  };
  new Gauge({
    name: 'fleetvault_metric_latest_week_value',
    help: 'Latest weekly total of a count metric (absent when suppressed).',
    labelNames: ['metric'],
    registers,
    async collect() {
      this.reset();
      for (const [metric, w] of await latest()) this.set({ metric }, w.value);
    },
  });
  new Gauge({
    name: 'fleetvault_metric_latest_week_start_timestamp_seconds',
    help: 'Start of the week fleetvault_metric_latest_week_value counts (Unix time).',
    labelNames: ['metric'],
    registers,
    async collect() {
      this.reset();
      for (const [metric, w] of await latest()) this.set({ metric }, w.weekStart / 1000);
    },
  });

  app.get(
    '/metrics',
    { config: { access: 'viewer', summary: 'Prometheus service metrics' } },
    async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
}

async function latestWeeks(metrics: MetricsSource): Promise<Map<string, LatestWeek>> {
  const out = new Map<string, LatestWeek>();
  for (const m of metrics.list().filter((x) => x.format === 'count')) {
    const answer = await metrics.query({ metric: m.name, grain: 'week' });
    const last = answer.totals[answer.totals.length - 1];
    if (last && last.suppressed === 'none' && last.values.value !== null) {
      out.set(m.name, {
        value: Number(last.values.value),
        weekStart: Date.parse(`${last.period}T00:00:00Z`),
      });
    }
  }
  return out;
}
