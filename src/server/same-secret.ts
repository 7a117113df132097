import { timingSafeEqual } from 'node:crypto';

/** Whether a sent header equals a secret, compared in constant time (the probe's mark, a CSRF token). */
export function sameSecret(sent: unknown, secret: string): boolean {
  const a = Buffer.from(String(sent ?? ''));
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}
