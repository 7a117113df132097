import {
  credentialDigest,
  principalsAboveViewer,
  type TokenRecord,
  type TokenStore,
  type UserRecord,
  type UserStore,
} from '../identity/index.ts';
import type { Approvals, PrincipalGrant } from './approvals.ts';

/** A token or account as its file holds it. */
export type Account = { kind: 'token'; record: TokenRecord } | { kind: 'user'; record: UserRecord };

/**
 * Enrols a token or account just made (or an account's new password) as the files now hold it:
 * its key pair sealed under `secret`, its role and credential digest in the signed state. The CLI
 * and the API both enrol through here.
 */
export function enrollAccount(
  approvals: Approvals,
  account: Account,
  grant: PrincipalGrant,
  actor: string,
  secret: string,
  files: { readonly tokens: TokenStore; readonly users: UserStore },
): void {
  const { record } = account;
  const hash = account.kind === 'token' ? account.record.hash : account.record.passwordHash;
  approvals.enroll(
    `${account.kind}:${record.id}`,
    record.role,
    grant,
    actor,
    secret,
    principalsAboveViewer(files.tokens, files.users),
    credentialDigest(account.kind, record.name, hash),
  );
}
