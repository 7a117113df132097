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
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { checkPlan, checkSql, lockForAnalysts } from '../src/engines/duckdb/index.ts';
import { spliceSection } from './results-file.ts';
import type { CorpusStatement } from './sql-corpus/extract-duckdb-tests.ts';

/** The repository, whether this runs built (dist/bench/) or from its source (bench/, in tests). */
const ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url));
export const CORPUS = join(ROOT, 'bench', 'sql-corpus', 'duckdb-sqllogictest.jsonl.gz');
/** The children always run the built script. */
const SCRIPT = join(ROOT, 'dist', 'bench', 'sql-guard-corpus.js');

interface CorpusFile {
  readonly file: string;
  readonly statements: readonly CorpusStatement[];
}

export type Outcome =
  /** Passed the parse-tree and plan checks and ran. */
  | 'accepted'
  /** Passed both checks; DuckDB then failed it at run time (or it was interrupted). */
  | 'accepted_failed'
  | 'refused_parse_tree'
  | 'refused_plan'
  /** DuckDB could not bind or plan it (no such column, type error…): nothing ran. */
  | 'not_bound';

export interface FileResult {
  readonly file: string;
  readonly tables: number;
  readonly outcomes: Array<{ kind: CorpusStatement['kind']; outcome: Outcome; reason?: string }>;
  /** Accepted statements whose bound plan or result reached something outside: must stay empty. */
  readonly violations: Array<{ sql: string; what: string }>;
}

const STATEMENT_MS = 3000;
const CANARY_META = 'FVCANARY-META-7f3e';
const CANARY_ERASED = 'FVCANARY-ERASED-91ab';

function interruptAfter<T>(db: DuckDBConnection, ms: number, work: () => Promise<T>): Promise<T> {
  const t = setTimeout(() => db.interrupt(), ms);
  return work().finally(() => clearTimeout(t));
}

type PlanNode = { name: string; children?: PlanNode[]; extra_info?: Record<string, unknown> };

/**
 * Everything a statement's plans read, listed without the guard's code: every `Table` and
 * `Function` in the bound, optimized and physical plans, and every leaf of the bound plan.
 */
async function readsOf(db: DuckDBConnection, sql: string): Promise<string[]> {
  const r = await db.runAndReadAll(`EXPLAIN (FORMAT json) ${sql}`);
  const out: string[] = [];
  for (const [key, json] of r.getRows()) {
    const walk = (n: PlanNode) => {
      if (n.extra_info?.Table !== undefined) out.push(`table ${String(n.extra_info.Table)}`);
      if (n.extra_info?.Function !== undefined) out.push(`function ${String(n.extra_info.Function)}`);
      if (key === 'logical_plan' && (n.children ?? []).length === 0 && n.extra_info?.Table === undefined)
        out.push(`leaf ${n.name}`);
      for (const c of n.children ?? []) walk(c);
    };
    for (const n of JSON.parse(String(json)) as PlanNode[]) walk(n);
  }
  return out;
}

/** Leaves that read no stored data, and the value generators. */
const HARMLESS = new Set([
  'leaf DUMMY_SCAN',
  'leaf EXPRESSION_GET',
  'leaf CHUNK_GET',
  'leaf COLUMN_DATA_GET',
  'leaf DELIM_GET',
  'leaf CTE_REF',
  'leaf CTE_SCAN',
  'leaf REC_CTE_SCAN',
  'leaf EMPTY_RESULT',
  'leaf RANGE',
  'leaf GENERATE_SERIES',
  'leaf UNNEST',
  'function RANGE',
  'function GENERATE_SERIES',
  'function UNNEST',
]);

function reasonOf(message: string): string {
  return message
    .replace(/table function \S+/, 'table function X')
    .replace(/function \S+ is not allowed/, 'function X is not allowed')
    .replace(/table \S+ is (not|outside)/, 'table X is $1')
    .replace(/reads \S+, which/, 'reads X, which')
    .replace(/\(got \d+\)/, '(got N)');
}

