import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import argon2 from 'argon2';
import { FvError } from '../errors/index.ts';
import type { Principal, Role } from './token-store.ts';

export interface UserRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** argon2id hash of the password; the password itself is shown once and never stored. */
  readonly passwordHash: string;
  readonly createdAt: string;
  readonly disabledAt: string | null;
}

const NAME = /^[a-z0-9][a-z0-9._-]{1,62}$/;
// A fixed hash to verify against when the user does not exist, so timing does not reveal names.
let dummyHash: Promise<string> | undefined;

/**
 * Dashboard accounts in a JSON file (mode 0600) with argon2id password hashes. A new account gets
 * a one-time random password, printed once by the command that made it.
 *
 * @example
 * const { password } = await new UserStore('.fleetvault/users.json').add('alice', 'admin');
 */
export class UserStore {
  private cache: { mtimeMs: number; records: UserRecord[] } | undefined;

  constructor(readonly path: string) {}

  list(): UserRecord[] {
    if (!existsSync(this.path)) return [];
    const mtimeMs = statSync(this.path).mtimeMs;
    if (this.cache?.mtimeMs === mtimeMs) return this.cache.records;
    try {
      const records = JSON.parse(readFileSync(this.path, 'utf8')) as UserRecord[];
      if (!Array.isArray(records)) throw new Error('not a list');
      this.cache = { mtimeMs, records };
      return records;
    } catch {
      throw new FvError('FV_STATE_CORRUPT', `user file ${this.path} is not valid`);
    }
  }

  async add(name: string, role: Role): Promise<{ record: UserRecord; password: string }> {
    if (!NAME.test(name))
      throw new FvError('FV_USAGE', 'a user name is 2-63 characters: a-z, 0-9, dot, dash, underscore');
    if (this.list().some((u) => u.name === name))
      throw new FvError('FV_USAGE', `user ${name} already exists`);
    const password = randomBytes(15).toString('base64url');
    const record: UserRecord = {
      id: randomBytes(6).toString('hex'),
      name,
      role,
      passwordHash: await argon2.hash(password, { type: argon2.argon2id }),
      createdAt: new Date().toISOString(),
      disabledAt: null,
    };
    this.write([...this.list(), record]);
    return { record, password };
  }

  /** Gives an existing user a new random password (shown once); creates the user if missing. */
  async resetPassword(name: string, role: Role): Promise<{ record: UserRecord; password: string }> {
    const existing = this.list().find((u) => u.name === name);
    if (!existing) return this.add(name, role);
    const password = randomBytes(15).toString('base64url');
    const record = { ...existing, passwordHash: await argon2.hash(password, { type: argon2.argon2id }) };
    this.write(this.list().map((u) => (u.name === name ? record : u)));
    return { record, password };
  }

  private write(records: UserRecord[]): void {
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(records, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
    this.cache = undefined;
  }

  /** Checks a name and password; the same work is done whether or not the user exists. */
  async verify(name: string, password: string): Promise<Principal | undefined> {
    const user = this.list().find((u) => u.name === name && u.disabledAt === null);
    dummyHash ??= argon2.hash(randomBytes(16).toString('hex'), { type: argon2.argon2id });
    const hash = user?.passwordHash ?? (await dummyHash);
    const ok = await argon2.verify(hash, password).catch(() => false);
    return ok && user ? { kind: 'user', id: user.id, name: user.name, role: user.role } : undefined;
  }
}
