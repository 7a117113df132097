import { isAscii } from './text-profile.ts';

// Text is normalized before detection so that a value disguised by encoding is seen as what it
// is: `jane%40example.com`, a full-width `＠`, zero-width characters inside an address, Arabic-Indic
// or full-width digits in a phone number.

/** Characters that render as nothing (zero-width, joiners, bidi controls, soft hyphen, BOM). */
function invisible(c: number): boolean {
  return (
    c === 0x00ad ||
    c === 0x034f ||
    c === 0x061c ||
    c === 0x115f ||
    c === 0x1160 ||
    c === 0x17b4 ||
    c === 0x17b5 ||
    (c >= 0x180b && c <= 0x180e) ||
    (c >= 0x200b && c <= 0x200f) ||
    (c >= 0x202a && c <= 0x202e) ||
    (c >= 0x2060 && c <= 0x206f) ||
    c === 0x3164 ||
    (c >= 0xfe00 && c <= 0xfe0f) ||
    c === 0xfeff ||
    c === 0xffa0
  );
}

function withoutInvisible(t: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < t.length; i++) {
    if (invisible(t.charCodeAt(i))) {
      out += t.slice(from, i);
      from = i + 1;
    }
  }
  return from === 0 ? t : out + t.slice(from);
}

const PERCENT_RUN = /(?:%[0-9A-Fa-f]{2})+/g;
const ENTITY = /&#(?:x([0-9A-Fa-f]{1,6})|(\d{1,7}));?/g;
const NON_ASCII_DIGIT = /\p{Nd}/gu;
/** Anything outside printable ASCII, a percent escape or a numeric character reference. */
const NEEDS_WORK = /[^\x20-\x7E]|%[0-9A-Fa-f]{2}|&#/;

const zeroCache = new Map<number, number>();

/** The value 0–9 of a Unicode decimal digit: decimal digits come in runs of ten starting at 0. */
function digitValue(cp: number): number {
  let zero = zeroCache.get(cp);
  if (zero === undefined) {
    zero = cp;
    while (zero > 0 && cp - zero < 9 && /\p{Nd}/u.test(String.fromCodePoint(zero - 1))) zero--;
    // Runs are aligned on ten: of a run of twenty (rare), the nearest start below.
    zero = cp - ((cp - zero) % 10);
    zeroCache.set(cp, zero);
  }
  return cp - zero;
}

function percentDecode(run: string): string {
  try {
    return decodeURIComponent(run);
  } catch {
    // Not UTF-8: decode byte by byte as Latin-1, which keeps every ASCII character visible.
    return run.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(Number.parseInt(h, 16)));
  }
}

function entity(_: string, hex: string | undefined, dec: string | undefined): string {
  const cp = hex !== undefined ? Number.parseInt(hex, 16) : Number(dec);
  return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : '';
}

/**
 * The text as detectors should see it: percent escapes and numeric character references decoded
 * (twice, for double encoding), Unicode NFKC (full-width and compatibility forms to their plain
 * letters, digits and `@`), invisible characters removed, and every decimal digit of any script as
 * its ASCII digit. Plain printable ASCII without escapes is returned as it is, at no cost.
 *
 * @example
 * normalizeForDetection('jane\u200B.doe%40example.com'); // 'jane.doe@example.com'
 */
export function normalizeForDetection(text: string): string {
  if (!NEEDS_WORK.test(text)) return text;
  let t = text;
  for (let i = 0; i < 2 && (t.includes('%') || t.includes('&#')); i++) {
    t = t.replace(PERCENT_RUN, percentDecode).replace(ENTITY, entity);
  }
  t = withoutInvisible(t.normalize('NFKC'));
  if (!isAscii(t)) {
    t = t.replace(NON_ASCII_DIGIT, (d) => {
      const cp = d.codePointAt(0) as number;
      return cp < 128 ? d : String.fromCharCode(48 + digitValue(cp));
    });
  }
  return t;
}
