import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from '../audit/index.ts';
import { FvError } from '../errors/index.ts';
import { ROLES, type Role } from '../server/token-store.ts';
import { ApprovedState } from './approved-state.ts';
import { type PrincipalRequest, type Proposal, ProposalStore } from './proposal-store.ts';
import {
  compareStates,
  type Difference,
  mergeState,
  type SecurityState,
  weakerPart,
} from './security-state.ts';

const SEALED = '"action":"approvals.seal"';

/** What a proposal would change, as the reviewer sees it before approving. */
export interface ProposalView {
  readonly proposal: Proposal;
  readonly differences: readonly Difference[];
}

function principalDifference(p: PrincipalRequest): Difference {
  return { field: `new ${p.type} "${p.name}"`, approved: 'none', configured: p.role, weaker: true };
}

/**
 * The two-person rule. Every command that applies security settings asks `check` first; every
 * change that weakens them is a proposal that a different admin approves. Strengthening needs
 * no one and is recorded at once, so that weakening back needs approval again.
 */
export class Approvals {
  readonly state: ApprovedState;
  readonly proposals: ProposalStore;

  constructor(
    readonly dir: string,
    private readonly audit: AuditLog,
  ) {
    this.state = new ApprovedState(dir);
    this.proposals = new ProposalStore(join(dir, 'proposals.json'), this.state);
  }

  /** The approved state, verified; an empty one before the first seal. */
  approved(): SecurityState {
    const s = this.state.read();
    if (s) return s;
    if (existsSync(this.audit.path) && readFileSync(this.audit.path, 'utf8').includes(SEALED)) {
      throw new FvError(
        'FV_STATE_TAMPERED',
        `the approved security state ${this.state.path} is missing, but the audit log shows it was sealed; restore it from backup`,
      );
    }
    return {};
  }

  /**
   * Compares a configuration with the approved state. Weaker parts stop the caller with every
   * difference named; parts never seen before are sealed; stronger parts are recorded.
   */
  check(now: SecurityState, actor: string): Difference[] {
    const approved = this.approved();
    const diffs = compareStates(approved, now);
    const weaker = diffs.filter((d) => d.weaker);
    if (weaker.length > 0) {
      this.audit.append({
        actor,
        action: 'approvals.check',
        outcome: 'refused',
        detail: { weaker: weaker.map((d) => d.field) },
      });
      throw new FvError(
        'FV_STATE_WEAKER',
        'the configuration is weaker than the approved security state; a second admin must approve it first',
        [
          ...weaker.map((d) => `${d.field}: approved ${d.approved}, configured ${d.configured}`),
          'propose it with `fleetvault approvals propose` (same --policy, --listen, --tls-cert and --probe-every as this command), then another admin runs `fleetvault approvals approve <id>`',
        ],
      );
    }
    const merged = mergeState(approved, now);
    // The principals in use are the approved set from now on: a revoked token revived by hand is new again.
    const next = now.principals ? { ...merged, principals: now.principals } : merged;
    if (JSON.stringify(next) !== JSON.stringify(approved)) {
      this.save(next, actor, { stronger: diffs.map((d) => d.field), parts: Object.keys(now) });
    }
    return diffs;
  }

  /** Writes the signed state; the first write is recorded as the seal, which a deletion cannot undo. */
  private save(state: SecurityState, actor: string, detail: Record<string, unknown>): void {
    const first = !this.state.exists();
    this.state.write(state);
    this.audit.append({
      actor,
      action: first ? 'approvals.seal' : 'approvals.record',
      outcome: 'ok',
      detail,
    });
  }

  /** Proposes the weaker part of a configuration; refuses when nothing in it is weaker. */
  proposeSettings(now: SecurityState, by: string, reason: string, hours?: number): ProposalView {
    const approved = this.approved();
    const settings = weakerPart(approved, now);
    if (Object.keys(settings).length === 0) {
      throw new FvError(
        'FV_USAGE',
        'nothing to approve: this configuration is not weaker than the approved state',
      );
    }
    const proposal = this.proposals.propose({ kind: 'settings', settings, reason, proposedBy: by }, hours);
    this.audit.append({
      actor: by,
      action: 'approvals.propose',
      outcome: 'ok',
      detail: { id: proposal.id, kind: proposal.kind },
    });
    return this.view(proposal, approved);
  }

  proposePrincipal(principal: PrincipalRequest, by: string, reason: string, hours?: number): ProposalView {
    if (principal.role === 'viewer')
      throw new FvError('FV_USAGE', 'a viewer needs no approval; create it directly');
    const proposal = this.proposals.propose({ kind: 'principal', principal, reason, proposedBy: by }, hours);
    this.audit.append({
      actor: by,
      action: 'approvals.propose',
      outcome: 'ok',
      detail: { id: proposal.id, kind: proposal.kind, role: principal.role },
    });
    return this.view(proposal, this.approved());
  }

