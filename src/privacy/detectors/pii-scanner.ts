import type { CustomDetector } from '../../policy/index.ts';
import { BUILTIN_DETECTORS } from './builtin-detectors.ts';
import type { Detector } from './detector.ts';
import { normalizeForDetection } from './normalize-text.ts';
import { type MutableProfile, profileInto, profileOf } from './text-profile.ts';

/** Finds the first detector that matches a text; answers the detector's name, never the value. */
export interface PiiScanner {
  readonly detectors: readonly Detector[];
  detect(text: string): string | undefined;
  /**
   * The weak detector (person names) that matches a text no strong one matched: evidence only
   * when many values of a column match (see `Detector.weak`).
   */
  detectWeak(text: string): string | undefined;
  /**
   * The scanner for one column: the same detectors, plus the bare forms that the column's name
   * makes personal (11 digits in `phone`, an integer in `client_ip`, a decimal in `latitude`).
   */
  forColumn(column: string): PiiScanner;
  /**
   * A DuckDB predicate over the SQL text expression `text`, true only for values no detector of
   * this scanner can match (see `INERT_SHAPE_SQL`), so a scan of many values may skip them; undefined
   * when the scanner holds a custom pattern or a column's bare forms (those may match anything).
   */
  inertSql(text: string): string | undefined;
}

/**
 * The longest text the detectors read (characters). A longer kept value cannot be vouched for
 * (regular expressions over megabytes of one token overflow V8's backtracking stack; a scan of
 * 100 MB takes minutes), so `detect` answers `TOO_LARGE_TO_SCAN` for it, and every path treats
 * that as it treats a detector's hit: quarantined, or refused under `block`.
 */
export const SCAN_LIMIT = 1_048_576;
/** What `detect` answers for a text over `SCAN_LIMIT` characters. */
export const TOO_LARGE_TO_SCAN = 'too_large_to_scan';

/**
 * Lowercase hex digests of 8 characters or more with a letter, and lowercase UUIDs in their
 * 8-4-4-4-12 form whose parts made of digits only hold fewer than 8 digits in all (the profile's
 * `freeDigits`: digits no letter touches; at most one 4-digit part). These are `hexOrUuid`
 * without capitals, and every built-in gate refuses them: no `@`, `:`, `.`, capitals or
 * characters to normalize; the token and name gates refuse `hexOrUuid`; phone, SSN and card need
 * 8, 9 and 12 free digits. Tested on the detector corpus and generated values (inert-shape.test.ts).
 */
export const INERT_SHAPE_SQL = (text: string) =>
  `(length(${text}) <= ${SCAN_LIMIT} AND ((length(${text}) >= 8 AND regexp_full_match(${text}, '[0-9a-f]*[a-f][0-9a-f]*')) OR (regexp_full_match(${text}, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}') AND NOT regexp_matches(${text}, '^[0-9]{8}-|-[0-9]{12}$|-[0-9]{4}-([0-9a-f]{4}-)?[0-9]{4}-'))))`;

function scannerOf(
  detectors: readonly Detector[],
  extra: ReadonlyArray<{ name: string; weak: boolean; test(t: string): boolean }>,
  minLength: number,
  builtinOnly: boolean,
): PiiScanner {
  const strong = detectors.filter((d) => !d.weak);
  const weak = detectors.filter((d) => d.weak);
  // One profile object reused (detection is synchronous), and the last text remembered:
  // `detectWeak` right after `detect` on the same value profiles it once.
  const p = {} as MutableProfile;
  let last: string | undefined;
  let lastT = '';
  const prepare = (text: string): string => {
    if (text !== last) {
      last = text;
      lastT = text;
      if (profileInto(text, p).encoded) {
        lastT = normalizeForDetection(text);
        profileInto(lastT, p);
      }
    }
    return lastT;
  };
  const self: PiiScanner = {
    detectors,
    detect(text) {
      if (text.length < minLength) return undefined;
      if (text.length > SCAN_LIMIT) return TOO_LARGE_TO_SCAN;
      const t = prepare(text);
      for (const e of extra) if (!e.weak && e.test(t)) return e.name;
      for (const d of strong) if (d.gate(p) && d.test(t, p)) return d.name;
      return undefined;
    },
    detectWeak(text) {
      if (text.length < 3 || text.length > SCAN_LIMIT) return undefined;
      const t = prepare(text);
      for (const e of extra) if (e.weak && e.test(t)) return e.name;
      for (const d of weak) if (d.gate(p) && d.test(t, p)) return d.name;
      return undefined;
    },
    forColumn(column) {
      const bare = detectors.flatMap((d) =>
        d.inColumn?.column.test(column)
          ? [{ name: d.name, weak: d.weak === true, test: d.inColumn.test }]
          : [],
      );
      return bare.length === 0 ? self : scannerOf(detectors, bare, 1, false);
    },
    inertSql: (text) => (builtinOnly && extra.length === 0 ? INERT_SHAPE_SQL(text) : undefined),
  };
  return self;
}

/**
 * The built-in detectors plus the policy's custom patterns. Every text is normalized first
 * (percent escapes, NFKC, invisible characters, digits of any script), then each detector whose
 * gate accepts the text's character counts runs.
 *
 * @example
 * piiScanner().detect('mail me: a@b.example'); // 'email'
 * piiScanner().forColumn('phone').detect('14155550132'); // 'phone'
 */
export function piiScanner(custom: readonly CustomDetector[] = []): PiiScanner {
  const detectors: Detector[] = [
    ...BUILTIN_DETECTORS,
    ...custom.map((c) => ({
      name: `custom:${c.name}`,
      finds: `the policy's pattern ${c.name}`,
      gate: () => true,
      test: (t: string) => c.pattern.test(t),
    })),
  ];
  return scannerOf(detectors, [], custom.length > 0 ? 1 : 6, custom.length === 0);
}

/**
 * Whether one detector alone finds its kind in a text, with the scanner's normalization and gate
 * (for per-detector measurements and column profiles).
 */
export function detectorMatches(detector: Detector, text: string): boolean {
  let p = profileOf(text);
  let t = text;
  if (p.encoded) {
    t = normalizeForDetection(text);
    p = profileOf(t);
  }
  return detector.gate(p) && detector.test(t, p);
}
