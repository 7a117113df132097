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

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/** Counts the characters detectors care about. */
export function profileOf(text: string): TextProfile {
  return profileInto(text, {} as MutableProfile);
}

export type MutableProfile = { -readonly [K in keyof TextProfile]: TextProfile[K] };

/** The scanner's hot path: the same counts written into one reused object (no allocation). */
export function profileInto(text: string, out: MutableProfile): TextProfile {
  let digits = 0;
  let freeDigits = 0;
  let run = 0; // digits in the current digit run
  let runTouched = false; // a letter touches the current digit run
  let upper = 0;
  let lower = 0;
  let nonAscii = 0;
  let at = 0;
  let colon = 0;
  let dot = 0;
  let dash = 0;
  let space = 0;
  let slash = 0;
  let comma = 0;
  let equals = 0;
  let underscore = 0;
  let other = 0;
  let nonHexLetters = 0;
  let longestRun = 0;
  let tokenRun = 0;
  let prev = -1;
  let numericRun = 0;
  let numRunDigits = 0;
  let shape = 0; // the last four characters as classes: 1 capital, 2 digit, 0 other
  let ibanStart = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const isDigit = c >= 48 && c <= 57;
    if (isDigit) {
      if (++numRunDigits > numericRun) numericRun = numRunDigits;
    } else if (!(c === 32 || c === 46 || c === 45 || c === 47 || c === 40 || c === 41 || c === 43)) {
      numRunDigits = 0;
    }
    shape = ((shape << 2) | (isDigit ? 2 : c >= 65 && c <= 90 ? 1 : 0)) & 0xff;
    if (shape === 0b01011010) ibanStart = true;
    if (isDigit) {
      digits++;
      if (run === 0) runTouched = isLetter(prev);
      run++;
    } else {
      if (run > 0) {
        if (!runTouched && !isLetter(c)) freeDigits += run;
        run = 0;
      }
      if (c >= 97 && c <= 122) {
        lower++;
        if (c > 102) nonHexLetters++;
      } else if (c >= 65 && c <= 90) {
        upper++;
        if (c > 70) nonHexLetters++;
      } else if (c === 32) space++;
      else if (c === 46) dot++;
      else if (c === 45) dash++;
      else if (c === 58) colon++;
      else if (c === 64) at++;
      else if (c === 47) slash++;
      else if (c === 44) comma++;
      else if (c === 61) equals++;
      else if (c === 95) underscore++;
      else if (c > 126) nonAscii++;
      else if (c === 37 || c === 38 || c < 32) other++;
    }
    if (
      c === 32 ||
      c === 9 ||
      c === 10 ||
      c === 13 ||
      c === 34 ||
      c === 39 ||
      c === 40 ||
      c === 41 ||
      c === 44
    ) {
      tokenRun = 0;
    } else if (++tokenRun > longestRun) longestRun = tokenRun;
    prev = c;
  }
  if (run > 0 && !runTouched) freeDigits += run;
  out.length = text.length;
  out.digits = digits;
  out.freeDigits = freeDigits;
  out.upper = upper;
  out.lower = lower;
  out.nonAscii = nonAscii;
  out.at = at;
  out.colon = colon;
  out.dot = dot;
  out.dash = dash;
  out.space = space;
  out.slash = slash;
  out.comma = comma;
  out.equals = equals;
  out.underscore = underscore;
  out.numericRun = numericRun;
  out.ibanStart = ibanStart;
  out.longestRun = longestRun;
  out.hexOrUuid =
    nonHexLetters === 0 &&
    digits + upper + lower === text.length - (text.length === 36 && dash === 4 ? 4 : 0) &&
    text.length >= 8;
  out.encoded = nonAscii + other > 0;
  return out;
}

/** True when every character is ASCII. */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 127) return false;
  return true;
}
