import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { detectorCorpus } from '../../../bench/detector-corpus.ts';
import { BUILTIN_DETECTORS } from './builtin-detectors.ts';
import { detectorMatches, piiScanner } from './pii-scanner.ts';

describe('PII detectors', () => {
  const corpus = detectorCorpus();
  const scanner = piiScanner();

  it('the corpus holds at least 1,000 labelled values of every kind', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(1000);
    for (const d of BUILTIN_DETECTORS)
      expect(corpus.filter((c) => c.label === d.name).length).toBeGreaterThanOrEqual(100);
  });

  it.each(BUILTIN_DETECTORS.map((d) => d.name))('%s: recall at least 99% on its own kind', (name) => {
    const detector = BUILTIN_DETECTORS.find((d) => d.name === name)!;
    const positives = corpus.filter((c) => c.label === name);
    const missed = positives.filter((c) => !detectorMatches(detector, c.value));
    expect(
      missed.length / positives.length,
      `missed ${missed.length}: e.g. ${missed
        .slice(0, 3)
        .map((m) => m.value)
        .join(' | ')}`,
    ).toBeLessThanOrEqual(0.01);
  });

  it('false positives on look-alikes (firmware, product and error codes, hashes, UUIDs) under 1%', () => {
    const negatives = corpus.filter((c) => c.label === 'none');
    const flagged = negatives.filter((c) => scanner.detect(c.value) !== undefined);
    expect(
      flagged.length / negatives.length,
      `flagged: ${flagged
        .slice(0, 5)
        .map((f) => `${f.value} (${scanner.detect(f.value)})`)
        .join(' | ')}`,
    ).toBeLessThan(0.01);
  });

  it('finds a value hidden inside a longer text, and names the detector only', () => {
    expect(scanner.detect('note from support: call +44 7700 900123 after 5pm')).toBe('phone');
    expect(scanner.detect('owner jane.doe@example.com asked for a reset')).toBe('email');
  });

  it('custom patterns from the policy join the built-ins', () => {
    const s = piiScanner([{ name: 'employee_id', pattern: /EMP-\d{6}/u }]);
    expect(s.detect('assigned to EMP-123456')).toBe('custom:employee_id');
    expect(s.detect('assigned to team blue')).toBeUndefined();
  });

  it('never throws and answers only detector names (property)', () => {
    const names = new Set(scanner.detectors.map((d) => d.name));
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const hit = scanner.detect(s);
        return hit === undefined || names.has(hit);
      }),
      { numRuns: 2000 },
    );
  });
});
