import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from '../audit/index.ts';
import { FvError } from '../errors/index.ts';
import { type Principal, ROLES, type Role } from '../identity/index.ts';
import { AdminKeys, publicKeyText, type Signer, signText, verifyText } from './admin-key.ts';
import {
  ApprovedState,
  adminsOf,
  canonical,
  everTwoAdmins,
  type GrantTerms,
  grantTargets,
  grantText,
  type StateDoc,
  signedText,
  stateDigest,
} from './approved-state.ts';
import {
  describeExact,
  EXACT_EXPIRY_HOURS,
  type ExactQuery,
  exactQueryText,
  exactText,
} from './exact-grant.ts';
import { type PrincipalRequest, type Proposal, ProposalStore } from './proposal-store.ts';
import {
  compareStates,
  type Difference,
  mergeState,
  type SecurityState,
  weakerPart,
} from './security-state.ts';

const SEALED = '"action":"approvals.seal"';
/** What a new signed state holds before anyone changes it: loopback only, the probe every 5 minutes. */
const FIRST_STATE: SecurityState = { listeners: [], probeSeconds: 300 };

/** What a proposal would change, as the reviewer sees it before approving. */
export interface ProposalView {
  readonly proposal: Proposal;
  readonly differences: readonly Difference[];
}

/** How a token or account above viewer may be created: an approval, the bootstrap, or no signed state yet. */
export interface PrincipalGrant {
  readonly approval?: string;
  readonly bootstrap: boolean;
}

function principalDifference(p: PrincipalRequest): Difference {
  return { field: `new ${p.type} "${p.name}"`, approved: 'none', configured: p.role, weaker: true };
}

const tamperedProposal = (id: string, path: string) =>
  new FvError(
    'FV_STATE_TAMPERED',
    `proposal ${id} in ${path} fails its signature: it was edited outside fleetvault`,
  );

const unsignedTerms = (id: string) =>
  new FvError(
    'FV_APPROVAL_INVALID',
    `proposal ${id} was signed without its expiry and target (made before signing payload 2); propose it again`,
  );

/**
 * Whether an approval still counts when it is used: its approver is an admin in the signed state
 * now, and not its proposer (an approver removed or demoted since takes the approval with them).
 */
const approverStands = (p: Proposal, now: SecurityState) =>
  p.decidedBy !== undefined && p.decidedBy !== p.proposedBy && now.principals?.[p.decidedBy] === 'admin';

const notAnAdmin = (p: Proposal) =>
  `was approved by ${p.decidedBy ?? 'nobody'}, who is not an admin other than its proposer in the signed security state now`;

/** Posts one state version to a webhook; a failure is said on stderr, never fatal. */
function noticeVersion(url: string, doc: StateDoc): void {
  const body = {
    kind: 'state-version',
    stateId: doc.stateId,
    version: doc.version,
    digest: doc.digest,
    signers: doc.signatures.map((s) => s.by),
    bootstrap: doc.bootstrap === true,
    at: new Date().toISOString(),
  };
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  }).catch(() => {
    process.stderr.write(`fleetvault: could not send state version ${doc.version} to the alert webhook\n`);
  });
}

/**
 * The two-person rule on a signed, versioned security state. Each principal above viewer has its
 * own Ed25519 key (sealed under its own password or token); a weakening version carries valid
 * signatures of two different admins over (state id, version, digest), anything else one. Roles
 * above viewer exist only in the signed state: the tokens and users files hold secrets, not rights.
 */
export class Approvals {
  readonly state: ApprovedState;
  readonly keys: AdminKeys;
  readonly proposals: ProposalStore;

  constructor(
    readonly dir: string,
    readonly audit: AuditLog,
  ) {
    this.state = new ApprovedState(dir);
    this.keys = new AdminKeys(dir);
    this.proposals = new ProposalStore(join(dir, 'proposals.json'), (p) => this.checkProposal(p));
  }

  /** The newest signed version, verified from version 1; undefined before the first principal is enrolled. */
  current(): StateDoc | undefined {
    const doc = this.state.current();
    if (!doc && existsSync(this.audit.path) && readFileSync(this.audit.path, 'utf8').includes(SEALED)) {
      throw new FvError(
        'FV_STATE_TAMPERED',
        `the approved security state ${this.state.path} is missing, but the audit log shows it was sealed; restore it from backup`,
      );
    }
    return doc;
  }

