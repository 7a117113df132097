import type { FastifyInstance } from 'fastify';
import { detectRegressions } from '../../insights/index.ts';
import {
  Answer,
  Catalogue,
  MetricParams,
  MetricQuerystring,
  RegressionReport,
} from '../api-schemas/index.ts';
import { metricQueryOf } from '../metric-query.ts';
import { actorOf, budgetHolderOf } from '../route-config.ts';
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
      const query = metricQueryOf(req.params.name, req.query);
      const { exact } = req.query;
      note({ ...query, ...(exact ? { exact } : {}) });
      // Under differential privacy the asker pays for the answer from its budget, or sees the
      // exact one under a second admin's approval of exactly this query.
      const answer = exact
        ? await deps.metrics.exact(query, exact, actorOf(req.principal), deps.approvals)
        : await deps.metrics.query(query, { principal: budgetHolderOf(req.principal) });
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
