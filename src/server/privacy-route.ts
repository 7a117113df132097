import type { FastifyInstance } from 'fastify';
import type { MetricsSource } from './store-handle.ts';

/**
 * GET /api/v1/privacy/budget: what the asking principal has left of its differential-privacy
 * budget in the current window, and when it renews (`model: k_anonymity` when answers are not
 * differentially private). Reading it spends nothing.
 *
 * @example
 * registerPrivacyRoute(app, { metrics });
 */
export function registerPrivacyRoute(app: FastifyInstance, deps: { readonly metrics: MetricsSource }): void {
  app.get(
    '/api/v1/privacy/budget',
    { config: { access: 'viewer', summary: 'your remaining privacy budget (differential privacy)' } },
    async (req) => {
      const p = req.principal;
      const budget = p ? await deps.metrics.budgetOf(`${p.kind}:${p.id}`) : null;
      return budget ? { model: 'differential_privacy', ...budget } : { model: 'k_anonymity' };
    },
  );
}
