import { existsSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Approvals, checkStoreBinding } from '../approvals/index.ts';
import { engineFor, openStore } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import { readMetricsFile, rollupsOf } from '../metrics/index.ts';
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
import { checkSyncSettings, forget, runCdc, runSync } from '../sync/index.ts';
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_KEY_FILE,
  DEFAULT_METRICS,
  DEFAULT_POLICY,
  DEFAULT_POLL_MS,
  DEFAULT_SCHEMA,
  DEFAULT_SQL_MAX_ROWS,
  DEFAULT_STORE,
  ensurePrivateDir,
  metricsPath,
  readStorePath,
  requireStoreFile,
  SIMULATE_DAYS,
  SIMULATE_SEED,
  SIMULATE_USERS,
  STATE_DIR,
  SYNC_KEPT,
  sourceUrl,
  stopSignal,
} from './defaults.ts';
import { intOpt, optionalText, type RawOptions, syncMode, textOpt } from './options.ts';
import type { Output } from './output.ts';
import { auditLogIn } from './server-root.ts';
import {
  approvalsIn,
  bindStoreForSync,
  requirePolicyApproved,
  requireStoreState,
  stateDirFor,
  storeBinding,
} from './state-guard.ts';
import { printSyncReport } from './sync-report.ts';

/** Each action returns its exit code: 0 ok, 1 refused or failed. */
export type Action = (out: Output, opts: RawOptions, args: string[]) => Promise<number>;

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
  const keyFile = textOpt(opts.keyFile, DEFAULT_KEY_FILE);
  ensurePrivateDir(dirname(keyFile));
  const key = createKeyFile(keyFile);
  if (out.json) out.data({ keyFile, fingerprint: key.fingerprint, epoch: key.epoch });
  out.line(`Created key file ${keyFile} (mode 0600, fingerprint ${key.fingerprint}).`);
  out.line(
    'Back it up somewhere safe: without it, pseudonyms cannot be reproduced; with it, they can be re-linked.',
  );
  return 0;
};

/** `fleetvault simulate`'s options, read once and typed. */
export interface SimulateOptions {
  readonly source?: string;
  readonly users: number;
  readonly days: number;
  readonly seed: number;
  readonly replace: boolean;
  readonly endDate?: string;
  readonly canaries?: string;
}

export function simulateOptions(opts: RawOptions): SimulateOptions {
  const source = optionalText(opts.source);
  const endDate = optionalText(opts.endDate);
  const canaries = optionalText(opts.canaries);
  return {
    ...(source !== undefined ? { source } : {}),
    users: intOpt(opts.users, 'users', SIMULATE_USERS),
    days: intOpt(opts.days, 'days', SIMULATE_DAYS),
    seed: intOpt(opts.seed, 'seed', SIMULATE_SEED),
    replace: opts.replace === true,
    ...(endDate !== undefined ? { endDate } : {}),
    ...(canaries !== undefined ? { canaries } : {}),
  };
}

export const simulateAction: Action = async (out, raw) => {
  const opts = simulateOptions(raw);
  const client = await connectSource(sourceUrl(opts.source));
  try {
    await client.query('SET default_transaction_read_only = off');
    const result = await simulate(pgLoader(client), {
      users: opts.users,
      days: opts.days,
      seed: opts.seed,
      replace: opts.replace,
      ...(opts.endDate !== undefined ? { endDate: new Date(`${opts.endDate}T00:00:00Z`) } : {}),
      onProgress: (table, n) => out.line(`  ${table.padEnd(20)} ${n.toLocaleString('en-US')} rows`),
    });
    if (opts.canaries !== undefined)
      writeFileSync(opts.canaries, JSON.stringify(result.canaries, null, 2), { mode: 0o600 });
    if (out.json) out.data({ rows: result.rows, durationMs: result.durationMs });
    out.line(`Simulated production data in ${(result.durationMs / 1000).toFixed(1)} s.`);
    return 0;
  } finally {
    await client.end();
  }
};