  /** Whether a signed state exists: from then on, roles above viewer come from it alone. */
  signed(): boolean {
    return this.current() !== undefined;
  }

  /** The approved state, verified; an empty one before the first seal. */
  approved(): SecurityState {
    return this.current()?.state ?? {};
  }

  /**
   * Whether a principal may act with the role its file gives it: viewers always; above viewer
   * only with exactly that role in the signed state (when one exists).
   */
  admits(p: Pick<Principal, 'kind' | 'id' | 'role' | 'credential'>): boolean {
    if (p.role === 'viewer') return true;
    const doc = this.current();
    if (!doc) return true;
    const id = `${p.kind}:${p.id}`;
    const bound = doc.state.credentials?.[id];
    return (
      doc.state.principals?.[id] === p.role &&
      doc.state.keys?.[id] !== undefined &&
      bound !== undefined &&
      bound === p.credential
    );
  }

  /**
   * A principal the signed state names with its role and key but without its credential's digest
   * (enrolled before digests existed): refused until it binds it once with its own secret.
   */
  needsReenrol(p: Pick<Principal, 'kind' | 'id' | 'role'>): boolean {
    if (p.role === 'viewer') return false;
    const state = this.current()?.state;
    const id = `${p.kind}:${p.id}`;
    return (
      state !== undefined &&
      state.principals?.[id] === p.role &&
      state.keys?.[id] !== undefined &&
      state.credentials?.[id] === undefined
    );
  }

  /** The refusal for such a principal, naming what to run. */
  reenrolError(p: Pick<Principal, 'kind' | 'id' | 'name' | 'role'>): FvError {
    const how =
      p.kind === 'user' ? `--user ${p.name} (password in FLEETVAULT_PASSWORD)` : '--token <its token>';
    return new FvError(
      'FV_PRINCIPAL_REENROL',
      `${p.kind}:${p.id} (${p.role}) was enrolled before the signed state bound credentials: run \`fleetvault approvals reenrol ${how}\` once`,
    );
  }

  /**
   * Re-enrolment: a principal the signed state names without a credential digest binds its own,
   * signed with its own key (unsealed with its secret, so only its holder can).
   */
  reenrol(p: Principal, secret: string): StateDoc {
    const id = `${p.kind}:${p.id}`;
    const doc = this.requireSigned();
    if (!this.needsReenrol(p) || p.credential === undefined)
      throw new FvError(
        'FV_USAGE',
        `${id} needs no re-enrolment: the signed state already binds its credential`,
      );
    const signer = this.keys.unseal(id, secret);
    if (publicKeyText(signer.key) !== doc.state.keys?.[id])
      throw new FvError(
        'FV_APPROVAL_INVALID',
        `the signing key of ${id} is not the one the signed state names`,
      );
    const next = mergeState(doc.state, { credentials: { [id]: p.credential } });
    return this.write(next, signer, {}, 'approvals.reenrol', { principal: id });
  }

  /** Whether two admins ever existed here: from then on the bootstrap never returns. */
  everTwoAdmins(): boolean {
    return everTwoAdmins(this.state.history());
  }

  /**
   * Removes a principal above viewer from the signed state (a revoked token, a disabled account): a
   * new version without its role, key and credential digest, one admin's signature (removing is
   * stronger). Its file entry put back by hand is then an unapproved principal. Undefined when the
   * signed state does not name it (a viewer, or no signed state).
   */
  remove(id: string, by: Signer): StateDoc | undefined {
    const doc = this.current();
    if (!doc || doc.state.principals?.[id] === undefined) return undefined;
    const drop = <T>(m: Readonly<Record<string, T>>) =>
      Object.fromEntries(Object.entries(m).filter(([k]) => k !== id));
    const { principals, keys, credentials } = doc.state;
    const next: SecurityState = {
      ...doc.state,
      principals: drop(principals ?? {}),
      ...(keys ? { keys: drop(keys) } : {}),
      ...(credentials ? { credentials: drop(credentials) } : {}),
    };
    const left = adminsOf(next).length;
    return this.write(next, by, {}, 'approvals.remove', { principal: id, admins: left });
  }

