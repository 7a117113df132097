import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { engineFor, openMetricsReader } from '../engines/index.ts';
import { FvError } from '../errors/index.ts';
import { principalCredentials, principalsAboveViewer } from '../identity/index.ts';
import { readMetricsFile, rollupsOf } from '../metrics/index.ts';
import { type Policy, readPolicyFile } from '../policy/index.ts';
import { createKeyFile, loadKeyFile, type MasterKey } from '../privacy/index.ts';
import { parseListen, requirePortFree, resolveListen } from '../server/index.ts';
import { pgliteLoader, simulate } from '../sim/index.ts';
import { runSync } from '../sync/index.ts';
import { type Action, requireApprovedPolicy } from './commands.ts';
import {
  DEFAULT_LISTEN,
  DEFAULT_METRICS,
  DEFAULT_POLICY,
  DEMO_DAYS,
  DEMO_DIR,
  DEMO_USERS,
  demoFile,
  ensurePrivateDir,
  KEY_FILE,
  STORE_FILE,
  untilStopped,
  webDir,
} from './defaults.ts';
import { printAnswer } from './metric-report.ts';
import { intOpt, type RawOptions, textOpt } from './options.ts';
import type { Output } from './output.ts';
import { openServerState, startServer } from './server-root.ts';
import { printSyncReport } from './sync-report.ts';

/**
 * The whole story on embedded defaults: an embedded production PostgreSQL (PGlite, served over the
 * wire protocol so the same reader serves it), a simulated fleet, and a sync into a local DuckDB
 * file. A second run reuses what the first built.
 */
/** `fleetvault demo`'s options, read once and typed. */
export interface DemoOptions {
  readonly dir: string;
  readonly users: number;
  readonly days: number;
  readonly serve: boolean;
  readonly resync: boolean;
  readonly listen: string;
}

export function demoOptions(opts: RawOptions): DemoOptions {
  return {
    dir: textOpt(opts.dir, DEMO_DIR),
    users: intOpt(opts.users, 'users', DEMO_USERS),
    days: intOpt(opts.days, 'days', DEMO_DAYS),
    serve: opts.serve !== false,
    resync: opts.resync === true,
    listen: textOpt(opts.listen, DEFAULT_LISTEN),
  };
}

export const demoAction: Action = async (out, opts) => {
  const { dir, users, days, serve, resync, listen } = demoOptions(opts);
  const dataDir = join(dir, 'production');
  const keyFile = join(dir, KEY_FILE);
  const storePath = join(dir, STORE_FILE);
  const policyFile = demoFile(DEFAULT_POLICY);
  const metricsFile = demoFile(DEFAULT_METRICS);
  const dashboard = webDir();

  // Every port and path this run needs is checked before any work, so a busy port or an
  // unwritable folder fails in a second instead of after the simulation and the sync.
  const addr = await resolveListen(parseListen(listen), false);
  if (serve) await requirePortFree(addr);
  requireWritableDir(dir, '--dir');
  for (const f of [policyFile, metricsFile]) {
    if (!existsSync(f)) throw new FvError('FV_NOT_BUILT', `the shipped demo file ${f} is missing`);
  }
  if (serve && !existsSync(join(dashboard, 'index.html')))
    throw new FvError('FV_NOT_BUILT', `the dashboard is not built (${dashboard} has no index.html)`);

  out.line(`fleetvault demo: state in ${dir}/`);
  const { policy } = readPolicyFile(policyFile);
  if (!policy) throw new FvError('FV_NOT_BUILT', `the shipped demo policy ${policyFile} does not load`);
  requireApprovedPolicy(policy, { stateDir: dir });
  if (!existsSync(keyFile)) {
    createKeyFile(keyFile);
    out.line(`  created key file ${keyFile} (mode 0600)`);
  }
  const key = loadKeyFile(keyFile);
  const stamp = syncStamp(policyFile, key.fingerprint);
  const synced = !resync && existsSync(dataDir) && existsSync(storePath) && readStamp(dir) === stamp;
  if (synced) {
    // Only the demo writes to its embedded production database, and it has not run since the last
    // complete sync with this policy and key: there is nothing to copy, so nothing is opened.
    out.line('  nothing to copy: the embedded production database is unchanged since the last complete sync');
    out.line('  (only the demo writes to it; `npm start -- --resync` syncs it again anyway)');
  } else {
    const ok = await simulateAndSync(out, { dir, dataDir, storePath, policy, key, users, days });
    if (!ok) return 1;
    writeFileSync(join(dir, SYNC_STAMP), `${stamp}\n`, { mode: 0o600 });
  }
  out.line('');
  out.line(`Store:  ${storePath} (DuckDB, mode 0600; nothing personal by construction)`);
  out.line(`Key:    ${keyFile} (mode 0600; never enters the store)`);
  out.line(`Policy: ${policyFile}`);
  out.line(
    dir === DEMO_DIR
      ? 'Look inside: npx fleetvault sql "SELECT * FROM devices LIMIT 5" (sql and metrics find the demo here)'
      : `Look inside: npx fleetvault sql --store ${storePath} "SELECT * FROM devices LIMIT 5"`,
  );
  await printDemoMetrics(out, storePath, metricsFile);
  if (!serve) return 0;
  return await serveDashboard(out, { dir, storePath, metricsFile, listen });
};

/** The file that records the policy and key of the last complete sync of the demo. */
const SYNC_STAMP = 'last-sync';

function syncStamp(policyFile: string, fingerprint: string): string {
  return createHash('sha256').update(readFileSync(policyFile)).update('\0').update(fingerprint).digest('hex');
}

