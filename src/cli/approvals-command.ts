import { existsSync } from 'node:fs';
import {
  type Difference,
  guardSeen,
  type ProposalView,
  policyState,
  type SecurityState,
} from '../approvals/index.ts';
import { FvError } from '../errors/index.ts';
import { ROLES, type Role } from '../identity/index.ts';
import { isLoopback } from '../net/index.ts';
import { parseListen, resolveListen } from '../server/index.ts';
import { actingAdmin, identify } from './acting-admin.ts';
import type { Action } from './commands.ts';
import { loadPolicyOrThrow } from './commands.ts';
import { optionalText, type RawOptions, textOpt } from './options.ts';
import type { Output } from './output.ts';
import { parseProbeInterval, parseWebhook } from './serve-options.ts';
import { stateFiles } from './server-commands.ts';

function printDifferences(out: Output, diffs: readonly Difference[]): void {
  for (const d of diffs) out.line(`    ${d.field}: ${d.approved}  ->  ${d.configured}`);
}

function printView(out: Output, v: ProposalView): void {
  const p = v.proposal;
  out.line(
    `${p.id}  ${p.status.padEnd(8)}  ${p.kind}  proposed by ${p.proposedBy} at ${p.proposedAt.slice(0, 16)}, expires ${p.expiresAt.slice(0, 16)}`,
  );
  out.line(`    reason: ${p.reason}`);
  if (p.decidedBy) out.line(`    ${p.status} by ${p.decidedBy} at ${p.decidedAt?.slice(0, 16)}`);
  printDifferences(out, v.differences);
}

/** The part of a configuration a proposal names with the same flags serve and sync take. */
/** The state folder, refused when it went back or forked since this user last saw it (seen-state.ts). */
function checkedStateFiles(opts: Record<string, unknown>): ReturnType<typeof stateFiles> {
  const files = stateFiles(opts);
  guardSeen(files.approvals);
  return files;
}

/** The settings `approvals propose` and `approvals seal` name, read once and typed. */
export interface SettingsOptions {
  readonly policy?: string;
  readonly listen?: string;
  readonly tls: boolean;
  readonly probeEvery?: string;
  readonly alertWebhook?: string;
}

export function settingsOptions(opts: RawOptions): SettingsOptions {
  const policy = optionalText(opts.policy);
  const listen = optionalText(opts.listen);
  const probeEvery = optionalText(opts.probeEvery);
  const alertWebhook = optionalText(opts.alertWebhook);
  return {
    ...(policy !== undefined ? { policy } : {}),
    ...(listen !== undefined ? { listen } : {}),
    tls: opts.tlsCert !== undefined && opts.tlsKey !== undefined,
    ...(probeEvery !== undefined ? { probeEvery } : {}),
    ...(alertWebhook !== undefined ? { alertWebhook } : {}),
  };
}

/** `fleetvault approvals propose`'s options, read once and typed. */
export interface ProposeOptions extends SettingsOptions {
  readonly reason: string;
  readonly hours?: number;
  /** With --new-token or --new-user: the credential proposed. */
  readonly principal?: { readonly type: 'token' | 'user'; readonly role: Role; readonly name: string };
}

export function proposeOptions(opts: RawOptions): ProposeOptions {
  const reason = textOpt(opts.reason, '').trim();
  if (reason.length < 3)
    throw new FvError('FV_USAGE', 'say why with --reason "…" (it is shown to the approver)');
  const hours = opts.expiresIn === undefined ? undefined : Number(opts.expiresIn);
  if (hours !== undefined && (!Number.isInteger(hours) || hours < 1 || hours > 168)) {
    throw new FvError('FV_USAGE', '--expires-in is 1 to 168 hours');
  }
  const newToken = optionalText(opts.newToken);
  const newUser = optionalText(opts.newUser);
  let principal: ProposeOptions['principal'];
  if (newToken !== undefined || newUser !== undefined) {
    const role = textOpt(opts.role, '');
    if (!ROLES.includes(role as Role)) throw new FvError('FV_USAGE', `--role is one of ${ROLES.join(', ')}`);
    principal = {
      type: newToken !== undefined ? 'token' : 'user',
      role: role as Role,
      name: newToken ?? newUser ?? '',
    };
  }
  return {
    ...settingsOptions(opts),
    reason,
    ...(hours !== undefined ? { hours } : {}),
    ...(principal !== undefined ? { principal } : {}),
  };
}

async function proposedSettings(opts: SettingsOptions): Promise<SecurityState> {
  const out: { -readonly [K in keyof SecurityState]: SecurityState[K] } = {};
  if (opts.policy !== undefined) Object.assign(out, policyState(loadPolicyOrThrow(opts.policy)));
  if (opts.listen !== undefined) {
    const tls = opts.tls;
    // Resolved as serve resolves it: the approved listener is the address bound.
    const addr = await resolveListen(parseListen(opts.listen), tls);
    out.listeners = isLoopback(addr.host) ? [] : [{ address: `${addr.host}:${addr.port}`, tls }];
  }
  if (opts.probeEvery !== undefined) {
    const ms = parseProbeInterval(opts.probeEvery);
    out.probeSeconds = ms === null ? null : ms / 1000;
  }
  if (opts.alertWebhook !== undefined)
    out.alertWebhook = opts.alertWebhook === 'none' ? null : parseWebhook(opts.alertWebhook);
  return out;
}

