import { isIPv4 } from 'node:net';
import type { Detector } from './detector.ts';
import { digitsOf, luhn, matchesOf, standsAlone, tokensOf } from './token-boundary.ts';

// ---- payment cards -------------------------------------------------------------------------

const CARD = /(?<![\d-])(?:\d[ -]?){11,18}\d(?![\d-])/g;

/** Issuer ranges (IIN prefixes) and lengths of the card brands in use, common and less common. */
const CARD_BRANDS: ReadonlyArray<{ readonly prefix: RegExp; readonly lengths: readonly number[] }> = [
  { prefix: /^4/, lengths: [13, 16, 19] }, // Visa
  { prefix: /^(5[1-5]|2(2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720))/, lengths: [16] }, // Mastercard
  { prefix: /^3[47]/, lengths: [15] }, // American Express
  {
    prefix: /^(6011|64[4-9]|65|622(1(2[6-9]|[3-9]\d)|[2-8]\d\d|9([01]\d|2[0-5])))/,
    lengths: [16, 17, 18, 19],
  }, // Discover
  { prefix: /^35(2[89]|[3-8]\d)/, lengths: [16, 17, 18, 19] }, // JCB
  { prefix: /^3(0[0-5]|095|[689])/, lengths: [14, 15, 16, 17, 18, 19] }, // Diners Club
  { prefix: /^(5[06-9]|6\d)/, lengths: [12, 13, 14, 15, 16, 17, 18, 19] }, // Maestro
  { prefix: /^5019/, lengths: [16] }, // Dankort
  { prefix: /^1/, lengths: [15] }, // UATP
  { prefix: /^(62|81)/, lengths: [16, 17, 18, 19] }, // UnionPay
  { prefix: /^220[0-4]/, lengths: [16, 17, 18, 19] }, // Mir
  { prefix: /^(60|65|81|82|508|353|356)/, lengths: [16] }, // RuPay
  { prefix: /^9792/, lengths: [16] }, // Troy
  {
    prefix: /^(50(6(099|1[0-8]\d|19[0-8])|7(86[5-9]|8[7-9]\d|9[0-5]\d|96[0-4]))|6500(0[2-9]|1\d|2[0-7]))/,
    lengths: [16, 18, 19],
  }, // Verve
  { prefix: /^63[6-9]/, lengths: [16, 17, 18, 19] }, // InterPayment, InstaPayment
];

function looksLikeCard(candidate: string): boolean {
  const d = digitsOf(candidate);
  if (d.length < 12 || d.length > 19 || !luhn(d)) return false;
  // Grouped numbers use one separator throughout.
  if (/ /.test(candidate) && /-/.test(candidate)) return false;
  return CARD_BRANDS.some((b) => b.lengths.includes(d.length) && b.prefix.test(d));
}

export const cardDetector: Detector = {
  name: 'card',
  finds:
    'Luhn-valid payment card numbers of every brand range (Visa … Maestro, Dankort, UATP, UnionPay, Mir, RuPay, Troy, Verve); a token of its own',
  gate: (p) => p.freeDigits >= 12 && p.numericRun >= 12,
  test: (t) => {
    for (const c of tokensOf(CARD, t)) if (looksLikeCard(c)) return true;
    return false;
  },
};

// ---- IBAN ----------------------------------------------------------------------------------

