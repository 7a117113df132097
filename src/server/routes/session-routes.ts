import type { FastifyInstance } from 'fastify';
import { LoginBody, OkAnswer, SessionAnswer } from '../api-schemas/index.ts';
import { PROBE_HEADER } from '../own-probe.ts';
import { refuseUnadmitted } from '../plugins/auth-hook.ts';
import { fail } from '../plugins/error-handler.ts';
import { actorOf } from '../route-config.ts';
import { SESSION_COOKIE, type ServerContext } from '../server-deps.ts';

/** Sign-in with a password (an HttpOnly, SameSite=Strict cookie plus a CSRF token), sign-out, who am I. */
export async function sessionRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { deps, sessions, signers } = ctx;
  app.post<{ Body: LoginBody }>(
    '/api/v1/login',
    {
      config: {
        access: 'public',
        rateLimit: {
          max: deps.loginRateLimit ?? 10,
          timeWindow: '1 minute',
          allowList: (req) => ctx.isProbe(req.headers[PROBE_HEADER]),
        },
      },
      schema: {
        summary: 'sign in; sets an HttpOnly, SameSite=Strict session cookie',
        body: LoginBody,
        response: { 200: SessionAnswer },
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
      const refused = refuseUnadmitted(ctx, reply, principal, '/api/v1/login');
      if (refused) return refused;
      const session = sessions.create(principal);
      if (principal.role === 'admin' && deps.approvals.signed()) {
        try {
          signers.set(session.id, deps.approvals.signer(principal, req.body.password));
        } catch {
          // An admin without a usable key can still read; proposing and approving will say why not.
        }
      }
      deps.audit.append({ actor: actorOf(principal), action: 'login', outcome: 'ok' });
      reply.setCookie(SESSION_COOKIE, session.id, {
        httpOnly: true,
        sameSite: 'strict',
        secure: deps.https !== undefined,
        path: '/',
        maxAge: 8 * 3600,
      });
      return { user: { name: principal.name, role: principal.role }, csrfToken: session.csrf };
    },
  );

  app.post(
    '/api/v1/logout',
    {
      config: { access: 'viewer' },
      schema: { summary: 'end the browser session', response: { 200: OkAnswer } },
    },
    ctx.audited('logout', async (req, _note, reply) => {
      const id = req.cookies[SESSION_COOKIE];
      if (id) {
        sessions.destroy(id);
        signers.delete(id);
      }
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { ok: true };
    }),
  );

  app.get(
    '/api/v1/session',
    {
      config: { access: 'viewer' },
      schema: { summary: 'who is signed in, and the CSRF token', response: { 200: SessionAnswer } },
    },
    async (req) => ({
      user: { name: req.principal?.name, role: req.principal?.role },
      csrfToken: sessions.get(req.cookies[SESSION_COOKIE])?.csrf ?? null,
    }),
  );
}