/** `fleetvault policy check` and `policy grants`: their options, read once and typed. */
export interface PolicyOptions {
  readonly policy: string;
  readonly source?: string;
  readonly strict: boolean;
  readonly role: string;
  readonly mode: 'cursor' | 'cdc';
  readonly publication: string;
  readonly database?: string;
  readonly replicationRole: string;
}

export function policyOptions(opts: RawOptions): PolicyOptions {
  const source = optionalText(opts.source);
  const database = optionalText(opts.database);
  return {
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    ...(source !== undefined ? { source } : {}),
    strict: opts.strict === true,
    role: textOpt(opts.role, DEFAULT_READER_ROLE),
    mode: syncMode(opts.mode, 'mode'),
    publication: textOpt(opts.publication, DEFAULT_PUBLICATION),
    ...(database !== undefined ? { database } : {}),
    replicationRole: textOpt(opts.replicationRole, DEFAULT_REPLICATION_ROLE),
  };
}

export const policyCheckAction: Action = async (out, raw) => {
  const opts = policyOptions(raw);
  const file = opts.policy;
  const { policy, problems: fileProblems } = readPolicyFile(file);
  const problems: Problem[] = [...fileProblems];
  if (policy && !hasErrors(fileProblems) && (opts.source || process.env.FLEETVAULT_SOURCE)) {
    const client = await connectSource(sourceUrl(opts.source));
    try {
      const catalog = await introspect(client, policy.schema);
      problems.push(...checkAgainstSource(policy, catalog, { strict: opts.strict, role: opts.role }));
      if (opts.mode === 'cdc') {
        problems.push(
          ...(await changeCaptureProblems(client, policy, {
            publication: opts.publication,
            strict: opts.strict,
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

/** `fleetvault policy suggest`'s options, read once and typed. */
export interface SuggestOptions {
  readonly source?: string;
  readonly schema: string;
  readonly tables?: readonly string[];
  readonly out?: string;
  readonly force: boolean;
}

export function suggestOptions(opts: RawOptions): SuggestOptions {
  const source = optionalText(opts.source);
  const tables = optionalText(opts.tables);
  const out = optionalText(opts.out);
  return {
    ...(source !== undefined ? { source } : {}),
    schema: textOpt(opts.schema, DEFAULT_SCHEMA),
    ...(tables !== undefined ? { tables: tables.split(',').map((s) => s.trim()) } : {}),
    ...(out !== undefined ? { out } : {}),
    force: opts.force === true,
  };
}

export const policySuggestAction: Action = async (out, raw) => {
  const opts = suggestOptions(raw);
  const schema = opts.schema;
  const client = await connectSource(sourceUrl(opts.source));
  let text: string;
  try {
    const catalog = await introspect(client, schema);
    const only = opts.tables;
    const tables = [...catalog.values()].filter((t) => !only || only.includes(t.name));
    text = await suggestPolicy(client, tables, schema, catalog);
  } finally {
    await client.end();
  }
  if (opts.out !== undefined) {
    writeFileSync(opts.out, text, { flag: opts.force ? 'w' : 'wx' });
    out.line(`Wrote a draft policy to ${opts.out}. Review every line, then set reviewed: true.`);
  } else {
    process.stdout.write(text);
  }
  return 0;
};

export const policyGrantsAction: Action = async (out, raw) => {
  const opts = policyOptions(raw);
  const policy = loadPolicyOrThrow(opts.policy);
  const url = opts.source ?? process.env.FLEETVAULT_SOURCE;
  const database = opts.database ?? (url ? databaseOf(url) : 'postgres');
  const role = opts.role;
  const sql = grantStatements(policy, { role, database });
  if (opts.mode === 'cdc') {
    const publication = opts.publication;
    if (!PUBLICATION_NAME.test(publication))
      throw new FvError('FV_USAGE', '--publication takes lower-case letters, digits and _ (at most 40)');
    sql.push(
      ...cdcGrantStatements(policy, {
        role,
        publication,
        replicationRole: opts.replicationRole,
      }),
    );
  }
  if (out.json) out.data({ statements: sql });
  for (const s of sql) out.line(s);
  return 0;
};

/**
 * The two-person rule for a policy about to be applied: nothing may travel less protected than the
 * approved state says (a column moved from dropped to kept, a lower k) without a second admin.
 */
export function requireApprovedPolicy(policy: Policy, opts: Record<string, unknown>): Approvals {
  const approvals = approvalsIn(stateDirFor(opts));
  requirePolicyApproved(policy, approvals, 'cli');
  return approvals;
}

/** `fleetvault sync`'s options, read once and typed. */
export interface SyncCommandOptions {
  readonly source?: string;
  readonly policy: string;
  readonly keyFile: string;
  readonly store: string;
  readonly mode: 'cursor' | 'cdc';
  readonly follow: boolean;
  readonly full: boolean;
  readonly discardIngested: boolean;
  readonly batchSize: number;
  readonly pollMs: number;
  readonly publication?: string;
  /** The metrics file whose rollups the store keeps: --metrics, else ./fleetvault.metrics.yaml if present. */
  readonly metrics?: string;
}

export function syncOptions(opts: RawOptions): SyncCommandOptions {
  const source = optionalText(opts.source);
  const publication = optionalText(opts.publication);
  const metrics = optionalText(opts.metrics) ?? (existsSync(DEFAULT_METRICS) ? DEFAULT_METRICS : undefined);
  const mode = syncMode(opts.mode, 'mode');
  const follow = opts.follow === true;
  if (follow && mode !== 'cdc') throw new FvError('FV_USAGE', '--follow needs --mode cdc');
  // With the options, before the store is created or opened (runSync checks them again for serve).
  checkSyncSettings();
  return {
    ...(source !== undefined ? { source } : {}),
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    keyFile: textOpt(opts.keyFile, DEFAULT_KEY_FILE),
    store: textOpt(opts.store, DEFAULT_STORE),
    mode,
    follow,
    full: opts.full === true,
    discardIngested: opts.discardIngested === true,
    batchSize: intOpt(opts.batchSize, 'batch-size', DEFAULT_BATCH_SIZE),
    pollMs: intOpt(opts.pollMs, 'poll-ms', DEFAULT_POLL_MS),
    ...(publication !== undefined ? { publication } : {}),
    ...(metrics !== undefined ? { metrics } : {}),
  };
}

export const syncAction: Action = async (out, opts) => {
  const o = syncOptions(opts);
  const url = sourceUrl(o.source);
  const policy = loadPolicyOrThrow(o.policy);
  const key = loadKeyFile(o.keyFile);
  const mode = o.mode;
  const storePath = o.store;
  const binding = await storeBinding(storePath);
  const approvals = approvalsIn(stateDirFor(opts, binding));
  // Checked before the store is opened for writing: a refused sync leaves it untouched.
  checkStoreBinding(binding, approvals, storePath, true);
  requirePolicyApproved(policy, approvals, 'cli');
  for (const f of engineFor(storePath).files(storePath)) ensurePrivateDir(dirname(f));
  const store = await openStore(storePath);
  try {
    await bindStoreForSync(store, storePath, policy, approvals, 'cli');
    await refuseLosingIngested(store, policy, o.full, o.discardIngested);
    const rollups = o.metrics === undefined ? undefined : rollupsOf(readMetricsFile(o.metrics));
    const base = { sourceUrl: url, policy, store, key, full: o.full, ...(rollups ? { rollups } : {}) };
    if (mode === 'cursor') {
      const result = await interruptible((signal) =>
        runSync({
          ...base,
          batchSize: o.batchSize,
          signal,
          onProgress: (p) => out.progress(p.table, p.rowsRead, p.estimate),
        }),
      );
      out.clearProgress();
      if (out.json) out.data(result);
      else printSyncReport(out, result);
      return result.ok ? 0 : 1;
    }
    const poll = o.pollMs;
    // A follower ends on Ctrl+C or SIGTERM, at the next transaction of a round or between rounds:
    // what it applied is kept, and the next run goes on from the slot.
    const stop = o.follow
      ? stopSignal('change capture', 'the transactions applied before it are kept')
      : undefined;
    let first = true;
    try {
      do {
        let r: Awaited<ReturnType<typeof runCdc>>;
        try {
          r = await runCdc({
            ...base,
            full: first && base.full,
            applyBatch: o.batchSize || DEFAULT_BATCH_SIZE,
            ...(o.publication !== undefined ? { publication: o.publication } : {}),
            ...(stop ? { signal: stop.signal } : {}),
            onApplied: (n) => out.progress('change capture', n, 0),
          });
        } catch (error) {
          if (!stop?.signal.aborted) throw error;
          break; // stopped mid-round: what was applied is kept
        } finally {
          out.clearProgress();
        }
        first = false;
        if (r.initial) {
          if (out.json) out.data(r.initial);
          else printSyncReport(out, r.initial);
          if (!r.initial.ok) return 1;
        }
        if (out.json) out.data({ ...r, initial: undefined });
        else if (r.transactions > 0 || !o.follow) {
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
        // The wait ends early on the signal (and leaves no listener behind on it).
        if (stop) await sleep(poll, undefined, { signal: stop.signal }).catch(() => undefined);
      } while (stop && !stop.signal.aborted);
    } finally {
      stop?.release();
    }
    if (stop?.signal.aborted) out.line((stop.signal.reason as Error).message);
    return 0;
  } finally {
    await store.close();
  }
};

/**
 * Runs `work` with a signal that Ctrl+C or SIGTERM aborts (stopSignal): the sync stops at its next
 * batch (cleaning up its staging folder) and fails with FV_INTERRUPTED, whatever was in progress
 * when the signal came. A second signal stops the process at once.
 */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = stopSignal('sync', SYNC_KEPT);
  try {
    return await work(stop.signal);
  } catch (error) {
    throw stop.signal.aborted ? stop.signal.reason : error;
  } finally {
    stop.release();
  }
}

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
  const maxRows = intOpt(opts.maxRows, 'max-rows', DEFAULT_SQL_MAX_ROWS);
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

/** `fleetvault forget`'s options, read once and typed. */
export interface ForgetOptions {
  readonly id: string;
  readonly domain: string;
  readonly policy: string;
  readonly keyFile: string;
  readonly store: string;
  readonly stateDir: string;
}

export function forgetOptions(opts: RawOptions): ForgetOptions {
  const id = textOpt(opts.userId, '');
  if (!id) throw new FvError('FV_USAGE', 'give the production id: --user-id <id>');
  return {
    id,
    domain: textOpt(opts.domain, 'user'),
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    keyFile: textOpt(opts.keyFile, DEFAULT_KEY_FILE),
    store: textOpt(opts.store, DEFAULT_STORE),
    stateDir: textOpt(opts.stateDir, STATE_DIR),
  };
}

export const forgetAction: Action = async (out, opts) => {
  const o = forgetOptions(opts);
  const policy = loadPolicyOrThrow(o.policy);
  const key = loadKeyFile(o.keyFile);
  const store = await openStore(o.store);
  let result: Awaited<ReturnType<typeof forget>>;
  try {
    await store.bindKey(key.fingerprint);
    result = await forget({ policy, store, key, domain: o.domain, id: o.id });
  } finally {
    await store.close();
  }
  ensurePrivateDir(o.stateDir);
  auditLogIn(o.stateDir).append({
    actor: 'cli',
    action: 'forget',
    outcome: 'ok',
    detail: { domain: o.domain, pseudonym: result.pseudonym, deleted: result.deleted },
  });
  if (out.json) out.data(result);
  const total = Object.values(result.deleted).reduce((a, b) => a + b, 0);
  out.line(
    total > 0
      ? `Erased ${total} row(s) of pseudonym ${result.pseudonym}; a later sync will not copy them back.`
      : `Erased no row: the store holds nothing under pseudonym ${result.pseudonym} (check the id is written as production writes it: 0106 is not 106); it is kept erased, so a later sync will not copy it.`,
  );
  for (const [table, n] of Object.entries(result.deleted)) if (n > 0) out.line(`  ${table.padEnd(22)} ${n}`);
  return 0;
};
