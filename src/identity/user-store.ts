import { randomBytes } from 'node:crypto';
import argon2 from 'argon2';
import { FvError } from '../errors/index.ts';
import { JsonFile } from './json-file.ts';
import { credentialDigest, type Principal, type Role, unknownRole } from './token-store.ts';

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
  private readonly file: JsonFile<UserRecord>;

  constructor(readonly path: string) {
    this.file = new JsonFile<UserRecord>(path, 'user', unknownRole);
  }

  list(): UserRecord[] {
    return this.file.read();
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
    this.file.write([...this.list(), record]);
    return { record, password };
  }

  /** Gives an existing user a new random password (shown once); creates the user if missing. */
  async resetPassword(name: string, role: Role): Promise<{ record: UserRecord; password: string }> {
    const existing = this.list().find((u) => u.name === name);
    if (!existing) return this.add(name, role);
    const password = randomBytes(15).toString('base64url');
    const record = { ...existing, passwordHash: await argon2.hash(password, { type: argon2.argon2id }) };
    this.file.write(this.list().map((u) => (u.name === name ? record : u)));
    return { record, password };
  }

  /** Disables an account: it can no longer sign in, and its sessions end. Idempotent. */
  disable(name: string): UserRecord {
    const existing = this.list().find((u) => u.name === name);
    if (!existing) throw new FvError('FV_USER_UNKNOWN', `no account named ${name}`);
    if (existing.disabledAt) return existing;
    const record = { ...existing, disabledAt: new Date().toISOString() };
    this.file.write(this.list().map((u) => (u.name === name ? record : u)));
    return record;
  }

  /** The account of that name, or FV_USER_UNKNOWN. */
  get(name: string): UserRecord {
    const existing = this.list().find((u) => u.name === name);
    if (!existing) throw new FvError('FV_USER_UNKNOWN', `no account named ${name}`);
    return existing;
  }

  /** Checks a name and password; the same work is done whether or not the user exists. */
  async verify(name: string, password: string): Promise<Principal | undefined> {
    const user = this.list().find((u) => u.name === name && u.disabledAt === null);
    dummyHash ??= argon2.hash(randomBytes(16).toString('hex'), { type: argon2.argon2id });
    const hash = user?.passwordHash ?? (await dummyHash);
    const ok = await argon2.verify(hash, password).catch(() => false);
    if (!ok || !user) return undefined;
    const credential = credentialDigest('user', user.name, user.passwordHash);
    return { kind: 'user', id: user.id, name: user.name, role: user.role, credential };
  }
}
