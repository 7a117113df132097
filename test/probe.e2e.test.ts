// End to end (slow): the exposure probe against real servers over loopback, from the CLI and from
// inside a server, with a deliberately exposed data route, a webhook receiver and a browser.
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetricsReader } from '../src/engines/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import { type MetricsReader, readMetricsFile } from '../src/metrics/index.ts';
import { ExposureMonitor, KNOWN_ROUTES, probeDeployment } from '../src/probe/index.ts';
import { buildServer } from '../src/server/index.ts';
import { auditWithApprovals } from './helpers/approvals.ts';
import { runCli } from './helpers/cli.ts';
import type { TestDatabase } from './helpers/pg.ts';
import { DEMO_METRICS, syncedStore } from './helpers/synced-store.ts';
import { startWebhookReceiver } from './helpers/webhook-receiver.ts';

type App = Awaited<ReturnType<typeof buildServer>>;
const CHROMIUM = process.env.FV_CHROMIUM ?? '/usr/bin/chromium';

describe('exposure probe', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let keyFile: string;
  let canaries: string[];
  let reader: MetricsReader;
  const apps: App[] = [];

  beforeAll(async () => {
    ({ db, dir, store, keyFile, canaries } = await syncedStore({ users: 600, days: 5, seed: 3 }));
    reader = await openMetricsReader(store, readMetricsFile(DEMO_METRICS));
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    reader?.close();
    await db?.drop();
  });

  async function serve(opts: { leak?: boolean; monitor?: () => ExposureMonitor | undefined } = {}) {
    const users = new UserStore(join(dir, `users-${apps.length}.json`));
    const app = await buildServer({
      metrics: reader,
      tokens: new TokenStore(join(dir, `tokens-${apps.length}.json`)),
      users,
      ...auditWithApprovals(dir, join(dir, `audit-${apps.length}.jsonl`)),
      status: () => reader.storeStatus(),
      webDir: join(process.cwd(), 'dist', 'web'),
      exposure: () => opts.monitor?.()?.state ?? { checkedAt: null, runs: 0, findings: [] },
    });
    if (opts.leak) {
      // The mistake this probe exists for: a data route someone registered without access control.
      app.get('/api/v1/debug/devices', { config: { access: 'public' } }, async () =>
        reader.sql('SELECT id, product_model, region FROM devices LIMIT 5', { maxRows: 5, timeoutMs: 5000 }),
      );
    }
    await app.listen({ host: '127.0.0.1', port: 0 });
    apps.push(app);
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    return { app, base, users, auditFile: join(dir, `audit-${apps.length - 1}.jsonl`) };
  }

  it('finds nothing on a clean deployment, from inside and from the CLI', async () => {
    const { app, base } = await serve();
    const report = await probeDeployment({ baseUrl: base, routes: app.fvRoutes, files: [store, keyFile] });
    expect(report.findings).toEqual([]);
    expect(report.routesChecked).toBeGreaterThanOrEqual(app.fvRoutes.length);
    // The CLI probes from outside with its own copy of the route table: it must not drift.
    const live = app.fvRoutes
      .filter((r) => r.kind !== 'static')
      .map(({ method, url, access, kind }) => ({ method, url, access, kind }));
    expect(new Set(live.map((r) => JSON.stringify(r)))).toEqual(
      new Set(KNOWN_ROUTES.map((r) => JSON.stringify(r))),
    );
    const cli = await runCli([
      'probe',
      '--url',
      base,
      '--store',
      store,
      '--key-file',
      keyFile,
      '--state-dir',
      dir,
    ]);
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toContain('No findings');
  });

  it('flags a store readable by others, naming the file and the fix', async () => {
    const { base } = await serve();
    const copy = join(mkdtempSync(join(tmpdir(), 'fv-probe-')), 'store.duckdb');
    copyFileSync(store, copy);
    chmodSync(copy, 0o644);
    const cli = await runCli(['probe', '--url', base, '--store', copy, '--key-file', keyFile, '--json']);
    expect(cli.code).toBe(1);
    const report = JSON.parse(cli.stdout);
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: 'file-permissions',
        where: copy,
        detail: expect.stringContaining('644'),
      }),
    ]);
  });

  it('flags plain HTTP beyond loopback', async () => {
    const report = await probeDeployment({ baseUrl: 'http://192.0.2.10:8787', routes: [], timeoutMs: 300 });
    expect(report.findings[0]).toMatchObject({ kind: 'tls', detail: expect.stringContaining('without TLS') });
  });

  it('a deliberately exposed data route raises the alert within one probe interval: log, webhook, gauge, banner', async () => {
    const receiver = await startWebhookReceiver<{ findings: Array<{ kind: string; where: string }> }>();
    const { received, url: hook } = receiver;
    let monitor: ExposureMonitor | undefined;
    const alerts: unknown[] = [];
    const { app, base, users, auditFile } = await serve({ leak: true, monitor: () => monitor });
    const interval = 1500;
    const runs: number[] = [];
    monitor = new ExposureMonitor({
      baseUrls: () => [base],
      routes: () => app.fvRoutes,
      files: [store],
      intervalMs: interval,
      webhook: hook,
      // The server's own secret: the probe's login attempts spend nobody's rate limit.
      headers: app.fvProbeHeaders,
      onAlert: (a) => alerts.push(a),
      onRun: (s) => runs.push(s.runs),
    });
    const started = Date.now();
    monitor.start();
    try {
      while (received.length === 0 && Date.now() - started < 10 * interval) {
        await new Promise((r) => setTimeout(r, 100));
      }
      // The first scheduled run found it: within one interval of the probe starting.
      expect(monitor.state.runs).toBe(1);
      expect(received).toHaveLength(1);
      const found = received[0]?.findings ?? [];
      expect(found).toContainEqual(
        expect.objectContaining({ kind: 'exposed-route', where: 'GET /api/v1/debug/devices' }),
      );
      expect(found.every((f) => f.where !== 'GET /healthz')).toBe(true);
      expect(alerts).toHaveLength(1);
      expect(JSON.stringify(received)).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-/); // no pseudonym from the leak
      for (const c of canaries) expect(JSON.stringify(received).includes(c)).toBe(false);

      // More probe runs than the login limit allows attempts (10 a minute, 2 per run): people still sign in.
      while (monitor.state.runs < 6) await new Promise((r) => setTimeout(r, 100));
      expect(runs.length).toBeGreaterThanOrEqual(6);
      const log = existsSync(auditFile) ? readFileSync(auditFile, 'utf8') : '';
      expect(log).not.toContain('"action":"auth.refused"');
      const password = (await users.add('watcher', 'viewer')).password;
      const login = await fetch(`${base}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'watcher', password }),
      });
      const cookie = String(login.headers.get('set-cookie')).split(';')[0] as string;
      const metricsText = await (await fetch(`${base}/metrics`, { headers: { cookie } })).text();
      expect(metricsText).toMatch(/^fleetvault_exposure_findings [1-9]\d*$/m);

      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`${base}/`);
        await page.getByLabel('User name').fill('watcher');
        await page.getByLabel('Password').fill(password);
        await page.keyboard.press('Enter');
        const banner = page.locator('#exposure');
        await banner.waitFor({ state: 'visible' });
        expect(await banner.textContent()).toContain('/api/v1/debug/devices');
      } finally {
        await browser.close();
      }
    } finally {
      await monitor.stop();
      void receiver.close();
    }
  });
});
