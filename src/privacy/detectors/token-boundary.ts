// The token-boundary rule every numeric detector shares: a phone, card, SSN or IBAN is a token of
// its own, never a piece of a longer alphanumeric one (a checksum, an etag, a UUID, a product code).

const isAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
// Characters that glue pieces of one identifier together: `a3f-4111…`, `v2.5551234567`, `id_0049…`.
const isConnector = (c: number) => c === 45 || c === 46 || c === 95;

/**
 * True when `text[start, end)` stands alone: no letter or digit touches it, neither directly nor
 * across one connector (`-`, `.`, `_`).
 */
export function standsAlone(text: string, start: number, end: number): boolean {
  const b1 = start > 0 ? text.charCodeAt(start - 1) : -1;
  if (isAlnum(b1)) return false;
  if (isConnector(b1) && start > 1 && isAlnum(text.charCodeAt(start - 2))) return false;
  const a1 = end < text.length ? text.charCodeAt(end) : -1;
  if (isAlnum(a1)) return false;
  if (isConnector(a1) && end + 1 < text.length && isAlnum(text.charCodeAt(end + 1))) return false;
  return true;
}

/** Every match of a global regex, with its position. */
export function* matchesOf(re: RegExp, text: string): Generator<RegExpExecArray> {
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    yield m;
    if (m[0].length === 0) re.lastIndex++;
  }
}

/** Matches of a global regex that stand alone (see `standsAlone`). */
export function* tokensOf(re: RegExp, text: string): Generator<string> {
  for (const m of matchesOf(re, text)) if (standsAlone(text, m.index, m.index + m[0].length)) yield m[0];
}

export function digitsOf(s: string): string {
  return s.replace(/\D/g, '');
}

export function luhn(digits: string): boolean {
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
