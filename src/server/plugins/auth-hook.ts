import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { type Principal, roleAllows } from '../../identity/index.ts';
import { PROBE_HEADER } from '../own-probe.ts';
import { accessOf, actorOf, kindOf } from '../route-config.ts';
import { sameSecret } from '../same-secret.ts';
import { SESSION_COOKIE, type ServerContext } from '../server-deps.ts';
import { fail } from './error-handler.ts';

/**
 * The refusal for a principal the signed state does not admit, or nothing when it does. One named
 * without a credential digest must re-enrol first (FV_PRINCIPAL_REENROL); roles above viewer come
 * from the signed state only, and anything else is refused, audited and raises the alarm (a
 * hand-edited tokens or users file). Shared by this hook and the sign-in.
 */
export function refuseUnadmitted(ctx: ServerContext, reply: FastifyReply, p: Principal, route: string) {
  if (ctx.deps.approvals.needsReenrol(p)) {
    const e = ctx.deps.approvals.reenrolError(p);
    return fail(reply, 403, e.code, e.message);
  }
  if (ctx.deps.approvals.admits(p)) return undefined;
  const id = actorOf(p);
  ctx.deps.audit.append({
    actor: id,
    action: 'auth.unapproved',
    outcome: 'refused',
    detail: { route, role: p.role },
  });
  ctx.deps.onUnapproved?.({
    kind: 'unapproved-principal',
    where: id,
    detail: `acted as ${p.role}, which the signed security state does not give it (tokens or users file edited by hand)`,
  });
  return fail(
    reply,
    403,
    'FV_PRINCIPAL_UNAPPROVED',
    `${id} has no ${p.role} role in the signed security state`,
  );
}

/**
 * Puts the caller's principal on every `api` request (bearer token, or session cookie plus the
 * CSRF header on state-changing requests) and refuses what its role does not reach; every
 * refusal is audited. `static` and `health` routes, and the sign-in, answer without it.
 */
export const authHook = fp(async (app: FastifyInstance, ctx: ServerContext) => {
  const { deps, sessions } = ctx;
  const audit = (actor: string, action: string, detail: Record<string, unknown>) =>
    deps.audit.append({ actor, action, outcome: 'refused', detail });

  /** The session's principal while its account is enabled (`users disable` ends it at once). */
  const sessionOf = (req: FastifyRequest) => {
    const found = sessions.get(req.cookies[SESSION_COOKIE]);
    return found && deps.users.list().some((u) => u.id === found.principal.id && u.disabledAt === null)
      ? found
      : undefined;
  };

  app.addHook('onRequest', async (req, reply) => {
    if (req.headers[PROBE_HEADER] !== undefined) req.fvProbe = ctx.isProbe(req.headers[PROBE_HEADER]);
    const config = req.routeOptions.config;
    const route = req.routeOptions.url;
    const need = accessOf(config);
    if (route === undefined || kindOf(config) !== 'api' || need === 'public') return;
    let principal: Principal | undefined;
    let reason = 'missing';
    if (req.headers.authorization !== undefined) {
      const auth = deps.tokens.authenticate(req.headers.authorization);
      if (auth.ok) principal = auth.principal;
      else reason = auth.reason;
    } else {
      const session = sessionOf(req);
      if (session) {
        const changes = req.method !== 'GET' && req.method !== 'HEAD';
        if (changes && !sameSecret(req.headers['x-csrf-token'], session.csrf)) {
          audit(`user:${session.principal.id}`, 'auth.csrf', { route });
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
    const refused = principal && refuseUnadmitted(ctx, reply, principal, route);
    if (refused) return refused;
    if (!principal) {
      // The server's own probe writes one summary record per run, not one per refused request.
      if (!req.fvProbe) audit('anonymous', 'auth.refused', { route, reason });
      return fail(
        reply.header('www-authenticate', 'Bearer'),
        401,
        'FV_AUTH_REQUIRED',
        `authentication failed: ${reason}`,
      );
    }
    if (!roleAllows(principal.role, need)) {
      audit(actorOf(principal), 'auth.forbidden', { route, role: principal.role });
      return fail(
        reply,
        403,
        'FV_AUTH_FORBIDDEN',
        `the ${principal.role} role cannot use this route (needs ${need})`,
      );
    }
    req.principal = principal;
  });
});
