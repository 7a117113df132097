import { randomBytes } from 'node:crypto';
import { FvError } from '../errors/index.ts';
import { JsonFile } from '../server/json-file.ts';
import type { Role } from '../server/token-store.ts';
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
  /** `settings`: a weaker part of the security state; `principal`: a new token or account. */
  readonly kind: 'settings' | 'principal';
  readonly settings?: SecurityState;
  readonly principal?: PrincipalRequest;
  readonly reason: string;
  readonly proposedBy: string;
  readonly proposedAt: string;
  readonly expiresAt: string;
  readonly status: ProposalStatus;
  readonly decidedBy?: string;
  readonly decidedAt?: string;
}

export const DEFAULT_EXPIRY_HOURS = 72;

/** Signs and checks records, so that a hand edit (another proposer, a forged approval) is caught. */
export interface Signer {
  seal(record: unknown): string;
  verifySeal(record: unknown, signature: string): boolean;
}

type Stored = Proposal & { readonly sig: string };

/**
 * Proposals in `proposals.json` (mode 0600). A proposal is decided once, by an admin other than
 * its proposer, before it expires; an approved principal request is then applied once.
 */
export class ProposalStore {
  private readonly file: JsonFile<Stored>;

  constructor(
    readonly path: string,
    private readonly signer: Signer,
  ) {
    this.file = new JsonFile(path, 'proposals');
  }

  private records(): Proposal[] {
    return this.file.read().map(({ sig, ...p }) => {
      if (typeof sig !== 'string' || !this.signer.verifySeal(p, sig)) {
        throw new FvError(
          'FV_STATE_TAMPERED',
          `proposal ${String(p.id)} in ${this.path} fails its signature: it was edited outside fleetvault`,
        );
      }
      return p;
    });
  }

  private save(records: readonly Proposal[]): void {
    this.file.write(records.map((p) => ({ ...p, sig: this.signer.seal(p) })));
  }

  list(now = Date.now()): Proposal[] {
    return this.records().map((p) =>
      (p.status === 'pending' || p.status === 'approved') && Date.parse(p.expiresAt) <= now
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
    p: Pick<Proposal, 'kind' | 'settings' | 'principal' | 'reason' | 'proposedBy'>,
    hours = DEFAULT_EXPIRY_HOURS,
  ): Proposal {
    const now = Date.now();
    const proposal: Proposal = {
      ...p,
      id: randomBytes(5).toString('hex'),
      proposedAt: new Date(now).toISOString(),
      expiresAt: new Date(now + hours * 3_600_000).toISOString(),
      status: 'pending',
    };
    this.save([...this.records(), proposal]);
    return proposal;
  }

  /** Approves or rejects: refused for the proposer themself, for a decided or an expired proposal. */
  decide(id: string, by: string, verdict: 'approved' | 'rejected', now = Date.now()): Proposal {
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
    return this.update(id, { status: verdict, decidedBy: by, decidedAt: new Date().toISOString() });
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
