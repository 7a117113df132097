import { existsSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import {
  type Approvals,
  adminsOf,
  checkStoreBinding,
  guardSeen,
  policyState,
  requireNoLaterState,
  type SecurityState,
  type StoreBinding,
} from '../approvals/index.ts';
import { AuditLog } from '../audit/index.ts';
import { engineFor, openMetricsReader, openStore } from '../engines/index.ts';
import { FvError, isFvError } from '../errors/index.ts';
import {
  credentialDigest,
  principalCredentials,
  principalsAboveViewer,
  ROLES,
  type Role,
} from '../identity/index.ts';
import { type RegressionSource, RegressionWatch } from '../insights/index.ts';
import { PrivacyBudget, readMetricsFile, rollupsOf } from '../metrics/index.ts';
import { isLoopback } from '../net/index.ts';
import { loadKeyFile } from '../privacy/index.ts';
import { ExposureMonitor, type ProbeFinding } from '../probe/index.ts';
import { parseListen, requirePortFree, resolveListen, StoreHandle } from '../server/index.ts';
import { DEFAULT_PUBLICATION } from '../source/index.ts';
import { quarantinedRows, runCdc, runSync, SyncMetrics, type SyncResult, totalRows } from '../sync/index.ts';
import { actingAdmin } from './acting-admin.ts';
import type { Action } from './commands.ts';
import { loadPolicyOrThrow } from './commands.ts';
import {
  AUDIT_FILE,
  DEFAULT_ACCOUNT_ROLE,
  DEFAULT_KEY_FILE,
  DEFAULT_LISTEN,
  DEFAULT_METRICS,
  DEFAULT_POLICY,
  DEFAULT_PROBE_EVERY,
  DEFAULT_STORE,
  STATE_DIR,
  sourceUrl,
  untilStopped,
} from './defaults.ts';
import { optionalText, type RawOptions, textOpt } from './options.ts';
import type { Output } from './output.ts';
import { openServerState, type ServerState, startServer } from './server-root.ts';
import { bindStoreForSync, requirePolicyApproved, stateDirFor, storeBinding } from './state-guard.ts';

export function stateFiles(opts: Record<string, unknown>, binding?: StoreBinding): ServerState {
  const dir =
    opts.stateDir === undefined && opts.store === undefined && !binding
      ? STATE_DIR
      : stateDirFor(opts, binding);
  return openServerState(dir);
}

function readTls(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch {
    throw new FvError('FV_USAGE', `cannot read the TLS ${what} file ${file}`);
  }
}

/** `fleetvault serve`'s options, read once and typed (intervals and the webhook are parsed where used). */
export interface ServeOptions {
  readonly listen: string;
  readonly tls?: { readonly cert: string; readonly key: string };
  readonly store: string;
  readonly policy: string;
  readonly metrics: string;
  readonly keyFile: string;
  readonly probeEvery: string;
  readonly alertWebhook?: string;
  readonly syncEvery?: string;
  readonly syncMode: string;
  readonly publication: string;
  readonly source?: string;
  readonly log: boolean;
}

export function serveOptions(opts: RawOptions): ServeOptions {
  const cert = optionalText(opts.tlsCert);
  const key = optionalText(opts.tlsKey);
  if ((cert === undefined) !== (key === undefined))
    throw new FvError('FV_USAGE', 'TLS needs both --tls-cert and --tls-key');
  const alertWebhook = optionalText(opts.alertWebhook);
  const syncEvery = optionalText(opts.syncEvery);
  const source = optionalText(opts.source);
  return {
    listen: textOpt(opts.listen, DEFAULT_LISTEN),
    ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
    store: textOpt(opts.store, DEFAULT_STORE),
    policy: textOpt(opts.policy, DEFAULT_POLICY),
    metrics: textOpt(opts.metrics, DEFAULT_METRICS),
    keyFile: textOpt(opts.keyFile, DEFAULT_KEY_FILE),
    probeEvery: textOpt(opts.probeEvery, DEFAULT_PROBE_EVERY),
    ...(alertWebhook !== undefined ? { alertWebhook } : {}),
    ...(syncEvery !== undefined ? { syncEvery } : {}),
    syncMode: textOpt(opts.syncMode, 'cursor'),
    publication: textOpt(opts.publication, DEFAULT_PUBLICATION),
    ...(source !== undefined ? { source } : {}),
    log: opts.log === true,
  };
}

export const serveAction: Action = async (out, opts) => {
  const o = serveOptions(opts);
  const tls = o.tls !== undefined;
  // A name is resolved once here; the check and the bind use the same resolved address.
  const addr = await resolveListen(parseListen(o.listen), tls);
  await requirePortFree(addr); // before the first sync, not after it
  const storePath = o.store;
  const binding = await storeBinding(storePath);
  const { tokens, users, audit, approvals, dir } = stateFiles(opts, binding);
  // The store serves only under the state it was synced under, never an older one, and only while
  // the audit log still reaches the heads the state and the store anchored.
  checkStoreBinding(binding, approvals, storePath);
  const probeEvery = parseProbeInterval(o.probeEvery);
  const webhook = o.alertWebhook === undefined ? undefined : parseWebhook(o.alertWebhook);
  const policyFile = o.policy;
  // The two-person rule: nothing here may be weaker than the approved, signed security state.
  approvals.check(
    {
      listeners: isLoopback(addr.host) ? [] : [{ address: `${addr.host}:${addr.port}`, tls }],
      probeSeconds: probeEvery === null ? null : probeEvery / 1000,
      principals: principalsAboveViewer(tokens, users),
      credentials: principalCredentials(tokens, users),
      alertWebhook: webhook ?? null,
      ...(existsSync(policyFile) ? policyState(loadPolicyOrThrow(policyFile)) : {}),
    } satisfies SecurityState,
    'serve',
  );
  const metricsFile = readMetricsFile(o.metrics);
  // A scheduled sync keeps the rollups of the metrics file served, as `sync --metrics` does.
  const rollups = rollupsOf(metricsFile);
  const every = o.syncEvery === undefined ? undefined : parseInterval(o.syncEvery);
  await engineFor(storePath).checkServing(storePath, every !== undefined);
  let syncOnce: (() => Promise<void>) | undefined;
  // The process's own series: scheduled syncs, served at /metrics beside the server's.
  const registry = new Registry();
  const syncMetrics = new SyncMetrics(registry);
  if (every !== undefined) {
    const sourceUrlValue = sourceUrl(o.source);
    const key = loadKeyFile(o.keyFile);
    const mode = o.syncMode;
    if (mode !== 'cursor' && mode !== 'cdc') throw new FvError('FV_USAGE', '--sync-mode is cursor or cdc');
    const cdc = mode === 'cdc';
    if (existsSync(policyFile)) syncMetrics.declare(loadPolicyOrThrow(policyFile).tables.keys(), mode);
    syncOnce = async () => {
      try {
        await scheduledSync();
      } catch (error) {
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
    const scheduledSync = async () => {
      const policy = loadPolicyOrThrow(policyFile);
      // A reload: an edited policy weaker than the approved state is refused, the server keeps serving.
      requirePolicyApproved(policy, approvals, 'scheduler');
      const store = await openStore(storePath);
      try {
        await bindStoreForSync(store, storePath, policy, approvals, 'scheduler');
        if (cdc) {
          const r = await runCdc({
            sourceUrl: sourceUrlValue,
            policy,
            store,
            key,
            publication: o.publication,
            rollups,
          });
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
            detail: {
              mode: 'cdc',
              transactions: r.transactions,
              changes: r.changes,
              lsn: r.lsn,
              ms: r.durationMs,
            },
          });
          return;
        }
        const r = await runSync({ sourceUrl: sourceUrlValue, policy, store, key, rollups });
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
      } finally {
        await store.close();
      }
    };
    await syncOnce();
  }
  // Under differential privacy each principal's spend is kept beside the signed state (mode 0600)
  // and each spend is audited; under k-anonymity the file is never written.
  const budget = new PrivacyBudget(join(dir, 'privacy-budget.json'), (e) =>
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
  const metrics = await StoreHandle.create(() => openMetricsReader(storePath, metricsFile, { budget }));
  const keyFile = o.keyFile;
  let monitor: ExposureMonitor | undefined;
  /** A principal acting above what the signed state gives it: the exposure alarm, with or without the probe. */
  const alarm = (f: ProbeFinding) => {
    if (monitor) monitor.raise(f);
    else {
      out.warn(`ALERT ${f.kind}  ${f.where}  ${f.detail}`);
      audit.append({
        actor: 'server',
        action: 'probe.alert',
        outcome: 'failed',
        detail: { kinds: [f.kind], where: f.where },
      });
    }
  };
  // Principals enrolled before credential digests existed are refused until they re-enrol: say so now.
  for (const p of [...tokens.list(), ...users.list()]) {
    if (('revokedAt' in p && p.revokedAt) || ('disabledAt' in p && p.disabledAt)) continue;
    const kind = 'hash' in p ? 'token' : 'user';
    const principal = { kind, id: p.id, name: p.name, role: p.role } as const;
    if (approvals.needsReenrol(principal))
      out.warn(`FV_PRINCIPAL_REENROL: ${approvals.reenrolError(principal).message}`);
  }
  const principalChecks = (): ProbeFinding[] =>
    approvals
      .unapproved(principalsAboveViewer(tokens, users), principalCredentials(tokens, users))
      .map((p) => ({
        kind: 'unapproved-principal',
        where: p,
        detail:
          'in the tokens or users file with a role the signed security state does not give it (edited by hand); refused',
      }));
  const { app, port } = await startServer({ tokens, users, audit, approvals, dir }, metrics, addr, {
    logger: o.log,
    exposure: () => monitor?.state ?? { checkedAt: null, runs: 0, findings: [] },
    onUnapproved: alarm,
    registry,
    ...(o.tls ? { https: { cert: readTls(o.tls.cert, 'certificate'), key: readTls(o.tls.key, 'key') } } : {}),
  });
  let timer: NodeJS.Timeout | undefined;
  if (every !== undefined && syncOnce) {
    const run = syncOnce;
    const watch = regressionWatch(audit, out, webhook);
    const tick = () =>
      metrics
        .exclusive(run)
        .then(() => watch(metrics))
        .catch((error: unknown) => {
          audit.append({
            actor: 'scheduler',
            action: 'sync',
            outcome: 'failed',
            detail: { code: isFvError(error) ? error.code : 'FV_INTERNAL' },
          });
        });
    void watch(metrics);
    timer = setInterval(() => void tick(), every);
    out.line(`Syncing every ${o.syncEvery}; the dashboard's answers are recomputed after each sync.`);
  }
  const url = `${tls ? 'https' : 'http'}://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${port}`;
  if (probeEvery !== null) {
    monitor = new ExposureMonitor({
      baseUrls: () => ownUrls(addr.host, port, tls),
      routes: () => app.fvRoutes,
      files: [...engineFor(storePath).files(storePath), dir, ...(existsSync(keyFile) ? [keyFile] : [])],
      intervalMs: probeEvery,
      ...(webhook ? { webhook } : {}),
      headers: app.fvProbeHeaders,
      checks: principalChecks,
      // One log line and one audit record per run: clean, or the findings' kinds (never their values).
      onRun: (state, run) => {
        const kinds = [...new Set(state.findings.map((f) => f.kind))];
        out.log(
          'probe',
          {
            ok: state.findings.length === 0,
            durationMs: run.durationMs,
            findings: state.findings.length,
            kinds,
          },
          state.findings.length === 0 ? 'info' : 'error',
        );
        audit.append({
          actor: 'probe',
          action: 'probe.run',
          outcome: state.findings.length > 0 ? 'failed' : 'ok',
          detail: {
            run: state.runs,
            ...(state.findings.length > 0 ? { findings: state.findings.length, kinds } : { clean: true }),
            ...(run.webhook ? { webhook: run.webhook } : {}),
          },
        });
      },
      onAlert: (a) => {
        if (a.findings.length === 0) {
          out.warn('exposure probe: clear, no findings');
          return;
        }
        out.warn(`ALERT exposure probe: ${a.findings.length} finding(s)`);
        for (const f of a.findings) out.warn(`  ${f.kind}  ${f.where}  ${f.detail}`);
      },
    });
    monitor.start();
    void monitor.runOnce();
  }
  const trust = approvals.current();
  const bound = binding;
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
  out.line(`fleetvault dashboard on ${url}/ (API ${url}/api/v1, health ${url}/healthz)`);
  if (tokens.list().length === 0 && users.list().length === 0) {
    out.line(
      'No accounts yet: `fleetvault users add --name you --role admin` or `fleetvault tokens create --role admin`.',
    );
  }
  await untilStopped();
  if (timer) clearInterval(timer);
  await monitor?.stop();
  await app.close();
  await metrics.exclusive(async () => {});
  metrics.close();
  audit.append({ actor: 'cli', action: 'server.stop', outcome: 'ok' });
  return 0;
};

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

/** The server's own base URLs: its host, or for a wildcard address loopback and each interface. */
function ownUrls(host: string, port: number, tls: boolean): string[] {
  const scheme = tls ? 'https' : 'http';
  const wrap = (h: string) => (h.includes(':') ? `[${h}]` : h);
  if (host !== '0.0.0.0' && host !== '::') return [`${scheme}://${wrap(host)}:${port}`];
  const hosts = ['127.0.0.1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (!i.internal && i.family === 'IPv4') hosts.push(i.address);
  }
  return hosts.map((h) => `${scheme}://${wrap(h)}:${port}`);
}

/** `--probe-every`: a duration of at least 1 second, or `off`. */
export function parseProbeInterval(v: string): number | null {
  if (v === 'off') return null;
  const ms = durationMs(v);
  if (ms < 1000) throw new FvError('FV_USAGE', '--probe-every is a duration such as 30s or 5m, or off');
  return ms;
}

/** An alert webhook: https, or plain http to a loopback receiver. */
export function parseWebhook(v: string): string {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw new FvError('FV_USAGE', '--alert-webhook is a URL such as https://alerts.example/hook');
  }
  const h = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(h))) return url.toString();
  throw new FvError('FV_USAGE', '--alert-webhook must be https (plain http only to a loopback receiver)');
}

