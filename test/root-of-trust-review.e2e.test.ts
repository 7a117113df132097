/**
 * An outside review of the two-person rule: attempts by ONE admin with a root shell and their own
 * password only, beyond those of `root-of-trust.e2e`. Each test asserts the secure behaviour.
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApprovedState,
  canonical,
  type StateDoc,
  signedText,
  stateDigest,
} from '../src/approvals/approved-state.ts';
import { Approvals } from '../src/approvals/index.ts';
import { AuditLog } from '../src/audit/index.ts';
import { credentialDigest, type Principal, UserStore } from '../src/identity/index.ts';
import { runCli } from './helpers/cli.ts';
import { addAdminsByCli } from './helpers/enroll.ts';
import { DEMO_POLICY, type SyncedStore, syncedStore } from './helpers/synced-store.ts';

type ProposalFile = Array<{
  id: string;
  status: string;
  proposedAt: string;
  expiresAt: string;
  decidedAt?: string;
}>;

describe('root-of-trust review: one admin with a shell, beyond root-of-trust.e2e', () => {
  let state: string;
  const pw: Record<string, string> = {};
  const as = (who: string) => ({ env: { FLEETVAULT_PASSWORD: pw[who] ?? '' } });
  const approvals = (args: string[], who?: string) =>
    runCli(['approvals', ...args, '--state-dir', state, ...(who ? ['--user', who] : [])], who ? as(who) : {});
  const proposalId = (stdout: string) => /Proposal ([0-9a-f]{10})/.exec(stdout)?.[1] as string;
  const proposalsFile = () => join(state, 'proposals.json');
  const editProposal = (id: string, edit: (p: ProposalFile[number]) => void) => {
    const all = JSON.parse(readFileSync(proposalsFile(), 'utf8')) as ProposalFile;
    const p = all.find((x) => x.id === id);
    expect(p, `proposal ${id} in proposals.json`).toBeDefined();
    edit(p as ProposalFile[number]);
    writeFileSync(proposalsFile(), JSON.stringify(all, null, 2));
  };

  beforeAll(async () => {
    // This file's own record of states seen, never the machine user's.
    process.env.XDG_STATE_HOME = mkdtempSync(join(tmpdir(), 'fv-seen-'));
    state = mkdtempSync(join(tmpdir(), 'fv-review-state-'));
    Object.assign(pw, await addAdminsByCli(state));
  });

  it('an approved grant that expired unused cannot be revived by moving its expiry in proposals.json', async () => {
    // A real grant: alice proposes an analyst token, bob approves it, nobody creates it in time.
    const proposed = await approvals(
      ['propose', '--new-token', 'late', '--role', 'analyst', '--reason', 'nightly export'],
      'alice',
    );
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = proposalId(proposed.stdout);
    const approved = await approvals(['approve', id], 'bob');
    expect(approved.code, approved.stderr).toBe(0);

    // Four days later (the same signed proposal, made and decided earlier): expired, as the README says.
    const day = 24 * 3600 * 1000;
    const made = Date.now() - 4 * day;
    editProposal(id, (p) => {
      p.proposedAt = new Date(made).toISOString();
      p.decidedAt = new Date(made + 3600 * 1000).toISOString();
      p.expiresAt = new Date(made + 3 * day).toISOString();
    });
    const expired = await runCli([
      'tokens',
      'create',
      '--name',
      'late',
      '--role',
      'analyst',
      '--approval',
      id,
      '--state-dir',
      state,
    ]);
    expect(expired.code).toBe(1);
    expect(expired.stderr).toContain('FV_APPROVAL_INVALID');

    // The attack: alice moves the expiry a year ahead by hand. The expiry is part of what bob
    // approved, so the edited proposal must be refused (tampered or expired), never used.
    editProposal(id, (p) => {
      p.expiresAt = new Date(Date.now() + 365 * day).toISOString();
    });
    const revived = await runCli([
      'tokens',
      'create',
      '--name',
      'late',
      '--role',
      'analyst',
      '--approval',
      id,
      '--state-dir',
      state,
      '--json',
    ]);
    expect(revived.stdout, 'no token may be made from an expired grant').not.toContain('fvt_');
    expect(revived.code).toBe(1);
    expect(revived.stderr).toMatch(/FV_STATE_TAMPERED|FV_APPROVAL_INVALID/);
  });
  it("a two-admin grant for one principal cannot re-key another: alice's password-reset grant does not make bob's id hers", async () => {
    // The documented flow: alice asks for her own password reset, bob approves it.
    const proposed = await approvals(
      ['propose', '--new-user', 'alice', '--role', 'admin', '--reason', 'password reset'],
      'alice',
    );
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = proposalId(proposed.stdout);
    const approved = await approvals(['approve', id], 'bob');
    expect(approved.code, approved.stderr).toBe(0);

    // The attack: alice (root) writes the next version by hand, using that grant for bob's id:
    // bob keeps his admin role, but with a key and a credential of alice's making.
    const cur = JSON.parse(readFileSync(join(state, 'approved-state.json'), 'utf8')) as StateDoc;
    const users = JSON.parse(readFileSync(join(state, 'users.json'), 'utf8')) as Array<
      Record<string, string>
    >;
    const bobEntry = users.find((u) => u.name === 'bob') as Record<string, string>;
    const bobId = `user:${bobEntry.id}`;
    expect(cur.state.principals?.[bobId]).toBe('admin');
    const proposal = (
      JSON.parse(readFileSync(proposalsFile(), 'utf8')) as Array<Record<string, unknown>>
    ).find((p) => p.id === id) as {
      principal: { type: string; role: string; name: string };
      signatures: StateDoc['signatures'];
    };
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const pub = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const next = {
      ...cur.state,
      principals: { ...(cur.state.principals ?? {}), [bobId]: 'admin' as const },
      keys: { ...(cur.state.keys ?? {}), [bobId]: pub },
      credentials: {
        ...(cur.state.credentials ?? {}),
        [bobId]: credentialDigest('user', 'bob', '$argon2id$v=19$m=65536,t=3,p=4$aliceownsalt$aliceownhash'),
      },
      used: [...(cur.state.used ?? []), id],
    };
    const version = cur.version + 1;
    const digest = stateDigest(cur.stateId, version, cur.digest, next);
    const audit = JSON.parse(readFileSync(join(state, 'audit.jsonl.head'), 'utf8')) as {
      records: number;
      hash: string;
    };
    const sig = (text: string) => sign(null, Buffer.from(text), privateKey).toString('base64');
    const forged: StateDoc = {
      format: 'fleetvault-state-v2',
      stateId: cur.stateId,
      version,
      prev: cur.digest,
      state: next,
      digest,
      signatures: [{ by: bobId, sig: sig(signedText(cur.stateId, version, digest)) }],
      grant: { proposal: id, request: proposal.principal, principal: bobId, signatures: proposal.signatures },
      audit: { ...audit, sig: sig(canonical({ stateId: cur.stateId, version, audit })) },
      signedAt: new Date().toISOString(),
    };
    const body = JSON.stringify(forged, null, 2);
    const forgedFile = join(state, 'states', `${String(version).padStart(8, '0')}.json`);
    const head = readFileSync(join(state, 'approved-state.json'), 'utf8');
    writeFileSync(forgedFile, body);
    writeFileSync(join(state, 'approved-state.json'), body);

    // Had this version stood, alice would hold two admin keys (hers and "bob's"): two signatures.
    const read = await approvals(['state', '--json']);
    expect(read.code, 'a grant for alice re-keying bob must not verify').toBe(1);
    expect(read.stderr).toContain('FV_STATE_TAMPERED');

    // Refused; the state folder is restored from backup, as the error says, for the next attempts.
    rmSync(forgedFile);
    writeFileSync(join(state, 'approved-state.json'), head);
    const restored = await approvals(['state', '--json']);
    expect(restored.code, restored.stderr).toBe(0);
  });

  it('a settings proposal shows the reviewer every change its signed next version makes (a key swapped in it too)', async () => {
    const sealed = await approvals(['seal', '--policy', DEMO_POLICY], 'alice');
    expect(sealed.code, sealed.stderr).toBe(0);
    const lower = join(state, 'k9.policy.yaml');
    writeFileSync(lower, readFileSync(DEMO_POLICY, 'utf8').replace('k: 10', 'k: 9'));
    const proposed = await approvals(
      ['propose', '--policy', lower, '--reason', 'a study of small cohorts'],
      'alice',
    );
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = proposalId(proposed.stdout);

    // Alice (root) rewrites her own proposal's next version: k 9 as shown, and bob's key
    // replaced by one she made. She signs the new target with her own key, as proposing does.
    const users = JSON.parse(readFileSync(join(state, 'users.json'), 'utf8')) as Array<
      Record<string, string>
    >;
    const bobId = `user:${(users.find((u) => u.name === 'bob') as Record<string, string>).id}`;
    const alice = new Approvals(state, new AuditLog(join(state, 'audit.jsonl'))).signer(
      (await new UserStore(join(state, 'users.json')).verify('alice', pw.alice as string)) as Principal,
      pw.alice as string,
    );
    const cur = new ApprovedState(state).current() as StateDoc;
    const all = JSON.parse(readFileSync(proposalsFile(), 'utf8')) as Array<{
      id: string;
      target: { base: number; version: number; digest: string; state: StateDoc['state'] };
      signatures: Array<{ by: string; sig: string }>;
    }>;
    const p = all.find((x) => x.id === id) as (typeof all)[number];
    const mine = generateKeyPairSync('ed25519')
      .publicKey.export({ type: 'spki', format: 'der' })
      .toString('base64');
    const target = { ...p.target.state, keys: { ...(p.target.state.keys ?? {}), [bobId]: mine } };
    const digest = stateDigest(cur.stateId, p.target.version, cur.digest, target);
    p.target = { ...p.target, state: target, digest };
    p.signatures = [
      {
        by: alice.id,
        sig: sign(null, Buffer.from(signedText(cur.stateId, p.target.version, digest)), alice.key).toString(
          'base64',
        ),
      },
    ];
    writeFileSync(proposalsFile(), JSON.stringify(all, null, 2));

    // What bob reads before approving must name the key change, not only k.
    // (Refusing the proposal as edited by hand is as good.)
    const shown = await approvals(['show', id]);
    if (shown.code === 0) {
      expect.soft(shown.stdout, "the reviewer must see that bob's key is replaced").toContain(bobId);
    } else expect(shown.stderr).toContain('FV_STATE_TAMPERED');

    // Bob approves what he was shown (k 9). Whatever he saw, his own key must still be his.
    const bobKey = cur.state.keys?.[bobId];
    await approvals(['approve', id], 'bob');
    const after = new ApprovedState(state).current() as StateDoc;
    expect(after.state.keys?.[bobId], "an approval of k must not hand bob's key to alice").toBe(bobKey);
  });
});

describe('root-of-trust review: a column forgotten by a version one admin signs', () => {
  let s: SyncedStore;
  let pw = '';

  beforeAll(async () => {
    process.env.XDG_STATE_HOME = mkdtempSync(join(tmpdir(), 'fv-seen-'));
    s = await syncedStore({ users: 200, days: 3, seed: 7 });
    for (const name of ['alice', 'bob']) {
      const r = await runCli([
        'users',
        'add',
        '--name',
        name,
        '--role',
        'admin',
        '--state-dir',
        s.dir,
        '--json',
      ]);
      expect(r.code, r.stderr).toBe(0);
      if (name === 'alice') pw = JSON.parse(r.stdout).password;
    }
    const sealed = await runCli(
      ['approvals', 'seal', '--policy', DEMO_POLICY, '--state-dir', s.dir, '--user', 'alice'],
      {
        env: { FLEETVAULT_PASSWORD: pw },
      },
    );
    expect(sealed.code, sealed.stderr).toBe(0);
  });
  afterAll(async () => {
    await s?.db.drop();
  });

  it('a column dropped from the signed state by one admin does not come back as a new, kept column', async () => {
    const sync = (policy: string) =>
      runCli(['sync', '--source', s.db.url, '--policy', policy, '--store', s.store, '--key-file', s.keyFile]);
    expect((await sync(DEMO_POLICY)).code).toBe(0);
    // The weaker policy: the home network's IP, approved as personal /16, kept whole as an attribute.
    const weak = join(s.dir, 'weak.policy.yaml');
    writeFileSync(
      weak,
      readFileSync(DEMO_POLICY, 'utf8').replace(
        /local_ip:\s*\{ class: personal, transform: \{ ip_prefix: 16 \} \}/,
        'local_ip: { class: attribute }',
      ),
    );
    expect(readFileSync(weak, 'utf8')).toContain('local_ip: { class: attribute }');
    const direct = await sync(weak);
    expect(direct.code).toBe(1);
    expect(direct.stderr).toContain('FV_STATE_WEAKER');

    // The attack: alice signs, with her own real key alone, a version that only forgets the
    // column's entry (a part removed is weaker, so it needs bob too).
    const approvals = new Approvals(s.dir, new AuditLog(join(s.dir, 'audit.jsonl')));
    const alice = approvals.signer(
      (await new UserStore(join(s.dir, 'users.json')).verify('alice', pw)) as Principal,
      pw,
    );
    const chain = new ApprovedState(s.dir);
    const cur = chain.current() as StateDoc;
    const { 'devices.local_ip': forgotten, ...columns } = cur.state.columns ?? {};
    expect(forgotten).toBeDefined();
    const head = JSON.parse(readFileSync(join(s.dir, 'audit.jsonl.head'), 'utf8')) as {
      records: number;
      hash: string;
    };
    let written = true;
    try {
      chain.write({ ...cur.state, columns }, alice, head);
    } catch (e) {
      written = false;
      expect(String((e as Error).message)).toMatch(/two different admins|no admin/);
    }
    expect(written, 'one admin alone must not be able to sign a version that forgets a column').toBe(false);

    // Whatever the chain says, the raw IP must not be copied on alice's word.
    const after = await sync(weak);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/FV_STATE_WEAKER|FV_STATE_TAMPERED/);
  });
  it("a table's soft delete forgotten by one admin's version does not let a policy without it sync", async () => {
    const noSoftDelete = join(s.dir, 'no-soft-delete.policy.yaml');
    writeFileSync(
      noSoftDelete,
      readFileSync(DEMO_POLICY, 'utf8').replace(/\n\s*soft_delete: deleted_at/, ''),
    );
    const sync = () =>
      runCli([
        'sync',
        '--source',
        s.db.url,
        '--policy',
        noSoftDelete,
        '--store',
        s.store,
        '--key-file',
        s.keyFile,
      ]);
    const direct = await sync();
    expect(direct.code).toBe(1);
    expect(direct.stderr).toContain('soft_delete users');

    // Alice alone signs a version whose policy view no longer names the users table at all.
    const approvals = new Approvals(s.dir, new AuditLog(join(s.dir, 'audit.jsonl')));
    const alice = approvals.signer(
      (await new UserStore(join(s.dir, 'users.json')).verify('alice', pw)) as Principal,
      pw,
    );
    const chain = new ApprovedState(s.dir);
    const cur = chain.current() as StateDoc;
    const policy = cur.state.policy as NonNullable<StateDoc['state']['policy']>;
    const { users: forgotten, ...tables } = policy.tables;
    expect(forgotten?.softDelete).toBe('deleted_at');
    const head = JSON.parse(readFileSync(join(s.dir, 'audit.jsonl.head'), 'utf8')) as {
      records: number;
      hash: string;
    };
    expect(() => chain.write({ ...cur.state, policy: { ...policy, tables } }, alice, head)).toThrow(
      /two different admins/,
    );
    const after = await sync();
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/FV_STATE_WEAKER|FV_STATE_TAMPERED/);
  });
});
