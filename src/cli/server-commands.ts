import { join, resolve } from 'node:path';
import {
  adminsOf,
  enrollAccount,
  guardSeen,
  requireNoLaterState,
  type StoreBinding,
} from '../approvals/index.ts';
import { AuditLog } from '../audit/index.ts';
import { FvError, isFvError } from '../errors/index.ts';
import { ROLES, type Role } from '../identity/index.ts';
import { actingAdmin } from './acting-admin.ts';
import type { Action } from './commands.ts';
import { AUDIT_FILE, DEFAULT_ACCOUNT_ROLE, STATE_DIR } from './defaults.ts';
import { optionalText, type RawOptions, textOpt } from './options.ts';
import type { Output } from './output.ts';
import { openServerState, type ServerState } from './server-root.ts';
import { stateDirFor, storeBinding } from './state-guard.ts';

export function stateFiles(opts: Record<string, unknown>, binding?: StoreBinding): ServerState {
  const dir =
    opts.stateDir === undefined && opts.store === undefined && !binding
      ? STATE_DIR
      : stateDirFor(opts, binding);
  return openServerState(dir);
}

function parseDays(v: unknown): number | null {
  if (v === undefined || v === 'never') return v === 'never' ? null : 30;
  const m = /^(\d{1,4})d$/.exec(String(v));
  if (!m || Number(m[1]) < 1)
    throw new FvError('FV_USAGE', '--expires is a number of days such as 30d, or never');
  return Number(m[1]);
}

/** `users add` and `tokens create`: the account's options, read once and typed. */
export interface AccountOptions {
  readonly role: Role;
  readonly name?: string;
  readonly approval?: string;
}

export function accountOptions(opts: RawOptions): AccountOptions {
  const role = textOpt(opts.role, DEFAULT_ACCOUNT_ROLE);
  if (!ROLES.includes(role as Role)) throw new FvError('FV_USAGE', `--role is one of ${ROLES.join(', ')}`);
  const name = optionalText(opts.name);
  const approval = optionalText(opts.approval);
  return {
    role: role as Role,
    ...(name !== undefined ? { name } : {}),
    ...(approval !== undefined ? { approval } : {}),
  };
}

export const tokensCreateAction: Action = async (out, opts) => {
  const { role, name = role, approval } = accountOptions(opts);
  const { tokens, users, audit, approvals } = stateFiles(opts);
  const grant = approvals.authorizePrincipal({ type: 'token', role, name }, approval);
  const { token, record } = tokens.create({ role, name, days: parseDays(opts.expires) });
  enrollAccount(approvals, { kind: 'token', record }, grant, 'cli', token, { tokens, users });
  audit.append({
    actor: 'cli',
    action: 'token.create',
    outcome: 'ok',
    detail: { id: record.id, role: record.role, expiresAt: record.expiresAt },
  });
  if (out.json) out.data({ token, id: record.id, role: record.role, expiresAt: record.expiresAt });
  out.line(
    `Token ${record.id} (${record.role}, expires ${record.expiresAt ?? 'never'}). Shown once; store it now:`,
  );
  out.line(token);
  return 0;
};

export const tokensListAction: Action = async (out, opts) => {
  const { tokens } = stateFiles(opts);
  const list = tokens.list().map(({ hash: _hash, ...t }) => t);
  const state = (t: (typeof list)[number]) =>
    t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active';
  if (out.json) out.data({ tokens: list.map((t) => ({ ...t, state: state(t) })) });
  if (out.csv) {
    out.table(
      ['id', 'role', 'state', 'name', 'expiresAt'],
      list.map((t) => [t.id, t.role, state(t), t.name, t.expiresAt]),
    );
    return 0;
  }
  if (list.length === 0)
    out.line('No tokens yet: `fleetvault tokens create --role viewer --name <what it is for>` makes one.');
  for (const t of list) {
    out.line(
      `${t.id}  ${t.role.padEnd(7)}  ${state(t).padEnd(7)}  ${t.name}  expires ${t.expiresAt ?? 'never'}`,
    );
  }
  return 0;
};

/**
 * A revoked token or disabled account above viewer leaves the signed state too: an admin signs a
 * version without it (one signature: removing is stronger), before its file entry changes. Put
 * back by hand later, it is an unapproved principal.
 */
async function removeSigned(
  out: Output,
  files: ReturnType<typeof stateFiles>,
  opts: Record<string, unknown>,
  id: string,
): Promise<void> {
  if (files.approvals.current()?.state.principals?.[id] === undefined) return;
  const doc = files.approvals.remove(id, await actingAdmin(opts, files));
  if (doc && adminsOf(doc.state).length < 2 && files.approvals.everTwoAdmins())
    out.warn(
      `${id} removed; one admin is left, so nothing can be weakened or enrolled above viewer any more (FV_QUORUM_LOST)`,
    );
}

export const tokensRevokeAction: Action = async (out, opts, args) => {
  const files = stateFiles(opts);
  const { tokens, audit } = files;
  const id = String(args[0] ?? '');
  if (tokens.list().some((t) => t.id === id)) await removeSigned(out, files, opts, `token:${id}`);
  const r = tokens.revoke(id);
  audit.append({ actor: 'cli', action: 'token.revoke', outcome: 'ok', detail: { id: r.id } });
  if (out.json) out.data({ id: r.id, revoked: true });
  out.line(`Token ${r.id} revoked.`);
  return 0;
};

