import { randomBytes } from 'node:crypto';
import { FvError } from '../errors/index.ts';
import type { Role } from '../identity/index.ts';
import { JsonFile } from '../identity/index.ts';
import type { GrantTerms } from './approved-state.ts';
import type { ExactGrant } from './exact-grant.ts';
import type { SecurityState } from './security-state.ts';

/** A new token or account above viewer, to be created once after approval. */
export interface PrincipalRequest {
  readonly type: 'token' | 'user';
  readonly role: Role;
  readonly name: string;
}

export type ProposalStatus = 'pending' | 'approved' | 'rejected' | 'applied' | 'expired';

export interface Proposal {
  readonly id: string;
  /**
   * `settings`: a weaker part of the security state; `principal`: a new token or account; `exact`:
   * one exact answer under differential privacy, for its proposer only.
   */
  readonly kind: 'settings' | 'principal' | 'exact';
  readonly settings?: SecurityState;
  readonly principal?: PrincipalRequest;
  readonly reason: string;
  readonly proposedBy: string;
  readonly proposedAt: string;
  readonly expiresAt: string;
  readonly status: ProposalStatus;
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  /** For settings: the exact next version both admins sign (base version, its content and digest). */
  readonly target?: {
    readonly base: number;
    readonly version: number;
    readonly digest: string;
    readonly state: SecurityState;
  };
  /** For a principal: its expiry and exact target, signed with the request (signing payload 2). */
  readonly terms?: GrantTerms;
  /** For an exact answer: the query and the expiry, signed by the proposer and the approver. */
  readonly exact?: ExactGrant;
  /** Ed25519 signatures of the proposer and (once approved) the approver. */
  readonly signatures?: readonly { readonly by: string; readonly sig: string }[];
}

export const DEFAULT_EXPIRY_HOURS = 72;

/**
 * When a proposal stops counting. Payload 2 signs the expiry: a stored `expiresAt` earlier than the
 * signed one only shortens it; a later one was moved by hand and voids the proposal (expired now).
 * An unreadable date is expired too.
 */
export function expiry(p: Pick<Proposal, 'expiresAt' | 'terms' | 'exact'>): number {
  const stored = Date.parse(p.expiresAt);
  const signedAt = p.terms?.expiresAt ?? p.exact?.expiresAt;
  const signed = signedAt !== undefined ? Date.parse(signedAt) : stored;
  if (Number.isNaN(stored) || Number.isNaN(signed) || stored > signed) return Number.NEGATIVE_INFINITY;
  return stored;
}

/** Checks a stored proposal's signatures, so that a hand edit (another proposer, a forged approval) is caught. */
export type ProposalCheck = (p: Proposal) => void;

type Stored = Proposal;

/**
 * Proposals in `proposals.json` (mode 0600). A proposal is decided once, by an admin other than
 * its proposer, before it expires; an approved principal request is then applied once.
 */
export class ProposalStore {
  private readonly file: JsonFile<Stored>;

  constructor(
    readonly path: string,
    private readonly check: ProposalCheck,
  ) {
    this.file = new JsonFile(path, 'proposals');
  }

  private records(): Proposal[] {
    return this.file.read().map((p) => {
      this.check(p);
      return p;
    });
  }

  private save(records: readonly Proposal[]): void {
    this.file.write(records);
  }

  list(now = Date.now()): Proposal[] {
    return this.records().map((p) =>
      (p.status === 'pending' || p.status === 'approved') && expiry(p) <= now
        ? { ...p, status: 'expired' as const }
        : p,
    );
  }

  get(id: string, now = Date.now()): Proposal {
    const p = this.list(now).find((x) => x.id === id);
    if (!p) throw new FvError('FV_APPROVAL_UNKNOWN', `no proposal with id ${id}`);
    return p;
  }

  propose(
    p: Pick<Proposal, 'kind' | 'settings' | 'principal' | 'reason' | 'proposedBy' | 'target'>,
    /** The proposal's signature, and for a principal its terms (which carry this expiry). */
    sign: (
      id: string,
      expiresAt: string,
    ) => { signature: { by: string; sig: string }; terms?: GrantTerms; exact?: ExactGrant },
    hours = DEFAULT_EXPIRY_HOURS,
  ): Proposal {
    const now = Date.now();
    const id = randomBytes(5).toString('hex');
    const expiresAt = new Date(now + hours * 3_600_000).toISOString();
    const { signature, terms, exact } = sign(id, expiresAt);
    const proposal: Proposal = {
      ...p,
      id,
      ...(terms ? { terms } : {}),
      ...(exact ? { exact } : {}),
      signatures: [signature],
      proposedAt: new Date(now).toISOString(),
      expiresAt,
      status: 'pending',
    };
    this.save([...this.records(), proposal]);
    return proposal;
  }

  /** Approves or rejects: refused for the proposer themself, for a decided or an expired proposal. */
  decide(
    id: string,
    by: string,
    verdict: 'approved' | 'rejected',
    now = Date.now(),
    signature?: { by: string; sig: string },
  ): Proposal {
    const p = this.get(id, now);
    if (p.status === 'expired') {
      throw new FvError('FV_APPROVAL_INVALID', `proposal ${id} expired at ${p.expiresAt}; propose it again`);
    }
    if (p.status !== 'pending')
      throw new FvError('FV_APPROVAL_INVALID', `proposal ${id} is already ${p.status}`);
    if (p.proposedBy === by) {
      throw new FvError(
        'FV_APPROVAL_INVALID',
        `proposal ${id} was proposed by ${by}; a different admin must decide it`,
      );
    }
    return this.update(id, {
      status: verdict,
      decidedBy: by,
      decidedAt: new Date().toISOString(),
      ...(signature ? { signatures: [...(p.signatures ?? []), signature] } : {}),
    });
  }

  /** Marks an approved principal request used; it cannot create a second token or account. */
  apply(id: string): Proposal {
    return this.update(id, { status: 'applied' });
  }

  private update(id: string, patch: Partial<Proposal>): Proposal {
    let out: Proposal | undefined;
    this.save(
      this.records().map((p) => {
        if (p.id !== id) return p;
        out = { ...p, ...patch };
        return out;
      }),
    );
    return out as Proposal;
  }
}