function readStamp(dir: string): string | undefined {
  try {
    return readFileSync(join(dir, SYNC_STAMP), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The folder exists (created 0700 when not) and this process can write into it. */
export function requireWritableDir(dir: string, flag: string): void {
  try {
    ensurePrivateDir(dir);
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'error';
    throw new FvError(
      'FV_STATE_DIR',
      `cannot write the state folder ${dir} (${code}); set another with ${flag}`,
    );
  }
}

/**
 * The embedded production PostgreSQL (PGlite, served over the wire protocol so the same reader
 * serves it), simulated on the first run, then one sync into the demo store. False when a table
 * was not copied.
 */
async function simulateAndSync(
  out: Output,
  o: {
    dir: string;
    dataDir: string;
    storePath: string;
    policy: Policy;
    key: MasterKey;
    users: number;
    days: number;
  },
): Promise<boolean> {
  const fresh = !existsSync(o.dataDir);
  out.line(`  ${fresh ? 'creating' : 'opening'} the embedded production PostgreSQL (PGlite; 5 to 15 s) …`);
  const t0 = Date.now();
  const db = await PGlite.create(o.dataDir);
  out.line(`  embedded production PostgreSQL ${fresh ? 'created' : 'reopened'} in ${secs(t0)} s`);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  try {
    const has = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_class WHERE relname = 'connection_events'",
    );
    if ((has.rows[0]?.n ?? 0) === 0) {
      out.line(`  simulating ${o.users.toLocaleString('en-US')} users over ${o.days} days …`);
      const sim = await simulate(pgliteLoader(db), {
        users: o.users,
        days: o.days,
        seed: 42,
        onRows: (table, n) => out.progress(`simulating ${table}`, n, 0),
        onProgress: (table, n) => {
          out.clearProgress();
          out.line(`    ${table.padEnd(20)} ${n.toLocaleString('en-US')} rows`);
        },
      });
      writeFileSync(join(o.dir, 'canaries.json'), JSON.stringify(sim.canaries, null, 2), { mode: 0o600 });
      out.line(`  simulated in ${(sim.durationMs / 1000).toFixed(1)} s`);
    } else {
      out.line('  reusing the simulated production data from the first run');
    }
    await server.start();
    const url = `postgres://postgres@${server.getServerConn()}/postgres`;
    const store = await engineFor(o.storePath).openStore(o.storePath);
    try {
      out.line('  syncing through the policy …');
      const result = await runSync({
        sourceUrl: url,
        policy: o.policy,
        store,
        key: o.key,
        rollups: rollupsOf(readMetricsFile(demoFile(DEFAULT_METRICS))),
        onProgress: (p) => out.progress(p.table, p.rowsRead, p.estimate),
      });
      out.clearProgress();
      out.line('');
      printSyncReport(out, result);
      return result.ok;
    } finally {
      await store.close();
    }
  } finally {
    // The embedded production database is not needed while the dashboard runs.
    await server.stop().catch(() => {});
    await db.close().catch(() => {});
  }
}

function secs(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

/** The dashboard over the demo store, with a fresh admin password printed once. */
async function serveDashboard(
  out: Output,
  o: { dir: string; storePath: string; metricsFile: string; listen: string },
): Promise<number> {
  const addr = await resolveListen(parseListen(o.listen), false);
  const state = openServerState(o.dir);
  const { users, tokens, audit, approvals } = state;
  const { password } = await users.resetPassword('admin', 'admin');
  approvals.check(
    {
      listeners: [],
      principals: principalsAboveViewer(tokens, users),
      credentials: principalCredentials(tokens, users),
    },
    'demo',
  );
  const metrics = await openMetricsReader(o.storePath, readMetricsFile(o.metricsFile));
  const { app, port } = await startServer(state, metrics, addr);
  audit.append({
    actor: 'cli',
    action: 'server.start',
    outcome: 'ok',
    detail: { listen: o.listen, demo: true },
  });
  out.line('');
  out.line(`Dashboard: http://${addr.host}:${port}/`);
  out.line(`Sign in as admin with the one-time password ${password} (a new one is made on every start).`);
  out.line(`Ready ${process.uptime().toFixed(1)} s after start. Press Ctrl+C to stop.`);
  await untilStopped();
  await app.close();
  metrics.close();
  return 0;
}

/** The key metrics over the simulated fleet, k-anonymous like every answer. */
async function printDemoMetrics(out: Output, storePath: string, metricsFile: string): Promise<void> {
  const reader = await openMetricsReader(storePath, readMetricsFile(metricsFile));
  try {
    out.line('');
    out.line(`Fleet metrics (k = ${reader.k}: groups of fewer than ${reader.k} users are suppressed)`);
    const queries = [
      {
        metric: 'activations',
        grain: 'week',
        by: ['product_model'],
        title: 'Activations by week and product',
      },
      {
        metric: 'connection_failure_rate',
        grain: 'week',
        by: ['devices.product_model', 'devices.firmware_version'],
        title: 'Connection failure rate by week, product and firmware (note cam-outdoor-3 on 3.2.0)',
      },
      {
        metric: 'time_to_first_connection',
        grain: 'month',
        by: ['product_model'],
        title: 'Time from activation to first successful connection (p50, p90) by month and product',
      },
      {
        metric: 'integration_adoption',
        grain: 'month',
        by: ['provider'],
        title: 'Users linking an assistant, by month',
      },
    ] as const;
    for (const q of queries) {
      const latest = await reader.query({ metric: q.metric, grain: q.grain, by: q.by });
      const periods = [...new Set(latest.groups.map((g) => g.period))].slice(q.grain === 'week' ? -4 : -1);
      const answer = { ...latest, groups: latest.groups.filter((g) => periods.includes(g.period)) };
      out.line('');
      printAnswer(out, answer, { title: q.title, limit: 48 });
    }
  } finally {
    reader.close();
  }
}
