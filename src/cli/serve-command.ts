import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { checkStoreBinding, policyState, type SecurityState, type StoreBinding } from '../approvals/index.ts';
import type { AuditLog } from '../audit/index.ts';
import { engineFor, openMetricsReader } from '../engines/index.ts';
import { principalCredentials, principalsAboveViewer } from '../identity/index.ts';
import { PrivacyBudget, readMetricsFile, rollupsOf } from '../metrics/index.ts';
import { isLoopback } from '../net/index.ts';
import {
  type ListenAddress,
  parseListen,
  requirePortFree,
  resolveListen,
  StoreHandle,
} from '../server/index.ts';
import { checkSyncSettings, SyncMetrics } from '../sync/index.ts';
import type { Action } from './commands.ts';
import { loadPolicyOrThrow } from './commands.ts';
import { aborted, SYNC_KEPT, stopSignal } from './defaults.ts';
import type { Output } from './output.ts';
import { scheduledSync, startSyncSchedule } from './scheduled-sync.ts';
import {
  parseProbeInterval,
  parseSyncInterval,
  parseWebhook,
  readTls,
  type ServeOptions,
  serveOptions,
} from './serve-options.ts';
import { ServeExposure } from './serve-probe.ts';
import { stateFiles } from './server-commands.ts';
import { type ServerState, startServer } from './server-root.ts';
import { storeBinding } from './state-guard.ts';

/**
 * `fleetvault serve`: checks the listener, the store and the options against the signed security
 * state, syncs once when scheduled, then serves the store's metrics (server-root.ts) with the
 * exposure probe and the sync schedule beside it until stopped.
 */
