// End to end (slow): the dashboard in Debian's Chromium, driven by playwright-core, against a real
// server over a real synced store. Screenshots of each page go to test-output/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetricsReader, readMetricsFile } from '../src/metrics/index.ts';
import { buildServer, TokenStore, UserStore } from '../src/server/index.ts';
import { auditWithApprovals } from './helpers/approvals.ts';
import type { TestDatabase } from './helpers/pg.ts';
import { DEMO_METRICS as METRICS, syncedStore } from './helpers/synced-store.ts';

const SHOTS = join(process.cwd(), 'test-output', 'screenshots');
const CHROMIUM = process.env.FV_CHROMIUM ?? '/usr/bin/chromium';

describe('dashboard in a real browser', () => {
  let db: TestDatabase;
  let reader: MetricsReader;
  let app: Awaited<ReturnType<typeof buildServer>>;
  let browser: Browser;
  let base: string;
  const pw: Record<string, string> = {};

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    let dir: string;
    let store: string;
    ({ db, dir, store } = await syncedStore({ users: 3000, days: 21 }));
    const users = new UserStore(join(dir, 'users.json'));
    pw.analyst = (await users.add('ana', 'analyst')).password;
    pw.viewer = (await users.add('vic', 'viewer')).password;
    reader = await MetricsReader.open(store, readMetricsFile(METRICS));
    app = await buildServer({
      metrics: reader,
      tokens: new TokenStore(join(dir, 'tokens.json')),
      users,
      ...auditWithApprovals(dir, join(dir, 'audit.jsonl')),
      status: () => reader.storeStatus(),
      webDir: join(process.cwd(), 'dist', 'web'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    reader?.close();
    await db?.drop();
  });

  async function sessionCookie(name: string, password: string): Promise<string> {
    const r = await app.inject({ method: 'POST', url: '/api/v1/login', payload: { name, password } });
    expect(r.statusCode).toBe(200);
    return String(r.headers['set-cookie']).split(';')[0] as string;
  }

  async function signIn(page: Page, name: string, password: string) {
    await page.goto(`${base}/`);
    await page.getByLabel('User name').fill(name);
    await page.getByLabel('Password').fill(password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
  }

  it('an analyst signs in, sees the API’s numbers, filters, runs SQL and signs out', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    // Refused requests (401 before sign-in, a refused query) are expected; script errors are not.
    page.on(
      'console',
      (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()),
    );
    await page.goto(`${base}/`);
    await page.getByRole('heading', { name: 'Sign in to fleetvault' }).waitFor();
    await page.screenshot({ path: join(SHOTS, '01-login.png') });
    await signIn(page, 'ana', pw.analyst as string);
    await page.locator('canvas').first().waitFor();
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(SHOTS, '02-overview.png'), fullPage: true });

    const api = await reader.query({ metric: 'active_devices', grain: 'week' });
    const last = [...api.totals].reverse().find((g) => g.suppressed === 'none');
    const shown = await page.getByTestId('Active devices').textContent();
    expect(shown).toBe(Math.round(last?.values.value ?? 0).toLocaleString('en-US'));

    await page.getByRole('link', { name: 'Explore' }).click();
    await page.locator('#result table').waitFor();
    await page.locator('#metric').selectOption('connection_failure_rate');
    await page.locator('#by').selectOption('devices.firmware_version');
    await page.locator('#filter-dim').selectOption('devices.product_model');
    await page.locator('#filter-value').fill('cam-outdoor-3');
    await page.getByRole('button', { name: 'Run' }).click();
    await page.locator('#result th', { hasText: 'devices.firmware_version' }).waitFor();
    const cells = await page.locator('#result tbody tr td:nth-child(2)').allTextContents();
    expect(new Set(cells)).toEqual(new Set(['3.1.4', '3.2.0']));
    await page.screenshot({ path: join(SHOTS, '03-explore.png'), fullPage: true });

    await page.getByRole('link', { name: 'SQL' }).click();
    await page
      .getByLabel('SQL')
      .fill('SELECT region, count(*) AS devices FROM devices GROUP BY 1 ORDER BY 1');
    await page.getByRole('button', { name: /Run/ }).click();
    await page.locator('#sql-result table').waitFor();
    expect(await page.locator('#sql-result th').allTextContents()).toEqual(['region', 'devices']);
    await page.getByLabel('SQL').fill("SELECT * FROM read_csv('/etc/passwd')");
    await page.getByRole('button', { name: /Run/ }).click();
    await expect(page.locator('#sql-result [role=alert]').textContent()).resolves.toContain('FV_SQL_REFUSED');
    await page.screenshot({ path: join(SHOTS, '04-sql.png'), fullPage: true });

    await page.getByRole('link', { name: 'Privacy & security' }).click();
    await page.getByRole('heading', { name: 'Policy coverage (columns)' }).waitFor();
    await page.screenshot({ path: join(SHOTS, '05-privacy.png'), fullPage: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to fleetvault' }).waitFor();
    expect((await page.request.get(`${base}/api/v1/session`)).status()).toBe(401);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('the overview leads with what changed: cam-outdoor-3 firmware 3.2.0 on the first screen, desktop and phone', async () => {
    const res = await app.inject({
      method: 'GET',
      url: '/api/v1/regressions',
      headers: { cookie: await sessionCookie('vic', pw.viewer as string) },
    });
    expect(res.statusCode).toBe(200);
    const report = res.json() as {
      k: number;
      tests: number;
      regressions: Array<{ dims: string[]; by: string[]; users: number; comparisons: Array<{ q: number }> }>;
    };
    const top = report.regressions[0];
    expect(top?.dims).toEqual(['cam-outdoor-3', '3.2.0']);
    for (const r of report.regressions) {
      expect(r.users).toBeGreaterThanOrEqual(report.k);
      for (const c of r.comparisons) expect(c.q).toBeLessThanOrEqual(0.01);
    }
    expect((await app.inject({ method: 'GET', url: '/api/v1/regressions' })).statusCode).toBe(401);

    for (const [name, viewport] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      const page = await browser.newPage({ viewport });
      await signIn(page, 'vic', pw.viewer as string);
      const first = page.getByTestId('regression').first();
      await first.waitFor();
      expect(await first.textContent()).toContain('cam-outdoor-3 · 3.2.0');
      await expect(page.locator('.method-summary').textContent()).resolves.toMatch(
        /z-test.*Benjamini–Hochberg false discovery rate 1% over \d+ tests; each side at least \d+ users/,
      );
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SHOTS, `10-overview-what-changed-${name}.png`) });
      if (name === 'desktop') {
        // Within the first screen: no scrolling needed to read it.
        const box = await first.boundingBox();
        expect(await page.evaluate('window.scrollY')).toBe(0);
        expect((box?.y ?? 1e9) + (box?.height ?? 0)).toBeLessThanOrEqual(viewport.height);
      }
      await page.close();
    }
  });

  it('a viewer is refused the SQL console', async () => {
    const page = await browser.newPage();
    await signIn(page, 'vic', pw.viewer as string);
    expect(await page.getByRole('link', { name: 'SQL' }).isVisible()).toBe(false);
    await page.goto(`${base}/#/sql`);
    await expect(page.getByRole('alert').textContent()).resolves.toContain('analyst role');
    await page.screenshot({ path: join(SHOTS, '06-viewer-sql-refused.png') });
    await page.close();
  });
});