/** Length of the IBAN of each country that issues them (ISO 13616 registry). */
const IBAN_LENGTH: Readonly<Record<string, number>> = {
  AD: 24,
  AE: 23,
  AL: 28,
  AT: 20,
  AZ: 28,
  BA: 20,
  BE: 16,
  BG: 22,
  BH: 22,
  BI: 27,
  BR: 29,
  BY: 28,
  CH: 21,
  CR: 22,
  CY: 28,
  CZ: 24,
  DE: 22,
  DJ: 27,
  DK: 18,
  DO: 28,
  EE: 20,
  EG: 29,
  ES: 24,
  FI: 18,
  FK: 18,
  FO: 18,
  FR: 27,
  GB: 22,
  GE: 22,
  GI: 23,
  GL: 18,
  GR: 27,
  GT: 28,
  HN: 28,
  HR: 21,
  HU: 28,
  IE: 22,
  IL: 23,
  IQ: 23,
  IS: 26,
  IT: 27,
  JO: 30,
  KW: 30,
  KZ: 20,
  LB: 28,
  LC: 32,
  LI: 21,
  LT: 20,
  LU: 20,
  LV: 21,
  LY: 25,
  MC: 27,
  MD: 24,
  ME: 22,
  MK: 19,
  MN: 20,
  MR: 27,
  MT: 31,
  MU: 30,
  NI: 28,
  NL: 18,
  NO: 15,
  OM: 23,
  PK: 24,
  PL: 28,
  PS: 29,
  PT: 25,
  QA: 29,
  RO: 24,
  RS: 22,
  RU: 33,
  SA: 24,
  SC: 31,
  SD: 18,
  SE: 24,
  SI: 19,
  SK: 24,
  SM: 27,
  SO: 23,
  ST: 25,
  SV: 28,
  TL: 23,
  TN: 24,
  TR: 26,
  UA: 29,
  VA: 22,
  VG: 24,
  XK: 20,
  YE: 30,
};
const IBAN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}(?![A-Za-z0-9])/g;

function ibanValid(candidate: string): boolean {
  const s = candidate.replace(/ /g, '');
  if (IBAN_LENGTH[s.slice(0, 2)] !== s.length) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rest = 0;
  for (let i = 0; i < moved.length; i++) {
    const c = moved.charCodeAt(i);
    const v = c <= 57 ? c - 48 : c - 55;
    rest = (v > 9 ? rest * 100 + v : rest * 10 + v) % 97;
  }
  return rest === 1;
}

export const ibanDetector: Detector = {
  name: 'iban',
  finds: 'IBANs of every issuing country, grouped or not, with a valid length and mod-97 check',
  gate: (p) => p.ibanStart && p.digits >= 8 && p.length >= 15,
  test: (t) => {
    for (const m of matchesOf(IBAN, t)) if (ibanValid(m[0])) return true;
    return false;
  },
};

// ---- US social security number -------------------------------------------------------------

const SSN = /(?<![\d-])(\d{3})([- .])(\d{2})\2(\d{4})(?![\d-])/g;
const SSN_COLUMN = /(^|_)(ssn|social_?security(_?n(umber|o))?|sin|tin|itin|national_?id|tax_?id)($|_)/i;

function ssnValid(area: string, group: string, serial: string): boolean {
  return area !== '000' && area !== '666' && area[0] !== '9' && group !== '00' && serial !== '0000';
}

export const ssnDetector: Detector = {
  name: 'ssn',
  finds:
    'US social security numbers written 078-05-1120 (or with spaces or dots) in the valid ranges; bare 9 digits in an ssn column',
  gate: (p) => p.freeDigits >= 9 && p.numericRun >= 9,
  test: (t) => {
    for (const m of matchesOf(SSN, t)) {
      if (
        standsAlone(t, m.index, m.index + m[0].length) &&
        ssnValid(m[1] as string, m[3] as string, m[4] as string)
      )
        return true;
    }
    return false;
  },
  inColumn: {
    column: SSN_COLUMN,
    test: (t) => {
      const m = /^\s*(\d{3})-?(\d{2})-?(\d{4})\s*$/.exec(t);
      return m !== null && ssnValid(m[1] as string, m[2] as string, m[3] as string);
    },
  },
};

// ---- phone numbers -------------------------------------------------------------------------

const PHONE = /(?:\+|(?<!\d)00)?\(?\d[\d\s().\-/]{6,22}\d/g;
const DATE_LIKE = /\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}/;
const YEAR = /^(1[5-9]|20|21)\d\d$/;
const PHONE_COLUMN =
  /(^|_)(phone|phones|mobile|cell|cellphone|tel|telephone|fax|msisdn|whatsapp|contact_?number|phone_?n(o|um|umber))($|_)/i;

