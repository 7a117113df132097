// Feeds the analyst SQL guard a corpus of real SQL nobody on this project wrote: the statements of
// DuckDB's own sqllogictest files (bench/sql-corpus/). For each test file, its setup statements
// build a store (their tables become the analytics tables, beside fleetvault's internal tables
// holding canaries); then every statement of the file, setup and refused ones included, goes
// through the guard on that store reopened read-only, as an analyst's would. For every statement
// the guard accepts, an independent walk of DuckDB's bound plan lists every table and leaf it
// reads, and its result is searched for the canaries: both must find nothing outside.
//
//   node dist/bench/sql-guard-corpus.js [--record] [--limit N]
//
// --record writes the summary into bench/RESULTS.md (section `sql-guard-corpus`).
import { type CorpusSummary, readCorpus, runCorpus } from '../test/helpers/sql-guard-corpus.ts';
import { spliceSection } from './results-file.ts';

function report(s: CorpusSummary): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const o = s.byOutcome;
  const kinds = ['query', 'setup', 'error'] as const;
  const row = (label: string, key: string) =>
    `| ${label} | ${kinds.map((k) => n(s.byKind[k]?.[key] ?? 0)).join(' | ')} | ${n((o as Record<string, number>)[key] ?? 0)} |`;
  return [
    `## Analyst SQL guard against DuckDB's own test statements (\`bench/sql-guard-corpus.ts\`)`,
    '',
    `${new Date().toISOString().slice(0, 10)}, this machine (2 cores shared). ${n(s.statements)} statements from ${n(s.files)} sqllogictest files of DuckDB (MIT; provenance in bench/sql-corpus/README.md), none written on this project. Each file's setup statements built a store (${n(s.analyticsTables)} analytics tables in all) beside fleetvault's internal tables holding canaries; every statement then went through the guard on that store opened read-only. Columns: \`query\` (a test's query), \`setup\` (statements that change a database), \`error\` (statements DuckDB itself rejects). ${s.seconds} s.`,
    '',
    '| outcome | query | setup | error | all |',
    '|---|---:|---:|---:|---:|',
    row('accepted and ran', 'accepted'),
    row('accepted, then failed when run', 'accepted_failed'),
    row('refused on the parse tree', 'refused_parse_tree'),
    row('refused on the bound plan (parse tree passed)', 'refused_plan'),
    row('not bound or not checkable by DuckDB (nothing ran)', 'not_bound'),
    row('not judged (the harness killed its file)', 'harness_killed'),
    '',
    `Accepted statements whose bound, optimized or physical plan reads anything but the file's analytics tables, a value generator or no table (checked by a plan walk separate from the guard's), or whose result holds a canary of the internal tables: **${n(s.violations.length)}**.`,
    '',
    'Refusal reasons (top 12):',
    '',
    '| reason | statements |',
    '|---|---:|',
    ...s.reasons.slice(0, 12).map(([r, c]) => `| ${r.replaceAll('|', '\\|')} | ${n(c)} |`),
  ].join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const limit = args.includes('--limit') ? Number(args[args.indexOf('--limit') + 1]) : undefined;
  const files = readCorpus().slice(0, limit);
  const summary = await runCorpus(files, 2);
  process.stdout.write(`${report(summary)}\n`);
  for (const v of summary.violations.slice(0, 20)) process.stdout.write(`VIOLATION ${v.what}: ${v.sql}\n`);
  if (args.includes('--record')) spliceSection('sql-guard-corpus', report(summary));
  process.exitCode = summary.violations.length > 0 ? 1 : 0;
}

await main();
