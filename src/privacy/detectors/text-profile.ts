/** Character counts of a text, made in one pass; detectors' gates read them. */
export interface TextProfile {
  readonly length: number;
  readonly digits: number;
  /**
   * Digits in runs that no ASCII letter touches: the only digits a phone, card or SSN can be made
   * of (the digits of a hex digest or an etag all touch letters).
   */
  readonly freeDigits: number;
  /** ASCII upper- and lower-case letters. */
  readonly upper: number;
  readonly lower: number;
  /** Characters outside ASCII (letters such as ö or Ł, symbols such as °). */
  readonly nonAscii: number;
  readonly at: number;
  readonly colon: number;
  readonly dot: number;
  readonly dash: number;
  readonly space: number;
  readonly slash: number;
  readonly comma: number;
  readonly equals: number;
  readonly underscore: number;
  /**
   * The most digits in one run of digits and the separators phone and card numbers are written
   * with (space, dot, dash, slash, brackets, plus): `+1 (415) 555-0132` is one run of 11.
   */
  readonly numericRun: number;
  /** Two capital letters followed by two digits somewhere (how every IBAN starts). */
  readonly ibanStart: boolean;
  /** The longest run without whitespace, quotes or brackets (a token's longest possible extent). */
  readonly longestRun: number;
  /** Only hexadecimal digits (a digest), or a UUID: no detector but a custom one can match. */
  readonly hexOrUuid: boolean;
  /** Percent signs, ampersands and control or non-ASCII characters: the text needs normalizing. */
  readonly encoded: boolean;
}

// Character classes of ASCII, so the profile's loop is one table lookup per character.
const OTHER = 0;
const DIGIT = 1;
const HEX_LOWER = 2;
const LOWER = 3;
const HEX_UPPER = 4;
const UPPER = 5;
const SPACE = 6;
const DOT = 7;
const DASH = 8;
const COLON = 9;
const AT = 10;
const SLASH = 11;
const COMMA = 12;
const EQUALS = 13;
const UNDERSCORE = 14;
/** Quotes, tab and line breaks: end a token and a number. */
const BREAK = 15;
/** Percent, ampersand and control characters: the text may need normalizing. */
const ENCODED = 16;
const PLUS = 17;
const PAREN = 18;
const CLASSES = 19;

const CLASS = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  CLASS[c] =
    c >= 48 && c <= 57
      ? DIGIT
      : c >= 97 && c <= 102
        ? HEX_LOWER
        : c >= 103 && c <= 122
          ? LOWER
          : c >= 65 && c <= 70
            ? HEX_UPPER
            : c >= 71 && c <= 90
              ? UPPER
              : c === 32
                ? SPACE
                : c === 46
                  ? DOT
                  : c === 45
                    ? DASH
                    : c === 58
                      ? COLON
                      : c === 64
                        ? AT
                        : c === 47
                          ? SLASH
                          : c === 44
                            ? COMMA
                            : c === 61
                              ? EQUALS
                              : c === 95
                                ? UNDERSCORE
                                : c === 9 || c === 10 || c === 13 || c === 34 || c === 39
                                  ? BREAK
                                  : c === 43
                                    ? PLUS
                                    : c === 40 || c === 41
                                      ? PAREN
                                      : c === 37 || c === 38 || c < 32 || c === 127
                                        ? ENCODED
                                        : OTHER;
}
const isLetterClass = (k: number) => k >= HEX_LOWER && k <= UPPER;
/** Characters phone and card numbers are written with, besides digits. */
const isNumberSeparator = (k: number) =>
  k === SPACE || k === DOT || k === DASH || k === SLASH || k === PAREN || k === PLUS;
/** Characters that end a token (a run without whitespace, quotes or brackets). */
const endsToken = (k: number) => k === SPACE || k === BREAK || k === PAREN || k === COMMA;

const counts = new Int32Array(CLASSES);

/** Counts the characters detectors care about. */
export function profileOf(text: string): TextProfile {
  return profileInto(text, {} as MutableProfile);
}

export type MutableProfile = { -readonly [K in keyof TextProfile]: TextProfile[K] };

/** The scanner's hot path: the same counts written into one reused object (no allocation). */
export function profileInto(text: string, out: MutableProfile): TextProfile {
  counts.fill(0);
  let nonAscii = 0;
  let freeDigits = 0;
  let run = 0; // digits in the current digit run
  let runTouched = false; // a letter touches the current digit run
  let numericRun = 0;
  let numRunDigits = 0;
  let shape = 0; // the last four characters as classes: 1 capital, 2 digit, 0 other
  let ibanStart = false;
  let longestRun = 0;
  let tokenRun = 0;
  let prevLetter = false;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    const k = c < 128 ? (CLASS[c] as number) : OTHER;
    if (c >= 128) nonAscii++;
    else counts[k] = (counts[k] as number) + 1;
    const letter = c < 128 && isLetterClass(k);
    if (k === DIGIT && c < 128) {
      if (run === 0) runTouched = prevLetter;
      run++;
      if (++numRunDigits > numericRun) numericRun = numRunDigits;
      shape = ((shape << 2) | 2) & 0xff;
      if (shape === 0b01011010) ibanStart = true;
    } else {
      if (run > 0) {
        if (!runTouched && !letter) freeDigits += run;
        run = 0;
      }
      if (!isNumberSeparator(k)) numRunDigits = 0;
      shape = ((shape << 2) | (k === HEX_UPPER || k === UPPER ? 1 : 0)) & 0xff;
    }
    prevLetter = letter;
    if (c < 128 && endsToken(k)) tokenRun = 0;
    else if (++tokenRun > longestRun) longestRun = tokenRun;
  }
  if (run > 0 && !runTouched) freeDigits += run;
  const digits = counts[DIGIT] as number;
  const hexLetters = (counts[HEX_LOWER] as number) + (counts[HEX_UPPER] as number);
  const lower = (counts[HEX_LOWER] as number) + (counts[LOWER] as number);
  const upper = (counts[HEX_UPPER] as number) + (counts[UPPER] as number);
  const dash = counts[DASH] as number;
  out.length = n;
  out.digits = digits;
  out.freeDigits = freeDigits;
  out.upper = upper;
  out.lower = lower;
  out.nonAscii = nonAscii;
  out.at = counts[AT] as number;
  out.colon = counts[COLON] as number;
  out.dot = counts[DOT] as number;
  out.dash = dash;
  out.space = counts[SPACE] as number;
  out.slash = counts[SLASH] as number;
  out.comma = counts[COMMA] as number;
  out.equals = counts[EQUALS] as number;
  out.underscore = counts[UNDERSCORE] as number;
  out.numericRun = numericRun;
  out.ibanStart = ibanStart;
  out.longestRun = longestRun;
  out.hexOrUuid = n >= 8 && digits + hexLetters === n - (n === 36 && dash === 4 ? 4 : 0);
  out.encoded = nonAscii + (counts[ENCODED] as number) > 0;
  return out;
}

/** True when every character is ASCII. */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false;
  return true;
}
