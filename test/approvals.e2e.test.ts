// End to end (slow): the two-person rule through the CLI, the API, the dashboard and hand-edited
// files. One admin alone can weaken nothing; a second admin's approval makes the same change work.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Approvals } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { openMetricsReader } from '../src/engines/index.ts';
import { type Principal, TokenStore, UserStore } from '../src/identity/index.ts';
import { readMetricsFile } from '../src/metrics/index.ts';
import { buildServer } from '../src/server/index.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { addAdminsByCli } from './helpers/enroll.ts';
import { dumpStore } from './helpers/store-dump.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

const CHROMIUM = process.env.FV_CHROMIUM ?? '/usr/bin/chromium';

describe('two-person rule', () => {
  let s: SyncedStore;
  let state: string;
  const pw: Record<string, string> = {};

  const as = (who: string) => ({ env: { FLEETVAULT_PASSWORD: pw[who] ?? '' } });
  const sync = (policy = DEMO_POLICY) =>
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
  const proposalId = (stdout: string) => /Proposal ([0-9a-f]{10})/.exec(stdout)?.[1] as string;

  /** `serve` in its own process: resolves to its port, or to its exit code and stderr when it refuses. */
  function serve(
    args: string[],
  ): Promise<
    | { port: number; stop: () => Promise<void>; errors: () => string }
    | { code: number | null; stderr: string }
  > {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--store',
        s.store,
        '--metrics',
        DEMO_METRICS,
        '--policy',
        DEMO_POLICY,
        '--key-file',
        s.keyFile,
        '--state-dir',
        state,
        '--listen',
        '127.0.0.1:0',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    return new Promise((resolve) => {
      child.stdout.on('data', (d) => {
        const m = /on https?:\/\/[^/]+:(\d+)\//.exec(String(d));
        if (m)
          resolve({
            port: Number(m[1]),
            errors: () => stderr,
            stop: () =>
              new Promise<void>((r) => {
                child.on('exit', () => r());
                child.kill('SIGTERM');
              }),
          });
      });
      child.on('exit', (code) => resolve({ code, stderr }));
    });
  }

  beforeAll(async () => {
    s = await syncedStore({ users: 500, days: 4, seed: 21 });
    state = join(s.dir, 'state');
    // The bootstrap: the first two admins need nobody's approval (there is nobody yet).
    Object.assign(pw, await addAdminsByCli(state));
    // One admin records the shipped policy in the signed state (one signature: nothing is weaker).
    const sealed = await approvals(['seal', '--policy', DEMO_POLICY], 'alice');
    expect(sealed.code, sealed.stderr).toBe(0);
    expect((await sync()).code).toBe(0);
  });

  afterAll(async () => {
    await s?.db.drop();
  });

  it('CLI: a third admin needs a second admin; self-approval and reuse are refused', async () => {
    const alone = await runCli(['users', 'add', '--name', 'carol', '--role', 'admin', '--state-dir', state]);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('FV_APPROVAL_REQUIRED');
    const viewer = await runCli(['users', 'add', '--name', 'vera', '--role', 'viewer', '--state-dir', state]);
    expect(viewer.code, viewer.stderr).toBe(0); // a viewer weakens nothing

    const p = await approvals(
      ['propose', '--new-user', 'carol', '--role', 'admin', '--reason', 'on-call rotation'],
      'alice',
    );
    expect(p.code, p.stderr).toBe(0);
    const id = proposalId(p.stdout);
    expect(p.stdout).toContain('new user "carol": none  ->  admin');
    const self = await approvals(['approve', id], 'alice');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('a different admin must decide it');
    const wrongPw = await runCli(['approvals', 'approve', id, '--user', 'bob', '--state-dir', state], {
      env: { FLEETVAULT_PASSWORD: 'guess' },
    });
    expect(wrongPw.code).toBe(1);
    const ok = await approvals(['approve', id], 'bob');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('new user "carol": none  ->  admin');
    const made = await runCli([
      'users',
      'add',
      '--name',
      'carol',
      '--role',
      'admin',
      '--approval',
      id,
      '--state-dir',
      state,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const again = await runCli([
      'tokens',
      'create',
      '--name',
      'carol',
      '--role',
      'admin',
      '--approval',
      id,
      '--state-dir',
      state,
    ]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('FV_APPROVAL_INVALID');
    // Restoring an old copy of the proposals file does not make a used approval usable again.
    const t = await approvals(
      ['propose', '--new-token', 'ci', '--role', 'analyst', '--reason', 'pipeline'],
      'alice',
    );
    const tid = proposalId(t.stdout);
    expect((await approvals(['approve', tid], 'bob')).code).toBe(0);
    const copy = readFileSync(join(state, 'proposals.json'), 'utf8');
    const token = [
      'tokens',
      'create',
      '--name',
      'ci',
      '--role',
      'analyst',
      '--approval',
      tid,
      '--state-dir',
      state,
    ];
    expect((await runCli(token)).code).toBe(0);
    writeFileSync(join(state, 'proposals.json'), copy);
    const replay = await runCli(token);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain(`proposal ${tid} is applied`);
  });

  it('CLI: a weaker policy is refused for the sync, store untouched, and works once approved', async () => {
    const weaker = join(s.dir, 'weaker.policy.yaml');
    writeFileSync(
      weaker,
      readFileSync(DEMO_POLICY, 'utf8')
        .replace('k: 10', 'k: 5')
        .replace(
          'local_ip:         { class: personal, transform: { ip_prefix: 16 } }',
          'local_ip:         { class: personal, transform: { ip_prefix: 24 } }',
        ),
    );
    const before = await dumpStore(s.store);
    const refused = await sync(weaker);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FV_STATE_WEAKER');
    expect(refused.stderr).toContain('k: approved 10, configured 5');
    expect(refused.stderr).toContain('column devices.local_ip');
    expect(await dumpStore(s.store)).toBe(before);

    const p = await approvals(['propose', '--policy', weaker, '--reason', 'finer network analysis'], 'alice');
    expect(p.code, p.stderr).toBe(0);
    const id = proposalId(p.stdout);
    const shown = await approvals(['show', id]);
    expect(shown.stdout).toContain('k: 10  ->  5');
    expect(shown.stdout).toContain('devices.local_ip');
    expect((await approvals(['reject', id], 'bob')).code).toBe(0);
    expect((await sync(weaker)).code).toBe(1); // rejected is not approved

    const p2 = await approvals(
      ['propose', '--policy', weaker, '--reason', 'finer network analysis, take two'],
      'alice',
    );
    expect((await approvals(['approve', proposalId(p2.stdout)], 'bob')).code).toBe(0);
    const r = await sync(weaker);
    expect(r.code, r.stderr).toBe(0);
    // Strengthening needs one admin's signature: back to the shipped policy, which is then the floor again.
    expect((await sync()).code).toBe(0);
    expect((await approvals(['seal', '--policy', DEMO_POLICY], 'bob')).code).toBe(0);
    expect((await sync(weaker)).code).toBe(1);
  });

  it('hand-edited files: an unapproved admin token, an edited or deleted approved state, a forged proposal', async () => {
    const tokens = new TokenStore(join(state, 'tokens.json'));
    const sneaky = tokens.create({ role: 'admin', name: 'sneaky', days: 1 }); // as if someone edited tokens.json
    const refused = await serve([]);
    expect('code' in refused && refused.code).toBe(1);
    expect((refused as { stderr: string }).stderr).toContain(
      `principal token:${sneaky.record.id}: approved not approved, configured admin`,
    );
    tokens.revoke(sneaky.record.id);
    const started = await serve([]);
    expect('port' in started).toBe(true);
    if ('port' in started) await started.stop();

    const file = join(state, 'approved-state.json');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original.replace('"k": 10', '"k": 2'));
    const edited = await sync();
    expect(edited.code).toBe(1);
    expect(edited.stderr).toContain('FV_STATE_TAMPERED');
    rmSync(file);
    const deleted = await sync();
    expect(deleted.stderr).toContain('FV_STATE_TAMPERED');
    expect(deleted.stderr).toContain('audit log shows it was sealed');
    writeFileSync(file, original);

    const p = await approvals(['propose', '--probe-every', 'off', '--reason', 'maintenance window'], 'alice');
    const proposals = join(state, 'proposals.json');
    const saved = readFileSync(proposals, 'utf8');
    writeFileSync(proposals, saved.replace('"proposedBy": "user:', '"proposedBy": "user:x'));
    const forged = await approvals(['approve', proposalId(p.stdout)], 'alice');
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain('FV_STATE_TAMPERED');
    writeFileSync(proposals, saved);

    // Disabling the probe: refused alone, allowed after bob approves.
    const noProbe = await serve(['--probe-every', 'off']);
    expect((noProbe as { stderr: string }).stderr).toContain('probe: approved every 300 s, configured off');
    expect((await approvals(['approve', proposalId(p.stdout)], 'bob')).code).toBe(0);
    const approved = await serve(['--probe-every', 'off']);
    expect('port' in approved).toBe(true);
    if ('port' in approved) await approved.stop();
  });

  it('listening beyond loopback needs a second admin, and the probe flags a certificate that does not verify', async () => {
    const ip = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
    expect(ip, 'this test needs a non-loopback IPv4 address').toBeDefined();
    const cert = join(s.dir, 'cert.pem');
    const certKey = join(s.dir, 'cert.key');
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        certKey,
        '-out',
        cert,
        '-days',
        '1',
        '-subj',
        '/CN=fleetvault-test',
      ],
      { stdio: 'ignore' },
    );
    const tls = ['--listen', `${ip}:0`, '--tls-cert', cert, '--tls-key', certKey];
    const alone = await serve(tls);
    expect((alone as { stderr: string }).stderr).toContain(
      `listen ${ip}:0: approved not approved, configured TLS on`,
    );
    const p = await approvals(['propose', ...tls, '--reason', 'office access'], 'alice');
    expect(p.code, p.stderr).toBe(0);
    expect((await approvals(['approve', proposalId(p.stdout)], 'bob')).code).toBe(0);
    const started = await serve(tls);
    expect('port' in started).toBe(true);
    if ('port' in started) {
      // The server's own probe, at start: a self-signed certificate beyond loopback is a finding.
      for (let i = 0; i < 100 && !started.errors().includes('ALERT'); i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(started.errors()).toMatch(
        /ALERT exposure probe[\s\S]*tls\s+https:\/\/[^ ]+\s+certificate not valid/,
      );
      await started.stop();
    }
  });

  it('expired proposals cannot be approved', async () => {
    const a = new Approvals(state, new AuditLog(join(state, 'audit.jsonl')));
    const users = new UserStore(join(state, 'users.json'));
    const signer = async (name: string) =>
      a.signer((await users.verify(name, pw[name] as string)) as Principal, pw[name] as string);
    const v = a.proposePrincipal(
      { type: 'token', role: 'analyst', name: 'late' },
      await signer('alice'),
      'expiry test',
      1,
    );
    const bob = await signer('bob');
    expect(() => a.approve(v.proposal.id, bob, Date.now() + 2 * 3_600_000)).toThrow(/expired/);
    expect(a.show(v.proposal.id).proposal.status).toBe('pending');
  });

  it('API and dashboard: refused alone, proposed, approved by the other admin, then created', async () => {
    const audit = new AuditLog(join(state, 'audit.jsonl'));
    const reader = await openMetricsReader(s.store, readMetricsFile(DEMO_METRICS));
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
    try {
      const session = async (name: string) => {
        const r = await fetch(`${base}/api/v1/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name, password: pw[name] }),
        });
        const csrf = ((await r.json()) as { csrfToken: string }).csrfToken;
        const cookie = String(r.headers.get('set-cookie')).split(';')[0] as string;
        return (method: string, path: string, body?: unknown) =>
          fetch(`${base}${path}`, {
            method,
            headers: {
              cookie,
              'x-csrf-token': csrf,
              ...(body ? { 'content-type': 'application/json' } : {}),
            },
            ...(body ? { body: JSON.stringify(body) } : {}),
          });
      };
      const alice = await session('alice');
      const bob = await session('bob');
      const alone = await alice('POST', '/api/v1/tokens', { role: 'analyst', name: 'etl' });
      expect(alone.status).toBe(403);
      expect(((await alone.json()) as { error: { code: string } }).error.code).toBe('FV_APPROVAL_REQUIRED');
      const proposed = await alice('POST', '/api/v1/approvals', {
        reason: 'nightly export',
        principal: { type: 'token', role: 'analyst', name: 'etl' },
      });
      expect(proposed.status).toBe(200);
      const id = ((await proposed.json()) as { proposal: { id: string } }).proposal.id;
      expect((await alice('POST', `/api/v1/approvals/${id}/approve`)).status).toBe(409);
      const approved = await bob('POST', `/api/v1/approvals/${id}/approve`);
      expect(approved.status).toBe(200);
      expect(
        ((await approved.json()) as { differences: Array<{ field: string }> }).differences[0]?.field,
      ).toBe('new token "etl"');
      const made = await alice('POST', '/api/v1/tokens', { role: 'analyst', name: 'etl', approval: id });
      expect(made.status).toBe(200);
      const k = await alice('POST', '/api/v1/approvals', { reason: 'small cohorts', settings: { k: 3 } });
      expect(k.status).toBe(200);
      const kId = ((await k.json()) as { proposal: { id: string } }).proposal.id;
      expect((await bob('POST', `/api/v1/approvals/${kId}/approve`)).status).toBe(200);
      expect(new Approvals(state, audit).approved().k).toBe(3);

      // The dashboard: alice is refused, proposes; bob sees the exact change and approves; alice creates.
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
      try {
        const signIn = async (name: string) => {
          const page = await (await browser.newContext()).newPage();
          await page.goto(`${base}/#/admin`);
          await page.getByLabel('User name').fill(name);
          await page.getByLabel('Password').fill(pw[name] as string);
          await page.keyboard.press('Enter');
          // A link followed before signing in is restored after it: the admin page, not the overview.
          await page.getByRole('heading', { name: 'Approvals (two-person rule)' }).waitFor();
          return page;
        };
        const pa = await signIn('alice');
        await pa.getByLabel('New token name').fill('grafana');
        await pa.locator('#token-approval').locator('xpath=..').locator('select').selectOption('admin');
        await pa.getByRole('button', { name: 'Create token (30 days)' }).click();
        await pa.getByText('FV_APPROVAL_REQUIRED').waitFor();
        await pa.getByLabel('Reason').fill('dashboards');
        await pa.getByRole('button', { name: 'Propose to a second admin' }).click();
        const waiting = await pa
          .locator('#shown-once')
          .filter({ hasText: 'waits for a second admin' })
          .textContent();
        const uiId = /Proposal ([0-9a-f]{10})/.exec(String(waiting))?.[1] as string;
        expect(uiId).toMatch(/^[0-9a-f]{10}$/);
        await pa.locator(`button[data-proposal="${uiId}"]`, { hasText: 'Approve' }).click();
        await pa.getByText('a different admin must decide it').waitFor();

        const pb = await signIn('bob');
        const row = pb.locator('#proposals tr', { hasText: uiId });
        expect(await row.textContent()).toContain('new token "grafana": none → admin');
        await row.getByRole('button', { name: 'Approve' }).click();
        await pb.locator('#shown-once', { hasText: `Proposal ${uiId} approved.` }).waitFor();

        await pa.reload();
        await pa.getByRole('heading', { name: 'Approvals (two-person rule)' }).waitFor();
        await pa.getByLabel('New token name').fill('grafana');
        await pa.locator('#token-approval').locator('xpath=..').locator('select').selectOption('admin');
        await pa.locator('#token-approval').fill(uiId);
        await pa.getByRole('button', { name: 'Create token (30 days)' }).click();
        await pa.locator('#shown-once', { hasText: 'New token, shown once' }).waitFor();
      } finally {
        await browser.close();
      }
      const log = readFileSync(join(state, 'audit.jsonl'), 'utf8');
      for (const action of [
        'approvals.propose',
        'approvals.approve',
        'approvals.reject',
        'approvals.principal',
        'approvals.check',
      ]) {
        expect(log, action).toContain(`"action":"${action}"`);
      }
    } finally {
      await app.close();
      reader.close();
    }
  });
});
