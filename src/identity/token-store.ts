import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { FvError } from '../errors/index.ts';
import { JsonFile } from './json-file.ts';

export const ROLES = ['viewer', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Why a file entry's role is refused: anything but one of ROLES exactly (`Admin` included). */
export const unknownRole = (r: { readonly role?: unknown }): string | undefined =>
  ROLES.includes(r?.role as Role) ? undefined : `has a role that is not one of ${ROLES.join(', ')}`;

/** Whether `have` includes what `need` allows (viewer < analyst < admin). */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the secret part; the secret itself is shown once and never stored. */
  readonly hash: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

export interface Principal {
  readonly kind: 'token' | 'user';
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /**
   * Digest of the name and the stored hash the principal authenticated against (credentialDigest):
   * above viewer it must equal the one the signed security state binds, so a hash or name swapped
   * in by hand does not count.
   */
  readonly credential?: string;
}

/** What the signed state binds for a principal above viewer: its kind, name and stored hash. */
export function credentialDigest(kind: Principal['kind'], name: string, hash: string): string {
  return createHash('sha256').update(`fleetvault credential\n${kind}\n${name}\n${hash}`).digest('hex');
}

export type AuthResult =
  | { readonly ok: true; readonly principal: Principal }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'unknown' | 'expired' | 'revoked' };

const TOKEN = /^fvt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/**
 * API tokens in a JSON file (mode 0600): random 256-bit secrets, stored as SHA-256 hashes,
 * compared in constant time, expiring and revocable. Re-read when the file changes, so tokens a
 * CLI command creates or revokes take effect in a running server.
 *
 * @example
 * const { token } = new TokenStore('.fleetvault/tokens.json').create({ role: 'viewer', name: 'grafana', days: 30 });
 */
export class TokenStore {
  private readonly file: JsonFile<TokenRecord>;

  constructor(readonly path: string) {
    this.file = new JsonFile<TokenRecord>(path, 'token', unknownRole);
  }

  list(): TokenRecord[] {
    return this.file.read();
  }

  create(opts: { role: Role; name: string; days: number | null }): { token: string; record: TokenRecord } {
    const id = randomBytes(6).toString('hex');
    const secret = randomBytes(32).toString('base64url');
    const now = new Date();
    const record: TokenRecord = {
      id,
      name: opts.name,
      role: opts.role,
      hash: sha256(secret).toString('hex'),
      createdAt: now.toISOString(),
      expiresAt: opts.days === null ? null : new Date(now.getTime() + opts.days * 86_400_000).toISOString(),
      revokedAt: null,
    };
    this.file.write([...this.list(), record]);
    return { token: `fvt_${id}_${secret}`, record };
  }

  revoke(id: string): TokenRecord {
    const records = this.list();
    const found = records.find((r) => r.id === id);
    if (!found) throw new FvError('FV_TOKEN_UNKNOWN', `no token with id ${id}`);
    const revoked = { ...found, revokedAt: found.revokedAt ?? new Date().toISOString() };
    this.file.write(records.map((r) => (r.id === id ? revoked : r)));
    return revoked;
  }

  /** Checks an `Authorization` header value. Never says more than why it failed. */
  authenticate(header: string | undefined, now = Date.now()): AuthResult {
    if (!header) return { ok: false, reason: 'missing' };
    const m = /^Bearer (\S+)$/.exec(header);
    const t = m ? TOKEN.exec(m[1] as string) : null;
    if (!t) return { ok: false, reason: 'malformed' };
    const record = this.list().find((r) => r.id === t[1]);
    const given = sha256(t[2] as string);
    const expected = record ? Buffer.from(record.hash, 'hex') : Buffer.alloc(32);
    const match = timingSafeEqual(given, expected.length === 32 ? expected : Buffer.alloc(32));
    if (!record || !match) return { ok: false, reason: 'unknown' };
    if (record.revokedAt) return { ok: false, reason: 'revoked' };
    if (record.expiresAt && Date.parse(record.expiresAt) <= now) return { ok: false, reason: 'expired' };
    const credential = credentialDigest('token', record.name, record.hash);
    return {
      ok: true,
      principal: { kind: 'token', id: record.id, name: record.name, role: record.role, credential },
    };
  }
}
