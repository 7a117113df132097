import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { FvError } from '../errors/index.ts';

const FORMAT = 'fleetvault-key-v1';

/** The master key in memory. Its bytes never leave this process: not into the store, logs or output. */
export interface MasterKey {
  readonly epoch: number;
  /** Derives a 32-byte sub-key for one purpose (HKDF-SHA256). */
  derive(purpose: string): Buffer;
  /** A public, non-reversible fingerprint that tells whether two key files are the same key. */
  readonly fingerprint: string;
}

function masterKey(bytes: Buffer, epoch: number): MasterKey {
  const derive = (purpose: string) =>
    Buffer.from(hkdfSync('sha256', bytes, Buffer.from('fleetvault/v1'), Buffer.from(purpose), 32));
  const fingerprint = createHmac('sha256', derive('fingerprint'))
    .update('fleetvault')
    .digest('hex')
    .slice(0, 16);
  return { epoch, derive, fingerprint };
}

/**
 * Creates a new 256-bit master key file with mode 0600. Refuses to overwrite an existing file.
 *
 * @example
 * createKeyFile('.fleetvault/master.key');
 */
export function createKeyFile(path: string): MasterKey {
  if (existsSync(path)) throw new FvError('FV_INIT_EXISTS', `key file ${path} already exists`);
  const bytes = randomBytes(32);
  const body = `${JSON.stringify({ format: FORMAT, epoch: 1, key: bytes.toString('base64') })}\n`;
  writeFileSync(path, body, { mode: 0o600, flag: 'wx' });
  return masterKey(bytes, 1);
}

/** Loads a key file, refusing one that group or others can read, or that is not a fleetvault key. */
export function loadKeyFile(path: string): MasterKey {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch {
    throw new FvError('FV_KEY_FILE_MISSING', `key file ${path} does not exist or cannot be read`);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new FvError(
        'FV_KEY_FILE_INSECURE',
        `key file ${path} has mode 0${mode.toString(8)}; it must not be readable by group or others (chmod 600)`,
      );
    }
    let parsed: { format?: unknown; epoch?: unknown; key?: unknown };
    try {
      parsed = JSON.parse(readFileSync(fd, 'utf8'));
    } catch {
      throw new FvError('FV_KEY_FILE_INVALID', `key file ${path} is not a fleetvault key file`);
    }
    const bytes = typeof parsed.key === 'string' ? Buffer.from(parsed.key, 'base64') : Buffer.alloc(0);
    if (parsed.format !== FORMAT || bytes.length !== 32 || !Number.isInteger(parsed.epoch)) {
      throw new FvError('FV_KEY_FILE_INVALID', `key file ${path} is not a fleetvault key file`);
    }
    return masterKey(bytes, parsed.epoch as number);
  } finally {
    closeSync(fd);
  }
}

/** A key made from given bytes, for tests and benchmarks that need a fixed key. */
export function keyFromBytes(bytes: Buffer, epoch = 1): MasterKey {
  if (bytes.length !== 32) throw new FvError('FV_KEY_FILE_INVALID', 'a master key is 32 bytes');
  return masterKey(bytes, epoch);
}