/** `30s`, `15m`, `1h` as milliseconds; 0 for anything else. */
function durationMs(v: string): number {
  const m = /^(\d{1,6})(s|m|h)$/.exec(v);
  return m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'] : 0;
}

/** `--sync-every`: a duration of at least 10 seconds. */
function parseInterval(v: string): number {
  const ms = durationMs(v);
  if (ms < 10_000)
    throw new FvError('FV_USAGE', '--sync-every is a duration of at least 10s, such as 30s, 15m or 1h');
  return ms;
}

function parseDays(v: unknown): number | null {
  if (v === undefined || v === 'never') return v === 'never' ? null : 30;
  const m = /^(\d{1,4})d$/.exec(String(v));
  if (!m || Number(m[1]) < 1)
    throw new FvError('FV_USAGE', '--expires is a number of days such as 30d, or never');
  return Number(m[1]);
}

/** `users add` and `tokens create`: the account's options, read once and typed. */
export interface AccountOptions {
  readonly role: Role;
  readonly name?: string;
  readonly approval?: string;
}

export function accountOptions(opts: RawOptions): AccountOptions {
  const role = textOpt(opts.role, DEFAULT_ACCOUNT_ROLE);
  if (!ROLES.includes(role as Role)) throw new FvError('FV_USAGE', `--role is one of ${ROLES.join(', ')}`);
  const name = optionalText(opts.name);
  const approval = optionalText(opts.approval);
  return {
    role: role as Role,
    ...(name !== undefined ? { name } : {}),
    ...(approval !== undefined ? { approval } : {}),
  };
}

