import { BUILTIN_DETECTORS, detectorMatches, piiScanner } from '../../src/privacy/index.ts';
import { detectorCorpus, type LabelledValue } from './detector-corpus.ts';

export interface DetectorQuality {
  readonly detector: string;
  /** Positives from public sources (and their disguised forms) and generated ones. */
  readonly publicPositives: number;
  readonly generatedPositives: number;
  readonly publicRecall: number;
  readonly generatedRecall: number;
  /** Share of the public suites' labelled negatives of this kind (`not:<detector>`) it flags. */
  readonly ownNegatives: number;
  readonly ownFalsePositiveRate: number;
  /** Share of every look-alike (label `none`) this detector flags. */
  readonly falsePositiveRate: number;
}

export interface NegativeCategory {
  readonly category: string;
  readonly values: number;
  readonly flagged: number;
  readonly rate: number;
  /** The detectors that fired, with counts. */
  readonly by: Readonly<Record<string, number>>;
}

/** The kind of look-alike a negative is: hashes, ids, versions, dates, titles, … */
export function categoryOf(c: LabelledValue): string {
  const m = /\(([^)]+)\)$/.exec(c.source ?? '');
  if (m) return m[1] as string;
  if (c.source?.includes('versions')) return 'versions';
  if (c.source?.includes('integrity')) return 'hashes';
  if (c.source?.includes('tarball')) return 'URLs';
  if (c.source?.includes('git commit')) return 'hashes';
  return c.source === 'generated' ? "fleetvault's look-alikes" : (c.source ?? 'other');
}

function matches(d: (typeof BUILTIN_DETECTORS)[number], c: LabelledValue): boolean {
  if (detectorMatches(d, c.value)) return true;
  const bare = d.inColumn;
  return c.column !== undefined && bare?.column.test(c.column) === true && bare.test(c.value);
}

/**
 * Recall per detector on its own kind (public sources and generated values apart), its false
 * positives on the public suites' negatives of its kind and on every look-alike, and the
 * look-alikes flagged by any detector per category.
 */
export function measureDetectors(): {
  perDetector: DetectorQuality[];
  categories: NegativeCategory[];
  corpusSize: number;
  publicSize: number;
  overallFalsePositiveRate: number;
} {
  const corpus = detectorCorpus();
  const negatives = corpus.filter((c) => c.label === 'none');
  const perDetector = BUILTIN_DETECTORS.map((d) => {
    const pub = corpus.filter((c) => c.label === d.name && c.source !== 'generated');
    const gen = corpus.filter((c) => c.label === d.name && c.source === 'generated');
    const own = corpus.filter((c) => c.label === `not:${d.name}`);
    const share = (list: LabelledValue[]) =>
      list.length === 0 ? Number.NaN : list.filter((c) => matches(d, c)).length / list.length;
    return {
      detector: d.name,
      publicPositives: pub.length,
      generatedPositives: gen.length,
      publicRecall: share(pub),
      generatedRecall: share(gen),
      ownNegatives: own.length,
      ownFalsePositiveRate: share(own),
      falsePositiveRate: negatives.filter((c) => detectorMatches(d, c.value)).length / negatives.length,
    };
  });
  const scanner = piiScanner();
  const byCategory = new Map<string, { values: number; flagged: number; by: Record<string, number> }>();
  let flaggedAll = 0;
  for (const c of negatives) {
    const cat = categoryOf(c);
    const entry = byCategory.get(cat) ?? { values: 0, flagged: 0, by: {} };
    entry.values++;
    const hit = scanner.detect(c.value);
    if (hit) {
      entry.flagged++;
      entry.by[hit] = (entry.by[hit] ?? 0) + 1;
      flaggedAll++;
    }
    byCategory.set(cat, entry);
  }
  const categories = [...byCategory.entries()]
    .map(([category, e]) => ({ category, ...e, rate: e.flagged / e.values }))
    .sort((a, b) => a.category.localeCompare(b.category));
  return {
    perDetector,
    categories,
    corpusSize: corpus.length,
    publicSize: corpus.filter((c) => c.source !== 'generated').length,
    overallFalsePositiveRate: flaggedAll / negatives.length,
  };
}
