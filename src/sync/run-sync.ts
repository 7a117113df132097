import type { Client } from 'pg';
import { FvError } from '../errors/index.ts';
import { formatProblems, identifierColumns, type Policy } from '../policy/index.ts';
import { type MasterKey, piiScanner, pseudonymThread, sealedBox } from '../privacy/index.ts';
import { checkAgainstSource, connectSource, introspect } from '../source/index.ts';
import type { RollupSpec, Store } from '../store/index.ts';
import { propagateDeletions } from './deletions.ts';
import { eraseLinked } from './erase-linked.ts';
import { ErasedKeys } from './erased-keys.ts';
import type { SyncResult, TableResult } from './sync-result.ts';
import { syncReleaseBytes, syncTable, type TableProgress } from './sync-table.ts';
import { parentsFirst, planTable, requireReviewed, schemaChanges, type TablePlan } from './table-plan.ts';

export interface SyncOptions {
  readonly sourceUrl: string;
  readonly policy: Policy;
  readonly store: Store;
  readonly key: MasterKey;
  /** Rescan every table and rebuild it, which also removes rows hard-deleted in the source. */
  readonly full?: boolean;
  readonly batchSize?: number;
  /**
   * The rollups the store keeps from now on (metrics/rollups.ts derives them from a metrics file);
   * absent: the ones it keeps already. Brought up to date at the end of the run.
   */
  readonly rollups?: readonly RollupSpec[];
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: TableProgress) => void;
}

/**
 * Rows per batch (and store transaction) of a cursor sync: small enough that a batch, the next one
 * read ahead and their transformed rows stay a few tens of MB of JavaScript heap (the whole sync
 * stays under 512 MiB resident, bench/RESULTS.md), large enough that a commit per batch costs
 * little.
 */
export const SYNC_BATCH = 20_000;

const DRIFT_CODES = new Set([
  'FV_POLICY_UNCLASSIFIED_COLUMN',
  'FV_POLICY_UNKNOWN_COLUMN',
  'FV_POLICY_UNKNOWN_TABLE',
]);

/**
 * Every check a run makes before writing (reviewed policy, source schema against the policy, the
 * role's privileges, the store's key and schema), then the table plans, parents first.
 */
