// End to end (slow): the HTTP API over a real synced store, called in-process with inject().
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals, type Signer } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import { ERROR_CATALOG } from '../src/errors/index.ts';
import { TokenStore, UserStore } from '../src/identity/index.ts';
import { detectRegressions } from '../src/insights/index.ts';
import { type MetricsReader, readMetricsFile } from '../src/metrics/index.ts';
import { buildServer } from '../src/server/index.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { enrollToken, enrollUser } from './helpers/enroll.ts';
import type { TestDatabase } from './helpers/pg.ts';
import { DEMO_METRICS as METRICS, DEMO_POLICY as POLICY, syncedStore } from './helpers/synced-store.ts';

type App = Awaited<ReturnType<typeof buildServer>>;

describe('HTTP API', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let canaries: string[];
  let reader: MetricsReader;
  let app: App;
  let audit: AuditLog;
  let users: UserStore;
  let approvals: Approvals;
  const creds: Record<string, string | undefined> = {};
  let victim = '';
  let other: () => Signer;
  let alicePassword = '';
  let keyFile = '';

  beforeAll(async () => {
    ({ db, dir, store, canaries, keyFile } = await syncedStore({ users: 1200, days: 7 }));
    const tokens = new TokenStore(join(dir, 'tokens.json'));
    audit = new AuditLog(join(dir, 'audit.jsonl'));
    users = new UserStore(join(dir, 'users.json'));
    approvals = new Approvals(dir, audit);
    // Roles above viewer exist only in the signed state: the first two admins are the bootstrap.
    creds.viewer = tokens.create({ role: 'viewer', name: 'viewer', days: 1 }).token;
    creds.admin = enrollToken(approvals, tokens, users, 'admin', 'admin').token;
    creds.analyst = enrollToken(approvals, tokens, users, 'analyst', 'analyst').token;
    alicePassword = await enrollUser(approvals, tokens, users, 'analyst', 'alice');
    other = enrollToken(approvals, tokens, users, 'admin', 'other-admin').signer;
    const expired = tokens.create({ role: 'admin', name: 'old', days: 1 });
    const raw = JSON.parse(readFileSync(tokens.path, 'utf8'));
    raw.find((t: { id: string }) => t.id === expired.record.id).expiresAt = '2020-01-01T00:00:00.000Z';
    writeFileSync(tokens.path, JSON.stringify(raw));
    creds.expired = expired.token;
    const revoked = tokens.create({ role: 'admin', name: 'gone', days: 1 });
    tokens.revoke(revoked.record.id);
    creds.revoked = revoked.token;
    victim = tokens.create({ role: 'viewer', name: 'victim', days: 1 }).record.id;
    creds.none = undefined;
    creds.malformed = 'Bearer not-a-token';
    creds.wrong = `Bearer fvt_${'0'.repeat(12)}_${'A'.repeat(43)}`;
    for (const k of ['viewer', 'analyst', 'admin', 'expired', 'revoked'] as const)
      creds[k] = `Bearer ${creds[k]}`;
    reader = await openMetricsReader(store, readMetricsFile(METRICS));
    app = await buildServer({
      metrics: reader,
      tokens,
      users,
      audit,
      approvals,
      status: () => reader.storeStatus(),
      webDir: join(process.cwd(), 'dist', 'web'),
      // Room for the matrix's and other tests' logins before the rate-limit test exhausts it.
      loginRateLimit: 15,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    reader?.close();
    await db?.drop();
  });

  const SAMPLE_BODY: Record<string, object> = {
    '/api/v1/sql': { sql: 'SELECT count(*) FROM devices' },
    '/api/v1/tokens': { role: 'viewer', name: 'matrix' },
    '/api/v1/users': { role: 'viewer', name: 'matrix-user' },
    '/api/v1/approvals': { reason: 'matrix', principal: { type: 'token', role: 'analyst', name: 'matrix' } },
    '/api/v1/privacy/exact': { metric: 'activations', grain: 'week', reason: 'matrix' },
  };
  const call = (method: string, url: string, cred?: string, payload?: object) =>
    app.inject({
      method: method as 'GET',
      url,
      ...(cred ? { headers: { authorization: cred } } : {}),
      ...(payload || method === 'POST' ? { payload: payload ?? SAMPLE_BODY[url] ?? {} } : {}),
    });
  // A proposal route gets a fresh pending proposal by someone else, so approving and rejecting both succeed.
  const concrete = (url: string) =>
    url.startsWith('/api/v1/approvals/:id')
      ? url.replace(
          ':id',
          approvals.proposePrincipal({ type: 'token', role: 'analyst', name: 'm' }, other(), 'matrix')
            .proposal.id,
        )
      : url.replace(':name', 'activations').replace(':id', victim);

  it('authorization matrix: every route in the route table × every kind of caller', async () => {
    const rank = { public: -1, viewer: 0, analyst: 1, admin: 2 } as const;
    const routes = app.fvRoutes;
    expect(routes.length).toBeGreaterThanOrEqual(9);
    // Public: health, login, and the dashboard's static files, which hold no data.
    const open = routes.filter((r) => r.access === 'public').map((r) => r.url);
    expect(open.filter((u) => u !== '/' && !u.startsWith('/assets/')).sort()).toEqual([
      '/api/v1/login',
      '/healthz',
    ]);
    expect(open).toContain('/');
    for (const route of routes) {
      for (const [who, cred] of Object.entries(creds)) {
        const res = await call(route.method, concrete(route.url), cred);
        const cell = `${route.method} ${route.url} as ${who}`;
        if (route.url === '/healthz' || (route.access === 'public' && route.url !== '/api/v1/login')) {
          expect(res.statusCode, cell).toBe(200);
        } else if (route.url === '/api/v1/login') expect(res.statusCode, cell).toBe(400);
        else if (!['viewer', 'analyst', 'admin'].includes(who)) {
          expect(res.statusCode, cell).toBe(401);
          expect(res.json().error.code, cell).toBe('FV_AUTH_REQUIRED');
        } else if (rank[who as 'viewer'] < rank[route.access]) expect(res.statusCode, cell).toBe(403);
        else if (route.url === '/api/v1/privacy/exact') {
          // Admitted, then refused for what it asks: this store's answers are k-anonymous, already exact.
          expect(res.statusCode, cell).toBe(400);
          expect(res.json().error.code, cell).toBe('FV_USAGE');
        } else expect(res.statusCode, cell).toBe(200);
        expect(res.headers['content-security-policy'], cell).toContain("default-src 'none'");
        expect(res.headers['content-security-policy'], cell).not.toContain('unsafe-eval');
        expect(res.headers['content-security-policy'], cell).not.toMatch(/script-src[^;]*unsafe-inline/);
        expect(res.headers['x-content-type-options'], cell).toBe('nosniff');
      }
    }
  });

  it('guarded SQL for analysts: legitimate queries pass, hostile ones are refused with the reason', async () => {
    const ok = await call('POST', '/api/v1/sql', creds.analyst, {
      sql: 'SELECT product_model, count(*) n FROM devices GROUP BY 1',
    });
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json().columns).toEqual(['product_model', 'n']);
    for (const sql of [
      "SELECT * FROM read_csv('/etc/passwd')",
      'SELECT * FROM _fv_meta',
      'WITH _fv_meta AS (FROM _fv_meta) FROM _fv_meta',
      'WITH devices AS (SELECT * FROM _fv_forgotten) SELECT * FROM devices',
      'SHOW ALL TABLES',
      'DESCRIBE devices',
      'SELECT * FROM sqlite_master',
      'DELETE FROM devices',
      'SELECT 1; SELECT 2',
    ]) {
      const r = await call('POST', '/api/v1/sql', creds.analyst, { sql });
      expect(r.statusCode, sql).toBe(400);
      expect(r.json().error.code, sql).toBe('FV_SQL_REFUSED');
      // One sentence, no engine dump.
      expect(r.json().error.message, sql).not.toContain('\n');
    }
    expect((await call('POST', '/api/v1/sql', creds.viewer, { sql: 'SELECT 1' })).statusCode).toBe(403);
  });

  it('browser login: argon2id password, HttpOnly SameSite=Strict cookie, CSRF on state changes, audited', async () => {
    const password = alicePassword; // enrolled in the signed state in beforeAll
    const bad = await app.inject({
      method: 'POST',
      url: '/api/v1/login',
      payload: { name: 'alice', password: 'wrong' },
    });
    expect(bad.statusCode).toBe(401);
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/login',
      payload: { name: 'alice', password },
    });
    expect(login.statusCode).toBe(200);
    const setCookie = String(login.headers['set-cookie']);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(';')[0] as string;
    const csrf = login.json().csrfToken as string;
    const me = await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } });
    expect(me.json().user).toEqual({ name: 'alice', role: 'analyst' });
    const noCsrf = await app.inject({
      method: 'POST',
      url: '/api/v1/sql',
      headers: { cookie },
      payload: { sql: 'SELECT 1' },
    });
    expect(noCsrf.statusCode).toBe(403);
    expect(noCsrf.json().error.code).toBe('FV_CSRF');
    const withCsrf = await app.inject({
      method: 'POST',
      url: '/api/v1/sql',
      headers: { cookie, 'x-csrf-token': csrf },
      payload: { sql: 'SELECT 1 AS one' },
    });
    expect(withCsrf.statusCode).toBe(200);
    const admin = await app.inject({ method: 'GET', url: '/api/v1/audit', headers: { cookie } });
    expect(admin.statusCode).toBe(403);
    const out = await app.inject({
      method: 'POST',
      url: '/api/v1/logout',
      headers: { cookie, 'x-csrf-token': csrf },
    });
    expect(out.statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'GET', url: '/api/v1/session', headers: { cookie } })).statusCode,
    ).toBe(401);
    const actions = audit.recent(50).map((r) => `${r.action}:${r.outcome}`);
    expect(actions).toContain('login:refused');
    expect(actions).toContain('login:ok');
    expect(readFileSync(audit.path, 'utf8')).not.toContain(password);
  });

  it('admins create tokens and accounts over the API; secrets appear once and are audited without them', async () => {
    const t = await call('POST', '/api/v1/tokens', creds.admin, { role: 'viewer', name: 'grafana', days: 7 });
    expect(t.statusCode).toBe(200);
    const token = t.json().token as string;
    expect((await call('GET', '/api/v1/metrics', `Bearer ${token}`)).statusCode).toBe(200);
    const u = await call('POST', '/api/v1/users', creds.admin, { role: 'viewer', name: 'victor' });
    expect(u.statusCode).toBe(200);
    expect(
      (
        await app.inject({
          method: 'POST',
          url: '/api/v1/login',
          payload: { name: 'victor', password: u.json().password },
        })
      ).statusCode,
    ).toBe(200);
    expect((await call('POST', '/api/v1/users', creds.admin, { role: 'root', name: 'x' })).statusCode).toBe(
      400,
    );
    const log = readFileSync(audit.path, 'utf8');
    expect(log).not.toContain(token.slice(4));
    expect(log).not.toContain(u.json().password);
    expect(log).toContain('"action":"user.add"');
  });

  it('/healthz holds no data', async () => {
    expect((await call('GET', '/healthz')).json()).toEqual({ status: 'ok' });
  });

  it('answers metrics with the same k-anonymity as the CLI', async () => {
    const res = await call(
      'GET',
      '/api/v1/metrics/activations?grain=day&by=product_model,region',
      creds.viewer,
    );
    expect(res.statusCode).toBe(200);
    const answer = res.json();
    expect(answer.k).toBe(10);
    expect(answer.groups.some((g: { suppressed: string }) => g.suppressed !== 'none')).toBe(true);
    for (const g of answer.groups) if (g.suppressed === 'none') expect(g.units).toBeGreaterThanOrEqual(10);
    const direct = await reader.query({
      metric: 'activations',
      grain: 'day',
      by: ['product_model', 'region'],
    });
    expect(answer.groups).toEqual(JSON.parse(JSON.stringify(direct.groups)));
  });

  it('answers carry every field the handler gave: the response schemas drop nothing', async () => {
    const plain = (v: unknown) => JSON.parse(JSON.stringify(v));
    const get = async (url: string) => {
      const res = await call('GET', url, creds.admin);
      expect(res.statusCode, url).toBe(200);
      return res.json();
    };
    for (const m of readMetricsFile(METRICS).metrics.values()) {
      const by = m.dimensions.slice(0, 2);
      const answer = await get(`/api/v1/metrics/${m.name}?grain=week&by=${by.join(',')}`);
      expect(answer, m.name).toEqual(plain(await reader.query({ metric: m.name, grain: 'week', by })));
    }
    expect(await get('/api/v1/regressions')).toEqual(plain(await detectRegressions(reader)));
    const sql = 'SELECT product_model, count(*) n, min(id) AS first_id FROM devices GROUP BY 1 ORDER BY 1';
    const rows = await call('POST', '/api/v1/sql', creds.analyst, { sql });
    expect(rows.json()).toEqual(plain(await reader.sql(sql, { maxRows: 1000, timeoutMs: 5000 })));
    const { freshnessSeconds: _f, ...status } = await get('/api/v1/status');
    const { freshnessSeconds: _g, ...direct } = await reader.storeStatus();
    expect(status).toEqual(plain({ k: 10, ...direct, state: status.state }));
    expect(status.state.digests.length).toBe(status.state.version);
    expect((await get('/api/v1/approvals')).proposals).toEqual(plain(approvals.list()));
    const tokens = new TokenStore(join(dir, 'tokens.json')).list().map(({ hash: _h, ...t }) => t);
    expect((await get('/api/v1/tokens')).tokens).toEqual(plain(tokens));
    expect((await get('/api/v1/users')).users).toEqual(
      plain(users.list().map(({ passwordHash: _p, ...u }) => u)),
    );
    expect((await get('/api/v1/audit?limit=50')).records).toEqual(plain(audit.recent(50)));
  });

  it('publishes OpenAPI 3.1 generated from the route schemas: requests, answers, roles, codes', async () => {
    const doc = (await call('GET', '/api/v1/openapi.json', creds.viewer)).json();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc['x-error-codes']).toEqual(Object.keys(ERROR_CATALOG));
    for (const route of app.fvRoutes.filter((r) => r.kind !== 'static')) {
      const op = doc.paths[route.url.replace(/:([A-Za-z]+)/g, '{$1}')]?.[route.method.toLowerCase()];
      const cell = `${route.method} ${route.url}`;
      expect(op?.summary, cell).toBeTruthy();
      if (route.access === 'public') expect(op.security, cell).toEqual([]);
      else expect(op['x-fleetvault-role'], cell).toBe(route.access);
      expect(op.responses['4XX'].content['application/json'].schema.properties.error, cell).toBeDefined();
      if (route.url !== '/metrics')
        expect(op.responses['200'].content['application/json'].schema.type, cell).toBe('object');
      if (
        route.method === 'POST' &&
        route.url !== '/api/v1/logout' &&
        !route.url.endsWith('approve') &&
        !route.url.endsWith('reject')
      )
        expect(op.requestBody.content['application/json'].schema.required, cell).toBeDefined();
    }
    expect(doc.paths['/api/v1/metrics/{name}'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['grain', 'by', 'from', 'to', 'filter', 'name']),
    );
  });

  it('rejects bad input with a 4xx that names the field', async () => {
    const grain = await call('GET', '/api/v1/metrics/activations?grain=year', creds.viewer);
    expect(grain.statusCode).toBe(400);
    expect(grain.json().error.message).toContain('grain');
    expect((await call('GET', '/api/v1/metrics/activations?evil=1', creds.viewer)).statusCode).toBe(400);
    expect((await call('GET', '/api/v1/metrics/nope', creds.viewer)).statusCode).toBe(404);
    expect((await call('GET', '/api/v1/metrics/activations?by=nope', creds.viewer)).statusCode).toBe(400);
    const big = await app.inject({
      method: 'DELETE',
      url: `/api/v1/tokens/${victim}`,
      headers: { authorization: creds.admin as string, 'content-type': 'application/json' },
      payload: 'x'.repeat(64 * 1024),
    });
    expect(big.statusCode).toBe(413);
    const crash = await call('GET', '/api/v1/metrics/activations?from=2026-13-45', creds.viewer);
    expect(crash.statusCode).toBe(400);
    expect(crash.body).not.toMatch(/\n\s+at /);
  });

  it('no API response or audit record contains a canary', async () => {
    const bodies: string[] = [];
    for (const m of readMetricsFile(METRICS).metrics.values()) {
      for (const by of [[], m.dimensions.slice(0, 2)]) {
        bodies.push(
          (await call('GET', `/api/v1/metrics/${m.name}?grain=day&by=${by.join(',')}`, creds.admin)).body,
        );
      }
    }
    for (const url of [
      '/api/v1/status',
      '/api/v1/audit?limit=1000',
      '/api/v1/openapi.json',
      '/api/v1/tokens',
      '/metrics',
    ]) {
      bodies.push((await call('GET', url, creds.admin)).body);
    }
    bodies.push(readFileSync(audit.path, 'utf8'));
    const all = bodies.join('\n');
    expect(all).not.toContain('$argon2');
    expect(all).toContain('fleetvault_metric_latest_week_value{metric="active_devices"}');
    for (const c of canaries) expect(all.includes(c), c).toBe(false);
    for (const t of ['viewer', 'analyst', 'admin'])
      expect(all.includes(String(creds[t]).slice(7))).toBe(false);
  });

  it('audits data requests and refusals in a chain that `audit verify` checks', async () => {
    const records = audit.recent(1000);
    expect(records.some((r) => r.action === 'metric.query' && r.outcome === 'ok')).toBe(true);
    expect(records.some((r) => r.action === 'auth.refused')).toBe(true);
    const ok = await runCli(['audit', 'verify', '--audit-log', audit.path]);
    expect(ok.code, ok.stdout).toBe(0);
    const lines = readFileSync(audit.path, 'utf8').trimEnd().split('\n');
    const tampered = join(dir, 'tampered.jsonl');
    const edited = [...lines];
    edited[3] = (edited[3] as string)
      .replace('"outcome":"ok"', '"outcome":"refused"')
      .replace('"outcome":"refused"', '"outcome":"ok"');
    edited[3] = (edited[3] as string).replace(/"ts":"[^"]+"/, '"ts":"2020-01-01T00:00:00.000Z"');
    for (const [variant, expectLine] of [
      [edited, 4],
      [[...lines.slice(0, 2), ...lines.slice(3)], 3],
      [[lines[0], lines[2], lines[1], ...lines.slice(3)], 2],
    ] as const) {
      writeFileSync(tampered, `${variant.join('\n')}\n`);
      const r = await runCli(['audit', 'verify', '--audit-log', tampered, '--json']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout).firstBad.line).toBe(expectLine);
    }
  });

  it('serve --sync-every syncs on a schedule and answers from the fresh data', async () => {
    const state = mkdtempSync(join(tmpdir(), 'fv-serve-sync-'));
    const made = await runCli(['tokens', 'create', '--role', 'viewer', '--state-dir', state, '--json']);
    const token = JSON.parse(made.stdout).token as string;
    let port = 0;
    const args = [
      'serve',
      '--store',
      join(state, 'store.duckdb'),
      '--metrics',
      METRICS,
      '--state-dir',
      state,
      '--listen',
      '127.0.0.1:0',
    ];
    const child = spawn(
      process.execPath,
      [
        BIN,
        ...args,
        '--sync-every',
        '10s',
        '--source',
        db.url,
        '--policy',
        POLICY,
        '--key-file',
        join(dir, 'k'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const count = async () => {
      const res = await fetch(
        `http://127.0.0.1:${port}/api/v1/metrics/connection_attempts?grain=month&from=2026-11-01&to=2026-11-30`,
        {
          headers: { authorization: `Bearer ${token}` },
        },
      );
      expect(res.status).toBe(200);
      const body = (await res.json()) as { totals: Array<{ values: { value: number } }> };
      return body.totals[0]?.values.value ?? 0;
    };
    try {
      await new Promise<void>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          port = Number(/on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1] ?? 0);
          if (port > 0 && out.includes('Syncing every')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      const before = await count();
      await db.query(
        "INSERT INTO connection_events (id, device_id, ts, outcome, error_code, rssi, duration_ms, client_ip, app_version) SELECT m.mx + row_number() OVER (), d.id, TIMESTAMPTZ '2026-11-15 12:00:00+00', 'success', NULL, -60, 200, '10.0.0.1', '4.12.0' FROM generate_series(1, 3) g CROSS JOIN (SELECT v.id FROM devices v JOIN users u ON u.id = v.user_id WHERE u.deleted_at IS NULL ORDER BY v.id LIMIT 40) d CROSS JOIN (SELECT max(id) AS mx FROM connection_events) m",
      );
      let after = before;
      // A sync every 10 s: the change shows within a few; the bound only stops a hang (the whole
      // suite's load once made the first scheduled run and serve's start take most of 90 s).
      for (let i = 0; i < 150 && after === before; i++) {
        await new Promise((r) => setTimeout(r, 1000));
        after = await count();
      }
      expect(after - before).toBe(120);
      const audit = readFileSync(join(state, 'audit.jsonl'), 'utf8');
      expect(audit.match(/"action":"sync","outcome":"ok"/g)?.length).toBeGreaterThanOrEqual(2);
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
      }
    }
  }, 240_000);

  it('serve refuses a non-loopback address without TLS, and serves loopback for real', async () => {
    const r = await runCli([
      'serve',
      '--store',
      store,
      '--metrics',
      METRICS,
      '--state-dir',
      dir,
      '--listen',
      '0.0.0.0:8788',
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_LISTEN_INSECURE');
    let port = 0;
    reader.close();
    // Once a signed state exists, a store is served only after a sync under it bound it.
    const seal = await runCli([
      'approvals',
      'seal',
      '--policy',
      POLICY,
      '--token',
      (creds.admin as string).slice(7),
      '--state-dir',
      dir,
    ]);
    expect(seal.code, seal.stderr).toBe(0);
    const bound = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      POLICY,
      '--store',
      store,
      '--key-file',
      keyFile,
      '--state-dir',
      dir,
    ]);
    expect(bound.code, bound.stderr).toBe(0);
    const child = spawn(
      process.execPath,
      [BIN, 'serve', '--store', store, '--metrics', METRICS, '--state-dir', dir, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => {
          const m = /on http:\/\/127\.0\.0\.1:(\d+)\//.exec(String(d));
          if (m) {
            port = Number(m[1]);
            resolve();
          }
        });
        child.on('exit', () => reject(new Error(`serve exited: ${stderr}`)));
      });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/api/v1/metrics`)).status).toBe(401);
      const ok = await fetch(`http://127.0.0.1:${port}/api/v1/metrics`, {
        headers: { authorization: creds.viewer as string },
      });
      expect(ok.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
      reader = await openMetricsReader(store, readMetricsFile(METRICS));
    }
  });
  it('rate-limits login attempts', async () => {
    // An address of its own: its fixed one-minute window starts at its first attempt, not at an
    // earlier test's sign-in (a window ending halfway would restart the count).
    const codes: number[] = [];
    for (let i = 0; i < 16; i++) {
      codes.push(
        (
          await app.inject({
            method: 'POST',
            url: '/api/v1/login',
            remoteAddress: '127.0.0.99',
            payload: { name: 'mallory', password: 'guess' },
          })
        ).statusCode,
      );
    }
    expect(codes).toContain(429);
  });
});
