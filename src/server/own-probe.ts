import { randomBytes, timingSafeEqual } from 'node:crypto';

/** The header the server's own probe sends: it spares the probe the rate limits and the per-request audit; it grants nothing. */
export const PROBE_HEADER = 'x-fleetvault-probe';

/** A fresh secret per server start, and the constant-time check of a request's header against it. */
export function ownProbe(): {
  headers: Record<string, string>;
  isProbe: (sent: string | string[] | undefined) => boolean;
} {
  const secret = randomBytes(32).toString('base64url');
  const want = Buffer.from(secret);
  return {
    headers: { [PROBE_HEADER]: secret },
    isProbe: (sent) => {
      const got = Buffer.from(String(sent ?? ''));
      return got.length === want.length && timingSafeEqual(got, want);
    },
  };
}