async function runFile(f: CorpusFile): Promise<FileResult> {
  const dir = mkdtempSync(join(tmpdir(), 'fv-corpus-'));
  const path = join(dir, 'store.duckdb');
  try {
    // The "sync": the file's own setup, in order, in a database of its own; failures are ignored.
    const writer = await DuckDBInstance.create(path, {
      enable_external_access: 'false',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      memory_limit: '512MB',
      threads: '1',
    });
    const w = await writer.connect();
    for (const s of f.statements)
      if (s.kind === 'setup') await interruptAfter(w, STATEMENT_MS, () => w.run(s.sql)).catch(() => {});
    // A setup may have switched schema or catalog; the store is the file's own main schema.
    await w.run('USE store.main').catch(() => {});
    const tables = (
      await w.runAndReadAll(
        `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main' AND NOT temporary AND table_name NOT LIKE '\\_fv%' ESCAPE '\\'`,
      )
    )
      .getRows()
      .map((r) => String(r[0]));
    await w.run('CREATE TABLE _fv_meta (key VARCHAR, value VARCHAR)');
    await w.run(`INSERT INTO _fv_meta VALUES ('k', '${CANARY_META}')`);
    await w.run('CREATE TABLE _fv_forgotten (domain VARCHAR, pseudonym VARCHAR)');
    await w.run(`INSERT INTO _fv_forgotten VALUES ('user', '${CANARY_ERASED}')`);
    await w.run('CREATE TABLE _fv_tables (name VARCHAR, columns VARCHAR)');
    for (const t of tables) await w.run('INSERT INTO _fv_tables VALUES ($1, $2)', [t, '[]']);
    await w.run('CHECKPOINT');
    w.closeSync();
    writer.closeSync();

    // The analyst: the store read-only, as read-only-sql-worker.ts opens it.
    const instance = await DuckDBInstance.create(path, {
      access_mode: 'READ_ONLY',
      enable_external_access: 'false',
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      memory_limit: '256MB',
      threads: '1',
      max_temp_directory_size: '0B',
    });
    const db = await instance.connect();
    const allowed = new Set(
      (await db.runAndReadAll('SELECT name FROM _fv_tables')).getRows().map((r) => String(r[0])),
    );
    const cat = String((await db.runAndReadAll('SELECT current_database()')).getRows()[0]?.[0]);
    await lockForAnalysts(db);
    const outcomes: FileResult['outcomes'] = [];
    const violations: FileResult['violations'] = [];
    for (const s of f.statements) {
      const outcome = await interruptAfter(db, STATEMENT_MS, async () => {
        try {
          await checkSql(db, s.sql, allowed);
        } catch (error) {
          if ((error as { code?: string }).code !== 'FV_SQL_REFUSED')
            return { outcome: 'not_bound' as const };
          return { outcome: 'refused_parse_tree' as const, reason: reasonOf((error as Error).message) };
        }
        try {
          await checkPlan(db, s.sql, allowed, cat);
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code === 'FV_SQL_REFUSED' && process.env.FV_CORPUS_DEBUG)
            process.stderr.write(`PLAN ${(error as Error).message} :: ${s.sql.replaceAll('\n', ' ')}\n`);
          return code === 'FV_SQL_REFUSED'
            ? { outcome: 'refused_plan' as const, reason: reasonOf((error as Error).message) }
            : { outcome: 'not_bound' as const };
        }
        // Accepted: what does it really read, and what does it answer?
        // The plan quotes a name part when it must ("timestamp"): compare both spellings.
        const quote = (x: string) => `"${x.replaceAll('"', '""')}"`;
        const ok = new Set(
          [...allowed].flatMap((t) =>
            [cat, quote(cat)].flatMap((c) => [`table ${c}.main.${t}`, `table ${c}.main.${quote(t)}`]),
          ),
        );
        const outside = (await readsOf(db, s.sql)).filter((x) => !HARMLESS.has(x) && !ok.has(x));
        for (const what of new Set(outside)) violations.push({ sql: s.sql, what });
        try {
          const r = await db.runAndReadUntil(s.sql, 100);
          const text = JSON.stringify(r.getRowsJson());
          if (text.includes(CANARY_META) || text.includes(CANARY_ERASED))
            violations.push({ sql: s.sql, what: 'a canary in the result' });
          return { outcome: 'accepted' as const };
        } catch {
          return { outcome: 'accepted_failed' as const };
        }
      });
      outcomes.push({ kind: s.kind, ...outcome });
    }
    db.closeSync();
    instance.closeSync();
    return { file: f.file, tables: tables.length, outcomes, violations };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The child: files arrive one by one; each result goes back before the next is asked for. */
function child(): void {
  process.on('message', (f) => {
    void runFile(f as CorpusFile).then(
      (r) => process.send?.({ ok: true, result: r }),
      (e) =>
        process.send?.({
          ok: false,
          file: (f as CorpusFile).file,
          error: String((e as Error).message).split('\n')[0],
        }),
    );
  });
  process.once('disconnect', () => process.exit(0));
}

export interface CorpusSummary {
  readonly files: number;
  readonly statements: number;
  readonly byOutcome: Record<Outcome | 'harness_killed', number>;
  readonly byKind: Record<string, Record<string, number>>;
  readonly reasons: Array<[string, number]>;
  readonly violations: FileResult['violations'];
  readonly analyticsTables: number;
  readonly seconds: number;
}

/** Runs the corpus in child processes (one file at a time each; a file that hangs or balloons is killed). */
export async function runCorpus(files: readonly CorpusFile[], workers = 1): Promise<CorpusSummary> {
  const started = Date.now();
  const byOutcome: CorpusSummary['byOutcome'] = {
    accepted: 0,
    accepted_failed: 0,
    refused_parse_tree: 0,
    refused_plan: 0,
    not_bound: 0,
    harness_killed: 0,
  };
  const byKind: CorpusSummary['byKind'] = {};
  const reasons = new Map<string, number>();
  const violations: FileResult['violations'] = [];
  let analyticsTables = 0;
  const queue = [...files];
  const count = (kind: string, outcome: string) => {
    byOutcome[outcome as Outcome] += 1;
    byKind[kind] = byKind[kind] ?? {};
    (byKind[kind] as Record<string, number>)[outcome] =
      ((byKind[kind] as Record<string, number>)[outcome] ?? 0) + 1;
  };
  const lane = async () => {
    while (queue.length > 0) {
      await new Promise<void>((resolve) => {
        const worker = fork(SCRIPT, ['--child'], {
          execArgv: ['--max-old-space-size=512'],
          stdio: ['ignore', 'ignore', process.env.FV_CORPUS_DEBUG ? 'inherit' : 'ignore', 'ipc'],
        });
        let current: CorpusFile | undefined;
        let timer: NodeJS.Timeout | undefined;
        const watch = setInterval(() => {
          try {
            const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker.pid}/status`, 'utf8'));
            if (m && Number(m[1]) > 1_500_000) worker.kill('SIGKILL');
          } catch {}
        }, 100);
        const next = () => {
          clearTimeout(timer);
          current = queue.shift();
          if (!current) {
            worker.kill();
            return;
          }
          timer = setTimeout(() => worker.kill('SIGKILL'), 120_000);
          worker.send(current);
        };
        worker.on('message', (m) => {
          const msg = m as { ok: boolean; result?: FileResult };
          if (msg.ok && msg.result) {
            for (const o of msg.result.outcomes) {
              count(o.kind, o.outcome);
              if (o.reason) reasons.set(o.reason, (reasons.get(o.reason) ?? 0) + 1);
            }
            violations.push(...msg.result.violations);
            analyticsTables += msg.result.tables;
          } else if (current) for (const s of current.statements) count(s.kind, 'harness_killed');
          next();
        });
        worker.on('exit', () => {
          clearTimeout(timer);
          clearInterval(watch);
          // Killed mid-file: its statements count as not run, and the lane goes on with a new child.
          if (current) for (const s of current.statements) count(s.kind, 'harness_killed');
          current = undefined;
          resolve();
        });
        next();
      });
    }
  };
  await Promise.all(Array.from({ length: workers }, lane));
  return {
    files: files.length,
    statements: files.reduce((n, f) => n + f.statements.length, 0),
    byOutcome,
    byKind,
    reasons: [...reasons].sort((a, b) => b[1] - a[1]),
    violations,
    analyticsTables,
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

export function readCorpus(file = CORPUS): CorpusFile[] {
  return gunzipSync(readFileSync(file))
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CorpusFile);
}

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

if (process.argv.includes('--child')) child();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
