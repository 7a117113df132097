import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FvError } from '../errors/index.ts';
import type { SecurityState } from './security-state.ts';

interface SignedFile {
  readonly format: 'fleetvault-approved-state-v1';
  readonly state: SecurityState;
  readonly updatedAt: string;
  /** HMAC-SHA256 over the canonical JSON of state and updatedAt, under the signing key. */
  readonly signature: string;
}

/** JSON with sorted keys: the same state always signs the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * The approved security state, signed (`approved-state.json` and its key `approvals.key`, both
 * mode 0600, in the state folder). Only fleetvault writes it, and only on an approval, when a
 * setting becomes stronger, or when a part is seen for the first time. A hand edit breaks the
 * signature; a deleted file is noticed because the audit log remembers that it was sealed.
 */
export class ApprovedState {
  readonly path: string;
  private readonly keyPath: string;

  constructor(readonly dir: string) {
    this.path = join(dir, 'approved-state.json');
    this.keyPath = join(dir, 'approvals.key');
  }

  exists(): boolean {
    return existsSync(this.path);
  }

  private key(create: boolean): Buffer {
    if (!existsSync(this.keyPath)) {
      if (!create)
        throw new FvError(
          'FV_STATE_TAMPERED',
          `the signing key ${this.keyPath} of the approved security state is missing`,
        );
      writeFileSync(this.keyPath, randomBytes(32).toString('base64'), { mode: 0o600, flag: 'wx' });
    }
    if ((statSync(this.keyPath).mode & 0o077) !== 0) {
      throw new FvError('FV_STATE_TAMPERED', `${this.keyPath} is readable by group or others; chmod 600 it`);
    }
    return Buffer.from(readFileSync(this.keyPath, 'utf8'), 'base64');
  }

  private sign(state: SecurityState, updatedAt: string, key: Buffer): string {
    return createHmac('sha256', key).update(canonical({ state, updatedAt })).digest('hex');
  }

  /** Signs any record with the same key (proposals are signed too, so none can be forged or edited). */
  seal(record: unknown): string {
    return createHmac('sha256', this.key(true)).update(canonical(record)).digest('hex');
  }

  verifySeal(record: unknown, signature: string): boolean {
    const want = Buffer.from(
      createHmac('sha256', this.key(false)).update(canonical(record)).digest('hex'),
      'hex',
    );
    const have = Buffer.from(signature, 'hex');
    return have.length === want.length && timingSafeEqual(have, want);
  }

  /** The verified state; `undefined` when none was ever sealed here. */
  read(): SecurityState | undefined {
    if (!this.exists()) return undefined;
    let file: SignedFile;
    try {
      file = JSON.parse(readFileSync(this.path, 'utf8')) as SignedFile;
    } catch {
      throw new FvError('FV_STATE_TAMPERED', `${this.path} is not a signed approved state`);
    }
    const want = Buffer.from(this.sign(file.state, file.updatedAt, this.key(false)), 'hex');
    const have = Buffer.from(String(file.signature ?? ''), 'hex');
    if (
      file.format !== 'fleetvault-approved-state-v1' ||
      have.length !== want.length ||
      !timingSafeEqual(have, want)
    ) {
      throw new FvError(
        'FV_STATE_TAMPERED',
        `${this.path} fails its signature: it was edited outside fleetvault. Restore it from backup; changes go through \`fleetvault approvals propose\``,
      );
    }
    return file.state;
  }

  write(state: SecurityState): void {
    const updatedAt = new Date().toISOString();
    const body: SignedFile = {
      format: 'fleetvault-approved-state-v1',
      state,
      updatedAt,
      signature: this.sign(state, updatedAt, this.key(true)),
    };
    const tmp = `${this.path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
