import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Signer } from '../../approvals/index.ts';
import { ProposalBody, ProposalId, ProposalList, ProposalView } from '../api-schemas/index.ts';
import { fail } from '../plugins/error-handler.ts';
import { actorOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';
import { signerOf as signerOfRequest } from '../signer-of.ts';

/** The two-person rule over HTTP: list, show, propose, approve and reject (admins only). */
export async function approvalsRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { approvals } = ctx.deps;
  const signerOf = (req: FastifyRequest): Signer => signerOfRequest(ctx, req);
  const config = { access: 'admin' } as const;
  const one = { params: ProposalId, response: { 200: ProposalView } };

  app.get(
    '/api/v1/approvals',
    {
      config,
      schema: {
        summary: 'proposals to weaken security settings, with what each would change',
        response: { 200: ProposalList },
      },
    },
    async () => ({ proposals: approvals.list() }),
  );

  app.get<{ Params: ProposalId }>(
    '/api/v1/approvals/:id',
    { config, schema: { summary: 'one proposal and the exact difference it would approve', ...one } },
    async (req) => approvals.show(req.params.id),
  );

  app.post<{ Body: ProposalBody }>(
    '/api/v1/approvals',
    {
      config,
      schema: {
        summary: 'propose a token or account above viewer, a lower k or a slower probe',
        body: ProposalBody,
        response: { 200: ProposalView },
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
        principal?.type === 'user' ? ctx.deps.users.list().find((u) => u.name === principal.name) : undefined;
      return principal
        ? approvals.proposePrincipal(principal, by, reason, hours, existing && `user:${existing.id}`)
        : approvals.proposeSettings(settings ?? {}, by, reason, hours);
    },
  );

  for (const verdict of ['approve', 'reject'] as const) {
    app.post<{ Params: ProposalId }>(
      `/api/v1/approvals/:id/${verdict}`,
      { config, schema: { summary: `${verdict} a proposal (never the proposer's own)`, ...one } },
      async (req) =>
        verdict === 'approve'
          ? approvals.approve(req.params.id, signerOf(req))
          : approvals.reject(req.params.id, actorOf(req.principal)),
    );
  }
}
