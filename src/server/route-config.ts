import type { FastifyContextConfig } from 'fastify';
import type { Principal, Role } from '../identity/index.ts';
import type { RouteKind } from '../probe/index.ts';

/** Who may call a route: `public` is for the sign-in, the health check and the dashboard's code. */
export type Access = Role | 'public';

/** A route as the route table lists it for the probe and the authorization matrix. */
export interface RouteInfo {
  readonly method: string;
  readonly url: string;
  readonly access: Access;
  readonly kind: RouteKind;
}

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
    /** The request came from this server's own exposure probe. */
    fvProbe?: boolean;
  }
  interface FastifyContextConfig {
    /** What the route serves (default `api`). */
    kind?: RouteKind;
    /** The least role it needs (default: `admin` for `api`, `public` for `static` and `health`). */
    access?: Access;
  }
  interface FastifyInstance {
    /** Every route, for the server's own probe and the tests' authorization matrix. */
    fvRoutes: RouteInfo[];
    /** Sent by this server's own probe: it spares the probe rate limits and per-request audit. */
    fvProbeHeaders: Record<string, string>;
  }
}

export function kindOf(config: FastifyContextConfig | undefined): RouteKind {
  return config?.kind ?? 'api';
}

/** Data routes need a role (admin unless said otherwise); code and health answer anyone. */
export function accessOf(config: FastifyContextConfig | undefined): Access {
  return config?.access ?? (kindOf(config) === 'api' ? 'admin' : 'public');
}

export function actorOf(p: Principal | undefined): string {
  return p ? `${p.kind}:${p.id}` : 'anonymous';
}

/**
 * Whose differential-privacy budget pays for a principal's answers: its own above viewer (each
 * such token or account is in the signed state, approved by two admins), one shared by every
 * viewer otherwise. Anyone who can write the state folder makes viewer tokens alone, so a budget
 * per viewer token would let one admin multiply ε by making more of them.
 */
export function budgetHolderOf(p: Principal | undefined): string {
  return p?.role === 'viewer' ? 'viewers' : actorOf(p);
}
