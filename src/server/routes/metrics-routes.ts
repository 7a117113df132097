import type { FastifyInstance } from 'fastify';
import { detectRegressions } from '../../insights/index.ts';
import {
  Answer,
  Catalogue,
  MetricParams,
  MetricQuerystring,
  RegressionReport,
} from '../api-schemas/index.ts';
import { actorOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';

/** The metric catalogue, one k-anonymous answer, and what changed: viewers and up. */
export async function metricsRoutes(app: FastifyInstance, { deps, audited }: ServerContext): Promise<void> {
  app.get(
    '/api/v1/metrics',
    {
      config: { access: 'viewer' },
      schema: { summary: 'the metric catalogue', response: { 200: Catalogue } },
    },
    async () => ({
      k: deps.metrics.k,
      metrics: deps.metrics.list().map((m) => ({
        name: m.name,
        description: m.description,
        outputs: m.outputs,
        format: m.format,
        dimensions: m.dimensions,
      })),
    }),
  );

  app.get<{ Params: { name: string }; Querystring: MetricQuerystring }>(
    '/api/v1/metrics/:name',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'one metric answer (k-anonymous, or differentially private)',
        params: MetricParams,
        querystring: MetricQuerystring,
        response: { 200: Answer },
      },
    },
    audited('metric.query', async (req, note) => {
      const q = req.query;
      const filters: Record<string, string[]> = {};
      for (const f of ([] as string[]).concat(q.filter ?? [])) {
        const [dim, values] = f.split(':');
        if (dim && values) filters[dim] = values.split(',');
      }
      const query = {
        metric: req.params.name,
        grain: q.grain ?? 'week',
        by: q.by ? q.by.split(',').filter(Boolean) : [],
        ...(q.from ? { from: q.from } : {}),
        ...(q.to ? { to: q.to } : {}),
        filters,
      };
      note(query);
      // Under differential privacy the asker pays for the answer from its budget.
      const answer = await deps.metrics.query(query, { principal: actorOf(req.principal) });
      note({ groups: answer.groups.length });
      return answer;
    }),
  );

  app.get(
    '/api/v1/regressions',
    {
      config: { access: 'viewer' },
      schema: {
        summary:
          'what changed: groups whose failure rate or time to first connection rose significantly (k-anonymous)',
        response: { 200: RegressionReport },
      },
    },
    audited('regressions.query', async (_req, note) => {
      const report = await detectRegressions(deps.metrics);
      note({ period: report.period, tests: report.tests, regressions: report.regressions.length });
      return report;
    }),
  );
}
