import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Approvals, checkStoreBinding } from '../approvals/index.ts';
import { AuditLog } from '../audit/index.ts';
import { engineFor, openMetricsReader, openStore } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import { GRAINS, type Grain, readMetricsFile } from '../metrics/index.ts';
import { formatProblems, hasErrors, type Policy, type Problem, readPolicyFile } from '../policy/index.ts';
import { createKeyFile, loadKeyFile } from '../privacy/index.ts';
import { pgLoader, simulate } from '../sim/index.ts';
import {
  cdcGrantStatements,
  changeCaptureProblems,
  checkAgainstSource,
  connectSource,
  DEFAULT_PUBLICATION,
  DEFAULT_READER_ROLE,
  DEFAULT_REPLICATION_ROLE,
  databaseOf,
  grantStatements,
  introspect,
  PUBLICATION_NAME,
  suggestPolicy,
} from '../source/index.ts';
import { ingestedRows, ingestedRowsError, type Store } from '../store/index.ts';
import { forget, runCdc, runSync, SYNC_BATCH } from '../sync/index.ts';
import {
  DEFAULT_KEY_FILE,
  DEFAULT_POLICY,
  DEFAULT_STORE,
  ensurePrivateDir,
  metricsPath,
  readStorePath,
  requireStoreFile,
  STATE_DIR,
  sourceUrl,
  untilStopped,
} from './defaults.ts';
import { answerCsv, printAnswer } from './metric-report.ts';
import type { Output } from './output.ts';
import {
  approvalsIn,
  bindStoreForSync,
  requirePolicyApproved,
  requireStoreState,
  stateDirFor,
  storeBinding,
} from './state-guard.ts';
import { printSyncReport } from './sync-report.ts';

type Opts = Record<string, string | boolean | undefined>;

/** Each action returns its exit code: 0 ok, 1 refused or failed. */
export type Action = (out: Output, opts: Opts, args: string[]) => Promise<number>;

export function intOpt(value: string | boolean | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new FvError('FV_USAGE', `--${name} must be a non-negative integer`);
  return n;
}

export function loadPolicyOrThrow(file: string): NonNullable<ReturnType<typeof readPolicyFile>['policy']> {
  const { policy, problems } = readPolicyFile(file);
  if (!policy || hasErrors(problems)) {
    const syntax = problems.some((p) => p.code === 'FV_POLICY_SYNTAX' || p.code === 'FV_POLICY_SHAPE');
    throw new FvError(
      syntax ? 'FV_POLICY_MALFORMED' : 'FV_POLICY_INVALID',
      `policy ${file} has problems`,
      formatProblems(problems),
    );
  }
  return policy;
}

export const initAction: Action = async (out, opts) => {
  const keyFile = String(opts.keyFile ?? DEFAULT_KEY_FILE);
  ensurePrivateDir(dirname(keyFile));
  const key = createKeyFile(keyFile);
  if (out.json) out.data({ keyFile, fingerprint: key.fingerprint, epoch: key.epoch });
  out.line(`Created key file ${keyFile} (mode 0600, fingerprint ${key.fingerprint}).`);
  out.line(
    'Back it up somewhere safe: without it, pseudonyms cannot be reproduced; with it, they can be re-linked.',
  );
  return 0;
};

export const simulateAction: Action = async (out, opts) => {
  const client = await connectSource(sourceUrl(opts.source as string | undefined));
  try {
    await client.query('SET default_transaction_read_only = off');
    const result = await simulate(pgLoader(client), {
      users: intOpt(opts.users, 'users', 10_000),
      days: intOpt(opts.days, 'days', 30),
      seed: intOpt(opts.seed, 'seed', 42),
      replace: opts.replace === true,
      ...(typeof opts.endDate === 'string' ? { endDate: new Date(`${opts.endDate}T00:00:00Z`) } : {}),
      onProgress: (table, n) => out.line(`  ${table.padEnd(20)} ${n.toLocaleString('en-US')} rows`),
    });
    if (typeof opts.canaries === 'string')
      writeFileSync(opts.canaries, JSON.stringify(result.canaries, null, 2), { mode: 0o600 });
    if (out.json) out.data({ rows: result.rows, durationMs: result.durationMs });
    out.line(`Simulated production data in ${(result.durationMs / 1000).toFixed(1)} s.`);
    return 0;
  } finally {
    await client.end();
  }
};

