import { expect } from 'vitest';
import type { Approvals, Signer } from '../../src/approvals/index.ts';
import {
  credentialDigest,
  principalsAboveViewer,
  type Role,
  type TokenStore,
  type UserStore,
} from '../../src/identity/index.ts';
import { runCli } from './cli.ts';

/**
 * A token created the way `fleetvault tokens create` creates it: authorized (bootstrap or
 * approval), written, and enrolled in the signed state with its own key.
 */
export function enrollToken(
  approvals: Approvals,
  tokens: TokenStore,
  users: UserStore,
  role: Role,
  name: string,
  approval?: string,
): { token: string; id: string; signer: () => Signer } {
  const grant = approvals.authorizePrincipal({ type: 'token', role, name }, approval);
  const { token, record } = tokens.create({ role, name, days: 1 });
  approvals.enroll(
    `token:${record.id}`,
    role,
    grant,
    'test',
    token,
    principalsAboveViewer(tokens, users),
    credentialDigest('token', record.name, record.hash),
  );
  return {
    token,
    id: record.id,
    signer: () => approvals.signer({ kind: 'token', id: record.id, name, role }, token),
  };
}

/** An account created the way `fleetvault users add` creates it (see `enrollToken`). */
export async function enrollUser(
  approvals: Approvals,
  tokens: TokenStore,
  users: UserStore,
  role: Role,
  name: string,
): Promise<string> {
  const grant = approvals.authorizePrincipal({ type: 'user', role, name }, undefined);
  const { record, password } = await users.add(name, role);
  approvals.enroll(
    `user:${record.id}`,
    role,
    grant,
    'test',
    password,
    principalsAboveViewer(tokens, users),
    credentialDigest('user', record.name, record.passwordHash),
  );
  return password;
}

/**
 * Admin accounts added with `fleetvault users add --role admin`, the way a deployment's first
 * admins bootstrap (nobody can approve yet); answers each one's one-time password by name.
 */
export async function addAdminsByCli(
  state: string,
  names = ['alice', 'bob'],
): Promise<Record<string, string>> {
  const passwords: Record<string, string> = {};
  for (const name of names) {
    const r = await runCli([
      'users',
      'add',
      '--name',
      name,
      '--role',
      'admin',
      '--state-dir',
      state,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    passwords[name] = JSON.parse(r.stdout).password;
  }
  return passwords;
}
