import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  scryptSync,
  sign,
  verify,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FvError } from '../errors/index.ts';

/** One principal's Ed25519 key; its private half sealed under that principal's own secret. */
interface SealedKeyFile {
  readonly format: 'fleetvault-admin-key-v1';
  readonly principal: string;
  /** SPKI DER, base64: the same string the signed state names. */
  readonly publicKey: string;
  readonly kdf: {
    readonly name: 'scrypt';
    readonly N: number;
    readonly r: number;
    readonly p: number;
    readonly salt: string;
  };
  readonly iv: string;
  readonly tag: string;
  /** PKCS#8 DER of the private key, AES-256-GCM under the scrypt-derived key. */
  readonly sealed: string;
}

/** Who signs: a principal id (`user:<id>`, `token:<id>`) and its unsealed private key, in memory only. */
export interface Signer {
  readonly id: string;
  readonly key: KeyObject;
}

const KDF = { N: 1 << 15, r: 8, p: 1 } as const;
const derive = (secret: string, salt: Buffer, kdf: { N: number; r: number; p: number }) =>
  scryptSync(secret, salt, 32, { ...kdf, maxmem: 128 * kdf.N * kdf.r * 2 });

/** SPKI DER base64 of a public key. */
export const publicKeyText = (k: KeyObject): string =>
  (k.type === 'private' ? createPublicKey(k) : k).export({ type: 'spki', format: 'der' }).toString('base64');

/** An Ed25519 signature (base64) over `data`. */
export const signText = (signer: Signer, data: string): string =>
  sign(null, Buffer.from(data), signer.key).toString('base64');

/** Whether `sig` is a valid signature of `data` by the SPKI public key `publicKey`. */
export function verifyText(publicKey: string | undefined, data: string, sig: string): boolean {
  if (!publicKey) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
    return verify(null, Buffer.from(data), key, Buffer.from(sig, 'base64'));
  } catch {
    return false;
  }
}

const fileName = (principal: string) => `${principal.replace(/[^a-z0-9]/gi, '-')}.json`;

/**
 * The principals' signing keys in `<state>/keys/` (folder 0700, files 0600). A private key never
 * touches the disk in the clear: it is sealed under the principal's password or token, which
 * fleetvault never stores, so holding every file on the machine does not let one admin sign as
 * another.
 *
 * @example
 * const signer = new AdminKeys('.fleetvault').create('user:ab12', password);
 */
export class AdminKeys {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = join(stateDir, 'keys');
  }

  /** A new key pair for `principal`, sealed under `secret`; returns it unsealed for the first signature. */
  create(principal: string, secret: string): Signer {
    const { privateKey } = generateKeyPairSync('ed25519');
    this.seal(principal, privateKey, secret);
    return { id: principal, key: privateKey };
  }

  /** Seals (or reseals, after a password change) a principal's private key under its secret. */
  seal(principal: string, privateKey: KeyObject, secret: string): void {
    if (!existsSync(this.dir)) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const salt = randomBytes(16);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', derive(secret, salt, KDF), iv);
    cipher.setAAD(Buffer.from(principal));
    const der = privateKey.export({ type: 'pkcs8', format: 'der' });
    const sealed = Buffer.concat([cipher.update(der), cipher.final()]);
    const body: SealedKeyFile = {
      format: 'fleetvault-admin-key-v1',
      principal,
      publicKey: publicKeyText(privateKey),
      kdf: { name: 'scrypt', ...KDF, salt: salt.toString('base64') },
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      sealed: sealed.toString('base64'),
    };
    const path = join(this.dir, fileName(principal));
    writeFileSync(`${path}.tmp`, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  /** The principal's key, unsealed with its secret; FV_APPROVAL_INVALID when either is wrong. */
  unseal(principal: string, secret: string): Signer {
    const path = join(this.dir, fileName(principal));
    const refuse = () =>
      new FvError('FV_APPROVAL_INVALID', `no signing key of ${principal} opens with these credentials`);
    if (!existsSync(path)) throw refuse();
    try {
      const f = JSON.parse(readFileSync(path, 'utf8')) as SealedKeyFile;
      if (f.principal !== principal) throw refuse();
      const decipher = createDecipheriv(
        'aes-256-gcm',
        derive(secret, Buffer.from(f.kdf.salt, 'base64'), f.kdf),
        Buffer.from(f.iv, 'base64'),
      );
      decipher.setAAD(Buffer.from(principal));
      decipher.setAuthTag(Buffer.from(f.tag, 'base64'));
      const der = Buffer.concat([decipher.update(Buffer.from(f.sealed, 'base64')), decipher.final()]);
      return { id: principal, key: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
    } catch {
      throw refuse();
    }
  }
}
