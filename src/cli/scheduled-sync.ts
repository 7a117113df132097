import { existsSync } from 'node:fs';
import type { Approvals } from '../approvals/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { openStore } from '../engines/index.ts';
import { isFvError } from '../errors/index.ts';
import { type RegressionSource, RegressionWatch } from '../insights/index.ts';
import { loadKeyFile } from '../privacy/index.ts';
import type { StoreHandle } from '../server/index.ts';
import type { RollupSpec } from '../store/index.ts';
import {
  quarantinedRows,
  runCdc,
  runSync,
  type SyncMetrics,
  type SyncResult,
  totalRows,
} from '../sync/index.ts';
import { loadPolicyOrThrow } from './commands.ts';
import { sourceUrl } from './defaults.ts';
import type { Output } from './output.ts';
import { parseSyncMode, type ServeOptions } from './serve-options.ts';
import { bindStoreForSync, requirePolicyApproved } from './state-guard.ts';

/** What a scheduled sync writes to and reports through. */
export interface SyncScheduleDeps {
  readonly out: Output;
  readonly audit: AuditLog;
  readonly approvals: Approvals;
  readonly syncMetrics: SyncMetrics;
  /** The served metrics file's rollups, kept by every scheduled sync as `sync --metrics` keeps them. */
  readonly rollups: readonly RollupSpec[];
  /** Aborted when the server stops: a sync in progress stops at its next batch (FV_INTERRUPTED). */
  readonly signal?: AbortSignal;
}

/**
 * `serve --sync-every`'s one sync: the policy reloaded and checked against the approved state, the
 * store bound, then a cursor sync or a change-capture run, each logged, counted and audited. A
 * failure is counted and logged, then thrown.
 */
export function scheduledSync(o: ServeOptions, deps: SyncScheduleDeps): () => Promise<void> {
  const { out, syncMetrics } = deps;
  const source = sourceUrl(o.source);
  const key = loadKeyFile(o.keyFile);
  const mode = parseSyncMode(o.syncMode);
  if (existsSync(o.policy)) syncMetrics.declare(loadPolicyOrThrow(o.policy).tables.keys(), mode);
  const once = async () => {
    const policy = loadPolicyOrThrow(o.policy);
    // A reload: an edited policy weaker than the approved state is refused, the server keeps serving.
    requirePolicyApproved(policy, deps.approvals, 'scheduler');
    const store = await openStore(o.store);
    try {
      await bindStoreForSync(store, o.store, policy, deps.approvals, 'scheduler');
      if (mode === 'cdc') {
        recordCdc(
          await runCdc({
            sourceUrl: source,
            policy,
            store,
            key,
            publication: o.publication,
            rollups: deps.rollups,
            ...(deps.signal ? { signal: deps.signal } : {}),
          }),
          deps,
        );
      } else {
        recordCursor(
          await runSync({
            sourceUrl: source,
            policy,
            store,
            key,
            rollups: deps.rollups,
            ...(deps.signal ? { signal: deps.signal } : {}),
          }),
          deps,
        );
      }
    } finally {
      await store.close();
    }
  };
  return async () => {
    try {
      await once();
    } catch (thrown) {
      // Stopped by the server's stop: that, not how the sync's read happened to end.
      const error = deps.signal?.aborted ? deps.signal.reason : thrown;
      const code = isFvError(error) ? error.code : 'FV_INTERNAL';
      syncMetrics.failed(code, mode);
      out.log(
        'sync',
        { mode, ok: false, code, message: isFvError(error) ? error.message : 'unexpected error' },
        'error',
      );
      throw error;
    }
  };
}

