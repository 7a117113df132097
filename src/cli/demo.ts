import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { Approvals } from '../approvals/index.ts';
import { AuditLog } from '../audit/index.ts';
import { MetricsReader, readMetricsFile } from '../metrics/index.ts';
import { readPolicyFile } from '../policy/index.ts';
import { createKeyFile, loadKeyFile } from '../privacy/index.ts';
import {
  buildServer,
  parseListen,
  principalsAboveViewer,
  requireSafeListen,
  TokenStore,
  UserStore,
} from '../server/index.ts';
import { pgliteLoader, simulate } from '../sim/index.ts';
import { DuckDbStore } from '../store/index.ts';
import { runSync } from '../sync/index.ts';
import { type Action, requireApprovedPolicy } from './commands.ts';
import { ensurePrivateDir, packageRoot, untilStopped } from './defaults.ts';
import { printAnswer } from './metric-report.ts';
import type { Output } from './output.ts';
import { printSyncReport } from './sync-report.ts';

export const DEMO_DIR = '.fleetvault-demo';

/**
 * The whole story on embedded defaults: an embedded production PostgreSQL (PGlite, served over the
 * wire protocol so the same reader serves it), a simulated fleet, and a sync into a local DuckDB
 * file. A second run reuses what the first built.
 */
export const demoAction: Action = async (out, opts) => {
  const dir = String(opts.dir ?? DEMO_DIR);
  ensurePrivateDir(dir);
  const dataDir = join(dir, 'production');
  const keyFile = join(dir, 'master.key');
  const storePath = join(dir, 'store.duckdb');
  const policyFile = join(packageRoot(), 'examples', 'demo', 'fleetvault.policy.yaml');
  const users = Number(opts.users ?? 20_000);
  const days = Number(opts.days ?? 30);

  out.line(`fleetvault demo: state in ${dir}/`);
  const fresh = !existsSync(dataDir);
  const t0 = Date.now();
  const db = await PGlite.create(dataDir);
  out.line(
    `  embedded production PostgreSQL (PGlite) ${fresh ? 'created' : 'reopened'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0 });
  try {
    const has = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_class WHERE relname = 'connection_events'",
    );
    if ((has.rows[0]?.n ?? 0) === 0) {
      out.line(`  simulating ${users.toLocaleString('en-US')} users over ${days} days …`);
      const sim = await simulate(pgliteLoader(db), {
        users,
        days,
        seed: 42,
        onProgress: (table, n) => out.line(`    ${table.padEnd(20)} ${n.toLocaleString('en-US')} rows`),
      });
      writeFileSync(join(dir, 'canaries.json'), JSON.stringify(sim.canaries, null, 2), { mode: 0o600 });
      out.line(`  simulated in ${(sim.durationMs / 1000).toFixed(1)} s`);
    } else {
      out.line('  reusing the simulated production data from the first run');
    }
    await server.start();
    const conn = server.getServerConn();
    const url = `postgres://postgres@${conn}/postgres`;
    if (!existsSync(keyFile)) {
      createKeyFile(keyFile);
      out.line(`  created key file ${keyFile} (mode 0600)`);
    }
    const key = loadKeyFile(keyFile);
    const { policy } = readPolicyFile(policyFile);
    if (!policy) throw new Error('the shipped demo policy does not load');
    requireApprovedPolicy(policy, { stateDir: dir });
    const store = await DuckDbStore.open(storePath);
    try {
      const result = await runSync({
        sourceUrl: url,
        policy,
        store,
        key,
        onProgress: (p) => out.progress(p.table, p.rowsRead, p.estimate),
      });
      out.clearProgress();
      out.line('');
      printSyncReport(out, result);
      out.line('');
      out.line(`Store:  ${storePath} (DuckDB, mode 0600; nothing personal by construction)`);
      out.line(`Key:    ${keyFile} (mode 0600; never enters the store)`);
      out.line(`Policy: ${policyFile}`);
      out.line(`Look inside: npx fleetvault sql --store ${storePath} "SELECT * FROM devices LIMIT 5"`);
      if (!result.ok) return 1;
    } finally {
      await store.close();
    }
    const metricsFile = join(packageRoot(), 'examples', 'demo', 'fleetvault.metrics.yaml');
    await printDemoMetrics(out, storePath, metricsFile);
    if (opts.serve === false) return 0;
    // The embedded production database is no longer needed while the dashboard runs.
    await server.stop().catch(() => {});
    await db.close().catch(() => {});
    return await serveDashboard(out, {
      dir,
      storePath,
      metricsFile,
      listen: String(opts.listen ?? '127.0.0.1:8787'),
    });
  } finally {
    await server.stop().catch(() => {});
    await db.close().catch(() => {});
  }
};

/** The dashboard over the demo store, with a fresh admin password printed once. */
async function serveDashboard(
  out: Output,
  o: { dir: string; storePath: string; metricsFile: string; listen: string },
): Promise<number> {
  const addr = parseListen(o.listen);
  requireSafeListen(addr, false);
  const users = new UserStore(join(o.dir, 'users.json'));
  const { password } = await users.resetPassword('admin', 'admin');
  const audit = new AuditLog(join(o.dir, 'audit.jsonl'));
  const tokens = new TokenStore(join(o.dir, 'tokens.json'));
  const approvals = new Approvals(o.dir, audit);
  approvals.check({ listeners: [], principals: principalsAboveViewer(tokens, users) }, 'demo');
  const metrics = await MetricsReader.open(o.storePath, readMetricsFile(o.metricsFile));
  const app = await buildServer({
    metrics,
    tokens,
    users,
    audit,
    approvals,
    status: () => metrics.storeStatus(),
    webDir: join(packageRoot(), 'dist', 'web'),
  });
  await app.listen({ host: addr.host, port: addr.port });
  audit.append({
    actor: 'cli',
    action: 'server.start',
    outcome: 'ok',
    detail: { listen: o.listen, demo: true },
  });
  const port = (app.server.address() as { port: number }).port;
  out.line('');
  out.line(`Dashboard: http://${addr.host}:${port}/`);
  out.line(`Sign in as admin with the one-time password ${password} (a new one is made on every start).`);
  out.line('Press Ctrl+C to stop.');
  await untilStopped();
  await app.close();
  metrics.close();
  return 0;
}

/** The key metrics over the simulated fleet, k-anonymous like every answer. */
async function printDemoMetrics(out: Output, storePath: string, metricsFile: string): Promise<void> {
  const reader = await MetricsReader.open(storePath, readMetricsFile(metricsFile));
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