export const policyCheckAction: Action = async (out, opts) => {
  const file = String(opts.policy ?? DEFAULT_POLICY);
  const { policy, problems: fileProblems } = readPolicyFile(file);
  const problems: Problem[] = [...fileProblems];
  if (policy && !hasErrors(fileProblems) && (opts.source || process.env.FLEETVAULT_SOURCE)) {
    const client = await connectSource(sourceUrl(opts.source as string | undefined));
    try {
      const catalog = await introspect(client, policy.schema);
      problems.push(
        ...checkAgainstSource(policy, catalog, {
          strict: opts.strict === true,
          role: String(opts.role ?? DEFAULT_READER_ROLE),
        }),
      );
      if (syncMode(opts.mode, 'mode') === 'cdc') {
        problems.push(
          ...(await changeCaptureProblems(client, policy, {
            publication: String(opts.publication ?? DEFAULT_PUBLICATION),
            strict: opts.strict === true,
          })),
        );
      }
    } finally {
      await client.end();
    }
  }
  if (policy && !policy.reviewed) {
    problems.push({
      code: 'FV_POLICY_UNREVIEWED',
      severity: 'warning',
      path: 'reviewed',
      file,
      line: 1,
      col: 1,
      message: 'the policy is not marked reviewed; sync refuses it until reviewed: true',
    });
  }
  const failed = hasErrors(problems);
  if (out.json) out.data({ ok: !failed, problems });
  for (const line of formatProblems(problems)) out.line(line);
  out.line(
    failed ? `${file}: ${problems.filter((p) => p.severity === 'error').length} error(s)` : `${file}: ok`,
  );
  return failed ? 1 : 0;
};

export const policySuggestAction: Action = async (out, opts) => {
  const schema = String(opts.schema ?? 'public');
  const client = await connectSource(sourceUrl(opts.source as string | undefined));
  let text: string;
  try {
    const catalog = await introspect(client, schema);
    const only = typeof opts.tables === 'string' ? opts.tables.split(',').map((s) => s.trim()) : undefined;
    const tables = [...catalog.values()].filter((t) => !only || only.includes(t.name));
    text = await suggestPolicy(client, tables, schema, catalog);
  } finally {
    await client.end();
  }
  if (typeof opts.out === 'string') {
    writeFileSync(opts.out, text, { flag: opts.force ? 'w' : 'wx' });
    out.line(`Wrote a draft policy to ${opts.out}. Review every line, then set reviewed: true.`);
  } else {
    process.stdout.write(text);
  }
  return 0;
};

export const policyGrantsAction: Action = async (out, opts) => {
  const file = String(opts.policy ?? DEFAULT_POLICY);
  const policy = loadPolicyOrThrow(file);
  const url = (opts.source as string | undefined) ?? process.env.FLEETVAULT_SOURCE;
  const database = String(opts.database ?? (url ? databaseOf(url) : 'postgres'));
  const role = String(opts.role ?? DEFAULT_READER_ROLE);
  const sql = grantStatements(policy, { role, database });
  if (syncMode(opts.mode, 'mode') === 'cdc') {
    const publication = String(opts.publication ?? DEFAULT_PUBLICATION);
    if (!PUBLICATION_NAME.test(publication))
      throw new FvError('FV_USAGE', '--publication takes lower-case letters, digits and _ (at most 40)');
    sql.push(
      ...cdcGrantStatements(policy, {
        role,
        publication,
        replicationRole: String(opts.replicationRole ?? DEFAULT_REPLICATION_ROLE),
      }),
    );
  }
  if (out.json) out.data({ statements: sql });
  for (const s of sql) out.line(s);
  return 0;
};

/** `--mode` / `--sync-mode`: how a sync follows the source. */
export function syncMode(value: string | boolean | undefined, name: string): 'cursor' | 'cdc' {
  const mode = String(value ?? 'cursor');
  if (mode !== 'cursor' && mode !== 'cdc') throw new FvError('FV_USAGE', `--${name} is cursor or cdc`);
  return mode;
}

/**
 * The two-person rule for a policy about to be applied: nothing may travel less protected than the
 * approved state says (a column moved from dropped to kept, a lower k) without a second admin.
 */
export function requireApprovedPolicy(policy: Policy, opts: Record<string, unknown>): Approvals {
  const approvals = approvalsIn(stateDirFor(opts));
  requirePolicyApproved(policy, approvals, 'cli');
  return approvals;
}