function recordCdc(r: Awaited<ReturnType<typeof runCdc>>, { out, audit, syncMetrics }: SyncScheduleDeps) {
  const ok = r.initial?.ok ?? true;
  syncMetrics.recordChanges(r);
  out.log(
    'sync',
    {
      mode: 'cdc',
      ok,
      durationMs: r.durationMs,
      transactions: r.transactions,
      changes: r.changes,
      tables: r.tables,
      ...(r.initial ? { initial: tableLog(r.initial) } : {}),
    },
    ok ? 'info' : 'error',
  );
  audit.append({
    actor: 'scheduler',
    action: 'sync',
    outcome: ok ? 'ok' : 'failed',
    detail: { mode: 'cdc', transactions: r.transactions, changes: r.changes, lsn: r.lsn, ms: r.durationMs },
  });
}

function recordCursor(r: SyncResult, { out, audit, syncMetrics }: SyncScheduleDeps) {
  syncMetrics.record(r, 'cursor');
  out.log(
    'sync',
    { mode: 'cursor', ok: r.ok, durationMs: r.durationMs, tables: tableLog(r) },
    r.ok ? 'info' : 'error',
  );
  audit.append({
    actor: 'scheduler',
    action: 'sync',
    outcome: r.ok ? 'ok' : 'failed',
    detail: {
      rowsRead: totalRows(r, 'rowsRead'),
      rowsWritten: totalRows(r, 'rowsWritten'),
      ms: r.durationMs,
    },
  });
}

/** Per table, the counts of a sync run for a log line; they add up to the rows read. */
function tableLog(r: SyncResult) {
  return r.tables.map((t) => ({
    table: t.table,
    status: t.status,
    read: t.rowsRead,
    written: t.rowsWritten,
    deleted: t.rowsDeleted,
    quarantined: quarantinedRows(t),
    blocked: t.rowsBlocked,
    erased: t.rowsErased,
    expired: t.rowsExpired,
    ...(t.error ? { code: t.error.code } : {}),
  }));
}

/**
 * Runs `syncOnce` every `every` ms while the metrics wait (a failure is audited, the server keeps
 * serving), then looks for new regressions; resolves to the timer to clear on stop.
 */
export function startSyncSchedule(
  metrics: StoreHandle,
  syncOnce: () => Promise<void>,
  every: number,
  { audit, out }: Pick<SyncScheduleDeps, 'audit' | 'out'>,
  webhook: string | undefined,
): NodeJS.Timeout {
  const watch = regressionWatch(audit, out, webhook);
  // A tick while the last one still runs is skipped: queued behind it, syncs longer than `every`
  // would run back to back and a request (which waits for the sync queued last) would never run.
  let running = false;
  const tick = async () => {
    if (running) return;
    running = true;
    await metrics
      .exclusive(syncOnce)
      .then(() => watch(metrics))
      .catch((error: unknown) => {
        audit.append({
          actor: 'scheduler',
          action: 'sync',
          outcome: 'failed',
          detail: { code: isFvError(error) ? error.code : 'FV_INTERNAL' },
        });
      })
      .finally(() => {
        running = false;
      });
  };
  void watch(metrics);
  return setInterval(() => void tick(), every);
}

/** After each scheduled sync: a new regression is logged, audited and POSTed to the alert webhook. */
function regressionWatch(audit: AuditLog, out: Output, webhook: string | undefined) {
  const watch = new RegressionWatch({
    ...(webhook ? { webhook } : {}),
    onAlert: (a) => {
      audit.append({
        actor: 'scheduler',
        action: 'regression.alert',
        outcome: 'ok',
        detail: {
          period: a.period,
          regressions: a.regressions.length,
          ...(a.webhook ? { webhook: a.webhook } : {}),
        },
      });
      for (const r of a.regressions) {
        out.warn(
          `ALERT what changed: ${r.metric} of ${r.dims.join(' / ')} (${r.by.join(' x ')}), week of ${r.period}`,
        );
      }
    },
  });
  return (source: RegressionSource) =>
    watch.check(source).catch((error: unknown) => {
      audit.append({
        actor: 'scheduler',
        action: 'regression.check',
        outcome: 'failed',
        detail: { code: isFvError(error) ? error.code : 'FV_INTERNAL' },
      });
    });
}
