import type { FastifyInstance } from 'fastify';
import { ExactRequest, PrivacyBudgetAnswer, ProposalView } from '../api-schemas/index.ts';
import { metricQueryOf } from '../metric-query.ts';
import { budgetHolderOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';
import { signerOf } from '../signer-of.ts';

/**
 * GET /api/v1/privacy/budget: what the asking principal has left of its differential-privacy
 * budget in the current window, and when it renews (`model: k_anonymity` when answers are not
 * differentially private). Reading it spends nothing.
 */
export async function privacyRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { deps } = ctx;
  app.get(
    '/api/v1/privacy/budget',
    {
      config: { access: 'viewer' },
      schema: {
        summary: 'your remaining privacy budget (differential privacy)',
        response: { 200: PrivacyBudgetAnswer },
      },
    },
    async (req): Promise<PrivacyBudgetAnswer> => {
      const budget = await deps.metrics.budgetOf(budgetHolderOf(req.principal));
      return budget ? { model: 'differential_privacy', ...budget } : { model: 'k_anonymity' };
    },
  );

  /**
   * POST /api/v1/privacy/exact: an admin asks for the exact answer to one query under differential
   * privacy, signed with their own key; a second admin approves it (POST /api/v1/approvals/:id/approve),
   * then the asker alone reads it with `exact=<id>` on the metric route, until it expires.
   */
  app.post<{ Body: ExactRequest }>(
    '/api/v1/privacy/exact',
    {
      config: { access: 'admin' },
      schema: {
        summary: 'ask for the exact answer to one query (a second admin approves it)',
        body: ExactRequest,
        response: { 200: ProposalView },
      },
    },
    async (req) => {
      const { metric, reason, hours, ...params } = req.body;
      const question = await deps.metrics.exactQuestion(metricQueryOf(metric, params));
      return deps.approvals.proposeExact(question, signerOf(ctx, req), reason, hours);
    },
  );
}