export const syncAction: Action = async (out, opts) => {
  const url = sourceUrl(opts.source as string | undefined);
  const policy = loadPolicyOrThrow(String(opts.policy ?? DEFAULT_POLICY));
  const key = loadKeyFile(String(opts.keyFile ?? DEFAULT_KEY_FILE));
  const mode = syncMode(opts.mode, 'mode');
  if (opts.follow === true && mode !== 'cdc') throw new FvError('FV_USAGE', '--follow needs --mode cdc');
  const storePath = String(opts.store ?? DEFAULT_STORE);
  const binding = await storeBinding(storePath);
  const approvals = approvalsIn(stateDirFor(opts, binding));
  // Checked before the store is opened for writing: a refused sync leaves it untouched.
  checkStoreBinding(binding, approvals, storePath, true);
  requirePolicyApproved(policy, approvals, 'cli');
  for (const f of engineFor(storePath).files(storePath)) ensurePrivateDir(dirname(f));
  const store = await openStore(storePath);
  try {
    await bindStoreForSync(store, storePath, policy, approvals, 'cli');
    await refuseLosingIngested(store, policy, opts.full === true, opts.discardIngested === true);
    const base = { sourceUrl: url, policy, store, key, full: opts.full === true };
    if (mode === 'cursor') {
      const result = await runSync({
        ...base,
        batchSize: intOpt(opts.batchSize, 'batch-size', SYNC_BATCH),
        onProgress: (p) => out.progress(p.table, p.rowsRead, p.estimate),
      });
      out.clearProgress();
      if (out.json) out.data(result);
      else printSyncReport(out, result);
      return result.ok ? 0 : 1;
    }
    const poll = intOpt(opts.pollMs, 'poll-ms', 1000);
    const stop = new AbortController();
    if (opts.follow === true) void untilStopped().then(() => stop.abort());
    let first = true;
    do {
      const r = await runCdc({
        ...base,
        full: first && base.full,
        applyBatch: intOpt(opts.batchSize, 'batch-size', 50_000) || 50_000,
        ...(typeof opts.publication === 'string' ? { publication: opts.publication } : {}),
        onApplied: (n) => out.progress('change capture', n, 0),
      });
      out.clearProgress();
      first = false;
      if (r.initial) {
        if (out.json) out.data(r.initial);
        else printSyncReport(out, r.initial);
        if (!r.initial.ok) return 1;
      }
      if (out.json) out.data({ ...r, initial: undefined });
      else if (r.transactions > 0 || opts.follow !== true) {
        out.line(
          `Change capture: ${r.transactions} transaction(s), ${r.changes} change(s) applied up to ${r.lsn ?? '-'}${Object.entries(
            r.tables,
          )
            .map(
              ([t, c]) =>
                `; ${t} +${c.upserted} -${c.deleted}${c.erased ? ` (erased ${c.erased} with deleted owners)` : ''}${c.quarantined ? ` quarantined ${c.quarantined}` : ''}`,
            )
            .join('')}`,
        );
      }
      if (opts.follow === true) await new Promise((r) => setTimeout(r, poll));
    } while (opts.follow === true && !stop.signal.aborted);
    return 0;
  } finally {
    await store.close();
  }
};

/**
 * Rows devices sent live in no source, so a rebuild from the source loses them: `--full` is refused
 * before anything is written while a table holds such rows, and with `--discard-ingested` the
 * store lets every rebuild of this run drop them. (The store refuses such a rebuild on any other
 * path too, such as the first run of change capture.)
 */
async function refuseLosingIngested(store: Store, policy: Policy, full: boolean, discard: boolean) {
  if (discard) {
    store.allowDiscardingIngested();
    return;
  }
  if (!full) return;
  for (const table of policy.tables.keys()) {
    const n = await ingestedRows(store, table);
    if (n > 0) throw ingestedRowsError(table, n, 'sync --full, which rebuilds it from the source,');
  }
}

/** `fleetvault sql` takes the analyst path on every store, with one minute instead of five seconds. */
const CLI_SQL_TIMEOUT_MS = 60_000;