export const tokensCreateAction: Action = async (out, opts) => {
  const { role, name = role, approval } = accountOptions(opts);
  const { tokens, users, audit, approvals } = stateFiles(opts);
  const grant = approvals.authorizePrincipal({ type: 'token', role, name }, approval);
  const { token, record } = tokens.create({ role, name, days: parseDays(opts.expires) });
  approvals.enroll(
    `token:${record.id}`,
    record.role,
    grant,
    'cli',
    token,
    principalsAboveViewer(tokens, users),
    credentialDigest('token', record.name, record.hash),
  );
  audit.append({
    actor: 'cli',
    action: 'token.create',
    outcome: 'ok',
    detail: { id: record.id, role: record.role, expiresAt: record.expiresAt },
  });
  if (out.json) out.data({ token, id: record.id, role: record.role, expiresAt: record.expiresAt });
  out.line(
    `Token ${record.id} (${record.role}, expires ${record.expiresAt ?? 'never'}). Shown once; store it now:`,
  );
  out.line(token);
  return 0;
};

export const tokensListAction: Action = async (out, opts) => {
  const { tokens } = stateFiles(opts);
  const list = tokens.list().map(({ hash: _hash, ...t }) => t);
  const state = (t: (typeof list)[number]) =>
    t.revokedAt ? 'revoked' : t.expiresAt && Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active';
  if (out.json) out.data({ tokens: list.map((t) => ({ ...t, state: state(t) })) });
  if (out.csv) {
    out.table(
      ['id', 'role', 'state', 'name', 'expiresAt'],
      list.map((t) => [t.id, t.role, state(t), t.name, t.expiresAt]),
    );
    return 0;
  }
  if (list.length === 0)
    out.line('No tokens yet: `fleetvault tokens create --role viewer --name <what it is for>` makes one.');
  for (const t of list) {
    out.line(
      `${t.id}  ${t.role.padEnd(7)}  ${state(t).padEnd(7)}  ${t.name}  expires ${t.expiresAt ?? 'never'}`,
    );
  }
  return 0;
};