function looksLikePhone(candidate: string): boolean {
  const c = candidate.trim();
  const d = digitsOf(c);
  if (d.length < 8 || d.length > 15) return false;
  if (DATE_LIKE.test(c) || isIPv4(c)) return false;
  const international = c.startsWith('+') || c.startsWith('00');
  const groups = c.split(/[\s().\-/]+/).filter(Boolean);
  // A MAC written in digits only (six pairs) and runs of one digit are not phone numbers.
  if (/^\d\d(?:[-:]\d\d){5}$/.test(c) || /^(\d)\1*$/.test(d)) return false;
  // Year ranges and lists of years ("1964-1971", "1990 / 2004") are not phone numbers.
  if (groups.length >= 2 && groups.every((g) => YEAR.test(g))) return false;
  if (!international && groups.length < 2) return false;
  // A version-like run (1.2.3) never has this many digits; dotted groups must look like 3-3-4.
  if (!international && /^\d+(?:\.\d+)+$/.test(c) && !/^\d{3}\.\d{3}\.\d{4}$/.test(c)) return false;
  if (international) return true;
  // A trunk prefix (`030-0074321`, `(089) 6547665`, `(0)2-953010`) allows a longer subscriber part.
  const trunk = /^\(?0/.test(c) || /^\(\d{1,4}\)/.test(c);
  return groups.every((g) => g.length <= (trunk ? 8 : 5));
}

export const phoneDetector: Detector = {
  name: 'phone',
  finds:
    'phone numbers with a + or 00 prefix or written in groups; not dates, year ranges or digits inside a longer token; bare 7-15 digits in a phone column',
  gate: (p) => p.freeDigits >= 8 && p.numericRun >= 8,
  test: (t) => {
    for (const c of tokensOf(PHONE, t)) if (looksLikePhone(c)) return true;
    return false;
  },
  inColumn: {
    column: PHONE_COLUMN,
    test: (t) => {
      if (!/^\s*\+?[\d\s().\-/]{7,24}\s*$/.test(t)) return false;
      const n = digitsOf(t).length;
      return n >= 7 && n <= 15;
    },
  },
};

// ---- coordinates ---------------------------------------------------------------------------

// A latitude and a longitude with at least four decimals (about 11 m): `52.520008, 13.404954`,
// `POINT(13.404954 52.520008)`, `lat=52.52001&lon=13.40495`.
const DECIMAL_PAIR = /(?<![\w.])(-?\d{1,3}\.\d{4,})\s*(?:[,;/ ]|,\s)\s*(-?\d{1,3}\.\d{4,})(?![\w.])/g;
const KEYED =
  /\b(?:lat|latitude)"?\s*[=:]\s*"?(-?\d{1,2}\.\d{3,})"?[\s,&;]+"?(?:lon|lng|long|longitude)"?\s*[=:]\s*"?(-?\d{1,3}\.\d{3,})/gi;
const DMS =
  /\d{1,3}°\s?\d{1,2}['′]\s?\d{1,2}(?:\.\d+)?["″]?\s?[NS][,\s]+\d{1,3}°\s?\d{1,2}['′]\s?\d{1,2}(?:\.\d+)?["″]?\s?[EW]/;
const COORD_COLUMN =
  /(^|_)(lat|latitude|lon|lng|long|longitude|geo|gps|coord(inate)?s?|location|position)($|_)/i;

const inRange = (a: number, b: number) => Math.abs(a) <= 90 && Math.abs(b) <= 180;

export const coordinatesDetector: Detector = {
  name: 'coordinates',
  finds:
    'GPS positions: a latitude/longitude pair with four or more decimals, lat=…&lon=…, degrees-minutes-seconds; one decimal in a lat/lon column',
  gate: (p) => p.digits >= 6 && (p.dot >= 2 || p.nonAscii > 0),
  test: (t) => {
    for (const m of matchesOf(DECIMAL_PAIR, t)) {
      const a = Number(m[1]);
      const b = Number(m[2]);
      if (inRange(a, b) || inRange(b, a)) return true;
    }
    for (const m of matchesOf(KEYED, t)) if (inRange(Number(m[1]), Number(m[2]))) return true;
    return t.includes('°') && DMS.test(t);
  },
  inColumn: {
    column: COORD_COLUMN,
    test: (t) => /^\s*-?\d{1,3}\.\d{3,}\s*$/.test(t) && Math.abs(Number(t)) <= 180,
  },
};