export const sqlAction: Action = async (out, opts, args) => {
  const text = args.join(' ').trim();
  if (!text)
    throw new FvError(
      'FV_USAGE',
      'give one SELECT statement, e.g. fleetvault sql "SELECT count(*) FROM devices"',
    );
  const storeAt = readStorePath(opts.store, (l) => out.warn(l));
  requireStoreFile(storeAt);
  await requireStoreState(storeAt, opts);
  const maxRows = intOpt(opts.maxRows, 'max-rows', 1000);
  const result = await engineFor(storeAt).sql(storeAt, text, { maxRows, timeoutMs: CLI_SQL_TIMEOUT_MS });
  if (out.json) {
    out.data(result);
    return 0;
  }
  if (out.csv) {
    out.table(result.columns, result.rows);
    return 0;
  }
  const cells = [
    result.columns,
    ...result.rows.map((r) =>
      r.map((v) => (v === null ? 'NULL' : typeof v === 'object' ? JSON.stringify(v) : String(v))),
    ),
  ];
  const widths = result.columns.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  for (const [n, row] of cells.entries()) {
    out.line(
      row
        .map((c, i) => String(c).padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
    if (n === 0) out.line(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  out.line(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
  return 0;
};

export const metricsListAction: Action = async (out, opts) => {
  const file = readMetricsFile(metricsPath(opts.metrics, (l) => out.warn(l)));
  const list = [...file.metrics.values()].map((m) => ({
    name: m.name,
    description: m.description,
    outputs: m.outputs,
    dimensions: m.dimensions,
  }));
  if (out.json) out.data({ privacyUnit: file.privacyUnit, metrics: list });
  if (out.csv) {
    out.table(
      ['name', 'description', 'dimensions'],
      list.map((m) => [m.name, m.description, m.dimensions.join(' ')]),
    );
    return 0;
  }
  if (list.length === 0) out.line(`No metrics in ${file.file}.`);
  for (const m of list) {
    out.line(`${m.name.padEnd(26)} ${m.description}`);
    out.line(`${''.padEnd(26)} by: ${m.dimensions.join(', ') || '-'}`);
  }
  return 0;
};

function splitList(v: string | boolean | undefined): string[] {
  return typeof v === 'string'
    ? v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : [];
}

export const metricsQueryAction: Action = async (out, opts, args) => {
  const file = readMetricsFile(metricsPath(opts.metrics, (l) => out.warn(l)));
  const grain = String(opts.grain ?? 'week');
  if (!GRAINS.includes(grain as Grain))
    throw new FvError('FV_USAGE', `--grain must be one of ${GRAINS.join(', ')}`);
  const filters: Record<string, string[]> = {};
  for (const f of [opts.filter].flat().filter((x): x is string => typeof x === 'string')) {
    const [dim, values] = f.split('=');
    if (!dim || values === undefined) throw new FvError('FV_USAGE', '--filter is dimension=value[,value…]');
    filters[dim] = splitList(values);
  }
  const storePath = readStorePath(opts.store, (l) => out.warn(l));
  requireStoreFile(storePath);
  await requireStoreState(storePath, opts);
  const reader = await openMetricsReader(storePath, file);
  try {
    const answer = await reader.query({
      metric: args[0] ?? '',
      grain: grain as Grain,
      by: splitList(opts.by),
      ...(typeof opts.from === 'string' ? { from: opts.from } : {}),
      ...(typeof opts.to === 'string' ? { to: opts.to } : {}),
      filters,
    });
    if (out.json) out.data(answer);
    else if (out.csv) answerCsv(out, answer);
    else printAnswer(out, answer);
    return 0;
  } finally {
    reader.close();
  }
};

export const forgetAction: Action = async (out, opts) => {
  const id = String(opts.userId ?? '');
  if (!id) throw new FvError('FV_USAGE', 'give the production id: --user-id <id>');
  const policy = loadPolicyOrThrow(String(opts.policy ?? DEFAULT_POLICY));
  const key = loadKeyFile(String(opts.keyFile ?? DEFAULT_KEY_FILE));
  const store = await openStore(String(opts.store ?? DEFAULT_STORE));
  let result: Awaited<ReturnType<typeof forget>>;
  try {
    await store.bindKey(key.fingerprint);
    result = await forget({ policy, store, key, domain: String(opts.domain ?? 'user'), id });
  } finally {
    await store.close();
  }
  const dir = String(opts.stateDir ?? STATE_DIR);
  ensurePrivateDir(dir);
  new AuditLog(join(dir, 'audit.jsonl')).append({
    actor: 'cli',
    action: 'forget',
    outcome: 'ok',
    detail: { domain: String(opts.domain ?? 'user'), pseudonym: result.pseudonym, deleted: result.deleted },
  });
  if (out.json) out.data(result);
  const total = Object.values(result.deleted).reduce((a, b) => a + b, 0);
  out.line(`Erased ${total} row(s) of pseudonym ${result.pseudonym}; a later sync will not copy them back.`);
  for (const [table, n] of Object.entries(result.deleted)) if (n > 0) out.line(`  ${table.padEnd(22)} ${n}`);
  return 0;
};
