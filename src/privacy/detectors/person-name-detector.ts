import type { Detector } from './detector.ts';
import { FAMILY_NAMES, GIVEN_NAMES } from './person-names-data.ts';
import { isAscii } from './text-profile.ts';

let given: ReadonlySet<string> | undefined;
let family: ReadonlySet<string> | undefined;

function lists(): { given: ReadonlySet<string>; family: ReadonlySet<string> } {
  given ??= new Set(GIVEN_NAMES.split(' '));
  family ??= new Set(FAMILY_NAMES.split(' '));
  return { given, family };
}

/** Lower case without accents, as the name lists are kept. */
function fold(word: string): string {
  const l = word.toLowerCase();
  return !isAscii(l) ? l.normalize('NFD').replace(/\p{M}/gu, '') : l;
}

/**
 * Words the lists hold as names that, in titles and labels, far more often are not: articles and
 * words of Portuguese, Spanish and Italian song and product titles, saints' epithets.
 */
const NOT_NAMES = new Set(
  'asa uma era esse essa tudo santa santo san sao bella bela ave heaven whole lotta festa volta partida encontro mais na da do das dos em com por para sem ela ele um meu minha seu sua boa bom vida amor noite dia sol mar terra rio casa cara jesus christ'.split(
    ' ',
  ),
);

interface Word {
  readonly text: string;
  readonly start: number;
  readonly end: number;
}