  /** Principals above viewer in the files that the signed state does not name with that role. */
  unapproved(
    onFile: Readonly<Record<string, Role>>,
    credentials: Readonly<Record<string, string>> = {},
  ): string[] {
    const doc = this.current();
    if (!doc) return [];
    const swapped = (id: string) => {
      const bound = doc.state.credentials?.[id];
      return bound !== undefined && credentials[id] !== undefined && credentials[id] !== bound;
    };
    return Object.entries(onFile)
      .filter(
        ([id, role]) =>
          role !== 'viewer' && (doc.state.principals?.[id] !== role || !doc.state.keys?.[id] || swapped(id)),
      )
      .map(([id, role]) => (swapped(id) ? `${id} (${role}, credential changed by hand)` : `${id} (${role})`));
  }

  /** An admin's signing key, unsealed with their own password or token. */
  signer(p: Principal, secret: string): Signer {
    const id = `${p.kind}:${p.id}`;
    const doc = this.current();
    if (doc?.state.principals?.[id] !== 'admin')
      throw new FvError('FV_APPROVAL_INVALID', `${id} is not an admin in the signed security state`);
    if (this.needsReenrol(p)) throw this.reenrolError(p);
    const signer = this.keys.unseal(id, secret);
    if (publicKeyText(signer.key) !== doc.state.keys?.[id])
      throw new FvError(
        'FV_APPROVAL_INVALID',
        `the signing key of ${id} is not the one the signed state names`,
      );
    return signer;
  }

  /**
   * Compares a configuration with the approved state. Weaker parts stop the caller with every
   * difference named; stronger parts run (recording them takes one admin: `approvals seal`).
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
    return diffs;
  }

  /** One admin records parts seen for the first time or made stronger: a new version with one signature. */
  seal(now: SecurityState, signer: Signer): { doc: StateDoc; differences: Difference[] } {
    const diffs = this.check(now, signer.id);
    const approved = this.approved();
    const next = mergeState(approved, now);
    const doc = this.write(next, signer, {}, 'approvals.record', {
      parts: Object.keys(now),
      stronger: diffs.map((d) => d.field),
    });
    return { doc, differences: diffs };
  }

  private write(
    next: SecurityState,
    first: Signer,
    extra: Parameters<ApprovedState['write']>[3],
    action: string,
    detail: Record<string, unknown>,
  ): StateDoc {
    const firstSeal = !this.state.exists();
    const before = firstSeal ? undefined : this.current()?.state.alertWebhook;
    const doc = this.state.write(next, first, this.audit.head(), extra);
    // Every new version goes to the alert webhook (the old one too when it changes): an append-only
    // record outside this machine that root cannot rewrite.
    for (const hook of new Set([before, doc.state.alertWebhook])) if (hook) noticeVersion(hook, doc);
    this.audit.append({
      actor: first.id,
      action: firstSeal ? 'approvals.seal' : action,
      outcome: 'ok',
      detail: {
        ...detail,
        stateId: doc.stateId,
        version: doc.version,
        digest: doc.digest,
        ...(doc.bootstrap ? { bootstrap: true } : {}),
      },
    });
    return doc;
  }

  private requireSigned(): StateDoc {
    const doc = this.current();
    if (!doc)
      throw new FvError(
        'FV_APPROVAL_INVALID',
        'no signed security state here yet: enroll the first admins with `fleetvault users add --role admin`',
      );
    return doc;
  }

  /** Proposes the weaker part of a configuration; refuses when nothing in it is weaker. */
  proposeSettings(now: SecurityState, by: Signer, reason: string, hours?: number): ProposalView {
    const doc = this.requireSigned();
    const approved = doc.state;
    const settings = weakerPart(approved, now);
    if (Object.keys(settings).length === 0) {
      throw new FvError(
        'FV_USAGE',
        'nothing to approve: this configuration is not weaker than the approved state',
      );
    }
    const state = mergeState(approved, settings);
    const version = doc.version + 1;
    const digest = stateDigest(doc.stateId, version, doc.digest, state);
    const proposal = this.proposals.propose(
      {
        kind: 'settings',
        settings,
        reason,
        proposedBy: by.id,
        target: { base: doc.version, version, digest, state },
      },
      () => ({ signature: { by: by.id, sig: signText(by, signedText(doc.stateId, version, digest)) } }),
      hours,
    );
    this.audit.append({
      actor: by.id,
      action: 'approvals.propose',
      outcome: 'ok',
      detail: { id: proposal.id, kind: proposal.kind },
    });
    return this.view(proposal, approved);
  }

