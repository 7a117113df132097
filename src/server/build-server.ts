import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Signer } from '../approvals/index.ts';
import { SessionStore } from '../identity/index.ts';
import { auditedBy } from './audited.ts';
import { ownProbe } from './own-probe.ts';
import { authHook } from './plugins/auth-hook.ts';
import { errorHandler } from './plugins/error-handler.ts';
import { rateLimits } from './plugins/rate-limits.ts';
import { routeTable } from './plugins/route-table.ts';
import { securityHeaders } from './plugins/security-headers.ts';
import { adminRoutes } from './routes/admin-routes.ts';
import { approvalsRoutes } from './routes/approvals-routes.ts';
import { auditRoutes } from './routes/audit-routes.ts';
import { metricsRoutes } from './routes/metrics-routes.ts';
import { openApi } from './routes/openapi.ts';
import { privacyRoutes } from './routes/privacy-routes.ts';
import { prometheus } from './routes/prometheus.ts';
import { sessionRoutes } from './routes/session-routes.ts';
import { sqlRoute } from './routes/sql-route.ts';
import { staticFiles } from './routes/static-files.ts';
import { statusRoutes } from './routes/status-routes.ts';
import type { ServerContext, ServerDeps } from './server-deps.ts';
import { tlsServerOptions } from './tls-options.ts';

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
];

/**
 * Builds the HTTP API without listening, so tests call it with `inject()`. Every `api` route but
 * the sign-in needs a bearer token or session whose role reaches the route's; every data request
 * and every refused one is written to the audit log, never with result data. A request walks
 * through the plugins in this order: security headers, rate limit, auth hook, its route, and the
 * error handler when something fails.
 *
 * @example
 * const app = await buildServer(deps);
 * await app.listen({ host: '127.0.0.1', port: 8787 });
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      deps.logger === undefined || deps.logger === false
        ? false
        : { redact: REDACT, ...(deps.logger === true ? {} : deps.logger) },
    bodyLimit: 16 * 1024,
    // Unknown parameters are refused, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    genReqId: () => randomUUID(),
    ...(deps.https ? { https: tlsServerOptions(deps.https) } : {}),
  });
  const probe = ownProbe();
  app.decorate('fvProbeHeaders', probe.headers);
  const ctx: ServerContext = {
    deps,
    sessions: new SessionStore(),
    signers: new Map<string, Signer>(),
    isProbe: probe.isProbe,
    audited: auditedBy(deps.audit),
  };
  // Hooks first (each applies to the routes registered after it), then the routes.
  await app.register(routeTable);
  await app.register(securityHeaders, { https: deps.https !== undefined });
  await app.register(errorHandler);
  await app.register(cookie);
  await app.register(rateLimits, ctx);
  await app.register(authHook, ctx);
  await app.register(openApi);
  await app.register(prometheus, ctx);
  for (const routes of [
    statusRoutes,
    sessionRoutes,
    metricsRoutes,
    privacyRoutes,
    sqlRoute,
    auditRoutes,
    adminRoutes,
    approvalsRoutes,
  ])
    await app.register(routes, ctx);
  await app.register(staticFiles, { ...(deps.webDir ? { webDir: deps.webDir } : {}) });
  return app;
}
