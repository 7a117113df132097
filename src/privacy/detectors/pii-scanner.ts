import type { CustomDetector } from '../../policy/index.ts';
import { BUILTIN_DETECTORS } from './builtin-detectors.ts';
import type { Detector } from './detector.ts';

/** Finds the first detector that matches a text; answers the detector's name, never the value. */
export interface PiiScanner {
  readonly detectors: readonly Detector[];
  detect(text: string): string | undefined;
}

/**
 * The built-in detectors plus the policy's custom patterns.
 *
 * @example
 * piiScanner().detect('mail me: a@b.example'); // 'email'
 */
export function piiScanner(custom: readonly CustomDetector[] = []): PiiScanner {
  const detectors: Detector[] = [
    ...BUILTIN_DETECTORS,
    ...custom.map((c) => ({ name: `custom:${c.name}`, test: (t: string) => c.pattern.test(t) })),
  ];
  const minLength = custom.length > 0 ? 1 : 6;
  return {
    detectors,
    detect(text) {
      if (text.length < minLength) return undefined;
      for (const d of detectors) if (d.test(text)) return d.name;
      return undefined;
    },
  };
}
