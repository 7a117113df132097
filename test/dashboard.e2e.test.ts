// End to end (slow): the dashboard in Debian's Chromium, driven by playwright-core, against a real
// server over a real synced store. Screenshots of each page go to test-output/.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openMetricsReader } from '../src/engines/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import { type MetricsReader, readMetricsFile } from '../src/metrics/index.ts';
import { buildServer } from '../src/server/index.ts';
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
    reader = await openMetricsReader(store, readMetricsFile(METRICS));
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
    // No navigation before signing in.
    expect(await page.locator('#nav').isVisible()).toBe(false);
    expect(await page.getByRole('link', { name: 'Explore' }).count()).toBe(0);
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
    await page.locator('[data-testid=answer-table]').waitFor();
    await page.locator('#metric').selectOption('connection_failure_rate');
    await page.locator('input[name=by][value="devices.product_model"]').uncheck();
    await page.locator('input[name=by][value="devices.firmware_version"]').check();
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
        // The name opens its breakdown in Explore, narrowed to the product.
        await first.getByRole('link', { name: 'cam-outdoor-3 · 3.2.0' }).click();
        await page.locator('[data-testid=answer-table]').waitFor();
        const firmware = await page
          .locator('[data-testid=answer-table] tbody td:nth-child(3)')
          .allTextContents();
        expect(new Set(firmware)).toEqual(new Set(['3.1.4', '3.2.0']));
        expect(await page.locator('#filter-value').inputValue()).toBe('cam-outdoor-3');
      }
      await page.close();
    }
  });

  it('explore: several breakdowns, a shareable link, CSV of what is shown, hours on the axis, a compact day grain', async () => {
    for (const [name, viewport] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      const context = await browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${base}/`);
      await page.getByRole('heading', { name: 'Sign in to fleetvault' }).waitFor();
      expect(await page.locator('#nav').isVisible()).toBe(false);
      await page.screenshot({ path: join(SHOTS, `20-login-${name}.png`) });

      // A shared link survives signing in and restores the view: two breakdown dimensions.
      const by = ['devices.product_model', 'devices.firmware_version'];
      await page.goto(`${base}/#/explore?metric=connection_failure_rate&grain=week&by=${by.join(',')}`);
      await page.getByLabel('User name').fill('ana');
      await page.getByLabel('Password').fill(pw.analyst as string);
      await page.keyboard.press('Enter');
      await page.locator('[data-testid=answer-table]').waitFor();
      for (const d of by) expect(await page.locator(`input[name=by][value="${d}"]`).isChecked()).toBe(true);
      const heads = await page.locator('[data-testid=answer-table] th').allTextContents();
      expect(heads.slice(0, 3)).toEqual(['period', ...by]);
      const api = await reader.query({ metric: 'connection_failure_rate', grain: 'week', by });
      const visible = api.groups.filter((g) => g.suppressed === 'none');
      expect(await page.locator('[data-testid=answer-table] tbody tr').count()).toBe(visible.length);
      await page.waitForTimeout(300);
      await page.screenshot({
        path: join(SHOTS, `21-explore-two-dimensions-${name}.png`),
        fullPage: name === 'desktop',
      });

      // A third dimension from the controls; the address bar follows and opens the same view elsewhere.
      await page.locator('input[name=by][value="devices.region"]').check();
      await page.getByRole('button', { name: 'Run' }).click();
      await page.locator('[data-testid=answer-table] th', { hasText: 'devices.region' }).waitFor();
      const shared = page.url();
      expect(decodeURIComponent(shared)).toContain(
        'by=devices.product_model,devices.firmware_version,devices.region',
      );
      const other = await context.newPage();
      await other.goto(shared);
      await other.locator('[data-testid=answer-table] th', { hasText: 'devices.region' }).waitFor();
      expect(await other.locator('#result').textContent()).toBe(await page.locator('#result').textContent());
      await other.close();

      // CSV of exactly what is shown.
      const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
      const csv = readFileSync((await download.path()) as string, 'utf8')
        .trim()
        .split('\r\n');
      const three = await reader.query({
        metric: 'connection_failure_rate',
        grain: 'week',
        by: [...by, 'devices.region'],
      });
      expect(csv[0]).toBe(
        'period,devices.product_model,devices.firmware_version,devices.region,value_share,users_numerator,users_denominator,suppressed',
      );
      expect(csv).toHaveLength(three.groups.length + 1);
      const shownRow = three.groups.find((g) => g.suppressed === 'none');
      expect(csv).toContain(
        [
          shownRow?.period,
          ...(shownRow?.dims ?? []),
          shownRow?.values.value,
          shownRow?.sides?.numerator,
          shownRow?.sides?.denominator,
          'none',
        ].join(','),
      );
      expect(
        csv
          .filter((l) => l.endsWith(',below_k') || l.endsWith(',complement'))
          .every((l) => l.includes(',,,,')),
      ).toBe(true);

      // Time to first connection: hours on the axis and in the table, as the API's seconds / 3600.
      await page.goto(`${base}/#/explore?metric=time_to_first_connection&grain=month&by=`);
      await page.locator('[data-testid=answer-table]').waitFor();
      expect(await page.locator('#result canvas').first().getAttribute('data-y-axis')).toBe('hours, p50');
      expect(await page.locator('[data-testid=answer-table] th').allTextContents()).toContain('p50 (hours)');
      const ttfc = await reader.query({ metric: 'time_to_first_connection', grain: 'month' });
      const firstShown = ttfc.totals.find((g) => g.suppressed === 'none');
      const h = (firstShown?.values.p50 ?? 0) / 3600;
      expect(await page.locator('[data-testid=answer-table] tbody tr').first().textContent()).toContain(
        `${h.toFixed(h < 10 ? 2 : 1)} h`,
      );
      await page.waitForTimeout(300);
      await page.screenshot({
        path: join(SHOTS, `22-explore-hours-${name}.png`),
        fullPage: name === 'desktop',
      });

      // Day grain: "daily", and a grid of groups by day, not a wall of (suppressed) rows.
      await page.goto(
        `${base}/#/explore?metric=connection_failure_rate&grain=day&by=devices.product_model,devices.region`,
      );
      await page.locator('[data-testid=answer-grid]').waitFor();
      const note = (await page.locator('#result .note').first().textContent()) ?? '';
      expect(note).toContain('daily');
      expect(note).not.toContain('dayly');
      const day = await reader.query({
        metric: 'connection_failure_rate',
        grain: 'day',
        by: ['devices.product_model', 'devices.region'],
      });
      const hiddenCells = day.groups.filter((g) => g.suppressed !== 'none').length;
      expect(hiddenCells).toBeGreaterThan(50);
      const groupCount = new Set(day.groups.map((g) => JSON.stringify(g.dims))).size;
      expect(await page.locator('[data-testid=answer-grid] tbody tr').count()).toBe(groupCount);
      expect(await page.locator('[data-testid=answer-grid] td.suppressed').count()).toBe(hiddenCells);
      const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
      if (name === 'desktop') expect(height).toBeLessThan(900 + 40 * groupCount);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SHOTS, `23-explore-day-grain-${name}.png`), fullPage: true });

      // Suppressed cells are readable: contrast at least 4.5:1 against the table.
      const ratio = Number(
        await page.evaluate(`(() => {
          const td = document.querySelector('td.suppressed');
          const rgb = (c) => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
          const lum = (c) => {
            const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
          };
          const fg = lum(getComputedStyle(td).color);
          const bg = lum(getComputedStyle(td.closest('table')).backgroundColor);
          return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
        })()`),
      );
      expect(ratio).toBeGreaterThanOrEqual(4.5);

      // A date range backwards says so in words, with no command-line flag in sight.
      await page.goto(`${base}/#/explore?metric=activations&grain=week&by=&from=2026-11-20&to=2026-11-01`);
      const refusal = (await page.locator('#result [role=alert]').textContent()) ?? '';
      expect(refusal).toContain('before the “From” date');
      expect(refusal).not.toContain('--');
      await page.screenshot({ path: join(SHOTS, `24-explore-date-error-${name}.png`) });
      expect(errors).toEqual([]);
      await context.close();
    }
    // The API's own refusal of such a range names no flag either.
    const cookie = await sessionCookie('ana', pw.analyst as string);
    const r = await app.inject({
      method: 'GET',
      url: '/api/v1/metrics/activations?from=2026-11-20&to=2026-11-01&grain=day',
      headers: { cookie },
    });
    expect(r.statusCode).toBe(400);
    expect(r.json().error.message).toBe('the end date is before the start date; pick a later end date');
  });

  it('the current page and keyboard focus look different', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await signIn(page, 'vic', pw.viewer as string);
    await page.getByTestId('regression').first().waitFor();
    const style = (href: string) =>
      page.evaluate(`(() => {
        const s = getComputedStyle(document.querySelector('#nav a[href="${href}"]'));
        return { outline: s.outlineStyle + ' ' + s.outlineColor, shadow: s.boxShadow };
      })()`) as Promise<{ outline: string; shadow: string }>;
    // Tab to the Explore link: it has the focus ring, the current page (Overview) its bar only.
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate('document.activeElement.getAttribute("href")')) === '#/explore') break;
    }
    const focused = await style('#/explore');
    const current = await style('#/overview');
    expect(focused.outline).toBe('solid rgb(251, 191, 36)');
    expect(current.outline.startsWith('none')).toBe(true);
    expect(current.shadow).toContain('rgb(56, 189, 248)');
    expect(focused.shadow).toBe('none');
    await page.screenshot({
      path: join(SHOTS, '25-focus-vs-current.png'),
      clip: { x: 0, y: 0, width: 1280, height: 120 },
    });
    await page.close();
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