  show(id: string): ProposalView {
    return this.view(this.proposals.get(id), this.approved());
  }

  list(): ProposalView[] {
    const approved = this.approved();
    return this.proposals.list().map((p) => this.view(p, approved));
  }

  /** A different admin approves: settings join the approved state now; a principal may be created once. */
  approve(id: string, by: string, now = Date.now()): ProposalView {
    const approved = this.approved();
    const before = this.view(this.proposals.get(id, now), approved);
    try {
      const decided = this.proposals.decide(id, by, 'approved', now);
      if (decided.kind === 'settings' && decided.settings) {
        this.save(mergeState(approved, decided.settings), by, { approval: id });
      }
      this.audit.append({
        actor: by,
        action: 'approvals.approve',
        outcome: 'ok',
        detail: {
          id,
          kind: decided.kind,
          changes: before.differences.map((d) => `${d.field}: ${d.approved} -> ${d.configured}`),
        },
      });
      return { proposal: decided, differences: before.differences };
    } catch (error) {
      this.audit.append({
        actor: by,
        action: 'approvals.approve',
        outcome: 'refused',
        detail: { id, code: (error as FvError).code },
      });
      throw error;
    }
  }

  reject(id: string, by: string): ProposalView {
    try {
      const decided = this.proposals.decide(id, by, 'rejected');
      this.audit.append({ actor: by, action: 'approvals.reject', outcome: 'ok', detail: { id } });
      return this.view(decided, this.approved());
    } catch (error) {
      this.audit.append({
        actor: by,
        action: 'approvals.reject',
        outcome: 'refused',
        detail: { id, code: (error as FvError).code },
      });
      throw error;
    }
  }

  /**
   * May this token or account be created now? A viewer always; above viewer with an approved,
   * unused, unexpired proposal for exactly this type, name and role, or while fewer than two
   * admins are approved (nobody could approve yet: the bootstrap, audited as such).
   */
  authorizePrincipal(
    req: PrincipalRequest,
    approvalId: string | undefined,
  ): { approval?: string; bootstrap: boolean } {
    if (req.role === 'viewer') return { bootstrap: false };
    const approved = this.approved();
    if (approvalId) {
      const p = this.proposals.get(approvalId);
      const same =
        p.kind === 'principal' &&
        p.principal?.type === req.type &&
        p.principal.name === req.name &&
        p.principal.role === req.role;
      if (!same)
        throw new FvError(
          'FV_APPROVAL_INVALID',
          `proposal ${approvalId} is not for a ${req.role} ${req.type} named ${req.name}`,
        );
      if (p.status !== 'approved' || approved.used?.includes(approvalId)) {
        const status = p.status === 'approved' ? 'applied' : p.status;
        throw new FvError('FV_APPROVAL_INVALID', `proposal ${approvalId} is ${status}, not approved`);
      }
      return { approval: approvalId, bootstrap: false };
    }
    const admins = Object.values(approved.principals ?? {}).filter((r) => r === 'admin').length;
    if (approved.principals === undefined || admins < 2) return { bootstrap: true };
    throw new FvError(
      'FV_APPROVAL_REQUIRED',
      `creating a ${req.role} ${req.type} needs a second admin's approval: propose it with \`fleetvault approvals propose --new-${req.type} ${req.name} --role ${req.role}\` (or POST /api/v1/approvals), then create it with --approval <id> once approved`,
    );
  }

  /** Records a created principal in the approved state and uses up its approval. */
  recordPrincipal(
    id: string,
    role: Role,
    grant: { approval?: string; bootstrap: boolean },
    actor: string,
  ): void {
    if (ROLES.indexOf(role) <= 0) return;
    if (grant.approval) this.proposals.apply(grant.approval);
    const approved = this.approved();
    this.save(
      mergeState(approved, {
        principals: { ...(approved.principals ?? {}), [id]: role },
        ...(grant.approval ? { used: [grant.approval] } : {}),
      }),
      actor,
      { principal: id },
    );
    this.audit.append({
      actor,
      action: 'approvals.principal',
      outcome: 'ok',
      detail: {
        principal: id,
        role,
        ...(grant.approval ? { approval: grant.approval } : { bootstrap: true }),
      },
    });
  }

  private view(proposal: Proposal, approved: SecurityState): ProposalView {
    const differences =
      proposal.kind === 'principal' && proposal.principal
        ? [principalDifference(proposal.principal)]
        : compareStates(approved, proposal.settings ?? {}).filter((d) => d.weaker);
    return { proposal, differences };
  }
}