const WORD = /\p{L}+(?:['’-]\p{L}+)*/gu;
const UPPER = /^\p{Lu}/u;
const ALL_UPPER = /^[\p{Lu}'’-]+$/u;
const LOWER = /\p{Ll}/u;
const isUpper = (c: number) => c >= 65 && c <= 90;
const isLower = (c: number) => c >= 97 && c <= 122;

/** Written like a name in prose: `Smith`, `SMITH`, `O'Brien`, `McDonald`. */
function nameCase(w: string): boolean {
  const c = w.charCodeAt(0);
  if (c < 128) {
    if (!isUpper(c) || w.length < 2) return false;
    const d = w.charCodeAt(1);
    if (isLower(d) || isUpper(d)) return isLower(d) || ALL_UPPER.test(w);
  }
  return UPPER.test(w) && (LOWER.test(w) || (ALL_UPPER.test(w) && w.length >= 2));
}

const isInitial = (w: Word, text: string) =>
  w.text.length === 1 && UPPER.test(w.text) && (text[w.end] === '.' || text[w.end] === ' ');

/** Words of letters (with inner apostrophes and hyphens); a fast loop for ASCII text. */
function wordsOf(text: string, ascii: boolean): Word[] {
  const out: Word[] = [];
  if (ascii) {
    let start = -1;
    for (let i = 0; i <= text.length; i++) {
      const c = i < text.length ? text.charCodeAt(i) : 0;
      const letter = isUpper(c) || isLower(c);
      const inner =
        !letter &&
        start >= 0 &&
        (c === 39 || c === 45) &&
        i + 1 < text.length &&
        isLower(text.charCodeAt(i + 1) | 32);
      if (letter || inner) {
        if (start < 0) start = i;
      } else if (start >= 0) {
        out.push({ text: text.slice(start, i), start, end: i });
        start = -1;
      }
    }
    return out;
  }
  WORD.lastIndex = 0;
  for (let m = WORD.exec(text); m !== null; m = WORD.exec(text)) {
    out.push({ text: m[0], start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/**
 * `Mary Smith`, `MARY SMITH`, `Mary J. Smith`, `Smith, Mary` in prose or JSON: a given name and a
 * family name from the lists, written as names, next to each other.
 */
function proseName(text: string, words: readonly Word[]): boolean {
  const { given: g, family: f } = lists();
  for (let i = 0; i + 1 < words.length; i++) {
    const a = words[i] as Word;
    if (!nameCase(a.text)) continue;
    let j = i + 1;
    let b = words[j] as Word;
    const gap = text.slice(a.end, b.start);
    if (gap === ', ' || gap === ',') {
      if (nameCase(b.text) && f.has(fold(a.text)) && g.has(fold(b.text))) return true;
      continue;
    }
    if (gap !== ' ') continue;
    if (isInitial(b, text) && j + 1 < words.length) {
      const after = words[j + 1] as Word;
      const g2 = text.slice(b.end, after.start);
      if (g2 === '. ' || g2 === ' ') {
        j++;
        b = after;
      }
    }
    if (!nameCase(b.text) || !g.has(fold(a.text)) || NOT_NAMES.has(fold(a.text))) continue;
    // Many family names are given names too (Gordon, Chase, Brooks): either list will do.
    const last = fold(b.text);
    if (NOT_NAMES.has(last)) continue;
    if (f.has(last) || (g.has(last) && last !== fold(a.text))) return true;
  }
  return false;
}

/**
 * Names inside paths, URLs and handles: `mary.smith`, `smith_mary`, `/employees/davolio.bmp`.
 * Lower case is normal there, so both parts must be on the lists (or the stem of a file name
 * alone must be a family name of five letters or more).
 */
const isCapital = (c: number) => (c >= 65 && c <= 90) || c >= 0xc0;

/**
 * True when a word holding a capital is followed, after spaces or commas, by a capital: what
 * `/[A-Z\u00C0-\uFFFF][^ ,]*[ ,]+[A-Z\u00C0-\uFFFF]/` matches, in one pass (that expression
 * backtracked over every long word after each capital: 1.6 s for 80,000 characters of base64).
 */
export function capitalsApart(t: string): boolean {
  let capital = false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c !== 32 && c !== 44) {
      if (isCapital(c)) capital = true;
      continue;
    }
    let j = i + 1;
    while (j < t.length && (t.charCodeAt(j) === 32 || t.charCodeAt(j) === 44)) j++;
    if (capital && j < t.length && isCapital(t.charCodeAt(j))) return true;
    capital = false;
    i = j - 1;
  }
  return false;
}

const JOINED = /[A-Za-z\u00C0-\uFFFF]{2}[._/-][A-Za-z\u00C0-\uFFFF]{2}/;

function pathName(text: string, words: readonly Word[]): boolean {
  const { given: g, family: f } = lists();
  for (let i = 0; i < words.length; i++) {
    const a = words[i] as Word;
    const next = words[i + 1];
    if (next) {
      const gap = text.slice(a.end, next.start);
      if (gap === '.' || gap === '_' || gap === '-') {
        const x = fold(a.text);
        const y = fold(next.text);
        if ((g.has(x) && f.has(y)) || (f.has(x) && g.has(y))) return true;
      }
    }
    // A file name's stem: after a slash, before an extension, all letters.
    if (text[a.start - 1] === '/' && /^\.[A-Za-z0-9]{2,4}(?:$|[?#\s"'])/.test(text.slice(a.end, a.end + 6))) {
      const x = fold(a.text);
      if (x.length >= 5 && f.has(x) && !g.has(x)) return true;
    }
  }
  return false;
}

const NAME_COLUMN =
  /(^|_)(full_?name|first_?name|last_?name|surname|given_?name|family_?name|middle_?name|contact|contact_?name|customer|customer_?name|client_?name|manager|owner|author|employee|staff|person|recipient|sender|driver|patient|student|member)($|_)/i;
const NAME_WORDS = /^\s*\p{Lu}[\p{L}'’.-]*(?:[ ,]+\p{L}[\p{L}'’.-]*){0,3}\s*$/u;

export const personNameDetector: Detector = {
  name: 'person_name',
  weak: true,
  finds:
    'people’s names: a given and a family name from public name lists written as a name (Mary Smith, SMITH, Mary), or joined in a path or handle (mary.smith, /staff/davolio.jpg); in a name or contact column, one to four name-cased words',
  gate: (p) =>
    p.upper + p.lower + p.nonAscii >= 5 &&
    !p.hexOrUuid &&
    ((p.upper + p.nonAscii >= 2 && p.space + p.comma > 0) || p.slash + p.dot + p.underscore > 0),
  test: (t) => {
    const prose = capitalsApart(t);
    const joined = JOINED.test(t);
    if (!prose && !joined) return false;
    const words = wordsOf(t, isAscii(t));
    if (prose && words.length >= 2 && proseName(t, words)) return true;
    return joined && pathName(t, words);
  },
  inColumn: {
    column: NAME_COLUMN,
    test: (t) => {
      if (!NAME_WORDS.test(t) || /\d/.test(t)) return false;
      const { given: g, family: f } = lists();
      return wordsOf(t, isAscii(t)).some(
        (w) => nameCase(w.text) && (g.has(fold(w.text)) || f.has(fold(w.text))),
      );
    },
  },
};