  /**
   * Proposes a token or account above viewer. `existing` is the id (`user:…`) of the account of that
   * name when there is one (a password reset re-keys exactly it); otherwise the grant is for a new
   * principal. Proposer and approver sign the request with its expiry and target (payload 2).
   */
  proposePrincipal(
    principal: PrincipalRequest,
    by: Signer,
    reason: string,
    hours?: number,
    existing?: string,
  ): ProposalView {
    if (principal.role === 'viewer')
      throw new FvError('FV_USAGE', 'a viewer needs no approval; create it directly');
    const doc = this.requireSigned();
    const proposal = this.proposals.propose(
      { kind: 'principal', principal, reason, proposedBy: by.id },
      (id, expiresAt) => {
        const terms: GrantTerms = {
          payload: 2,
          expiresAt,
          ...(existing ? { mode: 'rekey' as const, principal: existing } : { mode: 'new' as const }),
        };
        return {
          signature: { by: by.id, sig: signText(by, grantText(doc.stateId, id, principal, terms)) },
          terms,
        };
      },
      hours,
    );
    this.audit.append({
      actor: by.id,
      action: 'approvals.propose',
      outcome: 'ok',
      detail: { id: proposal.id, kind: proposal.kind, role: principal.role },
    });
    return this.view(proposal, doc.state);
  }

  show(id: string): ProposalView {
    return this.view(this.proposals.get(id), this.approved());
  }

  list(): ProposalView[] {
    const approved = this.approved();
    return this.proposals.list().map((p) => this.view(p, approved));
  }

