import { credentialDigest, type Role, type TokenStore } from './token-store.ts';
import type { UserStore } from './user-store.ts';

/** Every usable token and account above viewer, as the approved state names them (`token:<id>`). */
export function principalsAboveViewer(
  tokens: TokenStore,
  users: UserStore,
  now = Date.now(),
): Record<string, Role> {
  const out: Record<string, Role> = {};
  for (const t of tokens.list()) {
    const live = !t.revokedAt && (!t.expiresAt || Date.parse(t.expiresAt) > now);
    if (live && t.role !== 'viewer') out[`token:${t.id}`] = t.role;
  }
  for (const u of users.list()) if (!u.disabledAt && u.role !== 'viewer') out[`user:${u.id}`] = u.role;
  return out;
}

/**
 * Every usable principal above viewer with the digest of its name and stored hash: what the signed
 * state binds (a hash or name changed by hand no longer matches).
 */
export function principalCredentials(
  tokens: TokenStore,
  users: UserStore,
  now = Date.now(),
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tokens.list()) {
    const live = !t.revokedAt && (!t.expiresAt || Date.parse(t.expiresAt) > now);
    if (live && t.role !== 'viewer') out[`token:${t.id}`] = credentialDigest('token', t.name, t.hash);
  }
  for (const u of users.list()) {
    if (u.disabledAt || u.role === 'viewer') continue;
    const id = `user:${u.id}`;
    const c = credentialDigest('user', u.name, u.passwordHash);
    // Two entries under one id (one appended by hand): neither digest is trusted alone.
    out[id] = out[id] === undefined ? c : `${out[id]}+${c}`;
  }
  return out;
}