export const serveAction: Action = async (out, opts) => {
  const o = serveOptions(opts);
  const tls = o.tls !== undefined;
  // A name is resolved once here; the check and the bind use the same resolved address.
  const addr = await resolveListen(parseListen(o.listen), tls);
  await requirePortFree(addr); // before the first sync, not after it
  const binding = await storeBinding(o.store);
  const state = stateFiles(opts, binding);
  const { audit, approvals } = state;
  // The store serves only under the state it was synced under, never an older one, and only while
  // the audit log still reaches the heads the state and the store anchored.
  checkStoreBinding(binding, approvals, o.store);
  const probeEvery = parseProbeInterval(o.probeEvery);
  const webhook = o.alertWebhook === undefined ? undefined : parseWebhook(o.alertWebhook);
  // The two-person rule: nothing here may be weaker than the approved, signed security state.
  approvals.check(servedSecurityState(state, o, addr, probeEvery, webhook), 'serve');
  const metricsFile = readMetricsFile(o.metrics);
  const every = o.syncEvery === undefined ? undefined : parseSyncInterval(o.syncEvery);
  // A scheduled sync's settings are checked now, not at its first run with the server up.
  if (every !== undefined) checkSyncSettings();
  await engineFor(o.store).checkServing(o.store, every !== undefined);
  // The process's own series: scheduled syncs, served at /metrics beside the server's.
  const registry = new Registry();
  const syncMetrics = new SyncMetrics(registry);
  // From here Ctrl+C or SIGTERM stops the server, and a sync in progress at its next batch
  // (its staging folder removed): the first sync's, before the server listens, too.
  const stop = stopSignal('serve', `the server closes; a sync in progress stops, ${SYNC_KEPT}`);
  const syncOnce =
    every === undefined
      ? undefined
      : scheduledSync(o, {
          out,
          audit,
          approvals,
          syncMetrics,
          rollups: rollupsOf(metricsFile),
          signal: stop.signal,
        });
  try {
    await syncOnce?.();
  } catch (error) {
    stop.release();
    throw error;
  }
  const budget = privacyBudget(state.dir, audit);
  const metrics = await StoreHandle.create(() => openMetricsReader(o.store, metricsFile, { budget }));
  const exposure = new ServeExposure(state, out);
  exposure.warnReenrol();
  const { app, port } = await startServer(state, metrics, addr, {
    logger: o.log,
    exposure: exposure.report,
    onUnapproved: exposure.alarm,
    registry,
    ...(o.tls ? { https: readTls(o.tls) } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  if (every !== undefined && syncOnce) {
    timer = startSyncSchedule(metrics, syncOnce, every, { audit, out }, webhook);
    out.line(`Syncing every ${o.syncEvery}; the dashboard's answers are recomputed after each sync.`);
  }
  if (probeEvery !== null) {
    const files = { store: engineFor(o.store).files(o.store), keyFile: o.keyFile };
    exposure.start({ addr, port, tls, app }, files, probeEvery, webhook);
  }
  announce(out, state, { addr, port, tls }, binding);
  await aborted(stop.signal);
  if (timer) clearInterval(timer);
  await exposure.stop();
  await app.close();
  await metrics.exclusive(async () => {});
  metrics.close();
  audit.append({ actor: 'cli', action: 'server.stop', outcome: 'ok' });
  return 0;
};

/** What this serve would run with, as the signed security state describes it. */
function servedSecurityState(
  { tokens, users }: ServerState,
  o: ServeOptions,
  addr: ListenAddress,
  probeEvery: number | null,
  webhook: string | undefined,
): SecurityState {
  return {
    listeners: isLoopback(addr.host)
      ? []
      : [{ address: `${addr.host}:${addr.port}`, tls: o.tls !== undefined }],
    probeSeconds: probeEvery === null ? null : probeEvery / 1000,
    principals: principalsAboveViewer(tokens, users),
    credentials: principalCredentials(tokens, users),
    alertWebhook: webhook ?? null,
    ...(existsSync(o.policy) ? policyState(loadPolicyOrThrow(o.policy)) : {}),
  };
}

/**
 * Under differential privacy each principal's spend is kept beside the signed state (mode 0600)
 * and each spend is audited; under k-anonymity the file is never written.
 */
function privacyBudget(dir: string, audit: AuditLog): PrivacyBudget {
  return new PrivacyBudget(join(dir, 'privacy-budget.json'), (e) =>
    audit.append({
      actor: e.principal,
      action: 'privacy.spend',
      outcome: 'ok',
      detail: {
        metric: e.metric,
        query: e.query,
        epsilon: e.epsilon,
        remaining: e.remaining,
        window: e.window,
      },
    }),
  );
}

/** The start, audited (state and store ids) and said: the signed state, the address, a first-run hint. */
function announce(
  out: Output,
  { audit, approvals, tokens, users }: ServerState,
  { addr, port, tls }: { addr: ListenAddress; port: number; tls: boolean },
  bound: StoreBinding | undefined,
): void {
  const trust = approvals.current();
  audit.append({
    actor: 'cli',
    action: 'server.start',
    outcome: 'ok',
    detail: {
      listen: `${addr.host}:${addr.port}`,
      tls,
      // Starting over (a new state, a new store) shows here as new ids: watch them.
      ...(trust ? { stateId: trust.stateId, stateVersion: trust.version } : {}),
      ...(bound ? { storeId: bound.storeId } : {}),
    },
  });
  if (trust)
    out.line(
      `Security state ${trust.stateId} version ${trust.version} (signed by ${trust.signatures.map((x) => x.by).join(', ')})${bound ? `; store ${bound.storeId}` : ''}.`,
    );
  else
    out.warn(
      'No signed security state: roles come from the tokens and users files (enroll admins to sign one).',
    );
  const url = `${tls ? 'https' : 'http'}://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${port}`;
  out.line(`fleetvault dashboard on ${url}/ (API ${url}/api/v1, health ${url}/healthz)`);
  if (tokens.list().length === 0 && users.list().length === 0) {
    out.line(
      'No accounts yet: `fleetvault users add --name you --role admin` or `fleetvault tokens create --role admin`.',
    );
  }
}
