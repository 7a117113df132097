import type { FastifyInstance } from 'fastify';
import { HealthAnswer, StatusAnswer } from '../api-schemas/index.ts';
import type { ServerContext } from '../server-deps.ts';

/** `/healthz` (alive, nothing more, for anyone) and the status viewers see. */
export async function statusRoutes(app: FastifyInstance, { deps }: ServerContext): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { kind: 'health' },
      schema: { summary: 'liveness; no data', security: [], response: { 200: HealthAnswer } },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/api/v1/status',
    {
      config: { access: 'viewer' },
      schema: { summary: 'store freshness, policy coverage and k', response: { 200: StatusAnswer } },
    },
    async () => {
      // The signed state's chain (id, version, each version's digest): the dashboard keeps the
      // newest it saw in the browser and raises the alarm when it goes back or forks.
      const doc = deps.approvals.current();
      return {
        k: deps.metrics.k,
        ...(await deps.status()),
        ...(deps.exposure ? { exposure: deps.exposure() } : {}),
        ...(doc
          ? {
              state: {
                id: doc.stateId,
                version: doc.version,
                digests: deps.approvals.state.history().map((d) => d.digest),
              },
            }
          : {}),
      };
    },
  );
}
