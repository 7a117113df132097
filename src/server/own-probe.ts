import { randomBytes } from 'node:crypto';
import { sameSecret } from './same-secret.ts';

/** The header the server's own probe sends: it spares the probe the rate limits and the per-request audit; it grants nothing. */
export const PROBE_HEADER = 'x-fleetvault-probe';

/** A fresh secret per server start, and the constant-time check of a request's header against it. */
export function ownProbe(): {
  headers: Record<string, string>;
  isProbe: (sent: string | string[] | undefined) => boolean;
} {
  const secret = randomBytes(32).toString('base64url');
  return { headers: { [PROBE_HEADER]: secret }, isProbe: (sent) => sameSecret(sent, secret) };
}
