import { randomBytes } from 'node:crypto';
import type { Principal } from './token-store.ts';

export interface Session {
  readonly id: string;
  readonly principal: Principal;
  /** Sent back in `x-csrf-token` on every state-changing request made with the cookie. */
  readonly csrf: string;
  readonly expires: number;
}

const TTL_MS = 8 * 3600_000;

/** Browser sessions in memory: a restart signs everyone out, which is the safe default. */
export class SessionStore {
  private readonly sessions = new Map<string, Session>();

  create(principal: Principal, now = Date.now()): Session {
    const s: Session = {
      id: randomBytes(32).toString('base64url'),
      principal,
      csrf: randomBytes(32).toString('base64url'),
      expires: now + TTL_MS,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string | undefined, now = Date.now()): Session | undefined {
    if (!id) return undefined;
    const s = this.sessions.get(id);
    if (!s || s.expires <= now) {
      if (s) this.sessions.delete(id);
      return undefined;
    }
    return s;
  }

  destroy(id: string): void {
    this.sessions.delete(id);
  }
}
