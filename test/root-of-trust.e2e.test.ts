// End to end (slow): the two-person rule attacked by one admin with a shell on the machine and no
// code of their own, the way the outside review did (issue 12), plus further single-admin attempts.
// Each attempt must end refused or alarmed, with the store untouched and nothing served weaker.
import { spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import argon2 from 'argon2';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { canonical, signedText, stateDigest } from '../src/approvals/approved-state.ts';
import { Approvals, BINDING_META, type StateDoc, seenFile } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { duckdb, openMetricsReader } from '../src/engines/index.ts';
import { type Principal, UserStore } from '../src/identity/index.ts';
import { readMetricsFile } from '../src/metrics/index.ts';
import { BIN, runCli } from './helpers/cli.ts';
import { startClickHouseCluster } from './helpers/clickhouse-cluster.ts';
import { addAdminsByCli } from './helpers/enroll.ts';
import { dumpStore } from './helpers/store-dump.ts';
import { DEMO_METRICS, DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';
import { startWebhookReceiver } from './helpers/webhook-receiver.ts';

const CHROMIUM = process.env.FV_CHROMIUM ?? '/usr/bin/chromium';

/** The files of a state folder (next to the store here, as by default): what a shell admin edits. */
const STATE_FILES = [
  'approved-state.json',
  'states',
  'keys',
  'audit.jsonl',
  'audit.jsonl.head',
  'tokens.json',
  'users.json',
  'proposals.json',
];

/**
 * The store's binding names its state folder by absolute path (the default a command without
 * --state-dir finds): a copied deployment's store is pointed at the copy's own folder.
 */
async function moveBinding(storePath: string, stateDir: string): Promise<void> {
  const store = await duckdb.openStore(storePath);
  try {
    const binding = JSON.parse((await store.meta(BINDING_META)) as string);
    await store.setMeta(BINDING_META, JSON.stringify({ ...binding, stateDir }));
  } finally {
    await store.close();
  }
}

type Served = { port: number; stop: () => Promise<void>; errors: () => string; out: () => string };
type Refused = { code: number | null; stderr: string };

describe('root of trust: one admin with a shell cannot weaken the deployment alone', () => {
  let s: SyncedStore;
  /** This attempt's deployment folder: its state folder, beside its store and key file. */
  let state: string;
  let store: string;
  let keyFile: string;
  /** The deployment and the CLI's record of states seen, as beforeAll left them: each attempt starts from a copy. */
  const baseline = mkdtempSync(join(tmpdir(), 'fv-rot-baseline-'));
  const pw: Record<string, string> = {};
  let viewer = '';
  let watcher = '';
  const results: Array<[string, string]> = [];
  const record = (attempt: string, outcome: string) => results.push([attempt, outcome]);

  const as = (who: string) => ({ env: { FLEETVAULT_PASSWORD: pw[who] ?? '' } });
  const syncArgs = (policy = DEMO_POLICY, extra: string[] = []) => [
    'sync',
    '--source',
    s.db.url,
    '--policy',
    policy,
    '--store',
    store,
    '--key-file',
    keyFile,
    ...extra,
  ];
  const sync = (policy = DEMO_POLICY, extra: string[] = []) => runCli(syncArgs(policy, extra));
  const approvals = (args: string[], who?: string) =>
    runCli(['approvals', ...args, '--state-dir', state, ...(who ? ['--user', who] : [])], who ? as(who) : {});
  const proposalId = (stdout: string) => /Proposal ([0-9a-f]{10})/.exec(stdout)?.[1] as string;
  const current = (): StateDoc => JSON.parse(readFileSync(join(state, 'approved-state.json'), 'utf8'));
  const audit = () => readFileSync(join(state, 'audit.jsonl'), 'utf8');

  /** `serve` in its own process (state folder resolved next to the store unless given). */
  function serve(args: string[], cwd?: string): Promise<Served | Refused> {
    const child = spawn(
      process.execPath,
      [
        BIN,
        'serve',
        '--store',
        store,
        '--metrics',
        DEMO_METRICS,
        '--policy',
        DEMO_POLICY,
        '--key-file',
        keyFile,
        '--listen',
        '127.0.0.1:0',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) },
    );
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    return new Promise((resolve) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = /on https?:\/\/[^/]+:(\d+)\//.exec(String(d));
        if (m)
          resolve({
            port: Number(m[1]),
            errors: () => stderr,
            out: () => stdout,
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
  const refused = (r: Served | Refused, code: string): string => {
    expect('code' in r, 'serve must refuse to start').toBe(true);
    if ('port' in r) void r.stop();
    expect((r as Refused).code).toBe(1);
    expect((r as Refused).stderr).toContain(code);
    return (r as Refused).stderr;
  };
  const until = async (what: () => boolean, ms = 30_000) => {
    const end = Date.now() + ms;
    while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect(what()).toBe(true);
  };

  /** Puts the state folder back as it was before an attempt. */
  function snapshot(files = STATE_FILES): () => void {
    const copy = mkdtempSync(join(tmpdir(), 'fv-state-copy-'));
    for (const f of files)
      if (existsSync(join(state, f))) cpSync(join(state, f), join(copy, f), { recursive: true });
    return () => {
      // The test's own CLI record of states seen goes too: a restore here is the test's, not an attack.
      rmSync(seenFile(), { force: true });
      for (const f of files) rmSync(join(state, f), { recursive: true, force: true });
      for (const f of readdirSync(copy)) cpSync(join(copy, f), join(state, f), { recursive: true });
    };
  }

  beforeAll(async () => {
    s = await syncedStore({ users: 400, days: 4, seed: 12 });
    [state, store, keyFile] = [s.dir, s.store, s.keyFile]; // the default: the state folder is the store's own folder
    Object.assign(pw, await addAdminsByCli(state));
    for (const name of ['viewer', 'watcher']) {
      const r = await runCli([
        'tokens',
        'create',
        '--role',
        'viewer',
        '--name',
        name,
        '--state-dir',
        state,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      if (name === 'viewer') viewer = JSON.parse(r.stdout).token;
      else watcher = JSON.parse(r.stdout).token;
    }
    const sealed = await approvals(['seal', '--policy', DEMO_POLICY], 'alice');
    expect(sealed.code, sealed.stderr).toBe(0);
    const r = await sync(); // binds the store to the signed state (no --state-dir: next to the store)
    expect(r.code, r.stderr).toBe(0);
    cpSync(s.dir, join(baseline, 'deployment'), { recursive: true });
    cpSync(dirname(seenFile()), join(baseline, 'seen', 'fleetvault'), { recursive: true });
  });

  // Each attempt on a fresh copy of the baseline in a folder of its own, with its own record of
  // states seen: one that fails or times out half-way cannot leave anything behind for the next.
  beforeEach(async () => {
    const attempt = mkdtempSync(join(tmpdir(), 'fv-rot-attempt-'));
    state = join(attempt, 'deployment');
    cpSync(join(baseline, 'deployment'), state, { recursive: true });
    cpSync(join(baseline, 'seen'), join(attempt, 'seen'), { recursive: true });
    process.env.XDG_STATE_HOME = join(attempt, 'seen');
    store = join(state, basename(s.store));
    keyFile = join(state, basename(s.keyFile));
    await moveBinding(store, state);
  });

  afterAll(async () => {
    // The count the README's test list reports.
    process.stderr.write(
      `root-of-trust attempts: ${results.length}\n${results.map(([a, o]) => `  ${a}: ${o}`).join('\n')}\n`,
    );
    await s?.db.drop();
  });

  it('bootstrap is visible: two admins enrolled alone, each audited as bootstrap; a third needs approval', async () => {
    const doc = current();
    expect(doc.signatures.length).toBeGreaterThan(0);
    expect(Object.values(doc.state.principals ?? {}).filter((r) => r === 'admin')).toHaveLength(2);
    expect(audit().match(/"bootstrap":true/g)?.length).toBeGreaterThanOrEqual(2);
    const third = await runCli([
      'users',
      'add',
      '--name',
      'mallory',
      '--role',
      'admin',
      '--state-dir',
      state,
    ]);
    expect(third.code).toBe(1);
    expect(third.stderr).toContain('FV_APPROVAL_REQUIRED');
    for (const f of readdirSync(join(state, 'keys'))) {
      // Private halves only sealed: no PEM, no raw key in any key file.
      expect(readFileSync(join(state, 'keys', f), 'utf8')).not.toMatch(/PRIVATE KEY/);
    }
    record('third admin by one admin (bootstrap over)', 'refused FV_APPROVAL_REQUIRED');
  });

  it('finding 1: roles edited in tokens.json while serve runs are refused and raise the alarm; forged admins cannot sign; a clean restart keeps the signed state', async () => {
    const restore = snapshot(['tokens.json']);
    const before = await dumpStore(store);
    const version = current().version;
    const receiver = await startWebhookReceiver<{ findings: Array<{ kind: string; where: string }> }>();
    const { received, url: hook } = receiver;
    const served = await serve(['--probe-every', '2s', '--alert-webhook', hook]);
    expect('port' in served, (served as Refused).stderr).toBe(true);
    const srv = served as Served;
    const base = `http://127.0.0.1:${srv.port}`;
    const get = (path: string, token: string) =>
      fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    try {
      expect((await get('/api/v1/metrics', viewer)).status).toBe(200);
      expect((await get('/api/v1/tokens', viewer)).status).toBe(403);
      // The edit: the viewer's role becomes admin, and a hand-made admin token is appended.
      const file = join(state, 'tokens.json');
      const tokens = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
      const viewerId = /^fvt_([0-9a-f]{12})_/.exec(viewer)?.[1];
      const secret = randomBytes(32).toString('base64url');
      const forgedId = randomBytes(6).toString('hex');
      const forged = `fvt_${forgedId}_${secret}`;
      writeFileSync(
        file,
        JSON.stringify([
          ...tokens.map((t) => (t.id === viewerId ? { ...t, role: 'admin' } : t)),
          {
            id: forgedId,
            name: 'forged',
            role: 'admin',
            hash: createHash('sha256').update(secret).digest('hex'),
            createdAt: new Date().toISOString(),
            expiresAt: null,
            revokedAt: null,
          },
        ]),
      );
      for (const t of [viewer, forged]) {
        const r = await get('/api/v1/tokens', t);
        expect(r.status).toBe(403);
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('FV_PRINCIPAL_UNAPPROVED');
      }
      // The same alarm as an exposure finding: stderr, webhook, audit, gauge, banner (status).
      await until(() => received.some((a) => a.findings.some((f) => f.kind === 'unapproved-principal')));
      await until(() => srv.errors().includes('unapproved-principal'));
      expect(srv.errors()).toContain('ALERT');
      expect(audit()).toContain('"action":"auth.unapproved"');
      await until(() => /"action":"probe.run"[^\n]*unapproved-principal/.test(audit()));
      const gauge = await (await get('/metrics', watcher)).text();
      expect(gauge).toMatch(/^fleetvault_exposure_findings [1-9]\d*$/m);
      const status = (await (await get('/api/v1/status', watcher)).json()) as {
        exposure: { findings: Array<{ kind: string }> };
      };
      expect(status.exposure.findings.map((f) => f.kind)).toContain('unapproved-principal');
      // The two forged admins try to approve each other's proposals: neither holds a key the state names.
      const propose = await runCli([
        'approvals',
        'propose',
        '--token',
        forged,
        '--new-token',
        'x',
        '--role',
        'admin',
        '--reason',
        'sneaky',
        '--state-dir',
        state,
      ]);
      expect(propose.code).toBe(1);
      expect(propose.stderr).toContain('FV_APPROVAL_INVALID');
      const api = await fetch(`${base}/api/v1/approvals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${viewer}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'lower k', settings: { k: 2 } }),
      });
      expect(api.status).toBe(403);
      expect(current().version).toBe(version);
      record(
        'viewer token raised to admin in tokens.json at runtime',
        'refused 403 FV_PRINCIPAL_UNAPPROVED + alarm (stderr, webhook, audit, gauge, status banner)',
      );
      record('admin token line appended to tokens.json', 'refused 403 FV_PRINCIPAL_UNAPPROVED + alarm');
      record(
        'two forged admins approving each other',
        'refused FV_APPROVAL_INVALID / 403, no new state version',
      );
    } finally {
      await srv.stop();
      void receiver.close();
    }
    // A start with the edits in place is refused; undoing them gives a clean start with the same state.
    refused(await serve([]), 'FV_STATE_WEAKER');
    restore();
    const clean = await serve([]);
    expect('port' in clean).toBe(true);
    if ('port' in clean) await clean.stop();
    expect(current().version).toBe(version);
    expect(current().state.k).toBe(10);
    expect(await dumpStore(store)).toBe(before);
  });

  it('finding 2: an empty or another state folder, another working directory, a sync with a new state folder', async () => {
    const before = await dumpStore(store);
    const stateId = current().stateId;
    const empty = mkdtempSync(join(tmpdir(), 'fv-empty-state-'));
    const e = refused(await serve(['--state-dir', empty]), 'FV_STATE_MISMATCH');
    expect(e).toContain(stateId);
    expect(e).toContain('holds no signed security state');
    // One admin bootstraps a fresh state there alone: a different state, named as such.
    const other = mkdtempSync(join(tmpdir(), 'fv-other-state-'));
    expect((await runCli(['tokens', 'create', '--role', 'admin', '--state-dir', other])).code).toBe(0);
    const otherId = (JSON.parse(readFileSync(join(other, 'approved-state.json'), 'utf8')) as StateDoc)
      .stateId;
    const o = refused(await serve(['--state-dir', other]), 'FV_STATE_MISMATCH');
    expect(o).toContain(stateId);
    expect(o).toContain(otherId);
    // Another working directory: the state folder is still the store's, never ./.fleetvault.
    const elsewhere = mkdtempSync(join(tmpdir(), 'fv-cwd-'));
    const started = await serve([], elsewhere);
    expect('port' in started, (started as Refused).stderr).toBe(true);
    if ('port' in started) {
      expect(started.out()).toContain(`Security state ${stateId}`); // the state it serves under, named
      await started.stop();
    }
    expect(existsSync(join(elsewhere, '.fleetvault'))).toBe(false);
    expect(audit()).toContain('"action":"server.start"');
    // A weaker policy synced under a new state folder: refused before the store is opened.
    const weaker = join(tmpdir(), `weaker-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(weaker, readFileSync(DEMO_POLICY, 'utf8').replace('k: 10', 'k: 2'));
    const w = await sync(weaker, ['--state-dir', other]);
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('FV_STATE_MISMATCH');
    const q = await runCli([
      'metrics',
      'query',
      'activations',
      '--store',
      store,
      '--metrics',
      DEMO_METRICS,
      '--state-dir',
      empty,
    ]);
    expect(q.code).toBe(1);
    expect(q.stderr).toContain('FV_STATE_MISMATCH');
    const p = await runCli([
      'probe',
      '--url',
      'http://127.0.0.1:9',
      '--store',
      store,
      '--key-file',
      keyFile,
      '--state-dir',
      other,
    ]);
    expect(p.code).toBe(1);
    expect(p.stderr).toContain('FV_STATE_MISMATCH');
    expect(await dumpStore(store)).toBe(before);
    record('serve --state-dir <empty folder>', 'refused FV_STATE_MISMATCH');
    record(
      'serve with a state one admin bootstrapped elsewhere',
      'refused FV_STATE_MISMATCH naming both state ids',
    );
    record(
      'serve from another working directory',
      'served under the real state (resolved next to the store)',
    );
    record('sync --state-dir <new> with a weaker policy', 'refused FV_STATE_MISMATCH, store untouched');
    record('metrics query / probe with another state folder', 'refused FV_STATE_MISMATCH');
  });

  it('finding 3: state and audit log deleted, the audit log cut above its first seal, an older state put back', async () => {
    const before = await dumpStore(store);
    let restore = snapshot();
    for (const f of ['approved-state.json', 'states', 'audit.jsonl'])
      rmSync(join(state, f), { recursive: true, force: true });
    refused(await serve([]), 'FV_STATE_MISMATCH');
    const sy = await sync();
    expect(sy.code).toBe(1);
    expect(sy.stderr).toContain('FV_STATE_MISMATCH');
    restore();
    record(
      'approved state, its history and the audit log deleted',
      'refused FV_STATE_MISMATCH (the store names its state)',
    );

    restore = snapshot();
    const lines = audit().split('\n');
    const firstSeal = lines.findIndex((l) => l.includes('"action":"approvals.seal"'));
    const kept = lines.slice(0, firstSeal);
    writeFileSync(join(state, 'audit.jsonl'), kept.length > 0 ? `${kept.join('\n')}\n` : '');
    const v = await runCli(['audit', 'verify', '--state-dir', state, '--store', store]);
    expect(v.code).toBe(1);
    expect(v.stdout).toMatch(/anchors record \d+/);
    refused(await serve([]), 'FV_AUDIT_TRUNCATED');
    rmSync(join(state, 'audit.jsonl'));
    expect((await runCli(['audit', 'verify', '--state-dir', state])).code).toBe(1);
    restore();
    expect((await runCli(['audit', 'verify', '--state-dir', state, '--store', store])).code).toBe(0);
    record(
      'audit log cut above its first seal record',
      'audit verify fails on the anchor; serve refused FV_AUDIT_TRUNCATED',
    );
    record('audit log deleted', 'audit verify fails on the anchor');

    // Tighten (one admin may), sync, then put the older state back.
    const old = readFileSync(join(state, 'approved-state.json'), 'utf8');
    const oldVersion = (JSON.parse(old) as StateDoc).version;
    const t = await approvals(['seal', '--probe-every', '1m'], 'alice');
    expect(t.code, t.stderr).toBe(0);
    expect((await sync()).code).toBe(0);
    const tightened = await dumpStore(store);
    restore = snapshot();
    writeFileSync(join(state, 'approved-state.json'), old);
    refused(await serve(['--probe-every', '5m']), 'FV_STATE_ROLLBACK');
    rmSync(join(state, 'states', `${String(oldVersion + 1).padStart(8, '0')}.json`));
    refused(await serve(['--probe-every', '5m']), 'FV_STATE_ROLLBACK');
    const sy2 = await sync();
    expect(sy2.code).toBe(1);
    expect(sy2.stderr).toContain('FV_STATE_ROLLBACK');
    expect(await dumpStore(store)).toBe(tightened);
    restore();
    // The tightened probe is now the floor: slower needs two admins.
    refused(await serve(['--probe-every', '5m']), 'FV_STATE_WEAKER');
    expect(before.length).toBeGreaterThan(0);
    record('older approved-state.json put back', 'refused FV_STATE_ROLLBACK');
    record(
      'older approved-state.json put back and newer history deleted',
      'refused FV_STATE_ROLLBACK (the store saw the newer version)',
    );
  });

  it('attempt: a state folder copied from another deployment (same admin names)', async () => {
    const before = await dumpStore(store);
    const restore = snapshot();
    const other = mkdtempSync(join(tmpdir(), 'fv-other-deploy-'));
    for (const name of ['alice', 'bob'])
      expect(
        (await runCli(['users', 'add', '--name', name, '--role', 'admin', '--state-dir', other])).code,
      ).toBe(0);
    for (const f of STATE_FILES) rmSync(join(state, f), { recursive: true, force: true });
    for (const f of readdirSync(other)) cpSync(join(other, f), join(state, f), { recursive: true });
    const e = refused(await serve([]), 'FV_STATE_MISMATCH');
    expect(e).toContain(
      (JSON.parse(readFileSync(join(other, 'approved-state.json'), 'utf8')) as StateDoc).stateId,
    );
    const weaker = join(tmpdir(), `weaker-${randomBytes(4).toString('hex')}.yaml`);
    writeFileSync(weaker, readFileSync(DEMO_POLICY, 'utf8').replace('k: 10', 'k: 2'));
    const w = await sync(weaker);
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('FV_STATE_MISMATCH');
    expect(await dumpStore(store)).toBe(before);
    restore();
    record('state folder copied from another deployment', 'refused FV_STATE_MISMATCH, store untouched');
  });

  it('attempt: a state re-signed with the old approvals key, with keys the attacker made, with one real admin key', async () => {
    const before = await dumpStore(store);
    let restore = snapshot();
    // (a) The old design: an HMAC under approvals.key, which every admin could read.
    const key = randomBytes(32);
    writeFileSync(join(state, 'approvals.key'), key.toString('base64'), { mode: 0o600 });
    const doc = current();
    const weakState = { ...doc.state, k: 2, probeSeconds: null };
    writeFileSync(
      join(state, 'approved-state.json'),
      JSON.stringify({
        format: 'fleetvault-approved-state-v1',
        state: weakState,
        updatedAt: new Date().toISOString(),
        signature: createHash('sha256').update(key).digest('hex'),
      }),
    );
    refused(await serve(['--probe-every', 'off']), 'FV_STATE_TAMPERED');
    restore();
    rmSync(join(state, 'approvals.key'), { force: true });

    // (b) Two admin keys the attacker made, added by the same version that lowers k.
    const forge = (
      signers: Array<{ id: string; key: import('node:crypto').KeyObject }>,
      extraKeys: Record<string, string>,
    ) => {
      const cur = current();
      const next = {
        ...cur.state,
        k: 2,
        probeSeconds: null,
        principals: {
          ...(cur.state.principals ?? {}),
          ...Object.fromEntries(Object.keys(extraKeys).map((id) => [id, 'admin' as const])),
        },
        keys: { ...(cur.state.keys ?? {}), ...extraKeys },
      };
      const version = cur.version + 1;
      const digest = stateDigest(cur.stateId, version, cur.digest, next);
      const text = signedText(cur.stateId, version, digest);
      const audit = { records: 0, hash: '0'.repeat(64) };
      const forged: StateDoc = {
        format: 'fleetvault-state-v2',
        stateId: cur.stateId,
        version,
        prev: cur.digest,
        state: next,
        digest,
        signatures: signers.map((sg) => ({
          by: sg.id,
          sig: sign(null, Buffer.from(text), sg.key).toString('base64'),
        })),
        audit: {
          ...audit,
          sig: sign(
            null,
            Buffer.from(canonical({ stateId: cur.stateId, version, audit })),
            (signers[0] as { key: import('node:crypto').KeyObject }).key,
          ).toString('base64'),
        },
        signedAt: new Date().toISOString(),
      };
      const body = JSON.stringify(forged, null, 2);
      writeFileSync(join(state, 'states', `${String(version).padStart(8, '0')}.json`), body);
      writeFileSync(join(state, 'approved-state.json'), body);
    };
    restore = snapshot();
    const made = [0, 1].map((i) => {
      const { privateKey, publicKey } = generateKeyPairSync('ed25519');
      return {
        id: `token:${'e'.repeat(11)}${i}`,
        key: privateKey,
        pub: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
      };
    });
    forge(made, Object.fromEntries(made.map((m) => [m.id, m.pub])));
    refused(await serve(['--probe-every', 'off']), 'FV_STATE_TAMPERED');
    const w = await sync();
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('FV_STATE_TAMPERED');
    restore();

    // (c) Alice's own, real key (she knows her password) signing the weaker version alone.
    restore = snapshot();
    const a = new Approvals(state, new AuditLog(join(state, 'audit.jsonl')));
    const alice = a.signer(
      (await new UserStore(join(state, 'users.json')).verify('alice', pw.alice as string)) as Principal,
      pw.alice as string,
    );
    forge([alice], {});
    const r = refused(await serve(['--probe-every', 'off']), 'FV_STATE_TAMPERED');
    expect(r).toContain('two different admins');
    restore();
    expect(await dumpStore(store)).toBe(before);
    record('state re-signed with an approvals.key HMAC (old format)', 'refused FV_STATE_TAMPERED');
    record('weaker version signed by two keys the attacker added in it', 'refused FV_STATE_TAMPERED');
    record('weaker version signed by one real admin key only', 'refused FV_STATE_TAMPERED');
  });

  it('attempt: an old store file put back (built under an approved lower k, or never bound)', async () => {
    // Two admins approve k = 5 for a while; a store is synced under it and copied away.
    const k5 = join(state, 'k5.policy.yaml');
    writeFileSync(k5, readFileSync(DEMO_POLICY, 'utf8').replace('k: 10', 'k: 5'));
    const p = await approvals(['propose', '--policy', k5, '--reason', 'pilot with small cohorts'], 'alice');
    expect(p.code, p.stderr).toBe(0);
    expect((await approvals(['approve', proposalId(p.stdout)], 'bob')).code).toBe(0);
    expect((await sync(k5)).code).toBe(0);
    const oldStore = join(mkdtempSync(join(tmpdir(), 'fv-old-store-')), 'store.duckdb');
    copyFileSync(store, oldStore);
    // Back to k = 10 (one admin may tighten), synced.
    expect((await approvals(['seal', '--policy', DEMO_POLICY], 'alice')).code).toBe(0);
    expect((await sync()).code).toBe(0);
    const current10 = join(mkdtempSync(join(tmpdir(), 'fv-cur-store-')), 'store.duckdb');
    copyFileSync(store, current10);
    copyFileSync(oldStore, store);
    const e = refused(await serve(['--probe-every', '1m']), 'FV_STATE_MISMATCH');
    expect(e).toContain('k = 5');
    const q = await runCli(['metrics', 'query', 'activations', '--store', store, '--metrics', DEMO_METRICS]);
    expect(q.code).toBe(1);
    expect(q.stderr).toContain('FV_STATE_MISMATCH');
    // A store from before any binding (an unbound copy) is not served under the state either.
    const unbound = join(mkdtempSync(join(tmpdir(), 'fv-unbound-')), 'store.duckdb');
    const fresh = await runCli([
      'sync',
      '--source',
      s.db.url,
      '--policy',
      k5,
      '--store',
      unbound,
      '--key-file',
      keyFile,
      '--state-dir',
      mkdtempSync(join(tmpdir(), 'fv-nostate-')),
    ]);
    expect(fresh.code, fresh.stderr).toBe(0);
    copyFileSync(unbound, store);
    refused(await serve(['--probe-every', '1m']), 'FV_STATE_MISMATCH');
    copyFileSync(current10, store);
    const ok = await serve(['--probe-every', '1m']);
    expect('port' in ok).toBe(true);
    if ('port' in ok) await ok.stop();
    record(
      'old store file (synced under an approved k = 5) put back after k = 10',
      'refused FV_STATE_MISMATCH (serve, metrics)',
    );
    record('unbound store file put in place of the bound one', 'refused FV_STATE_MISMATCH');
  });

  it('attempt: the policy file swapped for a weaker one between two syncs', async () => {
    const live = join(state, 'live.policy.yaml');
    copyFileSync(DEMO_POLICY, live);
    expect((await sync(live)).code).toBe(0);
    const before = await dumpStore(store);
    writeFileSync(
      live,
      readFileSync(DEMO_POLICY, 'utf8')
        .replace('k: 10', 'k: 3')
        .replace(
          'local_ip:         { class: personal, transform: { ip_prefix: 16 } }',
          'local_ip:         { class: personal, transform: { ip_prefix: 24 } }',
        ),
    );
    const r = await sync(live);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_STATE_WEAKER');
    expect(await dumpStore(store)).toBe(before);
    record(
      'policy file swapped for a weaker one between two syncs',
      'refused FV_STATE_WEAKER, store untouched',
    );
  });

  it('attempt: the tokens file replaced while serve syncs on a schedule', async () => {
    const restore = snapshot(['tokens.json']);
    const oldAudit = audit();
    const served = await serve(['--probe-every', '2s', '--sync-every', '10s', '--source', s.db.url]);
    expect('port' in served, (served as Refused).stderr).toBe(true);
    const srv = served as Served;
    try {
      const syncs = () => (audit().match(/"actor":"scheduler","action":"sync","outcome":"ok"/g) ?? []).length;
      const n = syncs();
      const file = join(state, 'tokens.json');
      const viewerId = /^fvt_([0-9a-f]{12})_/.exec(viewer)?.[1];
      const tokens = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
      writeFileSync(
        `${file}.new`,
        JSON.stringify(tokens.map((t) => (t.id === viewerId ? { ...t, role: 'admin' } : t))),
      );
      renameSync(`${file}.new`, file);
      await until(() => srv.errors().includes('unapproved-principal'));
      const r = await fetch(`http://127.0.0.1:${srv.port}/api/v1/audit`, {
        headers: { authorization: `Bearer ${viewer}` },
      });
      expect(r.status).toBe(403);
      await until(() => syncs() > n, 60_000); // the scheduled sync goes on under the signed state
      expect(audit()).not.toMatch(/"actor":"scheduler","action":"sync","outcome":"failed"/);
    } finally {
      await srv.stop();
    }
    restore();
    // Putting back the audit log from before those syncs: the store anchored a newer head.
    const kept = audit();
    writeFileSync(join(state, 'audit.jsonl'), oldAudit);
    refused(await serve(['--probe-every', '1m']), 'FV_AUDIT_TRUNCATED');
    writeFileSync(join(state, 'audit.jsonl'), kept);
    record(
      'audit log put back from before scheduled syncs',
      'refused FV_AUDIT_TRUNCATED (the store anchors a newer head)',
    );
    record(
      'tokens.json replaced during scheduled syncs',
      'alarm at the next probe run, requests refused 403; syncs continue under the signed state',
    );
    // Waits for a probe run and a scheduled sync, then starts serve again: more than the default.
  }, 240_000);

  it('attempt: another admin’s password hash replaced, and an approval written into proposals.json', async () => {
    const restore = snapshot();
    // Alice sets bob's password hash to one of her own: she can sign in as bob, but cannot sign as him.
    const file = join(state, 'users.json');
    const users = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
    const known = 'alice-knows-this-one';
    const hash = await argon2.hash(known, { type: argon2.argon2id });
    writeFileSync(
      file,
      JSON.stringify(users.map((u) => (u.name === 'bob' ? { ...u, passwordHash: hash } : u))),
    );
    const p = await approvals(['propose', '--probe-every', 'off', '--reason', 'quiet night'], 'alice');
    expect(p.code, p.stderr).toBe(0);
    const id = proposalId(p.stdout);
    const asBob = await runCli(['approvals', 'approve', id, '--user', 'bob', '--state-dir', state], {
      env: { FLEETVAULT_PASSWORD: known },
    });
    expect(asBob.code).toBe(1);
    expect(asBob.stderr).toContain('FV_APPROVAL_INVALID');
    // The swapped hash no longer matches the credential the signed state binds for bob.
    expect(asBob.stderr).toContain('not an active admin’s in the signed security state');
    // The approval written by hand into proposals.json.
    const pfile = join(state, 'proposals.json');
    const proposals = JSON.parse(readFileSync(pfile, 'utf8')) as Array<Record<string, unknown>>;
    const bobId = (users.find((u) => u.name === 'bob') as { id: string }).id;
    writeFileSync(
      pfile,
      JSON.stringify(
        proposals.map((x) =>
          x.id === id
            ? { ...x, status: 'approved', decidedBy: `user:${bobId}`, decidedAt: new Date().toISOString() }
            : x,
        ),
      ),
    );
    const off = await serve(['--probe-every', 'off']);
    const e = refused(off, 'FV_STATE_WEAKER');
    expect(e).toContain('probe: approved every');
    const listed = await approvals(['list']);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain('FV_STATE_TAMPERED');
    restore();
    record(
      'another admin’s password hash replaced in users.json',
      'refused FV_APPROVAL_INVALID (the signed state binds bob’s real credential; his key is sealed under his password)',
    );
    record(
      'approval written by hand into proposals.json',
      'refused FV_STATE_TAMPERED; serve --probe-every off refused FV_STATE_WEAKER',
    );
  });
  it('attempt: a metrics file whose unit is an event pseudonym and whose dimension is a person (k weakened)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-metrics-'));
    const file = join(dir, 'weak.metrics.yaml');
    writeFileSync(
      file,
      [
        'version: 1',
        'privacy_unit: user',
        'metrics:',
        '  per_person_failure_rate:',
        '    from: connection_events',
        '    join: { devices: { on: [device_id, id] } }',
        '    unit: id',
        '    time: ts',
        '    measure: { ratio: [ { count: rows, where: { outcome: fail } }, { count: rows } ] }',
        '    dimensions: [devices.user_id, outcome]',
        '',
      ].join('\n'),
    );
    const q = await runCli([
      'metrics',
      'query',
      'per_person_failure_rate',
      '--by',
      'devices.user_id',
      '--metrics',
      file,
      '--store',
      store,
      '--json',
    ]);
    expect(q.code).toBe(1);
    expect(q.stderr).toContain('FV_METRICS_PRIVACY');
    expect(q.stderr).toContain(`${file}:7:11 metrics.per_person_failure_rate.unit`);
    expect(q.stderr).toContain(`${file}:10:18 metrics.per_person_failure_rate.dimensions`);
    expect(q.stdout).not.toContain('"groups"');
    // The metrics file cannot pick another privacy unit either.
    writeFileSync(file, readFileSync(file, 'utf8').replace('privacy_unit: user', 'privacy_unit: event'));
    const other = await runCli([
      'metrics',
      'query',
      'per_person_failure_rate',
      '--metrics',
      file,
      '--store',
      store,
    ]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("the policy's privacy unit is user");
    const served = await serve(['--metrics', file, '--probe-every', '1m']);
    refused(served, 'FV_METRICS_PRIVACY');
    rmSync(dir, { recursive: true, force: true });
    record(
      'metrics file with an event-pseudonym unit and a person dimension',
      'refused FV_METRICS_PRIVACY (positioned) by metrics query and serve',
    );
  });
  it('attempt: localhost pointed at 0.0.0.0 in /etc/hosts, then serve --listen localhost without TLS', async () => {
    // The name is resolved before it is judged: with the real /etc/hosts it binds 127.0.0.1.
    const ok = await serve(['--listen', 'localhost:0', '--probe-every', '1m']);
    expect('port' in ok, (ok as Refused).stderr).toBe(true);
    expect((ok as Served).out()).toMatch(/on http:\/\/127\.0\.0\.1:\d+\//);
    await (ok as Served).stop();
    // Root's edit, made in a private mount namespace so the machine's own /etc/hosts stays as it is.
    const dir = mkdtempSync(join(tmpdir(), 'fv-hosts-'));
    writeFileSync(join(dir, 'hosts'), '0.0.0.0 localhost\n');
    const cmd = [
      `mount --bind ${join(dir, 'hosts')} /etc/hosts`,
      `exec ${[process.execPath, BIN, 'serve', '--store', store, '--metrics', DEMO_METRICS, '--policy', DEMO_POLICY, '--key-file', keyFile, '--listen', 'localhost:0'].map((a) => `'${a}'`).join(' ')}`,
    ].join(' && ');
    const r = await new Promise<Refused>((resolve) => {
      const child = spawn('unshare', ['--mount', 'sh', '-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.stdout.on('data', () => child.kill('SIGTERM'));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    rmSync(dir, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('FV_LISTEN_INSECURE');
    expect(r.stderr).toContain('resolves to 0.0.0.0');
    record(
      'localhost pointed at 0.0.0.0 in /etc/hosts',
      'refused FV_LISTEN_INSECURE (name resolved, then bound)',
    );
  });
  it('attempt: an analyst token’s hash swapped for one’s own; a users.json entry with bob’s id, another name and alice’s hash', async () => {
    // An analyst token made the proper way: alice proposes, bob approves.
    const p = await approvals(
      ['propose', '--new-token', 'ana', '--role', 'analyst', '--reason', 'reports'],
      'alice',
    );
    expect(p.code, p.stderr).toBe(0);
    const id = proposalId(p.stdout);
    expect((await approvals(['approve', id], 'bob')).code).toBe(0);
    const made = await runCli([
      'tokens',
      'create',
      '--role',
      'analyst',
      '--name',
      'ana',
      '--approval',
      id,
      '--state-dir',
      state,
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const analyst = JSON.parse(made.stdout).token as string;
    const restore = snapshot(['tokens.json', 'users.json']);
    const served = await serve(['--probe-every', '1m']);
    expect('port' in served, (served as Refused).stderr).toBe(true);
    const srv = served as Served;
    const base = `http://127.0.0.1:${srv.port}`;
    const sql = (token: string) =>
      fetch(`${base}/api/v1/sql`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sql: 'SELECT 1 AS one' }),
      });
    try {
      expect((await sql(analyst)).status).toBe(200);
      // The swap: the analyst token's hash becomes the hash of a secret the attacker chose.
      const tfile = join(state, 'tokens.json');
      const tokens = JSON.parse(readFileSync(tfile, 'utf8')) as Array<Record<string, unknown>>;
      const anaId = /^fvt_([0-9a-f]{12})_/.exec(analyst)?.[1];
      const mine = randomBytes(32).toString('base64url');
      writeFileSync(
        tfile,
        JSON.stringify(
          tokens.map((t) =>
            t.id === anaId ? { ...t, hash: createHash('sha256').update(mine).digest('hex') } : t,
          ),
        ),
      );
      const swapped = await sql(`fvt_${anaId}_${mine}`);
      expect(swapped.status).toBe(403);
      expect(((await swapped.json()) as { error: { code: string } }).error.code).toBe(
        'FV_PRINCIPAL_UNAPPROVED',
      );
      // bob's id, another name, alice's password hash: a sign-in as "bob" with alice's password.
      const ufile = join(state, 'users.json');
      const users = JSON.parse(readFileSync(ufile, 'utf8')) as Array<Record<string, unknown>>;
      const bob = users.find((u) => u.name === 'bob') as Record<string, unknown>;
      const alice = users.find((u) => u.name === 'alice') as Record<string, unknown>;
      writeFileSync(
        ufile,
        JSON.stringify([...users, { ...bob, name: 'bobby', passwordHash: alice.passwordHash }]),
      );
      const login = await fetch(`${base}/api/v1/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bobby', password: pw.alice }),
      });
      expect(login.status).toBe(403);
      expect(((await login.json()) as { error: { code: string } }).error.code).toBe(
        'FV_PRINCIPAL_UNAPPROVED',
      );
      expect(login.headers.get('set-cookie')).toBeNull();
    } finally {
      await srv.stop();
    }
    // A start with either swap in place is refused like a hand-edited role.
    const e = refused(await serve(['--probe-every', '1m']), 'FV_STATE_WEAKER');
    expect(e).toContain(`credential token:`);
    expect(e).toContain(`credential user:`);
    restore();
    const clean = await serve(['--probe-every', '1m']);
    expect('port' in clean, (clean as Refused).stderr).toBe(true);
    if ('port' in clean) await clean.stop();
    record(
      'analyst token hash swapped in tokens.json',
      'refused 403 FV_PRINCIPAL_UNAPPROVED; start refused FV_STATE_WEAKER',
    );
    record(
      'users.json entry with bob’s id, another name and alice’s hash',
      'sign-in refused 403 FV_PRINCIPAL_UNAPPROVED; start refused FV_STATE_WEAKER',
    );
  });
  it('attempt: custom detectors, retention, soft delete, a domain, the schema and the alert webhook weakened by one admin', async () => {
    const restore = snapshot();
    const dir = mkdtempSync(join(tmpdir(), 'fv-policy4-'));
    const demo = readFileSync(DEMO_POLICY, 'utf8');
    // Stronger, so one admin records it: a custom detector and a retention are added.
    const strong = demo
      .replace('on_detect: block', "on_detect: block\ncustom_detectors:\n  badge: 'B-[0-9]{6}'")
      .replace(
        '  connection_events:\n    primary_key: id',
        '  connection_events:\n    primary_key: id\n    retention: { column: ts, days: 3650 }',
      );
    expect(strong).not.toBe(demo);
    writeFileSync(join(dir, 'strong.yaml'), strong);
    const sealed = await approvals(['seal', '--policy', join(dir, 'strong.yaml')], 'alice');
    expect(sealed.code, sealed.stderr).toBe(0);
    const before = await dumpStore(store);
    const weak = strong
      .replace("custom_detectors:\n  badge: 'B-[0-9]{6}'\n", '')
      .replace('days: 3650', 'days: 99999')
      .replace('    soft_delete: deleted_at\n', '')
      .replace(
        'device_id:   { class: identifier, domain: device }',
        'device_id:   { class: identifier, domain: user }',
      )
      .replace('schema: public', 'schema: elsewhere');
    writeFileSync(join(dir, 'weak.yaml'), weak);
    const r = await sync(join(dir, 'weak.yaml'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_STATE_WEAKER');
    for (const field of [
      'custom_detector badge',
      'retention connection_events',
      'soft_delete users',
      'column connection_events.device_id',
      'policy schema',
    ])
      expect(r.stderr).toContain(field);
    expect(await dumpStore(store)).toBe(before);
    // The alert webhook is a server setting like the probe interval.
    const hook = 'http://127.0.0.1:9/hook';
    const seal = await approvals(['seal', '--alert-webhook', hook], 'alice');
    expect(seal.code, seal.stderr).toBe(0);
    const strongArgs = ['--policy', join(dir, 'strong.yaml'), '--probe-every', '1m'];
    const without = refused(await serve(strongArgs), 'FV_STATE_WEAKER');
    expect(without).toContain('alert webhook');
    refused(
      await serve([...strongArgs, '--alert-webhook', 'http://127.0.0.1:10/elsewhere']),
      'FV_STATE_WEAKER',
    );
    const same = await serve([...strongArgs, '--alert-webhook', hook]);
    expect('port' in same, (same as Refused).stderr).toBe(true);
    if ('port' in same) await same.stop();
    restore();
    rmSync(dir, { recursive: true, force: true });
    record(
      'policy with custom detectors, retention, soft delete, a domain and the schema weakened',
      'refused FV_STATE_WEAKER naming each field; store untouched',
    );
    record('serve without, or with another, approved alert webhook', 'refused FV_STATE_WEAKER');
  });
  it('attempt: state folder and store restored from a backup while today’s audit log is kept', async () => {
    const files = STATE_FILES.filter((f) => !f.startsWith('audit.jsonl'));
    const backupState = snapshot(files);
    const backupStore = mkdtempSync(join(tmpdir(), 'fv-store-backup-'));
    const storeFiles = [store, `${store}.wal`].filter((f) => existsSync(f));
    for (const f of storeFiles) copyFileSync(f, join(backupStore, f.slice(store.length) || 'store'));
    const old = current().version;
    // Today: a newer version is signed and the store is synced under it.
    const sealed = await approvals(['seal', '--probe-every', '1m'], 'alice');
    expect(sealed.code, sealed.stderr).toBe(0);
    expect(current().version).toBe(old + 1);
    expect((await sync()).code).toBe(0);
    const todayState = snapshot(files);
    const todayStore = mkdtempSync(join(tmpdir(), 'fv-store-today-'));
    for (const f of [store, `${store}.wal`].filter((f) => existsSync(f)))
      copyFileSync(f, join(todayStore, f.slice(store.length) || 'store'));
    // The rollback: the folder and the store from the backup, the log as it is today.
    const putBack = (from: string) => {
      rmSync(`${store}.wal`, { force: true });
      for (const f of readdirSync(from)) copyFileSync(join(from, f), f === 'store' ? store : `${store}${f}`);
    };
    backupState();
    putBack(backupStore);
    expect(current().version).toBe(old);
    const e = refused(await serve(['--probe-every', '1m']), 'FV_STATE_ROLLBACK');
    expect(e).toContain(`records version ${old + 1} of state`);
    const r = await sync();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('FV_STATE_ROLLBACK');
    const v = await runCli(['audit', 'verify', '--state-dir', state]);
    expect(v.code).toBe(1);
    expect(v.stderr).toContain('FV_STATE_ROLLBACK');
    todayState();
    putBack(todayStore);
    const ok = await serve(['--probe-every', '1m']);
    expect('port' in ok, (ok as Refused).stderr).toBe(true);
    if ('port' in ok) await ok.stop();
    record(
      'state folder + store restored from a backup, today’s audit log kept',
      'refused FV_STATE_ROLLBACK by serve, sync and audit verify',
    );
  });
  it('attempt: the chain cut back to a new bootstrap with a new store; other admins’ CLIs and the webhook see it', async () => {
    const restore = snapshot();
    // The receiver outside the machine: every new state version is posted to the approved webhook.
    const receiver = await startWebhookReceiver<Record<string, unknown>>();
    const { received, url: hook } = receiver;
    try {
      const sealed = await approvals(['seal', '--alert-webhook', hook], 'alice');
      expect(sealed.code, sealed.stderr).toBe(0);
      const doc = current();
      await until(() => received.some((r) => r.version === doc.version));
      expect(received.find((r) => r.version === doc.version)).toMatchObject({
        kind: 'state-version',
        stateId: doc.stateId,
        digest: doc.digest,
        bootstrap: false,
      });
      // Bob's CLI, on his own account: it records what it saw (0600, outside the state folder).
      const bobHome = mkdtempSync(join(tmpdir(), 'fv-bob-'));
      const asBobsCli = { env: { XDG_STATE_HOME: bobHome, FLEETVAULT_PASSWORD: pw.bob ?? '' } };
      const seen = await runCli(['approvals', 'list', '--state-dir', state], asBobsCli);
      expect(seen.code, seen.stderr).toBe(0);
      // A dashboard opened before the attack, on a port the forked server will take again.
      const port = await new Promise<number>((r) => {
        const probe = createServer().listen(0, '127.0.0.1', () => {
          const p = (probe.address() as { port: number }).port;
          probe.close(() => r(p));
        });
      });
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: ['--no-sandbox'],
      });
      const page = await (await browser.newContext()).newPage();
      const signIn = async (password: string) => {
        await page.goto(`http://127.0.0.1:${port}/`);
        await page.getByLabel('User name').fill('alice');
        await page.getByLabel('Password').fill(password);
        await page.keyboard.press('Enter');
      };
      const real = await serve([
        '--listen',
        `127.0.0.1:${port}`,
        '--probe-every',
        '1m',
        '--alert-webhook',
        hook,
      ]);
      expect('port' in real, (real as Refused).stderr).toBe(true);
      await signIn(pw.alice as string);
      // The browser recorded the chain it was shown (read over the DevTools protocol, not page script).
      const stored = () =>
        page.evaluate(() =>
          (
            globalThis as unknown as { localStorage: { getItem(k: string): string | null } }
          ).localStorage.getItem('fleetvault.seen-state'),
        );
      for (let i = 0; i < 100 && (await stored()) === null; i++) await new Promise((r) => setTimeout(r, 100));
      expect(JSON.parse((await stored()) ?? '{}')).toMatchObject({ id: doc.stateId, version: doc.version });
      if ('port' in real) await real.stop();
      const bobSeen = join(bobHome, 'fleetvault', 'seen.json');
      expect(JSON.parse(readFileSync(bobSeen, 'utf8'))[state]).toMatchObject({ stateId: doc.stateId });
      expect((statSync(bobSeen).mode & 0o777).toString(8)).toBe('600');
      // The attack: root wipes the state folder, bootstraps two admins alone and syncs a new store.
      for (const f of STATE_FILES) rmSync(join(state, f), { recursive: true, force: true });
      rmSync(seenFile(), { force: true }); // root's own record is root's to delete
      const forgedPw: Record<string, string> = {};
      Object.assign(forgedPw, await addAdminsByCli(state));
      const sealFork = await runCli(
        ['approvals', 'seal', '--policy', DEMO_POLICY, '--user', 'alice', '--state-dir', state],
        { env: { FLEETVAULT_PASSWORD: forgedPw.alice ?? '' } },
      );
      expect(sealFork.code, sealFork.stderr).toBe(0);
      const newStore = join(mkdtempSync(join(tmpdir(), 'fv-fork-')), 'store.duckdb');
      const forked = await runCli([
        'sync',
        '--source',
        s.db.url,
        '--policy',
        DEMO_POLICY,
        '--store',
        newStore,
        '--key-file',
        keyFile,
        '--state-dir',
        state,
      ]);
      expect(forked.code, forked.stderr).toBe(0);
      // Bob's CLI refuses the replaced chain, loudly.
      const list = await runCli(['approvals', 'list', '--state-dir', state], asBobsCli);
      expect(list.code).toBe(1);
      expect(list.stderr).toContain('FV_STATE_FORK');
      expect(list.stderr).toContain(`this user saw state ${doc.stateId} version ${doc.version}`);
      const verify = await runCli(['audit', 'verify', '--state-dir', state], asBobsCli);
      expect(verify.code).toBe(1);
      expect(verify.stderr).toContain('FV_STATE_FORK');
      // The dashboard that saw the real chain raises the alarm on the forked one.
      const fake = await serve([
        '--store',
        newStore,
        '--state-dir',
        state,
        '--listen',
        `127.0.0.1:${port}`,
        '--probe-every',
        '5m',
      ]);
      expect('port' in fake, (fake as Refused).stderr).toBe(true);
      try {
        await signIn(forgedPw.alice as string);
        await page.locator('#exposure', { hasText: 'state-fork' }).waitFor();
        expect(await page.locator('#exposure').textContent()).toContain(
          `this browser saw state ${doc.stateId}`,
        );
      } finally {
        if ('port' in fake) await fake.stop();
        await browser.close();
      }
      // The forked chain never reached the webhook: the external record ends at the real version.
      const versions = received.filter((r) => r.kind === 'state-version');
      expect(versions.length).toBeGreaterThan(0);
      expect(versions.every((r) => r.stateId === doc.stateId)).toBe(true);
      rmSync(bobHome, { recursive: true, force: true });
      rmSync(dirname(newStore), { recursive: true, force: true });
    } finally {
      void receiver.close();
      restore();
    }
    record(
      'new state id posted to the webhook at each version',
      'external append-only record of (id, version, digest, signers)',
    );
    record(
      'chain cut back to a new bootstrap with a new store',
      'refused FV_STATE_FORK by every other admin’s CLI (per-user seen.json); absent from the webhook record',
    );
    // Two admins bootstrapped again (argon2 each), a browser and two serves: over 120 s on a loaded machine.
  }, 240_000);
  it('attempt: a removed admin puts their file entry back and signs; one admin left bootstraps a second alone', async () => {
    const restore = snapshot();
    const before = await dumpStore(store);
    try {
      // A third admin, approved by two.
      const proposed = await approvals(
        ['propose', '--new-user', 'carol', '--role', 'admin', '--reason', 'third admin'],
        'alice',
      );
      expect(proposed.code, proposed.stderr).toBe(0);
      const pid = proposalId(proposed.stdout);
      expect((await approvals(['approve', pid], 'bob')).code).toBe(0);
      const added = await runCli([
        'users',
        'add',
        '--name',
        'carol',
        '--role',
        'admin',
        '--approval',
        pid,
        '--state-dir',
        state,
        '--json',
      ]);
      expect(added.code, added.stderr).toBe(0);
      pw.carol = JSON.parse(added.stdout).password;
      const users = JSON.parse(readFileSync(join(state, 'users.json'), 'utf8')) as Array<{
        id: string;
        name: string;
        disabledAt: string | null;
      }>;
      const carolId = `user:${users.find((u) => u.name === 'carol')?.id}`;
      // Disabling an account above viewer is a signed removal; it needs an admin.
      const unsigned = await runCli(['users', 'disable', '--name', 'carol', '--state-dir', state]);
      expect(unsigned.code).not.toBe(0);
      expect(unsigned.stderr).toContain('FV_USAGE');
      const disabled = await runCli(
        ['users', 'disable', '--name', 'carol', '--user', 'bob', '--state-dir', state],
        as('bob'),
      );
      expect(disabled.code, disabled.stderr).toBe(0);
      expect(current().state.principals?.[carolId]).toBeUndefined();
      expect(current().state.keys?.[carolId]).toBeUndefined();
      expect(current().state.credentials?.[carolId]).toBeUndefined();
      expect(audit()).toContain('"action":"approvals.remove"');
      // Carol un-disables her own entry by hand and tries to act and to sign.
      const file = join(state, 'users.json');
      writeFileSync(
        file,
        JSON.stringify(
          (JSON.parse(readFileSync(file, 'utf8')) as typeof users).map((u) =>
            u.name === 'carol' ? { ...u, disabledAt: null } : u,
          ),
          null,
          2,
        ),
      );
      const weaker = join(tmpdir(), `weaker-${randomBytes(4).toString('hex')}.yaml`);
      writeFileSync(weaker, readFileSync(DEMO_POLICY, 'utf8').replace('k: 10', 'k: 3'));
      const carolProposes = await approvals(['propose', '--policy', weaker, '--reason', 'lower k'], 'carol');
      expect(carolProposes.code).toBe(1);
      expect(carolProposes.stderr).toContain('FV_APPROVAL_INVALID');
      // Alice proposes; carol approves with her own key (she still opens it) in-process: not counted.
      const aliceProposes = await approvals(['propose', '--policy', weaker, '--reason', 'lower k'], 'alice');
      expect(aliceProposes.code, aliceProposes.stderr).toBe(0);
      const viaCli = await approvals(['approve', proposalId(aliceProposes.stdout)], 'carol');
      expect(viaCli.code).toBe(1);
      expect(viaCli.stderr).toContain('FV_APPROVAL_INVALID');
      const direct = new Approvals(state, new AuditLog(join(state, 'audit.jsonl')));
      const carolKey = direct.keys.unseal(carolId, pw.carol as string);
      expect(() => direct.approve(proposalId(aliceProposes.stdout), carolKey)).toThrow(/the new version/);
      expect(current().state.k).toBe(10);
      expect(current().state.principals?.[carolId]).toBeUndefined();
      // Bob disables alice: one admin is left, and the bootstrap does not come back.
      const lastButOne = await runCli(
        ['users', 'disable', '--name', 'alice', '--user', 'bob', '--state-dir', state],
        as('bob'),
      );
      expect(lastButOne.code, lastButOne.stderr).toBe(0);
      expect(lastButOne.stderr).toContain('FV_QUORUM_LOST');
      const second = await runCli([
        'users',
        'add',
        '--name',
        'mallory',
        '--role',
        'admin',
        '--state-dir',
        state,
      ]);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain('FV_QUORUM_LOST');
      expect(JSON.parse(readFileSync(file, 'utf8')).some((u: { name: string }) => u.name === 'mallory')).toBe(
        false,
      );
      // Nor can bob write that bootstrap version himself with the library and his own key.
      const bobUser = (JSON.parse(readFileSync(file, 'utf8')) as typeof users).find((u) => u.name === 'bob');
      const bobKey = direct.keys.unseal(`user:${bobUser?.id}`, pw.bob as string);
      const forged = generateKeyPairSync('ed25519');
      const cur = current();
      expect(() =>
        direct.state.write(
          {
            ...cur.state,
            principals: { ...(cur.state.principals ?? {}), 'user:mallory0001': 'admin' },
            keys: {
              ...(cur.state.keys ?? {}),
              'user:mallory0001': forged.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
            },
          },
          bobKey,
          direct.audit.head(),
          { bootstrap: true },
        ),
      ).toThrow(/the new version/);
      expect(await dumpStore(store)).toBe(before);
    } finally {
      delete pw.carol;
      restore();
    }
    record(
      'removed admin puts their users.json entry back, proposes and approves (CLI and own key)',
      'refused FV_APPROVAL_INVALID; the key signs nothing the chain counts',
    );
    record('one admin left after a removal enrols a second alone', 'refused FV_QUORUM_LOST');
    record('one admin left writes a bootstrap version with the library', 'refused FV_STATE_TAMPERED');
  });

  it('attempt: a principal enrolled without a credential digest acts before re-enrolling', async () => {
    const old = mkdtempSync(join(tmpdir(), 'fv-old-state-'));
    try {
      // An admin enrolled the way fleetvault did before credentials were bound (no digest).
      const users = new UserStore(join(old, 'users.json'));
      const { record: dave, password } = await users.add('dave', 'admin');
      const legacy = new Approvals(old, new AuditLog(join(old, 'audit.jsonl')));
      legacy.enroll(`user:${dave.id}`, 'admin', { bootstrap: true }, 'test', password, {});
      const env = { env: { FLEETVAULT_PASSWORD: password } };
      const acts = await runCli(
        ['approvals', 'seal', '--probe-every', '1m', '--user', 'dave', '--state-dir', old],
        env,
      );
      expect(acts.code).toBe(1);
      expect(acts.stderr).toContain('FV_PRINCIPAL_REENROL');
      expect(acts.stderr).toContain('fleetvault approvals reenrol --user dave');
      const wrong = await runCli(['approvals', 'reenrol', '--user', 'dave', '--state-dir', old], {
        env: { FLEETVAULT_PASSWORD: 'not-his' },
      });
      expect(wrong.code).toBe(1);
      const reenrol = await runCli(['approvals', 'reenrol', '--user', 'dave', '--state-dir', old], env);
      expect(reenrol.code, reenrol.stderr).toBe(0);
      const doc = JSON.parse(readFileSync(join(old, 'approved-state.json'), 'utf8')) as StateDoc;
      expect(doc.state.credentials?.[`user:${dave.id}`]).toMatch(/^[0-9a-f]{64}$/);
      const after = await runCli(
        ['approvals', 'seal', '--probe-every', '1m', '--user', 'dave', '--state-dir', old],
        env,
      );
      expect(after.code, after.stderr).toBe(0);
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
    record('admin without a credential digest signs before re-enrolling', 'refused FV_PRINCIPAL_REENROL');
  });

  it('attempt: fleetvault sql against the bound store with an empty state folder', async () => {
    const other = mkdtempSync(join(tmpdir(), 'fv-sql-state-'));
    try {
      const r = await runCli([
        'sql',
        'SELECT count(*) AS n FROM devices',
        '--store',
        store,
        '--state-dir',
        other,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('FV_STATE_MISMATCH');
      const ok = await runCli(['sql', 'SELECT count(*) AS n FROM devices', '--store', store]);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    record('fleetvault sql with another state folder', 'refused FV_STATE_MISMATCH');
  });

  it('attempt: a ClickHouse store synced under a fresh state folder and a weaker policy', async () => {
    const cluster = await startClickHouseCluster(1);
    try {
      const bound = await runCli([
        'sync',
        '--source',
        s.db.url,
        '--policy',
        DEMO_POLICY,
        '--store',
        cluster.url,
        '--key-file',
        keyFile,
        '--state-dir',
        state,
      ]);
      expect(bound.code, bound.stderr).toBe(0);
      const look = async () => {
        const reader = await openMetricsReader(cluster.url, readMetricsFile(DEMO_METRICS));
        try {
          const status = (await reader.storeStatus()) as { tables: Array<{ name: string; rows: number }> };
          const rows = status.tables.map((t) => [t.name, t.rows]);
          return JSON.stringify([await reader.meta(BINDING_META), rows]);
        } finally {
          reader.close();
        }
      };
      const before = await look();
      expect(JSON.parse(before)[0]).toContain(current().stateId);
      const weaker = join(tmpdir(), `weaker-${randomBytes(4).toString('hex')}.yaml`);
      writeFileSync(weaker, readFileSync(DEMO_POLICY, 'utf8').replace('k: 10', 'k: 2'));
      const fresh = mkdtempSync(join(tmpdir(), 'fv-ch-state-'));
      const args = (policy: string, dir?: string) => [
        'sync',
        '--source',
        s.db.url,
        '--policy',
        policy,
        '--store',
        cluster.url,
        '--key-file',
        keyFile,
        ...(dir ? ['--state-dir', dir] : []),
      ];
      // A new state folder: refused before anything is written, naming both states.
      const other = await runCli(args(weaker, fresh));
      expect(other.code).toBe(1);
      expect(other.stderr).toContain('FV_STATE_MISMATCH');
      // No --state-dir from another working directory: the store's binding names the real folder.
      const elsewhere = await runCli(args(weaker), { cwd: fresh });
      expect(elsewhere.code).toBe(1);
      expect(elsewhere.stderr).toContain('FV_STATE_WEAKER');
      const sql = await runCli(['sql', 'SELECT 1', '--store', cluster.url, '--state-dir', fresh]);
      expect(sql.code).toBe(1);
      expect(sql.stderr).toContain('FV_STATE_MISMATCH');
      expect(await look()).toBe(before);
      rmSync(fresh, { recursive: true, force: true });
    } finally {
      await cluster.stop();
    }
    record(
      'ClickHouse store: sync with a fresh state folder and k 2; with no state folder from another directory; sql',
      'refused FV_STATE_MISMATCH / FV_STATE_WEAKER, store untouched',
    );
  });
  it('attempt: the audit log’s tail cut after the last state and store anchor', async () => {
    const restore = snapshot();
    const before = await dumpStore(store);
    try {
      // Records no signed version and no sync anchors: a viewer token made, a metric read.
      const made = await runCli([
        'tokens',
        'create',
        '--role',
        'viewer',
        '--name',
        'tail',
        '--state-dir',
        state,
      ]);
      expect(made.code, made.stderr).toBe(0);
      const lines = audit().trimEnd().split('\n');
      const anchored = Math.max(current().audit.records, 0);
      expect(lines.length).toBeGreaterThan(anchored);
      writeFileSync(join(state, 'audit.jsonl'), `${lines.slice(0, -1).join('\n')}\n`);
      const v = await runCli(['audit', 'verify', '--state-dir', state, '--store', store]);
      expect(v.code).toBe(1);
      expect(v.stdout).toContain('audit.jsonl.head');
      const q = await runCli(['sql', 'SELECT count(*) FROM devices', '--store', store]);
      expect(q.code).toBe(1);
      expect(q.stderr).toContain('FV_AUDIT_TRUNCATED');
      expect((await sync()).stderr).toContain('FV_AUDIT_TRUNCATED');
      refused(await serve([]), 'FV_AUDIT_TRUNCATED');
      expect(await dumpStore(store)).toBe(before);
    } finally {
      restore();
    }
    record(
      'audit log tail cut after the last state and store anchor',
      'audit verify fails on the head file; sql, sync and serve refused FV_AUDIT_TRUNCATED',
    );
  });
});
