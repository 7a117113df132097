import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { Approvals, PrincipalRequest, Signer } from '../approvals/index.ts';
import { AuditLog } from '../audit/index.ts';
import { ERROR_CATALOG, FvError, isFvError } from '../errors/index.ts';
import type { UserStore } from '../identity/index.ts';
import {
  credentialDigest,
  type Principal,
  principalsAboveViewer,
  type Role,
  roleAllows,
  SessionStore,
  type TokenStore,
} from '../identity/index.ts';
import { detectRegressions } from '../insights/index.ts';
import { GRAINS, type Grain } from '../metrics/index.ts';
import { DASHBOARD_FILE, type ExposureState, type ProbeFinding } from '../probe/index.ts';
import { registerPrometheus } from './prometheus-route.ts';
import { SqlGate } from './sql-gate.ts';
import type { MetricsSource } from './store-handle.ts';
import { tlsServerOptions } from './tls-options.ts';

/** Who may call a route: `public` is for `/healthz` alone. */
export type Access = Role | 'public';

export interface RouteInfo {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
  readonly summary: string;
}

export interface ServerDeps {
  readonly metrics: MetricsSource;
  readonly tokens: TokenStore;
  readonly users: UserStore;
  readonly audit: AuditLog;
  /** The two-person rule: proposals, approvals, and the gate on new tokens and accounts. */
  readonly approvals: Approvals;
  /** Requests per minute per client address (default 600). */
  readonly rateLimit?: number;
  /** Login attempts per minute per client address (default 10). */
  readonly loginRateLimit?: number;
  /** Store facts for the status route. */
  readonly status: () => Promise<Record<string, unknown>>;
  /** Analyst statements running at once, per principal and in all (default 1 and 2). */
  readonly sqlConcurrency?: { readonly perPrincipal: number; readonly total: number };
  /** An analyst statement's deadline (default 5 s). */
  readonly sqlTimeoutMs?: number;
  readonly logger?: FastifyServerOptions['logger'];
  /** The built dashboard (dist/web); served as static files that hold no data. */
  readonly webDir?: string;
  readonly https?: { key: Buffer; cert: Buffer };
  /** The exposure probe's latest findings: a dashboard banner, a status field and a gauge. */
  readonly exposure?: () => ExposureState;
  /**
   * Raised when a token or account acts with a role above viewer that the signed state does not
   * give it (a hand-edited file): the same alarm as a probe finding.
   */
  readonly onUnapproved?: (finding: ProbeFinding) => void;
  /** The process's own Prometheus series (scheduled syncs) served at /metrics with the server's. */
  readonly registry?: Registry;
}

/** The header the server's own probe sends: it spares the probe the rate limits and the per-request audit; it grants nothing. */
export const PROBE_HEADER = 'x-fleetvault-probe';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The request came from this server's own exposure probe. */
    fvProbe?: boolean;
  }
  interface FastifyContextConfig {
    access?: Access;
    summary?: string;
  }
}

const STATUS: Partial<Record<string, number>> = {
  FV_SQL_REFUSED: 400,
  FV_SQL_FAILED: 400,
  FV_SQL_LIMIT: 400,
  FV_SQL_BUSY: 429,
  FV_METRIC_FILTER_UNSAFE: 400,
  FV_METRIC_UNKNOWN: 404,
  FV_METRIC_QUERY: 400,
  FV_TOKEN_UNKNOWN: 404,
  FV_USAGE: 400,
  FV_APPROVAL_REQUIRED: 403,
  FV_APPROVAL_INVALID: 409,
  FV_APPROVAL_UNKNOWN: 404,
  FV_STATE_WEAKER: 409,
  FV_STATE_TAMPERED: 409,
  FV_STATE_ROLLBACK: 409,
  FV_STATE_MISMATCH: 409,
  FV_AUDIT_TRUNCATED: 409,
};

// Pages may load their own script, style and chart canvas; nothing inline runs, nothing else loads.
const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
};

