import type { FastifyInstance } from 'fastify';
import { PrivacyBudgetAnswer } from '../api-schemas/index.ts';
import { actorOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';

/**
 * GET /api/v1/privacy/budget: what the asking principal has left of its differential-privacy
 * budget in the current window, and when it renews (`model: k_anonymity` when answers are not
 * differentially private). Reading it spends nothing.
 */
export async function privacyRoutes(app: FastifyInstance, { deps }: ServerContext): Promise<void> {
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
      const budget = await deps.metrics.budgetOf(actorOf(req.principal));
      return budget ? { model: 'differential_privacy', ...budget } : { model: 'k_anonymity' };
    },
  );
}
