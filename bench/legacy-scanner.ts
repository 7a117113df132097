// The scanner as it was before issue 15 (commit 2b36fa4), kept only as the benchmark's baseline:
// the same values scanned by it and by today's scanner in one run.
interface Detector {
  readonly name: string;
  test(text: string): boolean;
}

import { isIPv4, isIPv6 } from 'node:net';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/;
const IPV4 = /(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\d)(?:\/\d{1,2})?/g;
const IPV6 =
  /(?<![\w:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?(?:%\w+)?(?![\w:])/g;
const MAC =
  /(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}(?![0-9A-Fa-f:-])|\b[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\b/;
const JWT = /eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{8,}/;
const PHONE = /(?:\+|(?<!\d)00)?\(?\d[\d\s().\-/]{6,22}\d/g;
const DATE_LIKE = /\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}/;
const CARD = /(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])/g;
const TOKEN_PREFIX =
  /(?:\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{10,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bxox[abpr]-[A-Za-z0-9-]{10,}|\bAKIA[0-9A-Z]{16}\b|\bAtza\|[A-Za-z0-9_\-|]{10,}|\bya29\.[A-Za-z0-9_-]{10,}|\bglpat-[A-Za-z0-9_-]{16,}|\bAIza[0-9A-Za-z_-]{30,})/;
const TOKEN_CANDIDATE = /[A-Za-z0-9_\-+/=]{24,}/g;
const HEX_ONLY = /^[0-9a-fA-F]+$/;
const UUID_LIKE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

function* matches(re: RegExp, text: string): Generator<string> {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) yield m[0];
}

function digitsOf(s: string): string {
  return s.replace(/\D/g, '');
}

function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

const CARD_PREFIX =
  /^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6011|65|35(?:2[89]|[3-8]\d)|3(?:0[0-5]|[68]))/;

function looksLikeCard(candidate: string): boolean {
  const d = digitsOf(candidate);
  return d.length >= 13 && d.length <= 19 && CARD_PREFIX.test(d) && luhn(d);
}

function looksLikePhone(candidate: string): boolean {
  const c = candidate.trim();
  const d = digitsOf(c);
  if (d.length < 8 || d.length > 15) return false;
  if (DATE_LIKE.test(c) || isIPv4(c)) return false;
  const international = c.startsWith('+') || c.startsWith('00');
  const groups = c.split(/[\s().\-/]+/).filter(Boolean);
  if (!international && groups.length < 2) return false;
  // A version-like run (1.2.3) never has this many digits; dotted groups must look like 3-3-4.
  if (!international && /^\d+(?:\.\d+)+$/.test(c) && !/^\d{3}\.\d{3}\.\d{4}$/.test(c)) return false;
  return groups.every((g) => g.length <= 5) || international;
}

function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) h -= (n / s.length) * Math.log2(n / s.length);
  return h;
}

function classOf(code: number): number {
  if (code >= 48 && code <= 57) return 0;
  if (code >= 65 && code <= 90) return 1;
  if (code >= 97 && code <= 122) return 2;
  return 3;
}

/** Random base62/base64 strings switch character class every one or two characters; words do not. */
function looksRandom(s: string): boolean {
  if (HEX_ONLY.test(s) || UUID_LIKE.test(s)) return false;
  let runs = 1;
  const seen = new Set<number>();
  for (let i = 0; i < s.length; i++) {
    const cls = classOf(s.charCodeAt(i));
    seen.add(cls);
    if (i > 0 && cls !== classOf(s.charCodeAt(i - 1))) runs++;
  }
  const hasAll = seen.has(0) && seen.has(1) && seen.has(2);
  return hasAll && s.length / runs < 2.6 && entropy(s) > 3.6;
}

function looksLikeToken(text: string): boolean {
  if (TOKEN_PREFIX.test(text)) return true;
  for (const c of matches(TOKEN_CANDIDATE, text)) {
    const core = c.replace(/=+$/, '');
    if (looksRandom(core)) return true;
  }
  return false;
}

const emailDetector: Detector = { name: 'email', test: (t) => t.includes('@') && EMAIL.test(t) };

const ipv4Detector: Detector = {
  name: 'ipv4',
  test: (t) => {
    for (const m of matches(IPV4, t)) if (isIPv4(m.split('/')[0] ?? '')) return true;
    return false;
  },
};

const ipv6Detector: Detector = {
  name: 'ipv6',
  test: (t) => {
    if (!t.includes(':')) return false;
    for (const m of matches(IPV6, t)) {
      const groups = m.split(':').filter((g) => /[0-9A-Fa-f]/.test(g));
      if (groups.length >= 2 && isIPv6(m.split('%')[0] ?? '')) return true;
    }
    return false;
  },
};

const macDetector: Detector = { name: 'mac', test: (t) => MAC.test(t) };

const jwtDetector: Detector = { name: 'jwt', test: (t) => t.includes('eyJ') && JWT.test(t) };

const cardDetector: Detector = {
  name: 'card',
  test: (t) => {
    for (const m of matches(CARD, t)) if (looksLikeCard(m)) return true;
    return false;
  },
};

const phoneDetector: Detector = {
  name: 'phone',
  test: (t) => {
    for (const m of matches(PHONE, t)) if (looksLikePhone(m)) return true;
    return false;
  },
};

const tokenDetector: Detector = { name: 'token', test: looksLikeToken };

const LEGACY: readonly Detector[] = [
  emailDetector,
  jwtDetector,
  macDetector,
  ipv4Detector,
  ipv6Detector,
  cardDetector,
  phoneDetector,
  tokenDetector,
];

/** The legacy scanner's `detect`: the first detector that matches, for texts of 6+ characters. */
export function legacyDetect(text: string): string | undefined {
  if (text.length < 6) return undefined;
  for (const d of LEGACY) if (d.test(text)) return d.name;
  return undefined;
}
