// Extracts SQL statements from DuckDB's own sqllogictest files (https://github.com/duckdb/duckdb,
// MIT licence) into bench/sql-corpus/duckdb-sqllogictest.jsonl.gz, the corpus the SQL guard is
// fed (test/helpers/sql-guard-corpus.ts). Only statements are kept: no expected results, no test code.
//
//   node dist/bench/sql-corpus/extract-duckdb-tests.js <duckdb git dir> [commit] | gzip -9 -n > corpus.jsonl.gz
//
// A file gives its statements in order, each marked `setup` (a `statement ok|maybe` that changes
// the database: run once to build the tables the others read), `query` (a `query` block, or a
// `statement ok` that reads) or `error` (a `statement error`: DuckDB itself refuses it). Loops,
// skipped sections and statements with template variables are left out.
import { execFileSync } from 'node:child_process';
import type { CorpusStatement } from '../../test/helpers/sql-guard-corpus.ts';

const READS =
  /^\s*(\(|with\b|select\b|from\b|values\b|table\b|show\b|describe\b|summarize\b|pivot\b|unpivot\b|explain\b)/i;
/** Directories of test/sql/ that hold queries an analyst might write, or statements a guard must refuse. */
export const DIRECTORIES = [
  'aggregate',
  'binder',
  'cast',
  'catalog',
  'collate',
  'conjunction',
  'constraints',
  'copy',
  'create',
  'cte',
  'delete',
  'error',
  'filter',
  'function',
  'index',
  'insert',
  'join',
  'json',
  'keywords',
  'limit',
  'order',
  'parser',
  'pg_catalog',
  'pivot',
  'pragma',
  'prepared',
  'projection',
  'sample',
  'select',
  'setops',
  'settings',
  'show_select',
  'subquery',
  'table_function',
  'topn',
  'types',
  'update',
  'window',
  'attach',
  'secrets',
  'alter',
  'export',
  'macros',
  'sequence',
  'tpch',
] as const;
const MAX_PER_FILE = 25;
const MAX_LENGTH = 4000;

/** The statements of one sqllogictest file, in order. */
export function statementsOf(text: string): CorpusStatement[] {
  const lines = text.split('\n');
  const out: CorpusStatement[] = [];
  let skipping = 0;
  let i = 0;
  while (i < lines.length) {
    const line = (lines[i] ?? '').trim();
    i++;
    if (/^(loop|foreach|concurrentloop|concurrentforeach)\b/.test(line)) skipping++;
    else if (/^endloop\b/.test(line)) skipping = Math.max(0, skipping - 1);
    else if (line === 'mode skip') skipping++;
    else if (line === 'mode unskip') skipping = Math.max(0, skipping - 1);
    const head = /^(statement (ok|error|maybe)|query\s+\S+)/.exec(line);
    if (!head) continue;
    const sql: string[] = [];
    while (i < lines.length && (lines[i] ?? '').trim() !== '' && (lines[i] ?? '').trim() !== '----') {
      sql.push(lines[i] as string);
      i++;
    }
    // An expected result or error message follows `----` up to the next blank line.
    if ((lines[i] ?? '').trim() === '----') while (i < lines.length && (lines[i] ?? '').trim() !== '') i++;
    const text = sql.join('\n').trim();
    if (
      skipping > 0 ||
      !text ||
      text.length > MAX_LENGTH ||
      /\$\{|__TEST_DIR__|\{TEST_DIR\}|\{DATA_DIR\}|__WORKING_DIRECTORY__|__BUILD_DIRECTORY__/.test(text)
    )
      continue;
    const kind =
      head[2] === 'error' ? 'error' : head[1]?.startsWith('query') || READS.test(text) ? 'query' : 'setup';
    out.push({ kind, sql: text });
  }
  return out;
}

function main(): void {
  const [gitDir, commit = 'HEAD'] = process.argv.slice(2);
  if (!gitDir) throw new Error('usage: extract-duckdb-tests <duckdb git dir> [commit]');
  const git = (...args: string[]) =>
    execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const files = git('ls-tree', '-r', '--name-only', commit, 'test/sql/')
    .split('\n')
    .filter((f) => f.endsWith('.test') && DIRECTORIES.some((d) => f.startsWith(`test/sql/${d}/`)))
    .sort();
  for (const file of files) {
    const statements = statementsOf(git('show', `${commit}:${file}`)).slice(0, MAX_PER_FILE);
    if (statements.some((s) => s.kind !== 'setup'))
      process.stdout.write(`${JSON.stringify({ file, statements })}\n`);
  }
}

if (process.argv[1]?.endsWith('extract-duckdb-tests.js')) main();
