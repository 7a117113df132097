import type { FastifyRequest } from 'fastify';
import type { Signer } from '../approvals/index.ts';
import { FvError } from '../errors/index.ts';
import type { Principal } from '../identity/index.ts';
import { actorOf } from './route-config.ts';
import { SESSION_COOKIE, type ServerContext } from './server-deps.ts';

/** The acting admin's own signing key: unsealed with the bearer token, or kept from the password login. */
export function signerOf({ deps, signers }: ServerContext, req: FastifyRequest): Signer {
  const p = req.principal as Principal;
  const bearer = /^Bearer (\S+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
  if (bearer) return deps.approvals.signer(p, bearer);
  const s = signers.get(String(req.cookies[SESSION_COOKIE] ?? ''));
  if (s) return s;
  throw new FvError(
    'FV_APPROVAL_INVALID',
    `${actorOf(p)} has no signing key in the signed security state (or signed in before it existed); sign in again`,
  );
}