/**
 * A revoked token or disabled account above viewer leaves the signed state too: an admin signs a
 * version without it (one signature: removing is stronger), before its file entry changes. Put
 * back by hand later, it is an unapproved principal.
 */
async function removeSigned(
  out: Output,
  files: ReturnType<typeof stateFiles>,
  opts: Record<string, unknown>,
  id: string,
): Promise<void> {
  if (files.approvals.current()?.state.principals?.[id] === undefined) return;
  const doc = files.approvals.remove(id, await actingAdmin(opts, files));
  if (doc && adminsOf(doc.state).length < 2 && files.approvals.everTwoAdmins())
    out.warn(
      `${id} removed; one admin is left, so nothing can be weakened or enrolled above viewer any more (FV_QUORUM_LOST)`,
    );
}

export const tokensRevokeAction: Action = async (out, opts, args) => {
  const files = stateFiles(opts);
  const { tokens, audit } = files;
  const id = String(args[0] ?? '');
  if (tokens.list().some((t) => t.id === id)) await removeSigned(out, files, opts, `token:${id}`);
  const r = tokens.revoke(id);
  audit.append({ actor: 'cli', action: 'token.revoke', outcome: 'ok', detail: { id: r.id } });
  if (out.json) out.data({ id: r.id, revoked: true });
  out.line(`Token ${r.id} revoked.`);
  return 0;
};

