import type { FastifyInstance } from 'fastify';
import { enrollAccount } from '../../approvals/index.ts';
import {
  TokenCreateBody,
  TokenCreated,
  TokenId,
  TokenList,
  TokenRevoked,
  UserCreateBody,
  UserCreated,
  UserList,
} from '../api-schemas/index.ts';
import { actorOf } from '../route-config.ts';
import type { ServerContext } from '../server-deps.ts';
import { signerOf } from '../signer-of.ts';

/**
 * API tokens and dashboard accounts (never their secrets or hashes). A new one above viewer
 * needs an approved proposal or the two-admin bootstrap, and is enrolled in the signed state.
 */
export async function adminRoutes(app: FastifyInstance, ctx: ServerContext): Promise<void> {
  const { deps, audited } = ctx;
  const admin = { access: 'admin' } as const;
  app.get(
    '/api/v1/tokens',
    { config: admin, schema: { summary: 'API tokens (never their secrets)', response: { 200: TokenList } } },
    async () => ({ tokens: deps.tokens.list().map(({ hash: _hash, ...t }) => t) }),
  );

  app.get(
    '/api/v1/users',
    {
      config: admin,
      schema: { summary: 'dashboard accounts (never their password hashes)', response: { 200: UserList } },
    },
    async () => ({ users: deps.users.list().map(({ passwordHash: _hash, ...u }) => u) }),
  );

  app.post<{ Body: TokenCreateBody }>(
    '/api/v1/tokens',
    {
      config: admin,
      schema: {
        summary: 'create an API token; the secret is in this response only',
        body: TokenCreateBody,
        response: { 200: TokenCreated },
      },
    },
    audited('token.create', async (req, note) => {
      const { role, name, days, approval } = req.body;
      note({ role });
      const grant = deps.approvals.authorizePrincipal({ type: 'token', role, name }, approval);
      const { token, record } = deps.tokens.create({ role, name, days: days ?? 30 });
      enrollAccount(deps.approvals, { kind: 'token', record }, grant, actorOf(req.principal), token, deps);
      note({ id: record.id, expiresAt: record.expiresAt });
      return { token, id: record.id, role: record.role, expiresAt: record.expiresAt };
    }),
  );

  app.post<{ Body: UserCreateBody }>(
    '/api/v1/users',
    {
      config: admin,
      schema: {
        summary: 'create an account; its initial password is in this response only',
        body: UserCreateBody,
        response: { 200: UserCreated },
      },
    },
    audited('user.add', async (req, note) => {
      const { role, name, approval } = req.body;
      note({ role });
      const grant = deps.approvals.authorizePrincipal({ type: 'user', role, name }, approval);
      const { record, password } = await deps.users.add(name, role);
      enrollAccount(deps.approvals, { kind: 'user', record }, grant, actorOf(req.principal), password, deps);
      note({ id: record.id });
      return { name: record.name, role: record.role, password };
    }),
  );

  app.delete<{ Params: TokenId }>(
    '/api/v1/tokens/:id',
    {
      config: admin,
      schema: { summary: 'revoke a token', params: TokenId, response: { 200: TokenRevoked } },
    },
    audited('token.revoke', async (req, note) => {
      // Above viewer, the revocation is a signed version without it (one admin: removing is stronger).
      const target = deps.tokens.list().find((t) => t.id === req.params.id);
      if (target && target.role !== 'viewer' && deps.approvals.signed())
        deps.approvals.remove(`token:${target.id}`, signerOf(ctx, req));
      const r = deps.tokens.revoke(req.params.id);
      note({ id: r.id });
      return { id: r.id, revokedAt: r.revokedAt };
    }),
  );
}
