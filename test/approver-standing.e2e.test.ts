/**
 * The approver of a proposal must be an admin other than its proposer, per the signed state when
 * the approval is used. Attempts by root holding a non-admin's key, and an approval whose approver
 * was removed since.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { signText } from '../src/approvals/admin-key.ts';
import { grantText } from '../src/approvals/approved-state.ts';
import { AdminKeys, type Signer } from '../src/approvals/index.ts';
import { runCli } from './helpers/cli.ts';
import { addAdminsByCli } from './helpers/enroll.ts';

type StoredProposal = {
  id: string;
  status: string;
  principal: { type: 'token' | 'user'; role: 'viewer' | 'analyst' | 'operator' | 'admin'; name: string };
  terms: Parameters<typeof grantText>[3];
  decidedBy?: string;
  decidedAt?: string;
  signatures: { by: string; sig: string }[];
};

describe('the approver is an admin other than the proposer, per the signed state', () => {
  let state: string;
  const pw: Record<string, string> = {};
  const as = (who: string) => ({ env: { FLEETVAULT_PASSWORD: pw[who] ?? '' } });
  const approvals = (args: string[], who?: string) =>
    runCli(['approvals', ...args, '--state-dir', state, ...(who ? ['--user', who] : [])], who ? as(who) : {});
  const proposalId = (stdout: string) => /Proposal ([0-9a-f]{10})/.exec(stdout)?.[1] as string;
  const proposalsFile = () => join(state, 'proposals.json');
  const stateId = () =>
    JSON.parse(readFileSync(join(state, 'approved-state.json'), 'utf8')).stateId as string;

  /** A principal proposed by `by` and approved by `approver`, through the CLI. */
  async function approvedGrant(args: string[], by: string, approver: string): Promise<string> {
    const proposed = await approvals(['propose', ...args, '--reason', 'review'], by);
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = proposalId(proposed.stdout);
    const approved = await approvals(['approve', id], approver);
    expect(approved.code, approved.stderr).toBe(0);
    return id;
  }

  beforeAll(async () => {
    process.env.XDG_STATE_HOME = mkdtempSync(join(tmpdir(), 'fv-seen-'));
    state = mkdtempSync(join(tmpdir(), 'fv-approver-state-'));
    Object.assign(pw, await addAdminsByCli(state));
  });

  it("root with an analyst's key cannot hand-write an approval signed by the analyst", async () => {
    // A real analyst token, granted by alice and bob: its key is sealed under its token.
    const grant = await approvedGrant(['--new-token', 'spy', '--role', 'analyst'], 'alice', 'bob');
    const made = await runCli([
      'tokens',
      'create',
      '--name',
      'spy',
      '--role',
      'analyst',
      '--approval',
      grant,
      '--state-dir',
      state,
      '--json',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const analyst = JSON.parse(made.stdout) as { token: string; id: string };
    const analystId = `token:${analyst.id}`;
    const signer: Signer = new AdminKeys(state).unseal(analystId, analyst.token);

    // Alice proposes a new admin; the attack approves it with the analyst's signature, by hand.
    const proposed = await approvals(
      ['propose', '--new-user', 'mallory', '--role', 'admin', '--reason', 'on call'],
      'alice',
    );
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = proposalId(proposed.stdout);
    const saved = readFileSync(proposalsFile(), 'utf8');
    const all = JSON.parse(saved) as StoredProposal[];
    const p = all.find((x) => x.id === id) as StoredProposal;
    p.status = 'approved';
    p.decidedBy = analystId;
    p.decidedAt = new Date().toISOString();
    p.signatures.push({
      by: analystId,
      sig: signText(signer, grantText(stateId(), id, p.principal, p.terms)),
    });
    writeFileSync(proposalsFile(), JSON.stringify(all, null, 2));

    const created = await runCli([
      'users',
      'add',
      '--name',
      'mallory',
      '--role',
      'admin',
      '--approval',
      id,
      '--state-dir',
      state,
      '--json',
    ]);
    expect(created.code).toBe(1);
    expect(created.stderr).toContain('FV_STATE_TAMPERED');
    expect(created.stdout, 'no account may be made from the forged approval').not.toContain('password');
    expect(readFileSync(join(state, 'users.json'), 'utf8')).not.toContain('mallory');
    const listed = await approvals(['list']);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain('FV_STATE_TAMPERED');
    writeFileSync(proposalsFile(), saved);
    expect((await approvals(['list'])).code).toBe(0);
  });

  it('an approval whose approver is no longer an admin is refused when used', async () => {
    // A third admin, carol, so that removing her leaves two.
    const third = await approvedGrant(['--new-user', 'carol', '--role', 'admin'], 'alice', 'bob');
    const carol = await runCli([
      'users',
      'add',
      '--name',
      'carol',
      '--role',
      'admin',
      '--approval',
      third,
      '--state-dir',
      state,
      '--json',
    ]);
    expect(carol.code, carol.stderr).toBe(0);
    pw.carol = JSON.parse(carol.stdout).password;

    // Carol approves alice's analyst token, then is disabled (and leaves the signed state) before it is made.
    const id = await approvedGrant(['--new-token', 'nightly', '--role', 'analyst'], 'alice', 'carol');
    const disabled = await runCli(
      ['users', 'disable', '--name', 'carol', '--user', 'alice', '--state-dir', state],
      as('alice'),
    );
    expect(disabled.code, disabled.stderr).toBe(0);
    expect((await approvals(['list'])).code, 'the file itself is intact').toBe(0);

    const made = await runCli([
      'tokens',
      'create',
      '--name',
      'nightly',
      '--role',
      'analyst',
      '--approval',
      id,
      '--state-dir',
      state,
      '--json',
    ]);
    expect(made.code).toBe(1);
    expect(made.stderr).toContain('FV_APPROVAL_INVALID');
    expect(made.stderr).toContain('is not an admin other than its proposer in the signed security state now');
    expect(made.stdout).not.toContain('fvt_');
    expect(readFileSync(join(state, 'tokens.json'), 'utf8')).not.toContain('nightly');
  });
});
