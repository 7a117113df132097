// The benchmarks rewrite bench/RESULTS.md, and `npm test` runs `biome check` over it: the tables they
// write must already be in the formatter's shape, or a benchmark run turns the checks red.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alignTables, spliceSection, writeResults } from './results-file.ts';

const raw = [
  '## Fleet',
  '',
  'Some prose | with a pipe that is not a table.',
  '',
  '| what | seconds | rows/s | on disk |',
  '|---|---:|---:|---:|',
  '| PostgreSQL `COPY` (baseline) | 123 | 911,291 | |',
  '| sync into two-shard ClickHouse | 2956 | 37,794 | 2.8 GB + 2.6 GB |',
  '',
  '| metric | range | ratio | equal |',
  '|---|---|---:|---|',
  '| time_to_first_connection | 2026-09-01 – 2026-11-01 | 76.16× | yes |',
  '',
].join('\n');

function biomeFormat(markdown: string): string {
  return execFileSync('npx', ['biome', 'format', '--stdin-file-path=RESULTS.md'], {
    input: markdown,
  }).toString();
}

describe('bench results tables', () => {
  it('are written exactly as the formatter would write them', () => {
    const aligned = alignTables(raw);
    expect(aligned).not.toBe(raw);
    expect(biomeFormat(aligned)).toBe(aligned);
    expect(alignTables(aligned)).toBe(aligned);
  });

  it('keep the sections other benchmarks wrote when the main benchmark rewrites the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-results-'));
    const file = join(dir, 'RESULTS.md');
    try {
      writeResults('# Results\n\nfirst run', file);
      spliceSection('fleet', '## Fleet\n\n| a | b |\n|---|---:|\n| x | 1 |', file);
      spliceSection('ingest', '## Ingest\n\nold', file);
      spliceSection('ingest', '## Ingest\n\nnew', file);
      writeResults('# Results\n\nsecond run', file);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('second run');
      expect(text).not.toContain('first run');
      expect(text).toContain('| x   |   1 |');
      expect(text).toContain('new');
      expect(text).not.toContain('old');
      expect(text.indexOf('<!-- fleet -->')).toBeLessThan(text.indexOf('<!-- ingest -->'));
      expect(biomeFormat(text)).toBe(text);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