export async function prepareSync(
  source: Client,
  opts: SyncOptions,
): Promise<{ plans: TablePlan[]; estimate: Map<string, number> }> {
  requireReviewed(opts.policy);
  const catalog = await introspect(source, opts.policy.schema);
  const role = (await source.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u;
  const problems = checkAgainstSource(opts.policy, catalog, role ? { role } : {}).filter(
    (p) => p.severity === 'error',
  );
  const drift = problems.filter((p) => DRIFT_CODES.has(p.code));
  if (drift.length > 0) {
    throw new FvError(
      'FV_SCHEMA_DRIFT',
      'the source schema does not match the policy; nothing was written',
      formatProblems(drift),
    );
  }
  if (problems.length > 0) {
    const code = problems.every((p) => p.code === 'FV_SOURCE_PRIVILEGE')
      ? 'FV_SOURCE_PRIVILEGE'
      : problems.every((p) => p.code === 'FV_SOURCE_NOT_POPULATED')
        ? 'FV_SOURCE_NOT_POPULATED'
        : 'FV_POLICY_INVALID';
    throw new FvError(
      code,
      'the policy cannot be applied to this source; nothing was written',
      formatProblems(problems),
    );
  }
  await opts.store.bindKey(opts.key.fingerprint);
  const plans = parentsFirst(
    [...opts.policy.tables.values()].map((t) => planTable(t, catalog.get(t.name)!, opts.policy)),
  );
  const changes: string[] = [];
  for (const plan of plans) {
    const state = await opts.store.tableState(plan.policy.name);
    if (state && !opts.full) changes.push(...schemaChanges(plan, state.columns));
  }
  if (changes.length > 0) {
    throw new FvError(
      'FV_SCHEMA_DRIFT',
      'the stored schema no longer matches the source and policy; review the policy for these columns, then run `fleetvault sync --full`',
      changes,
    );
  }
  await opts.store.setMeta('k', String(opts.policy.k));
  // How the metrics served from this store are protected (differential privacy or k alone).
  await opts.store.setMeta('privacy', JSON.stringify(opts.policy.privacy ?? { model: 'k_anonymity' }));
  // What the metrics files served from this store are checked against (metrics/privacy-check.ts).
  await opts.store.setMeta('privacy_unit', opts.policy.privacyUnit ?? 'user');
  await opts.store.setMeta('identifiers', JSON.stringify(identifierColumns(opts.policy)));
  await opts.store.setMeta(
    'coverage',
    JSON.stringify(Object.fromEntries(plans.map((p) => [p.policy.name, p.report]))),
  );
  const estimates = await source.query<{ relname: string; n: number }>(
    `SELECT c.relname, greatest(c.reltuples, 0)::float8 AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1`,
    [opts.policy.schema],
  );
  return { plans, estimate: new Map(estimates.rows.map((r) => [r.relname, Number(r.n)])) };
}

/**
 * The environment settings a sync reads (FLEETVAULT_PSEUDONYM_THREAD, FLEETVAULT_SYNC_RELEASE_MB):
 * FV_USAGE naming the first bad one. Called before a store is created or opened (`sync`, `serve
 * --sync-every`) and again by runSync.
 */
export function checkSyncSettings(): void {
  pseudonymThread();
  syncReleaseBytes();
}

/**
 * One sync run: every check first (reviewed policy, source schema against the policy, the role's
 * privileges, the store's schema), then each table in policy order. Nothing is written unless
 * every check passes; after that each table resolves to its own result.
 *
 * @example
 * const result = await runSync({ sourceUrl, policy, store, key });
 */
export async function runSync(opts: SyncOptions): Promise<SyncResult> {
  const started = Date.now();
  requireReviewed(opts.policy);
  // Bad settings stop the run here, before anything is read or written.
  checkSyncSettings();
  const source = await connectSource(opts.sourceUrl);
  try {
    const { plans, estimate } = await prepareSync(source, opts);
    const erased = await propagateDeletions({
      source,
      policy: opts.policy,
      store: opts.store,
      key: opts.key,
      plans,
      batchSize: opts.batchSize ?? SYNC_BATCH,
      full: opts.full === true,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    await opts.store.releaseMemory();
    const erasedKeys = await ErasedKeys.read(opts.store);
    const scanner = piiScanner(opts.policy.customDetectors);
    const box = sealedBox(opts.key, 'checkpoint');
    const results: TableResult[] = [];
    // A refused table (a PII hit under block, a transform that does not fit) stops that table
    // only: every other table passed the same checks and is copied and reported, so one
    // column's problem does not hold back the rest of the store.
    for (const plan of plans) {
      const result = await syncTable(plan, {
        source,
        policy: opts.policy,
        schema: opts.policy.schema,
        store: opts.store,
        key: opts.key,
        box,
        scanner,
        erased: erasedKeys,
        full: opts.full === true,
        batchSize: opts.batchSize ?? SYNC_BATCH,
        estimate: estimate.get(plan.policy.name) ?? 0,
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      });
      results.push({ ...result, rowsErased: erased[plan.policy.name] ?? 0 });
      // Each table starts from the store's memory at rest, not the one before's leftovers.
      await opts.store.releaseMemory();
    }
    // People erased beside this run (a `forget` while it copied) after it read the tombstones:
    // whatever of theirs a table of this run wrote since (a rebuild that read production before
    // the erasure and was swapped in after it) goes now. This run's own are in its set already.
    for (const [domain, late] of await erasedKeys.since()) {
      if (process.env.FLEETVAULT_SYNC_TRACE)
        process.stderr.write(`sync: ${late.length} of ${domain} erased beside this run, erased again\n`);
      await opts.store.atomically(() =>
        eraseLinked({ policy: opts.policy, store: opts.store, key: opts.key, domain, pseudonyms: late }),
      );
    }
    // The one point after the run's writes where derived rows (rollups, ClickHouse's merged
    // versions) catch up: whatever each table's result, from what the tables now hold.
    await opts.store.refreshDerived(opts.rollups);
    const ok = results.every((r) => r.status === 'copied');
    if (ok) await opts.store.setMeta('last_sync', new Date().toISOString());
    return {
      ok,
      store: opts.store.location,
      tables: results,
      durationMs: Date.now() - started,
    };
  } finally {
    await source.end().catch(() => {});
  }
}
