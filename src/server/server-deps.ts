import type { FastifyServerOptions } from 'fastify';
import type { Registry } from 'prom-client';
import type { Approvals, Signer } from '../approvals/index.ts';
import type { AuditLog } from '../audit/index.ts';
import type { SessionStore, TokenStore, UserStore } from '../identity/index.ts';
import type { ExposureState, ProbeFinding } from '../probe/index.ts';
import type { Audited } from './audited.ts';
import type { MetricsSource } from './store-handle.ts';

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

/** What the plugins of one server share: its dependencies and its in-memory sign-in state. */
export interface ServerContext {
  readonly deps: ServerDeps;
  readonly sessions: SessionStore;
  /** Signing keys of admins signed in with a password, unsealed at login, in memory only. */
  readonly signers: Map<string, Signer>;
  /** Whether a request carries this server's own probe secret (constant-time). */
  readonly isProbe: (sent: string | string[] | undefined) => boolean;
  readonly audited: Audited;
}

export const SESSION_COOKIE = 'fv_session';
