import type { TextProfile } from './text-profile.ts';

/**
 * Recognizes one kind of personal or secret value inside a text. Detectors live in one registry
 * (`detector-registry.ts`); the scanner runs a detector only when its `gate` accepts the text's
 * profile, so a text without the right characters costs nothing.
 */
export interface Detector {
  /** Stable name, reported in place of the value (`email`, `card`, …). */
  readonly name: string;
  /** One line for docs and reports: what the detector finds and its boundary rules. */
  readonly finds: string;
  /** Cheap test on the text's character counts; `test` runs only when this is true. */
  gate(p: TextProfile): boolean;
  /** True when the text holds a value of this kind anywhere in it (`p` is the text's profile). */
  test(text: string, p: TextProfile): boolean;
  /**
   * A weak detector's single hit is not evidence (a song titled "Billie Jean"); a column where at
   * least one in ten values of a batch hits is. The scanner reports weak hits apart
   * (`detectWeak`), and the row pipeline decides per batch and column (`rowTransformer`).
   */
  readonly weak?: boolean;
  /**
   * Column-name evidence: in a column whose name matches `column`, the detector also accepts the
   * bare forms that are ambiguous elsewhere (11 digits in a `phone` column, an integer in an `ip`
   * column, 12 hex digits in a `mac` column).
   */
  readonly inColumn?: { readonly column: RegExp; test(text: string): boolean };
}