export const approvalsProposeAction: Action = async (out, raw) => {
  const files = checkedStateFiles(raw);
  const who = await actingAdmin(raw, files);
  // Read after the acting admin is checked: bad credentials are refused before any usage error.
  const opts = proposeOptions(raw);
  const { reason, hours } = opts;
  let view: ProposalView;
  if (opts.principal !== undefined) {
    const { principal } = opts;
    // A user of that name exists: the grant re-keys exactly that account (a password reset).
    const existing =
      principal.type === 'user' ? files.users.list().find((u) => u.name === principal.name) : undefined;
    view = files.approvals.proposePrincipal(
      principal,
      who,
      reason,
      hours,
      existing ? `user:${existing.id}` : undefined,
    );
  } else {
    const settings = await proposedSettings(opts);
    if (Object.keys(settings).length === 0) {
      throw new FvError(
        'FV_USAGE',
        'propose something: --policy, --listen, --probe-every, --alert-webhook, --new-token or --new-user',
      );
    }
    view = files.approvals.proposeSettings(settings, who, reason, hours);
  }
  if (out.json) out.data(view);
  out.line(
    `Proposal ${view.proposal.id} waits for a second admin (expires ${view.proposal.expiresAt.slice(0, 16)}):`,
  );
  printDifferences(out, view.differences);
  out.line(
    `Another admin approves it with: fleetvault approvals approve ${view.proposal.id} --user <their name>`,
  );
  return 0;
};

export const approvalsListAction: Action = async (out, opts) => {
  const files = checkedStateFiles(opts);
  const views = files.approvals.list();
  if (out.json) out.data({ proposals: views });
  if (views.length === 0) out.line('No proposals.');
  for (const v of views) printView(out, v);
  return 0;
};

export const approvalsShowAction: Action = async (out, opts, args) => {
  const v = checkedStateFiles(opts).approvals.show(String(args[0] ?? ''));
  if (out.json) out.data(v);
  printView(out, v);
  return 0;
};

export const approvalsDecideAction =
  (verdict: 'approve' | 'reject'): Action =>
  async (out, opts, args) => {
    const files = checkedStateFiles(opts);
    const who = await actingAdmin(opts, files);
    const id = String(args[0] ?? '');
    const v = verdict === 'approve' ? files.approvals.approve(id, who) : files.approvals.reject(id, who.id);
    if (out.json) out.data(v);
    out.line(
      `${verdict === 'approve' ? 'Approved' : 'Rejected'} proposal ${id}${verdict === 'approve' ? ', which changes:' : '.'}`,
    );
    if (verdict === 'approve') printDifferences(out, v.differences);
    if (verdict === 'approve' && v.proposal.kind === 'principal') {
      const p = v.proposal.principal;
      out.line(
        `Create it once with: fleetvault ${p?.type === 'token' ? 'tokens create' : 'users add'} --name ${p?.name} --role ${p?.role} --approval ${id}`,
      );
    }
    return 0;
  };

/** One admin records a first or stronger setting: a new version with their signature. */
export const approvalsSealAction: Action = async (out, opts) => {
  const files = checkedStateFiles(opts);
  const who = await actingAdmin(opts, files);
  const settings = await proposedSettings(settingsOptions(opts));
  if (Object.keys(settings).length === 0)
    throw new FvError('FV_USAGE', 'seal something: --policy, --listen, --probe-every or --alert-webhook');
  const { doc, differences } = files.approvals.seal(settings, who);
  if (out.json) out.data({ stateId: doc.stateId, version: doc.version, digest: doc.digest, differences });
  out.line(
    `Signed version ${doc.version} of security state ${doc.stateId} (digest ${doc.digest.slice(0, 16)}…).`,
  );
  printDifferences(out, differences);
  return 0;
};

/** The approved state as it stands, for `approvals state`. */
export const approvalsStateAction: Action = async (out, opts) => {
  const files = checkedStateFiles(opts);
  const doc = files.approvals.current();
  out.data({
    file: files.approvals.state.path,
    sealed: existsSync(files.approvals.state.path),
    ...(doc
      ? {
          stateId: doc.stateId,
          version: doc.version,
          digest: doc.digest,
          signatures: doc.signatures.map((s) => s.by),
          audit: { records: doc.audit.records, hash: doc.audit.hash },
        }
      : {}),
    state: doc?.state ?? {},
  });
  return 0;
};

/**
 * A principal enrolled before the signed state bound credentials binds its own once: its secret
 * opens its own key, which signs the version that adds its credential's digest.
 */
export const approvalsReenrolAction: Action = async (out, opts) => {
  const files = checkedStateFiles(opts);
  const { who, secret } = await identify(opts, files);
  if (!who) {
    files.audit.append({ actor: 'cli', action: 'approvals.reenrol', outcome: 'refused' });
    throw new FvError('FV_APPROVAL_INVALID', 'wrong user name, password or token');
  }
  const doc = files.approvals.reenrol(who, secret);
  if (out.json) out.data({ principal: `${who.kind}:${who.id}`, version: doc.version });
  out.line(`${who.kind}:${who.id} (${who.role}) re-enrolled: version ${doc.version} binds its credential.`);
  return 0;
};
