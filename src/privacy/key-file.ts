import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
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

interface KeyFileBody {
  readonly epoch: number;
  readonly key: Buffer;
  /** The key before the last rotation, kept until `keys retire` destroys it. */
  readonly previous?: { readonly epoch: number; readonly key: Buffer };
}

function readKeyFile(path: string): KeyFileBody {
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
    const invalid = () => new FvError('FV_KEY_FILE_INVALID', `key file ${path} is not a fleetvault key file`);
    let parsed: {
      format?: unknown;
      epoch?: unknown;
      key?: unknown;
      previous?: { epoch?: unknown; key?: unknown };
    };
    try {
      parsed = JSON.parse(readFileSync(fd, 'utf8'));
    } catch {
      throw invalid();
    }
    const bytes = (v: unknown) => (typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.alloc(0));
    const key = bytes(parsed.key);
    if (parsed.format !== FORMAT || key.length !== 32 || !Number.isInteger(parsed.epoch)) throw invalid();
    if (parsed.previous === undefined) return { epoch: parsed.epoch as number, key };
    const prev = bytes(parsed.previous.key);
    if (prev.length !== 32 || !Number.isInteger(parsed.previous.epoch)) throw invalid();
    return {
      epoch: parsed.epoch as number,
      key,
      previous: { epoch: parsed.previous.epoch as number, key: prev },
    };
  } finally {
    closeSync(fd);
  }
}

/** Writes a key file through a private temporary file and an atomic rename. */
function writeKeyFile(path: string, body: KeyFileBody): void {
  const text = `${JSON.stringify({
    format: FORMAT,
    epoch: body.epoch,
    key: body.key.toString('base64'),
    ...(body.previous
      ? { previous: { epoch: body.previous.epoch, key: body.previous.key.toString('base64') } }
      : {}),
  })}\n`;
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Loads a key file, refusing one that group or others can read, or that is not a fleetvault key. */
export function loadKeyFile(path: string): MasterKey {
  const body = readKeyFile(path);
  return masterKey(body.key, body.epoch);
}

/** The key before the last rotation, while `keys retire` has not destroyed it. */
export function loadPreviousKey(path: string): MasterKey | undefined {
  const prev = readKeyFile(path).previous;
  return prev ? masterKey(prev.key, prev.epoch) : undefined;
}

/**
 * The next epoch's key for a rotation in progress, kept beside the key file (`<file>.next`, mode
 * 0600) until `commitNextKey`; an interrupted rotation finds the same key again.
 */
export function nextKey(path: string): MasterKey {
  const current = readKeyFile(path);
  const next = `${path}.next`;
  if (!existsSync(next)) {
    writeFileSync(
      next,
      `${JSON.stringify({ format: FORMAT, epoch: current.epoch + 1, key: randomBytes(32).toString('base64') })}\n`,
      { mode: 0o600, flag: 'wx' },
    );
  }
  return loadKeyFile(next);
}

/** Makes the next key current; the old one stays as `previous` until retired. */
export function commitNextKey(path: string): MasterKey {
  const current = readKeyFile(path);
  const next = readKeyFile(`${path}.next`);
  writeKeyFile(path, {
    epoch: next.epoch,
    key: next.key,
    previous: { epoch: current.epoch, key: current.key },
  });
  unlinkSync(`${path}.next`);
  return masterKey(next.key, next.epoch);
}

/**
 * Destroys the previous key's material (crypto-shredding): pseudonyms made under it, in old
 * exports or backups, can no longer be linked to anyone. Resolves to the retired epoch, if any.
 */
export function retirePreviousKey(path: string): number | undefined {
  const body = readKeyFile(path);
  if (!body.previous) return undefined;
  writeKeyFile(path, { epoch: body.epoch, key: body.key });
  return body.previous.epoch;
}

/** A key made from given bytes, for tests and benchmarks that need a fixed key. */
export function keyFromBytes(bytes: Buffer, epoch = 1): MasterKey {
  if (bytes.length !== 32) throw new FvError('FV_KEY_FILE_INVALID', 'a master key is 32 bytes');
  return masterKey(bytes, epoch);
}
