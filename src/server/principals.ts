import type { Role, TokenStore } from './token-store.ts';
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
