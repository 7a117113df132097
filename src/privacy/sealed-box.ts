import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { MasterKey } from './key-file.ts';

/**
 * Authenticated encryption (AES-256-GCM) for small state that must sit beside the data without
 * revealing source values, such as a sync checkpoint holding the last cursor and primary key.
 */
export interface SealedBox {
  seal(plain: string, context: string): string;
  /** Returns `undefined` when the box was tampered with or sealed under another key or context. */
  open(sealed: string, context: string): string | undefined;
}

export function sealedBox(key: MasterKey, purpose: string): SealedBox {
  const k = key.derive(`sealed:${purpose}`);
  return {
    seal(plain, context) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', k, iv);
      c.setAAD(Buffer.from(context));
      const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]).toString('base64');
    },
    open(sealed, context) {
      try {
        const raw = Buffer.from(sealed, 'base64');
        const d = createDecipheriv('aes-256-gcm', k, raw.subarray(0, 12));
        d.setAAD(Buffer.from(context));
        d.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
      } catch {
        return undefined;
      }
    },
  };
}
