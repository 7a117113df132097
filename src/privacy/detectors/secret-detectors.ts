import type { Detector } from './detector.ts';
import { matchesOf } from './token-boundary.ts';

// A token starts where a run of its characters starts: from every `eyJ` inside a run the
// expression scanned the rest of the run again (quadratic: 40,000 characters took 1.3 s).
const JWT = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}/;
const TOKEN_PREFIX =
  /(?:\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{22,}|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b|\bAtza\|[A-Za-z0-9_\-|]{10,}|\bya29\.[A-Za-z0-9_-]{10,}|\bglpat-[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{30,}|\bnpm_[A-Za-z0-9]{36}\b|\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,})/;
const TOKEN_CANDIDATE = /[A-Za-z0-9_\-+/=]{24,}/g;
const HEX_ONLY = /^[0-9a-fA-F]+$/;
const UUID_LIKE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
// Subresource-integrity hashes (`sha512-…`) are digests, not secrets.
const SRI = /\bsha(?:1|256|384|512)-[A-Za-z0-9+/]+=*/g;
// Schemes of at most 64 characters, for the same reason (`a-a-a-…://` was quadratic).
const CREDENTIALED_URL = /\b[a-z][a-z0-9+.-]{0,63}:\/\/[^\s/?#@:]+:[^\s/?#@]*[^\s/?#@:]@[^\s/?#@]+/i;

function charClass(code: number): number {
  if (code >= 48 && code <= 57) return 0;
  if (code >= 65 && code <= 90) return 1;
  if (code >= 97 && code <= 122) return 2;
  return 3;
}

/**
 * Random base62/base64 strings switch character class every one or two characters and use many
 * distinct characters; words, hex digests and UUIDs do not.
 */
function looksRandom(s: string): boolean {
  if (HEX_ONLY.test(s) || UUID_LIKE.test(s)) return false;
  let runs = 1;
  let seen = 0;
  const counts = new Uint16Array(128);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const cls = charClass(c);
    seen |= 1 << cls;
    if (i > 0 && cls !== charClass(s.charCodeAt(i - 1))) runs++;
    if (c < 128) counts[c] = (counts[c] as number) + 1;
  }
  if ((seen & 7) !== 7 || s.length / runs >= 2.6) return false;
  let h = 0;
  for (const n of counts) if (n > 0) h -= (n / s.length) * Math.log2(n / s.length);
  return h > 3.6;
}

function looksLikeToken(text: string): boolean {
  if (TOKEN_PREFIX.test(text)) return true;
  const t = text.includes('sha') ? text.replace(SRI, ' ') : text;
  for (const m of matchesOf(TOKEN_CANDIDATE, t)) {
    if (looksRandom(m[0].replace(/=+$/, ''))) return true;
  }
  return false;
}

export const jwtDetector: Detector = {
  name: 'jwt',
  finds: 'JSON Web Tokens (three base64url parts, the first two JSON)',
  gate: (p) => p.dot >= 2 && p.length >= 30,
  test: (t) => t.includes('eyJ') && JWT.test(t),
};

export const urlCredentialsDetector: Detector = {
  name: 'url_credentials',
  finds: 'URLs carrying a user name and password (`postgres://app:s3cret@db…`)',
  gate: (p) => p.at > 0 && p.colon >= 2 && p.slash >= 2,
  test: (t) => CREDENTIALED_URL.test(t),
};

export const tokenDetector: Detector = {
  name: 'token',
  finds:
    'API keys with known prefixes (Stripe, GitHub, Slack, AWS, Google, GitLab, npm, SendGrid, Amazon) and random base62/base64 strings of 24+ characters; not hex digests, UUIDs or sha512- integrity hashes',
  gate: (p) => !p.hexOrUuid && p.longestRun >= 20 && p.digits + p.upper + p.lower >= 20,
  test: looksLikeToken,
};
