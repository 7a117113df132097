import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { PROBE_HEADER } from '../own-probe.ts';
import type { ServerContext } from '../server-deps.ts';

/** Requests per minute per client address; the server's own probe is spared (it grants nothing else). */
export const rateLimits = fp(async (app: FastifyInstance, ctx: ServerContext) => {
  await app.register(rateLimit, {
    max: ctx.deps.rateLimit ?? 600,
    allowList: (req) => ctx.isProbe(req.headers[PROBE_HEADER]),
    timeWindow: '1 minute',
    errorResponseBuilder: (_req, limit) => ({
      statusCode: 429,
      error: {
        code: 'FV_RATE_LIMITED',
        message: `too many requests; retry in ${Math.ceil(limit.ttl / 1000)} s`,
      },
    }),
  });
});