export const auditVerifyAction: Action = async (out, opts) => {
  const store = optionalText(opts.store);
  const binding = store === undefined ? undefined : await storeBinding(store);
  const { dir, approvals } = stateFiles(opts, binding);
  const file = textOpt(opts.auditLog, join(dir, AUDIT_FILE));
  // The chain, and that it still reaches the heads the signed state and the store anchored:
  // a log cut above its last anchor, deleted or replaced is caught, not reported intact.
  const doc = approvals.current();
  const lines = AuditLog.lines(file);
  const verdict = AuditLog.verifyAnchored(
    file,
    [
      ...(doc ? [{ what: `version ${doc.version} of the signed security state`, ...doc.audit }] : []),
      ...(binding ? [{ what: `the store ${store}`, ...binding.audit }] : []),
      ...AuditLog.headAnchors(file),
    ],
    lines,
  );
  // An intact chain that remembers a newer state than the folder holds is a rollback.
  // Only the state folder's own log speaks for its state (another log given with --audit-log does not).
  if (verdict.ok && resolve(file) === resolve(approvals.audit.path)) {
    requireNoLaterState(approvals, file, lines);
    guardSeen(approvals);
  }
  if (out.json) out.data(verdict);
  if (verdict.ok) out.line(`${file}: chain intact, ${verdict.records} records`);
  else out.line(`${file}: chain broken at line ${verdict.firstBad?.line}: ${verdict.firstBad?.reason}`);
  return verdict.ok ? 0 : 1;
};