function fail(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ error: { code, message, requestId: reply.request.id } });
}

const REDACT = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
];
const SESSION_COOKIE = 'fv_session';
const STATIC = DASHBOARD_FILE;
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

function actorOf(p: Principal | undefined): string {
  return p ? `${p.kind}:${p.id}` : 'anonymous';
}

const PROPOSAL_ID = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[0-9a-f]{10}$' } },
  required: ['id'],
} as const;

/**
 * Builds the HTTP API without listening, so tests call it with `inject()`. Every route but
 * `/healthz` needs a bearer token whose role reaches the route's; every data request and every
 * refused one is written to the audit log, never with result data.
 *
 * @example
 * const app = await buildServer(deps);
 * await app.listen({ host: '127.0.0.1', port: 8787 });
 */
export async function buildServer(
  deps: ServerDeps,
): Promise<FastifyInstance & { fvRoutes: RouteInfo[]; fvProbeHeaders: Record<string, string> }> {
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
  }) as unknown as FastifyInstance & { fvRoutes: RouteInfo[]; fvProbeHeaders: Record<string, string> };
  const routes: RouteInfo[] = [];
  app.decorate('fvRoutes', routes);
  const probeSecret = randomBytes(32).toString('base64url');
  app.decorate('fvProbeHeaders', { [PROBE_HEADER]: probeSecret });
  const isProbe = (v: string | string[] | undefined) => {
    const sent = Buffer.from(String(v ?? ''));
    const want = Buffer.from(probeSecret);
    return sent.length === want.length && timingSafeEqual(sent, want);
  };
  /** Signing keys of admins signed in with a password, unsealed at login, in memory only. */
  const sessionSigners = new Map<string, Signer>();

  /** Roles above viewer come from the signed state only; anything else is refused and raises the alarm. */
  const unapproved = (p: Principal, route: string) => {
    const id = actorOf(p);
    deps.audit.append({
      actor: id,
      action: 'auth.unapproved',
      outcome: 'refused',
      detail: { route, role: p.role },
    });
    deps.onUnapproved?.({
      kind: 'unapproved-principal',
      where: id,
      detail: `acted as ${p.role}, which the signed security state does not give it (tokens or users file edited by hand)`,
    });
  };
  app.addHook('onRoute', (r) => {
    const methods = ([] as string[]).concat(r.method).filter((m) => m !== 'HEAD');
    for (const method of methods) {
      routes.push({
        method,
        url: r.url,
        access: r.config?.access ?? 'admin',
        summary: r.config?.summary ?? '',
      });
    }
  });

  /** Above viewer needs an approved proposal (or the two-admin bootstrap); refusals are audited. */
  const authorize = (by: Principal | undefined, req: PrincipalRequest, approval: string | undefined) => {
    try {
      return deps.approvals.authorizePrincipal(req, approval);
    } catch (error) {
      deps.audit.append({
        actor: actorOf(by),
        action: `${req.type === 'token' ? 'token.create' : 'user.add'}`,
        outcome: 'refused',
        detail: { role: req.role, code: isFvError(error) ? error.code : 'FV_INTERNAL' },
      });
      throw error;
    }
  };

  const sessions = new SessionStore();
  /** The acting admin's own signing key: unsealed with the bearer token, or kept from the password login. */
  const signerOf = (req: {
    headers: Record<string, unknown>;
    cookies: Record<string, string | undefined>;
    principal?: Principal;
  }): Signer => {
    const p = req.principal as Principal;
    const bearer = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
    if (bearer) return deps.approvals.signer(p, bearer);
    const s = sessionSigners.get(String(req.cookies[SESSION_COOKIE] ?? ''));
    if (s) return s;
    throw new FvError(
      'FV_APPROVAL_INVALID',
      `${actorOf(p)} has no signing key in the signed security state (or signed in before it existed); sign in again`,
    );
  };
  const secure = deps.https !== undefined;
  await app.register(cookie);
  await app.register(rateLimit, {
    max: deps.rateLimit ?? 600,
    allowList: (req) => isProbe(req.headers[PROBE_HEADER]),
    timeWindow: '1 minute',
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: {
        code: 'FV_RATE_LIMITED',
        message: `too many requests; retry in ${Math.ceil(ctx.ttl / 1000)} s`,
      },
    }),
  });

  app.addHook('onRequest', async (req, reply) => {
    const access = req.routeOptions.config?.access;
    if (req.headers[PROBE_HEADER] !== undefined) req.fvProbe = isProbe(req.headers[PROBE_HEADER]);
    if (req.routeOptions.url === undefined || access === 'public') return;
    let principal: Principal | undefined;
    let reason = 'missing';
    if (req.headers.authorization !== undefined) {
      const auth = deps.tokens.authenticate(req.headers.authorization);
      if (auth.ok) principal = auth.principal;
      else reason = auth.reason;
    } else {
      const found = sessions.get(req.cookies[SESSION_COOKIE]);
      // A session ends with its account: `users disable` takes effect on the next request.
      const session =
        found && deps.users.list().some((u) => u.id === found.principal.id && u.disabledAt === null)
          ? found
          : undefined;
      if (session) {
        const sent = Buffer.from(String(req.headers['x-csrf-token'] ?? ''));
        const want = Buffer.from(session.csrf);
        const csrfOk = sent.length === want.length && timingSafeEqual(sent, want);
        if (req.method !== 'GET' && req.method !== 'HEAD' && !csrfOk) {
          deps.audit.append({
            actor: `user:${session.principal.id}`,
            action: 'auth.csrf',
            outcome: 'refused',
            detail: { route: req.routeOptions.url },
          });
          return fail(
            reply,
            403,
            'FV_CSRF',
            'missing or wrong x-csrf-token header for a state-changing request',
          );
        }
        principal = session.principal;
      } else if (req.cookies[SESSION_COOKIE]) reason = 'expired session';
    }
    if (principal && deps.approvals.needsReenrol(principal)) {
      const e = deps.approvals.reenrolError(principal);
      return fail(reply, 403, e.code, e.message);
    }
    if (principal && !deps.approvals.admits(principal)) {
      unapproved(principal, String(req.routeOptions.url));
      return fail(
        reply,
        403,
        'FV_PRINCIPAL_UNAPPROVED',
        `${actorOf(principal)} has no ${principal.role} role in the signed security state`,
      );
    }
    if (!principal) {
      // The server's own probe writes one summary record per run, not one per refused request.
      if (!req.fvProbe)
        deps.audit.append({
          actor: 'anonymous',
          action: 'auth.refused',
          outcome: 'refused',
          detail: { route: req.routeOptions.url, reason },
        });
      return fail(
        reply.header('www-authenticate', 'Bearer'),
        401,
        'FV_AUTH_REQUIRED',
        `authentication failed: ${reason}`,
      );
    }
    const need = access ?? 'admin';
    if (!roleAllows(principal.role, need)) {
      deps.audit.append({
        actor: actorOf(principal),
        action: 'auth.forbidden',
        outcome: 'refused',
        detail: { route: req.routeOptions.url, role: principal.role },
      });
      return fail(
        reply,
        403,
        'FV_AUTH_FORBIDDEN',
        `the ${principal.role} role cannot use this route (needs ${need})`,
      );
    }
    req.principal = principal;
  });

  app.post<{ Body: { name: string; password: string } }>(
    '/api/v1/login',
    {
      config: {
        access: 'public',
        summary: 'sign in; sets an HttpOnly, SameSite=Strict session cookie',
        rateLimit: {
          max: deps.loginRateLimit ?? 10,
          timeWindow: '1 minute',
          allowList: (req) => isProbe(req.headers[PROBE_HEADER]),
        },
      },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'password'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
      },
    },
    async (req, reply) => {
      const principal = await deps.users.verify(req.body.name, req.body.password);
      if (!principal) {
        deps.audit.append({
          actor: 'anonymous',
          action: 'login',
          outcome: 'refused',
          detail: { user: req.body.name.slice(0, 64) },
        });
        return fail(reply, 401, 'FV_AUTH_REQUIRED', 'wrong user name or password');
      }
      if (deps.approvals.needsReenrol(principal)) {
        const e = deps.approvals.reenrolError(principal);
        return fail(reply, 403, e.code, e.message);
      }
      if (!deps.approvals.admits(principal)) {
        unapproved(principal, '/api/v1/login');
        return fail(
          reply,
          403,
          'FV_PRINCIPAL_UNAPPROVED',
          `${actorOf(principal)} has no ${principal.role} role in the signed security state`,
        );
      }
      const session = sessions.create(principal);
      if (principal.role === 'admin' && deps.approvals.signed()) {
        try {
          sessionSigners.set(session.id, deps.approvals.signer(principal, req.body.password));
        } catch {
          // An admin without a usable key can still read; proposing and approving will say why not.
        }
      }
      deps.audit.append({ actor: actorOf(principal), action: 'login', outcome: 'ok' });
      reply.setCookie(SESSION_COOKIE, session.id, {
        httpOnly: true,
        sameSite: 'strict',
        secure,
        path: '/',
        maxAge: 8 * 3600,
      });
      return { user: { name: principal.name, role: principal.role }, csrfToken: session.csrf };
    },
  );

  app.post(
    '/api/v1/logout',
    { config: { access: 'viewer', summary: 'end the browser session' } },
    async (req, reply) => {
      const id = req.cookies[SESSION_COOKIE];
      if (id) {
        sessions.destroy(id);
        sessionSigners.delete(id);
      }
      deps.audit.append({ actor: actorOf(req.principal), action: 'logout', outcome: 'ok' });
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { ok: true };
    },
  );

  app.get(
    '/api/v1/session',
    { config: { access: 'viewer', summary: 'who is signed in, and the CSRF token' } },
    async (req) => ({
      user: { name: req.principal?.name, role: req.principal?.role },
      csrfToken: sessions.get(req.cookies[SESSION_COOKIE])?.csrf ?? null,
    }),
  );

  app.addHook('onSend', async (req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (req.routeOptions.config?.summary === STATIC) reply.header('content-security-policy', PAGE_CSP);
    if (deps.https) reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });

  app.setNotFoundHandler((_req, reply) => fail(reply, 404, 'FV_NOT_FOUND', 'no such route'));

  app.setErrorHandler((error, req, reply) => {
    const e = error as {
      validation?: unknown;
      validationContext?: string;
      statusCode?: number;
      message: string;
      code?: string;
    };
    if (e.validation)
      return fail(
        reply,
        400,
        'FV_BAD_REQUEST',
        `${e.validationContext ?? 'request'} ${e.message.replace(/^(querystring|params|body)\//, '')}`,
      );
    if (isFvError(error)) return fail(reply, STATUS[error.code] ?? 400, error.code, error.message);
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500)
      return fail(reply, e.statusCode, 'FV_BAD_REQUEST', 'bad request');
    req.log.error({ err: error }, 'unexpected error');
    return fail(reply, 500, 'FV_INTERNAL', 'internal error');
  });

  app.get('/healthz', { config: { access: 'public', summary: 'liveness; no data' } }, async () => ({
    status: 'ok',
  }));

  app.get('/api/v1/metrics', { config: { access: 'viewer', summary: 'the metric catalogue' } }, async () => ({
    k: deps.metrics.k,
    metrics: deps.metrics.list().map((m) => ({
      name: m.name,
      description: m.description,
      outputs: m.outputs,
      format: m.format,
      dimensions: m.dimensions,
    })),
  }));

  app.get<{
    Params: { name: string };
    Querystring: { grain?: Grain; by?: string; from?: string; to?: string; filter?: string | string[] };
  }>(
    '/api/v1/metrics/:name',
    {
      config: { access: 'viewer', summary: 'one k-anonymous metric answer' },
      schema: {
        params: {
          type: 'object',
          properties: { name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' } },
          required: ['name'],
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            grain: { type: 'string', enum: [...GRAINS] },
            by: { type: 'string', pattern: '^[A-Za-z0-9_.,]{0,200}$' },
            from: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
            to: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
            filter: {
              anyOf: [
                { type: 'string', maxLength: 500 },
                { type: 'array', items: { type: 'string', maxLength: 500 }, maxItems: 10 },
              ],
            },
          },
        },
      },
    },
    async (req) => {
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
      const actor = actorOf(req.principal);
      try {
        const answer = await deps.metrics.query(query);
        deps.audit.append({
          actor,
          action: 'metric.query',
          outcome: 'ok',
          detail: { ...query, groups: answer.groups.length },
        });
        return answer;
      } catch (error) {
        deps.audit.append({
          actor,
          action: 'metric.query',
          outcome: 'refused',
          detail: { ...query, code: isFvError(error) ? error.code : 'FV_INTERNAL' },
        });
        throw error;
      }
    },
  );

  app.get(
    '/api/v1/regressions',
    {
      config: {
        access: 'viewer',
        summary:
          'what changed: groups whose failure rate or time to first connection rose significantly (k-anonymous)',
      },
    },
    async (req) => {
      const report = await detectRegressions(deps.metrics);
      deps.audit.append({
        actor: actorOf(req.principal),
        action: 'regressions.query',
        outcome: 'ok',
        detail: { period: report.period, tests: report.tests, regressions: report.regressions.length },
      });
      return report;
    },
  );

  const sqlGate = new SqlGate(deps.sqlConcurrency ?? { perPrincipal: 1, total: 2 });
  app.post<{ Body: { sql: string } }>(
    '/api/v1/sql',
    {
      config: { access: 'analyst', summary: 'one guarded read-only SELECT over the analytics tables' },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['sql'],
          properties: { sql: { type: 'string', minLength: 1, maxLength: 20_000 } },
        },
      },
    },
    async (req) => {
      const actor = actorOf(req.principal);
      try {
        const result = await sqlGate.run(actor, () =>
          deps.metrics.sql(req.body.sql, { maxRows: 1000, timeoutMs: deps.sqlTimeoutMs ?? 5000 }),
        );
        deps.audit.append({
          actor,
          action: 'sql.query',
          outcome: 'ok',
          detail: { sql: req.body.sql, rows: result.rows.length },
        });
        return result;
      } catch (error) {
        const code = isFvError(error) ? error.code : 'FV_INTERNAL';
        deps.audit.append({
          actor,
          action: 'sql.query',
          outcome: 'refused',
          detail: { sql: req.body.sql, code },
        });
        throw error;
      }
    },
  );

  app.get(
    '/api/v1/status',
    { config: { access: 'viewer', summary: 'store freshness, policy coverage and k' } },
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

  app.get<{ Querystring: { limit?: number } }>(
    '/api/v1/audit',
    {
      config: { access: 'admin', summary: 'the newest audit records' },
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
    async (req) => {
      deps.audit.append({ actor: actorOf(req.principal), action: 'audit.read', outcome: 'ok' });
      return { records: deps.audit.recent(req.query.limit ?? 100) };
    },
  );

  app.get(
    '/api/v1/tokens',
    { config: { access: 'admin', summary: 'API tokens (never their secrets)' } },
    async () => ({
      tokens: deps.tokens.list().map(({ hash: _hash, ...t }) => t),
    }),
  );

  app.get(
    '/api/v1/users',
    { config: { access: 'admin', summary: 'dashboard accounts (never their password hashes)' } },
    async () => ({
      users: deps.users.list().map(({ passwordHash: _hash, ...u }) => u),
    }),
  );

  app.post<{ Body: { role: Role; name: string; days?: number; approval?: string } }>(
    '/api/v1/tokens',
    {
      config: { access: 'admin', summary: 'create an API token; the secret is in this response only' },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['role', 'name'],
          properties: {
            role: { type: 'string', enum: ['viewer', 'analyst', 'admin'] },
            name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 ._-]+$' },
            days: { type: 'integer', minimum: 1, maximum: 366 },
            approval: { type: 'string', pattern: '^[0-9a-f]{10}$' },
          },
        },
      },
    },
    async (req) => {
      const grant = authorize(
        req.principal,
        { type: 'token', role: req.body.role, name: req.body.name },
        req.body.approval,
      );
      const { token, record } = deps.tokens.create({
        role: req.body.role,
        name: req.body.name,
        days: req.body.days ?? 30,
      });
      deps.approvals.enroll(
        `token:${record.id}`,
        record.role,
        grant,
        actorOf(req.principal),
        token,
        principalsAboveViewer(deps.tokens, deps.users),
        credentialDigest('token', record.name, record.hash),
      );
      deps.audit.append({
        actor: actorOf(req.principal),
        action: 'token.create',
        outcome: 'ok',
        detail: { id: record.id, role: record.role, expiresAt: record.expiresAt },
      });
      return { token, id: record.id, role: record.role, expiresAt: record.expiresAt };
    },
  );

  app.post<{ Body: { role: Role; name: string; approval?: string } }>(
    '/api/v1/users',
    {
      config: {
        access: 'admin',
        summary: 'create an account; its initial password is in this response only',
      },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['role', 'name'],
          properties: {
            role: { type: 'string', enum: ['viewer', 'analyst', 'admin'] },
            name: { type: 'string', minLength: 2, maxLength: 63, pattern: '^[a-z0-9][a-z0-9._-]+$' },
            approval: { type: 'string', pattern: '^[0-9a-f]{10}$' },
          },
        },
      },
    },
    async (req) => {
      const grant = authorize(
        req.principal,
        { type: 'user', role: req.body.role, name: req.body.name },
        req.body.approval,
      );
      const { record, password } = await deps.users.add(req.body.name, req.body.role);
      deps.approvals.enroll(
        `user:${record.id}`,
        record.role,
        grant,
        actorOf(req.principal),
        password,
        principalsAboveViewer(deps.tokens, deps.users),
        credentialDigest('user', record.name, record.passwordHash),
      );
      deps.audit.append({
        actor: actorOf(req.principal),
        action: 'user.add',
        outcome: 'ok',
        detail: { id: record.id, role: record.role },
      });
      return { name: record.name, role: record.role, password };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    {
      config: { access: 'admin', summary: 'revoke a token' },
      schema: {
        params: {
          type: 'object',
          properties: { id: { type: 'string', pattern: '^[0-9a-f]{12}$' } },
          required: ['id'],
        },
      },
    },
    async (req) => {
      // Above viewer, the revocation is a signed version without it (one admin: removing is stronger).
      const target = deps.tokens.list().find((t) => t.id === req.params.id);
      if (target && target.role !== 'viewer' && deps.approvals.signed())
        deps.approvals.remove(`token:${target.id}`, signerOf(req));
      const r = deps.tokens.revoke(req.params.id);
      deps.audit.append({
        actor: actorOf(req.principal),
        action: 'token.revoke',
        outcome: 'ok',
        detail: { id: r.id },
      });
      return { id: r.id, revokedAt: r.revokedAt };
    },
  );

  app.get(
    '/api/v1/approvals',
    {
      config: {
        access: 'admin',
        summary: 'proposals to weaken security settings, with what each would change',
      },
    },
    async () => ({ proposals: deps.approvals.list() }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/approvals/:id',
    {
      config: { access: 'admin', summary: 'one proposal and the exact difference it would approve' },
      schema: { params: PROPOSAL_ID },
    },
    async (req) => deps.approvals.show(req.params.id),
  );

  app.post<{
    Body: {
      reason: string;
      principal?: PrincipalRequest;
      settings?: { k?: number; probeSeconds?: number | null };
      hours?: number;
    };
  }>(
    '/api/v1/approvals',
    {
      config: {
        access: 'admin',
        summary: 'propose a token or account above viewer, a lower k or a slower probe',
      },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['reason'],
          properties: {
            reason: { type: 'string', minLength: 3, maxLength: 500 },
            hours: { type: 'integer', minimum: 1, maximum: 168 },
            principal: {
              type: 'object',
              additionalProperties: false,
              required: ['type', 'role', 'name'],
              properties: {
                type: { type: 'string', enum: ['token', 'user'] },
                role: { type: 'string', enum: ['analyst', 'admin'] },
                name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9 ._-]+$' },
              },
            },
            settings: {
              type: 'object',
              additionalProperties: false,
              properties: {
                k: { type: 'integer', minimum: 2, maximum: 1000 },
                probeSeconds: { anyOf: [{ type: 'integer', minimum: 1, maximum: 86_400 }, { type: 'null' }] },
              },
            },
          },
        },
      },
    },
    async (req, reply) => {
      const by = signerOf(req);
      const { principal, settings, reason, hours } = req.body;
      if ((principal === undefined) === (settings === undefined)) {
        return fail(reply, 400, 'FV_BAD_REQUEST', 'body needs exactly one of principal or settings');
      }
      // A user of that name exists: the grant re-keys exactly that account (a password reset).
      const existing =
        principal?.type === 'user' ? deps.users.list().find((u) => u.name === principal.name) : undefined;
      return principal
        ? deps.approvals.proposePrincipal(principal, by, reason, hours, existing && `user:${existing.id}`)
        : deps.approvals.proposeSettings(settings ?? {}, by, reason, hours);
    },
  );

  for (const verdict of ['approve', 'reject'] as const) {
    app.post<{ Params: { id: string } }>(
      `/api/v1/approvals/:id/${verdict}`,
      {
        config: { access: 'admin', summary: `${verdict} a proposal (never the proposer's own)` },
        schema: { params: PROPOSAL_ID },
      },
      async (req) =>
        verdict === 'approve'
          ? deps.approvals.approve(req.params.id, signerOf(req))
          : deps.approvals.reject(req.params.id, actorOf(req.principal)),
    );
  }

  app.get(
    '/api/v1/audit/verify',
    { config: { access: 'admin', summary: 'whether the audit chain is intact' } },
    async () => {
      const doc = deps.approvals.current();
      return AuditLog.verifyAnchored(
        deps.audit.path,
        doc ? [{ what: `version ${doc.version} of the signed security state`, ...doc.audit }] : [],
      );
    },
  );

  if (deps.webDir && existsSync(join(deps.webDir, 'index.html'))) {
    const files = [
      ['/', 'index.html'],
      ...readdirSync(join(deps.webDir, 'assets')).map((f) => [`/assets/${f}`, join('assets', f)]),
    ] as const;
    for (const [url, file] of files) {
      const body = readFileSync(join(deps.webDir, file));
      const type = TYPES[extname(file)] ?? 'application/octet-stream';
      app.get(url, { config: { access: 'public', summary: STATIC } }, async (_req, reply) =>
        reply.type(type).send(body),
      );
    }
  }

  app.get(
    '/api/v1/openapi.json',
    { config: { access: 'viewer', summary: 'this API, as OpenAPI 3.1' } },
    async () => openApi(routes),
  );

  registerPrometheus(app, deps);
  return app;
}

function openApi(routes: readonly RouteInfo[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[r.method.toLowerCase()] = {
      summary: r.summary,
      ...(r.access === 'public' ? { security: [] } : { 'x-fleetvault-role': r.access }),
      responses: {
        '200': { description: 'ok' },
        '401': { description: 'no or bad token' },
        '403': { description: 'role too low' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'fleetvault', version: '0.1.0' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
    'x-error-codes': Object.keys(ERROR_CATALOG),
  };
}