  /** A different admin signs: settings become the next version now; a principal may be created once. */
  approve(id: string, by: Signer, now = Date.now()): ProposalView {
    const doc = this.requireSigned();
    const before = this.view(this.proposals.get(id, now), doc.state);
    try {
      const p = before.proposal;
      let signature: { by: string; sig: string };
      if (p.kind === 'settings') {
        const t = p.target;
        if (!t) throw tamperedProposal(id, this.proposals.path);
        if (p.status === 'pending' && t.base !== doc.version)
          throw new FvError(
            'FV_APPROVAL_INVALID',
            `proposal ${id} was made against version ${t.base} of the security state, which is now at version ${doc.version}; propose it again`,
          );
        signature = { by: by.id, sig: signText(by, signedText(doc.stateId, t.version, t.digest)) };
      } else if (p.kind === 'exact') {
        if (!p.exact) throw tamperedProposal(id, this.proposals.path);
        signature = { by: by.id, sig: signText(by, exactText(doc.stateId, id, p.proposedBy, p.exact)) };
      } else {
        if (!p.terms) throw unsignedTerms(id);
        signature = {
          by: by.id,
          sig: signText(by, grantText(doc.stateId, id, p.principal as PrincipalRequest, p.terms)),
        };
      }
      const decided = this.proposals.decide(id, by.id, 'approved', now, signature);
      if (decided.kind === 'settings' && decided.target) {
        this.write(decided.target.state, by, { signatures: decided.signatures ?? [] }, 'approvals.record', {
          approval: id,
        });
      }
      this.audit.append({
        actor: by.id,
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
        actor: by.id,
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
   * An admin asks for the exact (k-anonymous) answer to one query under differential privacy. A
   * second admin approves it with their own key; only the asker may then fetch it, until the signed
   * expiry (24 hours unless `hours` says otherwise).
   */
  proposeExact(query: ExactQuery, by: Signer, reason: string, hours = EXACT_EXPIRY_HOURS): ProposalView {
    const doc = this.requireSigned();
    if (doc.state.principals?.[by.id] !== 'admin')
      throw new FvError('FV_APPROVAL_INVALID', `${by.id} is not an admin in the signed security state`);
    const proposal = this.proposals.propose(
      { kind: 'exact', reason, proposedBy: by.id },
      (id, expiresAt) => {
        const exact = { query, expiresAt };
        return {
          signature: { by: by.id, sig: signText(by, exactText(doc.stateId, id, by.id, exact)) },
          exact,
        };
      },
      hours,
    );
    this.audit.append({
      actor: by.id,
      action: 'approvals.propose',
      outcome: 'ok',
      detail: { id: proposal.id, kind: proposal.kind, metric: query.metric },
    });
    return this.view(proposal, doc.state);
  }

  /**
   * Lets `requester` see the exact answer to `query` under approval `id`, or refuses
   * (FV_EXACT_ANSWER_REFUSED): the approval must be an approved, unexpired exact-answer approval for
   * exactly this query, asked by this requester, who is still an admin. Audited either way.
   */
  useExact(id: string, requester: string, query: ExactQuery, now = Date.now()): void {
    const refuse = (why: string) => new FvError('FV_EXACT_ANSWER_REFUSED', `approval ${id} ${why}`);
    try {
      const doc = this.requireSigned();
      const p = this.proposals.get(id, now);
      if (p.kind !== 'exact' || !p.exact) throw refuse('is not an approval of an exact answer');
      // Said without naming the asker: whoever tries someone else's approval learns nothing.
      if (p.proposedBy !== requester) throw refuse('was asked by another admin; only the asker may use it');
      if (doc.state.principals?.[requester] !== 'admin')
        throw refuse(`belongs to ${requester}, who is no longer an admin`);
      if (p.status === 'expired') throw refuse(`expired at ${p.expiresAt}; ask again`);
      if (p.status !== 'approved') throw refuse(`is ${p.status}: a second admin must approve it first`);
      if (!approverStands(p, doc.state)) throw refuse(notAnAdmin(p));
      if (exactQueryText(p.exact.query) !== exactQueryText(query))
        throw refuse(`is for ${describeExact(p.exact.query)}, not for ${describeExact(query)}`);
      this.audit.append({
        actor: requester,
        action: 'privacy.exact',
        outcome: 'ok',
        detail: { approval: id, approvedBy: p.decidedBy, metric: query.metric },
      });
    } catch (error) {
      this.audit.append({
        actor: requester,
        action: 'privacy.exact',
        outcome: 'refused',
        detail: { approval: id, metric: query.metric, code: (error as FvError).code },
      });
      throw error;
    }
  }

  /**
   * May this token or account be created now? A viewer always; above viewer with an approved,
   * unused, unexpired proposal for exactly this type, name and role, or while fewer than two
   * admins are in the signed state (nobody could approve yet: the bootstrap, audited as such).
   */
  authorizePrincipal(req: PrincipalRequest, approvalId: string | undefined): PrincipalGrant {
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
      if (!p.terms) throw unsignedTerms(approvalId);
      if (p.status !== 'approved' || approved.used?.includes(approvalId)) {
        const status = p.status === 'approved' ? 'applied' : p.status;
        throw new FvError('FV_APPROVAL_INVALID', `proposal ${approvalId} is ${status}, not approved`);
      }
      if (!approverStands(p, approved))
        throw new FvError('FV_APPROVAL_INVALID', `proposal ${approvalId} ${notAnAdmin(p)}`);
      return { approval: approvalId, bootstrap: false };
    }
    if (adminsOf(approved).length < 2) {
      if (!this.everTwoAdmins()) return { bootstrap: true };
      throw new FvError(
        'FV_QUORUM_LOST',
        `creating a ${req.role} ${req.type} needs two admins' approval, and the signed state has one admin left after two existed: the bootstrap does not return`,
      );
    }
    throw new FvError(
      'FV_APPROVAL_REQUIRED',
      `creating a ${req.role} ${req.type} needs a second admin's approval: propose it with \`fleetvault approvals propose --new-${req.type} ${req.name} --role ${req.role}\` (or POST /api/v1/approvals), then create it with --approval <id> once approved`,
    );
  }

  /**
   * Enrolls a created principal above viewer: its own key pair (sealed under `secret`, its password
   * or token) and its role go into a new signed version, signed by its own key and carrying the
   * two admins' grant (or marked bootstrap). A deployment whose files already hold principals above
   * viewer that were never enrolled has no signed state; it stays unsigned (and says so).
   */
  enroll(
    id: string,
    role: Role,
    grant: PrincipalGrant,
    actor: string,
    secret: string,
    onFile: Readonly<Record<string, Role>>,
    /** The principal's credential digest as the files hold it now (principalCredentials). */
    credential?: string,
  ): void {
    if (ROLES.indexOf(role) <= 0) return;
    const doc = this.current();
    if (!doc && Object.keys(onFile).some((p) => p !== id)) {
      this.audit.append({
        actor,
        action: 'approvals.principal',
        outcome: 'ok',
        detail: { principal: id, role, unsigned: true },
      });
      return;
    }
    const signer = this.keys.create(id, secret);
    const approved = doc?.state ?? FIRST_STATE;
    const next = mergeState(approved, {
      principals: { ...(approved.principals ?? {}), [id]: role },
      keys: { [id]: publicKeyText(signer.key) },
      ...(credential ? { credentials: { [id]: credential } } : {}),
      ...(grant.approval ? { used: [grant.approval] } : {}),
    });
    let extra: Parameters<ApprovedState['write']>[3] = { bootstrap: true };
    if (grant.approval) {
      const p = this.proposals.get(grant.approval);
      if (!p.terms || !grantTargets(p.terms, id, approved))
        throw new FvError(
          'FV_APPROVAL_INVALID',
          `proposal ${p.id} is not a grant for ${id}: ${p.terms?.mode === 'rekey' ? `it re-keys ${p.terms.principal}` : 'it is for a new principal'}`,
        );
      extra = {
        grant: {
          proposal: p.id,
          request: p.principal as PrincipalRequest,
          principal: id,
          signatures: p.signatures ?? [],
          terms: p.terms,
        },
      };
      this.proposals.apply(grant.approval);
    }
    this.write(next, signer, extra, 'approvals.principal', {
      principal: id,
      role,
      ...(grant.approval ? { approval: grant.approval } : { bootstrap: true }),
    });
  }

  /** A stored proposal must carry its proposer's signature (and its approver's once approved). */
  private checkProposal(p: Proposal): void {
    const doc = this.state.current();
    const bad = () => tamperedProposal(String(p.id), this.proposals.path);
    if (!doc) throw bad();
    const history = this.state.history();
    let text: string;
    if (p.kind === 'settings') {
      const t = p.target;
      const base = t ? history[t.base - 1] : undefined;
      if (!t || !base || stateDigest(doc.stateId, t.version, base.digest, t.state) !== t.digest) throw bad();
      // A live proposal's next version is exactly its base plus the weaker parts the reviewer is
      // shown: a key, principal or entry changed beside them (written by hand) is refused.
      if (
        p.status === 'pending' &&
        canonical(t.state) !== canonical(mergeState(base.state, weakerPart(base.state, t.state)))
      )
        throw bad();
      text = signedText(doc.stateId, t.version, t.digest);
    } else if (p.kind === 'exact') {
      if (!p.exact) throw bad();
      text = exactText(doc.stateId, p.id, p.proposedBy, p.exact);
    } else {
      if (!p.principal) throw bad();
      // Payload 2 signs the expiry and target (a stored expiry moved later voids it: expiry()).
      if (p.terms && p.terms.payload !== 2) throw bad();
      text = grantText(doc.stateId, p.id, p.principal, p.terms);
    }
    // Only an admin proposes or approves: a signature counts only by a key its signer held while the
    // signed state named them admin (an analyst's key, used by whoever holds it, signs nothing here).
    // A live proposal verifies against its signers' current keys. One already applied is history:
    // a signer re-keyed since (a password reset above viewer) signed it with a key the chain held then.
    const past = p.status === 'applied' || (doc.state.used ?? []).includes(p.id);
    const keysOf = (who: string | undefined): string[] => {
      const id = who ?? '';
      const all = history.map((h) => h.state.keys?.[id]).filter((k): k is string => Boolean(k));
      const asAdmin = new Set(
        history.filter((h) => h.state.principals?.[id] === 'admin').map((h) => h.state.keys?.[id]),
      );
      return (past ? [...new Set(all)] : all.slice(-1)).filter((k) => asAdmin.has(k));
    };
    const signed = (who: string | undefined) =>
      (p.signatures ?? []).some((s) => s.by === who && keysOf(who).some((k) => verifyText(k, text, s.sig)));
    if (!signed(p.proposedBy)) throw bad();
    if (
      (p.status === 'approved' || p.status === 'applied') &&
      (!signed(p.decidedBy) || p.decidedBy === p.proposedBy)
    )
      throw bad();
  }

  private view(proposal: Proposal, approved: SecurityState): ProposalView {
    if (proposal.kind === 'exact' && proposal.exact)
      return {
        proposal,
        differences: [
          {
            field: `exact answer for ${proposal.proposedBy}`,
            approved: 'differentially private',
            configured: describeExact(proposal.exact.query),
            weaker: true,
          },
        ],
      };
    const differences =
      proposal.kind === 'principal' && proposal.principal
        ? [principalDifference(proposal.principal)]
        : compareStates(approved, proposal.target?.state ?? proposal.settings ?? {}).filter((d) => d.weaker);
    return { proposal, differences };
  }
}
