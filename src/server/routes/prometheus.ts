import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Registry } from 'prom-client';
import { latestWeeks } from '../latest-weeks.ts';
import type { ServerContext } from '../server-deps.ts';

/**
 * `GET /metrics` in the Prometheus text format (prom-client), for a viewer token. The
 * request counter counts every route, so this plugin is registered with fastify-plugin. Every label is
 * stable: routes are route patterns, metrics are names from the metrics file, and the week of
 * a business total is a value (a timestamp series), never a label, so no new series appears as
 * time passes.
 */
export const prometheus = fp(async (app: FastifyInstance, { deps }: ServerContext) => {
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
  const latest = latestWeeks(deps.metrics);
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

  // Prometheus text, not JSON: no response schema (a JSON serializer would quote it).
  app.get(
    '/metrics',
    { config: { access: 'viewer' }, schema: { summary: 'Prometheus service metrics' } },
    async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()),
  );
});
