import { BUILTIN_DETECTORS, detectorMatches, piiScanner } from '../src/privacy/index.ts';
import { detectorCorpus } from './detector-corpus.ts';

export interface DetectorQuality {
  readonly detector: string;
  readonly positives: number;
  readonly recall: number;
  /** Share of the look-alikes (label `none`) that this detector flags. */
  readonly falsePositiveRate: number;
}

/** Recall per detector on its own kind, false-positive rate on the look-alikes, and overall. */
export function measureDetectors(): {
  perDetector: DetectorQuality[];
  corpusSize: number;
  overallFalsePositiveRate: number;
} {
  const corpus = detectorCorpus();
  const negatives = corpus.filter((c) => c.label === 'none');
  const perDetector = BUILTIN_DETECTORS.map((d) => {
    const pos = corpus.filter((c) => c.label === d.name);
    return {
      detector: d.name,
      positives: pos.length,
      recall: pos.filter((c) => detectorMatches(d, c.value)).length / pos.length,
      falsePositiveRate: negatives.filter((c) => detectorMatches(d, c.value)).length / negatives.length,
    };
  });
  const scanner = piiScanner();
  const overall = negatives.filter((c) => scanner.detect(c.value) !== undefined).length / negatives.length;
  return { perDetector, corpusSize: corpus.length, overallFalsePositiveRate: overall };
}