export const auditVerifyAction: Action = async (out, opts) => {
  const store = optionalText(opts.store);
  const binding = store === undefined ? undefined : await storeBinding(store);
  const { dir, approvals } = stateFiles(opts, binding);
  const file = textOpt(opts.auditLog, join(dir, AUDIT_FILE));
  // The chain, and that it still reaches the heads the signed state and the store anchored:
  // a log cut above its last anchor, deleted or replaced is caught, not reported intact.
  const doc = approvals.current();
  const lines = AuditLog.lines(file);
  const verdict = AuditLog.verifyAnchored(
    file,
    [
      ...(doc ? [{ what: `version ${doc.version} of the signed security state`, ...doc.audit }] : []),
      ...(binding ? [{ what: `the store ${store}`, ...binding.audit }] : []),
      ...AuditLog.headAnchors(file),
    ],
    lines,
  );
  // An intact chain that remembers a newer state than the folder holds is a rollback.
  // Only the state folder's own log speaks for its state (another log given with --audit-log does not).
  if (verdict.ok && resolve(file) === resolve(approvals.audit.path)) {
    requireNoLaterState(approvals, file, lines);
    guardSeen(approvals);
  }
  if (out.json) out.data(verdict);
  if (verdict.ok) out.line(`${file}: chain intact, ${verdict.records} records`);
  else out.line(`${file}: chain broken at line ${verdict.firstBad?.line}: ${verdict.firstBad?.reason}`);
  return verdict.ok ? 0 : 1;
};

export const usersAddAction: Action = async (out, opts) => {
  const { role, name = '', approval } = accountOptions(opts);
  const files = stateFiles(opts);
  const { users, audit, approvals } = files;
  const grant = approvals.authorizePrincipal({ type: 'user', role, name }, approval);
  const { record, password } = await users.add(name, role);
  enrollAccount(files.approvals, { kind: 'user', record }, grant, 'cli', password, files);
  audit.append({
    actor: 'cli',
    action: 'user.add',
    outcome: 'ok',
    detail: { id: record.id, role: record.role },
  });
  if (out.json) out.data({ name: record.name, role: record.role, password });
  out.line(
    `User ${record.name} (${record.role}) created. Initial password, shown once (store it now): ${password}`,
  );
  return 0;
};

export const usersDisableAction: Action = async (out, opts) => {
  const files = stateFiles(opts);
  const { users, audit } = files;
  const name = textOpt(opts.name, '');
  // --user names the acting admin here; the account disabled is --name.
  await removeSigned(out, files, opts, `user:${users.get(name).id}`);
  const record = users.disable(name);
  audit.append({ actor: 'cli', action: 'user.disable', outcome: 'ok', detail: { id: record.id } });
  if (out.json) out.data({ name: record.name, role: record.role, disabledAt: record.disabledAt });
  out.line(`User ${record.name} disabled: it cannot sign in, and its sessions end on their next request.`);
  return 0;
};

/**
 * A new one-time password. New credentials for an account above viewer are as strong a grant as
 * the account itself, so they take the same approved proposal (`approvals propose --new-user NAME
 * --role ROLE`) the account took; a viewer's are reset at once.
 */
export const usersResetPasswordAction: Action = async (out, opts) => {
  const files = stateFiles(opts);
  const { users, audit, approvals } = files;
  const existing = users.get(textOpt(opts.name, ''));
  let grant: ReturnType<typeof approvals.authorizePrincipal>;
  try {
    grant = approvals.authorizePrincipal(
      { type: 'user', role: existing.role, name: existing.name },
      optionalText(opts.approval),
    );
  } catch (error) {
    if (!isFvError(error) || error.code !== 'FV_APPROVAL_REQUIRED') throw error;
    throw new FvError(
      'FV_APPROVAL_REQUIRED',
      `a new password for ${existing.role} ${existing.name} needs a second admin's approval: propose it with \`fleetvault approvals propose --new-user ${existing.name} --role ${existing.role} --reason "password reset"\`, then run \`fleetvault users reset-password --name ${existing.name} --approval <id>\` once approved`,
    );
  }
  const { record, password } = await users.resetPassword(existing.name, existing.role);
  // Its signing key was sealed under the old password: a new key pair under the new one, enrolled
  // in the signed state with the second admin's grant, as when the account was made.
  enrollAccount(files.approvals, { kind: 'user', record }, grant, 'cli', password, files);
  audit.append({
    actor: 'cli',
    action: 'user.reset_password',
    outcome: 'ok',
    detail: { id: record.id, role: record.role, ...(grant.approval ? { approval: grant.approval } : {}) },
  });
  if (out.json)
    out.data({ name: record.name, role: record.role, password, disabled: record.disabledAt !== null });
  out.line(
    `New password for ${record.name} (${record.role}), shown once (store it now): ${password}${record.disabledAt ? ' (the account stays disabled)' : ''}`,
  );
  return 0;
};

export const usersListAction: Action = async (out, opts) => {
  const { users } = stateFiles(opts);
  const list = users.list().map(({ passwordHash: _h, ...u }) => u);
  if (out.json) out.data({ users: list });
  if (out.csv) {
    out.table(
      ['id', 'role', 'name', 'createdAt', 'disabledAt'],
      list.map((u) => [u.id, u.role, u.name, u.createdAt, u.disabledAt]),
    );
    return 0;
  }
  if (list.length === 0)
    out.line('No accounts yet: `fleetvault users add --name <you> --role admin` makes the first.');
  for (const u of list)
    out.line(`${u.id}  ${u.role.padEnd(7)}  ${u.name}${u.disabledAt ? '  (disabled)' : ''}`);
  return 0;
};