export const usersAddAction: Action = async (out, opts) => {
  const { role, name = '', approval } = accountOptions(opts);
  const files = stateFiles(opts);
  const { users, audit, approvals } = files;
  const grant = approvals.authorizePrincipal({ type: 'user', role, name }, approval);
  const { record, password } = await users.add(name, role);
  enrollUser(files, record, grant, password);
  audit.append({
    actor: 'cli',
    action: 'user.add',
    outcome: 'ok',
    detail: { id: record.id, role: record.role },
  });
  if (out.json) out.data({ name: record.name, role: record.role, password });
  out.line(
    `User ${record.name} (${record.role}) created. Initial password, shown once (store it now): ${password}`,
  );
  return 0;
};

/** An account's key pair sealed under its password, and its role and credential in the signed state. */
function enrollUser(
  { approvals, tokens, users }: ReturnType<typeof stateFiles>,
  record: { id: string; name: string; role: Role; passwordHash: string },
  grant: ReturnType<Approvals['authorizePrincipal']>,
  password: string,
): void {
  approvals.enroll(
    `user:${record.id}`,
    record.role,
    grant,
    'cli',
    password,
    principalsAboveViewer(tokens, users),
    credentialDigest('user', record.name, record.passwordHash),
  );
}

export const usersDisableAction: Action = async (out, opts) => {
  const files = stateFiles(opts);
  const { users, audit } = files;
  const name = textOpt(opts.name, '');
  // --user names the acting admin here; the account disabled is --name.
  await removeSigned(out, files, opts, `user:${users.get(name).id}`);
  const record = users.disable(name);
  audit.append({ actor: 'cli', action: 'user.disable', outcome: 'ok', detail: { id: record.id } });
  if (out.json) out.data({ name: record.name, role: record.role, disabledAt: record.disabledAt });
  out.line(`User ${record.name} disabled: it cannot sign in, and its sessions end on their next request.`);
  return 0;
};

/**
 * A new one-time password. New credentials for an account above viewer are as strong a grant as
 * the account itself, so they take the same approved proposal (`approvals propose --new-user NAME
 * --role ROLE`) the account took; a viewer's are reset at once.
 */
export const usersResetPasswordAction: Action = async (out, opts) => {
  const files = stateFiles(opts);
  const { users, audit, approvals } = files;
  const existing = users.get(textOpt(opts.name, ''));
  let grant: ReturnType<typeof approvals.authorizePrincipal>;
  try {
    grant = approvals.authorizePrincipal(
      { type: 'user', role: existing.role, name: existing.name },
      optionalText(opts.approval),
    );
  } catch (error) {
    if (!isFvError(error) || error.code !== 'FV_APPROVAL_REQUIRED') throw error;
    throw new FvError(
      'FV_APPROVAL_REQUIRED',
      `a new password for ${existing.role} ${existing.name} needs a second admin's approval: propose it with \`fleetvault approvals propose --new-user ${existing.name} --role ${existing.role} --reason "password reset"\`, then run \`fleetvault users reset-password --name ${existing.name} --approval <id>\` once approved`,
    );
  }
  const { record, password } = await users.resetPassword(existing.name, existing.role);
  // Its signing key was sealed under the old password: a new key pair under the new one, enrolled
  // in the signed state with the second admin's grant, as when the account was made.
  enrollUser(files, record, grant, password);
  audit.append({
    actor: 'cli',
    action: 'user.reset_password',
    outcome: 'ok',
    detail: { id: record.id, role: record.role, ...(grant.approval ? { approval: grant.approval } : {}) },
  });
  if (out.json)
    out.data({ name: record.name, role: record.role, password, disabled: record.disabledAt !== null });
  out.line(
    `New password for ${record.name} (${record.role}), shown once (store it now): ${password}${record.disabledAt ? ' (the account stays disabled)' : ''}`,
  );
  return 0;
};

export const usersListAction: Action = async (out, opts) => {
  const { users } = stateFiles(opts);
  const list = users.list().map(({ passwordHash: _h, ...u }) => u);
  if (out.json) out.data({ users: list });
  if (out.csv) {
    out.table(
      ['id', 'role', 'name', 'createdAt', 'disabledAt'],
      list.map((u) => [u.id, u.role, u.name, u.createdAt, u.disabledAt]),
    );
    return 0;
  }
  if (list.length === 0)
    out.line('No accounts yet: `fleetvault users add --name <you> --role admin` makes the first.');
  for (const u of list)
    out.line(`${u.id}  ${u.role.padEnd(7)}  ${u.name}${u.disabledAt ? '  (disabled)' : ''}`);
  return 0;
};
