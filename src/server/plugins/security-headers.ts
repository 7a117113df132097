import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

// An API answer may load and frame nothing.
const API_CSP = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'none'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'none'"],
  },
};

/**
 * The dashboard's pages may load their own script, style and chart canvas; nothing inline runs,
 * nothing else loads. Static routes carry this as their route-level helmet option.
 */
export const PAGE_HELMET = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'self'"],
    },
  },
} as const;

/**
 * Security headers on every answer, refusals and 404s included (registered before any other
 * hook): @fastify/helmet for CSP, framing, sniffing, referrer, cross-origin isolation and HSTS
 * (with TLS only). Two headers are set by hand because helmet has no option for them:
 * `Cache-Control: no-store` (an answer holds data no cache may keep) and `Permissions-Policy`
 * (helmet dropped it as too browser-specific).
 */
export const securityHeaders = fp(async (app: FastifyInstance, opts: { readonly https: boolean }) => {
  await app.register(helmet, {
    contentSecurityPolicy: API_CSP,
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginOpenerPolicy: { policy: 'same-origin' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    strictTransportSecurity: opts.https ? { maxAge: 31_536_000, includeSubDomains: false } : false,
  });
  app.addHook('onRequest', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
    reply.header('permissions-policy', 'camera=(), microphone=(), geolocation=()');
  });
});
