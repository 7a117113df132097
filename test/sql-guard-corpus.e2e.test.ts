// End to end: a slice of the corpus of SQL nobody on this project wrote (DuckDB's own test
// statements, bench/sql-corpus/) through the analyst SQL guard. What the guard accepts reads only
// the analytics tables, by a plan walk of its own and by canaries. The whole corpus runs in
// `node dist/bench/sql-guard-corpus.js`; its numbers are in bench/RESULTS.md.
import { describe, expect, it } from 'vitest';
import { readCorpus, runCorpus } from './helpers/sql-guard-corpus.ts';

describe('SQL guard against a corpus it was not written for', () => {
  it('accepts hundreds of real statements and none of them reads outside the analytics tables', async () => {
    // Every 80th test file: a spread over every directory of the corpus.
    const files = readCorpus().filter((_, i) => i % 80 === 0);
    const s = await runCorpus(files, 1);
    expect(s.violations).toEqual([]);
    expect(s.byOutcome.accepted).toBeGreaterThan(50);
    expect(s.byOutcome.refused_parse_tree).toBeGreaterThan(50);
    expect(s.statements).toBeGreaterThan(300);
  }, 600_000);
});
