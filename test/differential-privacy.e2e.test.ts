// End to end (slow): differential privacy through the sync, the API and the two-person rule. A
// policy's privacy section makes every answer noised with intervals and paid from the asking
// principal's budget: repeats are free and identical, a spent budget is a 429 that says when it
// renews, spends survive a restart and are audited, and switching differential privacy off needs
// a second admin.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import { readMetricsFile } from '../src/metrics/index.ts';
import { buildServer } from '../src/server/index.ts';
import { runCli } from './helpers/cli.ts';
import { budgetedReader, dpDeployment } from './helpers/dp-deployment.ts';
import { enrollToken } from './helpers/enroll.ts';
import { dumpStore } from './helpers/store-dump.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore } from './helpers/synced-store.ts';

describe('differential privacy', () => {
  let s: SyncedStore;
  let state: string;
  /** One week of answers (the latest): a unit's contribution is noised over the periods it spans. */
  let week = '';
  let lastDay = '';
  const pw: Record<string, string> = {};
  const as = (who: string) => ({ env: { FLEETVAULT_PASSWORD: pw[who] ?? '' } });
  const sync = (policy: string) =>
    runCli([
      'sync',
      '--source',
      s.db.url,
      '--policy',
      policy,
      '--store',
      s.store,
      '--key-file',
      s.keyFile,
      '--state-dir',
      state,
    ]);
  const approvals = (args: string[], who?: string) =>
    runCli(['approvals', ...args, '--state-dir', state, ...(who ? ['--user', who] : [])], who ? as(who) : {});

  beforeAll(async () => {
    const d = await dpDeployment({ users: 400, days: 15, seed: 31 });
    ({ s, state } = d);
    Object.assign(pw, d.pw);
    lastDay = d.lastDay;
    week = `&from=${lastDay}&to=${lastDay}`;
  }, 600_000);

  afterAll(async () => {
    await s?.db.drop();
  });

  /** A server over the store as `serve` builds it: its reader pays answers from the state's budget file. */
  async function server() {
    const { audit, reader } = await budgetedReader({ s, state });
    const app = await buildServer({
      metrics: reader,
      tokens: new TokenStore(join(state, 'tokens.json')),
      users: new UserStore(join(state, 'users.json')),
      audit,
      approvals: new Approvals(state, audit),
      status: () => reader.storeStatus(),
      webDir: join(process.cwd(), 'dist', 'web'),
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const session = async (name: string) => {
      const r = await fetch(`${base}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password: pw[name] }),
      });
      const cookie = String(r.headers.get('set-cookie')).split(';')[0] as string;
      return async (path: string) => {
        const res = await fetch(`${base}${path}`, { headers: { cookie } });
        // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read field by field below
        return { status: res.status, body: (await res.json()) as Record<string, any> };
      };
    };
    return {
      base,
      session,
      reader,
      close: async () => {
        await app.close();
        reader.close();
      },
    };
  }

  it('noises answers with intervals, repeats them for free, refuses a spent budget and survives a restart', async () => {
    const first = await server();
    const alice = await first.session('alice');
    const q = `/api/v1/metrics/connection_attempts?grain=week&by=devices.product_model${week}`;
    const a = await alice(q);
    expect(a.status, JSON.stringify(a.body)).toBe(200);
    expect(a.body.privacy).toMatchObject({
      model: 'differential_privacy',
      epsilon: 1,
      confidence: 0.95,
      budget: { spent: 1, remaining: 3, epsilon: 4, window: 'day', cached: false },
    });
    type Cell = {
      suppressed: string;
      values: { value: number };
      intervals: { value: number[] };
      units: null;
    };
    const released = (a.body.groups as Cell[]).filter((g) => g.suppressed === 'none');
    // Totals are always released (no selection); groups only past the noisy threshold.
    expect(a.body.totals).toHaveLength(1);
    for (const g of [...(a.body.totals as Cell[]), ...released]) {
      const [lo = 0, hi = 0] = g.intervals.value;
      expect(lo).toBeLessThanOrEqual(g.values.value);
      expect(hi).toBeGreaterThanOrEqual(g.values.value);
      expect(g.units).toBeNull();
    }
    const again = await alice(q);
    expect(again.body.groups).toEqual(a.body.groups);
    expect(again.body.privacy.budget).toMatchObject({ spent: 0, remaining: 3, cached: true });
    // Every field the reader gives reaches the client: the answer schema keeps privacy and
    // intervals (fast-json-stringify would drop a field it does not list).
    const aliceId = new UserStore(join(state, 'users.json')).list().find((u) => u.name === 'alice')?.id;
    const query = { metric: 'connection_attempts', grain: 'week' as const, by: ['devices.product_model'] };
    const direct = await first.reader.query(
      { ...query, from: lastDay, to: lastDay, filters: {} },
      { principal: `user:${aliceId}` },
    );
    expect(again.body).toEqual(JSON.parse(JSON.stringify(direct)));
    for (const metric of ['activations', 'active_devices', 'connection_failures']) {
      expect((await alice(`/api/v1/metrics/${metric}?grain=week`)).status).toBe(200);
    }
    const spent = await alice('/api/v1/metrics/integration_adoption?grain=week');
    expect(spent.status).toBe(429);
    expect(spent.body.error.code).toBe('FV_PRIVACY_BUDGET_SPENT');
    expect(spent.body.error.message).toMatch(/renews at \d{4}-\d{2}-\d{2}T00:00:00.000Z/);
    expect((await alice('/api/v1/privacy/budget')).body).toMatchObject({
      model: 'differential_privacy',
      remaining: 0,
    });
    // Percentiles: from a noised histogram of the bounded times, each with its interval.
    const bob = await first.session('bob');
    const pct = await bob(`/api/v1/metrics/time_to_first_connection?grain=week${week}`);
    expect(pct.status, JSON.stringify(pct.body)).toBe(200);
    expect(pct.body.outputs).toEqual(['p50', 'p90']);
    const [t] = pct.body.totals as {
      values: Record<string, number | null>;
      intervals: Record<string, number[]>;
    }[];
    for (const o of ['p50', 'p90']) {
      const v = t?.values[o];
      if (v === null || v === undefined) continue;
      const [lo = 0, hi = 0] = t?.intervals[o] ?? [];
      expect(lo).toBeLessThanOrEqual(hi);
      expect(v).toBeGreaterThanOrEqual(0);
    }
    expect((await bob('/api/v1/privacy/budget')).body.remaining).toBe(3);
    await first.close();

    // A restart: the spend and the answers given are read back.
    const second = await server();
    const alice2 = await second.session('alice');
    expect((await alice2('/api/v1/metrics/integration_adoption?grain=week')).status).toBe(429);
    const repeated = await alice2(q);
    expect(repeated.status).toBe(200);
    expect(repeated.body.groups).toEqual(a.body.groups);
    await second.close();

    const file = join(state, 'privacy-budget.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const spends = readFileSync(join(state, 'audit.jsonl'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((e) => e.action === 'privacy.spend');
    expect(spends).toHaveLength(5);
    expect(spends.every((e) => e.actor.startsWith('user:') && e.detail.epsilon === 1)).toBe(true);
    expect(spends.map((e) => e.detail.metric)).toEqual([
      'connection_attempts',
      'activations',
      'active_devices',
      'connection_failures',
      'time_to_first_connection',
    ]);
  }, 300_000);

  it('a malformed filter or a day that does not exist is a 400 before anything is paid', async () => {
    // A fresh viewer: the viewers' budget is untouched so far (ε 4 this day).
    const made = await runCli([
      'users',
      'add',
      '--name',
      'vera',
      '--role',
      'viewer',
      '--state-dir',
      state,
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    pw.vera = JSON.parse(made.stdout).password;
    const srv = await server();
    const spends = () =>
      readFileSync(join(state, 'audit.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"privacy.spend"')).length;
    try {
      const vera = await srv.session('vera');
      expect((await vera('/api/v1/privacy/budget')).body.remaining).toBe(4);
      const before = spends();
      const q = '/api/v1/metrics/connection_attempts?grain=week';
      // `d=v` where `d:v` belongs: once answered (and paid for) unfiltered.
      for (const bad of [
        `${q}${week}&filter=devices.region=eu-west`,
        `${q}${week}&filter=outcome:success&filter=devices.region=eu-west`,
        `${q}${week}&filter=devices.region:`,
        `${q}&from=2026-02-30&to=${lastDay}`,
        `${q}&from=${lastDay}&to=2026-13-01`,
      ]) {
        const r = await vera(bad);
        expect(r.status, `${bad}: ${JSON.stringify(r.body)}`).toBe(400);
        expect(r.body.error.code).toBe('FV_METRIC_QUERY');
      }
      const eq = await vera(`${q}${week}&filter=devices.region=eu-west`);
      expect(eq.body.error.message).toContain('filter must be written dimension:value[,value…]');
      expect(eq.body.error.message).toContain('it has "=" where ":" belongs');
      const feb = await vera(`${q}&from=2026-02-30&to=${lastDay}`);
      expect(feb.body.error.message).toContain('start date must be a day written YYYY-MM-DD');
      expect((await vera('/api/v1/privacy/budget')).body.remaining, 'nothing was paid').toBe(4);
      expect(spends()).toBe(before);
      // The budget is live: a well-formed question is paid.
      const ok = await vera(`${q}${week}&filter=outcome:success,fail`);
      expect(ok.status, JSON.stringify(ok.body)).toBe(200);
      expect((await vera('/api/v1/privacy/budget')).body.remaining).toBe(3);
      expect(spends()).toBe(before + 1);
    } finally {
      await srv.close();
    }
  }, 300_000);

  it('dashboard: the remaining budget and an error bar on every noised value', async () => {
    const srv = await server();
    const browser = await chromium.launch({
      executablePath: process.env.FV_CHROMIUM ?? '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
    });
    try {
      const r = await fetch(`${srv.base}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bob', password: pw.bob }),
      });
      const [name = '', value = ''] = String(r.headers.get('set-cookie')).split(';')[0]!.split('=');
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      await context.addCookies([{ name, value, url: srv.base }]);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      // Straight to one answer: the overview would spend the budget on its tiles.
      await page.goto(`${srv.base}/#/explore?metric=connection_attempts&grain=week&by=${week}`);
      await page.locator('[data-testid=answer-table]').waitFor();
      const note = (await page.getByTestId('privacy-budget').textContent()) ?? '';
      expect(note).toContain('Differential privacy');
      expect(note).toMatch(/ε 2 of 4 left this day, renewing \d{4}-\d{2}-\d{2} 00:00 UTC/);
      const rows = await page.locator('[data-testid=answer-table] tbody tr').count();
      expect(rows).toBeGreaterThan(0);
      expect(await page.getByTestId('interval').count()).toBe(rows);
      expect(await page.locator('#result canvas').first().getAttribute('data-error-bars')).toBe('2');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      await srv.close();
    }
  }, 300_000);

  it('an exact answer: one admin asks for one query, a second approves, the asker alone reads it', async () => {
    const srv = await server();
    const audit = new AuditLog(join(state, 'audit.jsonl'));
    const approvalsHere = new Approvals(state, audit);
    const tokens = new TokenStore(join(state, 'tokens.json'));
    const users = new UserStore(join(state, 'users.json'));
    const idOf = (name: string) => `user:${users.list().find((u) => u.name === name)?.id}`;
    const signer = (name: string) => approvalsHere.keys.unseal(idOf(name), pw[name] ?? '');
    // An analyst token, made with two admins' approval; and a viewer token.
    const grant = approvalsHere.proposePrincipal(
      { type: 'token', role: 'analyst', name: 'exact-analyst' },
      signer('alice'),
      'analyst for the exact-answer test',
    );
    approvalsHere.approve(grant.proposal.id, signer('bob'));
    const analyst = enrollToken(approvalsHere, tokens, users, 'analyst', 'exact-analyst', grant.proposal.id);
    const viewer = tokens.create({ role: 'viewer', name: 'exact-viewer', days: 1 }).token;
    const call = async (
      auth: { cookie?: string; csrf?: string; token?: string },
      method: string,
      path: string,
      body?: unknown,
    ) => {
      const res = await fetch(`${srv.base}${path}`, {
        method,
        headers: {
          ...(auth.cookie ? { cookie: auth.cookie } : {}),
          ...(auth.csrf ? { 'x-csrf-token': auth.csrf } : {}),
          ...(auth.token ? { authorization: `Bearer ${auth.token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      // biome-ignore lint/suspicious/noExplicitAny: a JSON body, read field by field below
      return { status: res.status, text, body: JSON.parse(text) as Record<string, any> };
    };
    const login = async (name: string) => {
      const r = await fetch(`${srv.base}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, password: pw[name] }),
      });
      const { csrfToken } = (await r.json()) as { csrfToken: string };
      return { cookie: String(r.headers.get('set-cookie')).split(';')[0] as string, csrf: csrfToken };
    };
    const alice = await login('alice');
    const bob = await login('bob');
    const request = {
      metric: 'connection_failures',
      grain: 'week',
      by: 'devices.product_model',
      from: lastDay,
      to: lastDay,
      reason: 'the failure spike on one model',
    };
    const q = `/api/v1/metrics/connection_failures?grain=week&by=devices.product_model&from=${lastDay}&to=${lastDay}`;
    const seen: string[] = [];
    try {
      // Viewers and analysts cannot ask; an open range cannot be asked.
      expect((await call({ token: analyst.token }, 'POST', '/api/v1/privacy/exact', request)).status).toBe(
        403,
      );
      expect((await call({ token: viewer }, 'POST', '/api/v1/privacy/exact', request)).status).toBe(403);
      const open = await call(alice, 'POST', '/api/v1/privacy/exact', { ...request, to: undefined });
      expect(open.status).toBe(400);
      expect(open.body.error.code).toBe('FV_METRIC_QUERY');
      const asked = await call(alice, 'POST', '/api/v1/privacy/exact', request);
      expect(asked.status, asked.text).toBe(200);
      expect(asked.body.proposal.kind).toBe('exact');
      const id = asked.body.proposal.id as string;
      // One admin alone gets nothing: not before approval, not by approving it herself.
      const early = await call(alice, 'GET', `${q}&exact=${id}`);
      expect(early.status).toBe(403);
      expect(early.body.error.code).toBe('FV_EXACT_ANSWER_REFUSED');
      const self = await call(alice, 'POST', `/api/v1/approvals/${id}/approve`);
      expect(self.status).toBe(409);
      expect((await call({ token: analyst.token }, 'POST', `/api/v1/approvals/${id}/approve`)).status).toBe(
        403,
      );
      const approved = await call(bob, 'POST', `/api/v1/approvals/${id}/approve`);
      expect(approved.status, approved.text).toBe(200);

      const before = (await call(alice, 'GET', '/api/v1/privacy/budget')).body;
      const exact = await call(alice, 'GET', `${q}&exact=${id}`);
      expect(exact.status, exact.text).toBe(200);
      seen.push(exact.text);
      expect(exact.body.exact).toEqual({ approval: id });
      expect(exact.body.privacy).toBeUndefined();
      // The k-anonymous answer: exact values with their units, suppression applied.
      for (const g of exact.body.groups as {
        suppressed: string;
        units: number | null;
        values: Record<string, unknown>;
      }[]) {
        if (g.suppressed === 'none') expect(g.units).toBeGreaterThanOrEqual(exact.body.k);
        else expect(g.values.value).toBeNull();
      }
      expect((await call(alice, 'GET', '/api/v1/privacy/budget')).body).toEqual(before);
      // Approval for query A is not usable for query B, nor by anyone else.
      const other = await call(alice, 'GET', `${q.replace('&by=devices.product_model', '')}&exact=${id}`);
      expect(other.status).toBe(403);
      expect(other.body.error.message).toContain('not for');
      const wider = await call(
        alice,
        'GET',
        `${q.replace(`from=${lastDay}`, 'from=2020-01-01')}&exact=${id}`,
      );
      expect(wider.status).toBe(403);
      expect((await call(bob, 'GET', `${q}&exact=${id}`)).body.error.code).toBe('FV_EXACT_ANSWER_REFUSED');
      expect((await call({ token: analyst.token }, 'GET', `${q}&exact=${id}`)).status).toBe(403);
      expect((await call({ token: viewer }, 'GET', `${q}&exact=${id}`)).status).toBe(403);

      // The CLI reaches the same answer through the same check.
      const cliArgs = [
        'metrics',
        'query',
        'connection_failures',
        '--store',
        s.store,
        '--state-dir',
        state,
        '--metrics',
        DEMO_METRICS,
        '--grain',
        'week',
        '--by',
        'devices.product_model',
        '--from',
        lastDay,
        '--to',
        lastDay,
        '--json',
      ];
      const cli = await runCli([...cliArgs, '--exact', id, '--user', 'alice'], as('alice'));
      expect(cli.code, cli.stderr).toBe(0);
      seen.push(cli.stdout, cli.stderr);
      expect(JSON.parse(cli.stdout).groups).toEqual(exact.body.groups);
      const cliBob = await runCli([...cliArgs, '--exact', id, '--user', 'bob'], as('bob'));
      expect(cliBob.code).toBe(1);
      expect(cliBob.stderr).toContain('FV_EXACT_ANSWER_REFUSED');
      const cliAnalyst = await runCli([...cliArgs, '--exact', id, '--token', analyst.token]);
      expect(cliAnalyst.code).toBe(1);

      // Asked on the CLI by bob, approved by alice, then expired: refused.
      const ask = await runCli(
        [
          'metrics',
          'exact',
          'connection_failures',
          ...cliArgs.slice(3, -1),
          '--reason',
          'one more look',
          '--user',
          'bob',
        ],
        as('bob'),
      );
      expect(ask.code, ask.stderr).toBe(0);
      const id2 = /Request ([0-9a-f]{10})/.exec(ask.stdout)?.[1] as string;
      expect((await approvals(['approve', id2], 'bob')).code).toBe(1);
      expect((await approvals(['approve', id2], 'alice')).code).toBe(0);
      const bobReads = await runCli([...cliArgs, '--exact', id2, '--user', 'bob'], as('bob'));
      expect(bobReads.code, bobReads.stderr).toBe(0);
      // Shortening a stored expiry is allowed (only a later one voids it): now it is over.
      const file = join(state, 'proposals.json');
      const stored = JSON.parse(readFileSync(file, 'utf8')) as { id: string; expiresAt: string }[];
      const mine = stored.find((p) => p.id === id2) as { expiresAt: string };
      mine.expiresAt = new Date(Date.now() - 1000).toISOString();
      writeFileSync(file, JSON.stringify(stored, null, 2), { mode: 0o600 });
      const expired = await call(bob, 'GET', `${q}&exact=${id2}`);
      expect(expired.status).toBe(403);
      expect(expired.body.error.message).toContain('expired');
      const cliExpired = await runCli([...cliArgs, '--exact', id2, '--user', 'bob'], as('bob'));
      expect(cliExpired.code).toBe(1);
      expect(cliExpired.stderr).toContain('expired');

      const events = readFileSync(join(state, 'audit.jsonl'), 'utf8');
      seen.push(events);
      const exactEvents = events
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.action === 'privacy.exact');
      const ok = exactEvents.filter((e) => e.outcome === 'ok');
      expect(ok.map((e) => e.actor)).toEqual([idOf('alice'), idOf('alice'), idOf('bob')]);
      expect(ok[0].detail).toMatchObject({ approval: id, approvedBy: idOf('bob') });
      expect(exactEvents.filter((e) => e.outcome === 'refused').length).toBeGreaterThanOrEqual(8);
      expect(events).toContain('"kind":"exact"');
      for (const text of seen) for (const c of s.canaries) expect(text).not.toContain(c);
    } finally {
      await srv.close();
    }
  }, 300_000);

  it('switching differential privacy off needs a second admin', async () => {
    const before = await dumpStore(s.store);
    const refused = await sync(DEMO_POLICY);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FV_STATE_WEAKER');
    expect(refused.stderr).toContain('policy privacy');
    expect(await dumpStore(s.store)).toBe(before);
    const p = await approvals(
      ['propose', '--policy', DEMO_POLICY, '--reason', 'exact counts for the audit'],
      'alice',
    );
    expect(p.code, p.stderr).toBe(0);
    const id = /Proposal ([0-9a-f]{10})/.exec(p.stdout)?.[1] as string;
    expect((await approvals(['approve', id], 'alice')).code).toBe(1);
    expect((await approvals(['approve', id], 'bob')).code).toBe(0);
    const r = await sync(DEMO_POLICY);
    expect(r.code, r.stderr).toBe(0);
    const reader = await openMetricsReader(s.store, readMetricsFile(DEMO_METRICS));
    expect(reader.privacy).toEqual({ model: 'k_anonymity' });
    reader.close();
  }, 300_000);
});
