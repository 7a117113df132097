import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../audit/index.ts';
import { Approvals } from './approvals.ts';
import type { ExactQuery } from './exact-grant.ts';

/** Two admins (alice, bob) in a fresh signed state; `user:c` stands for anyone else. */
function deployment() {
  const dir = mkdtempSync(join(tmpdir(), 'fv-exact-unit-'));
  const audit = new AuditLog(join(dir, 'audit.jsonl'));
  const approvals = new Approvals(dir, audit);
  approvals.enroll('user:a', 'admin', { bootstrap: true }, 'cli', 'pa', {}, 'da');
  approvals.enroll('user:b', 'admin', { bootstrap: true }, 'cli', 'pb', { 'user:a': 'admin' }, 'db');
  const alice = approvals.keys.unseal('user:a', 'pa');
  const bob = approvals.keys.unseal('user:b', 'pb');
  const events = () =>
    readFileSync(audit.path, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as {
            actor: string;
            action: string;
            outcome: string;
            detail: Record<string, unknown>;
          },
      );
  return { dir, approvals, alice, bob, events };
}

const A: ExactQuery = {
  metric: 'connection_failures',
  grain: 'week',
  by: ['devices.product_model'],
  from: '2026-11-02',
  to: '2026-11-29',
  filters: { 'devices.region': ['eu', 'us'] },
};

describe('exact answers under differential privacy', () => {
  it('needs a second admin, covers one query for its asker only, and audits every step', () => {
    const { approvals, alice, bob, events } = deployment();
    const id = approvals.proposeExact(A, alice, 'check the failure spike').proposal.id;
    // Not yet approved; the asker cannot approve their own request.
    expect(() => approvals.useExact(id, 'user:a', A)).toThrow(/a second admin must approve/);
    expect(() => approvals.approve(id, alice)).toThrow(/a different admin must decide/);
    approvals.approve(id, bob);
    // The same query (filter values in another order) is allowed, for alice alone.
    expect(() =>
      approvals.useExact(id, 'user:a', { ...A, filters: { 'devices.region': ['us', 'eu'] } }),
    ).not.toThrow();
    const B = { ...A, to: '2026-12-06' };
    expect(() => approvals.useExact(id, 'user:a', B)).toThrow(
      expect.objectContaining({ code: 'FV_EXACT_ANSWER_REFUSED', message: expect.stringMatching(/not for/) }),
    );
    expect(() => approvals.useExact(id, 'user:a', { ...A, by: [] })).toThrow(/not for/);
    expect(() => approvals.useExact(id, 'user:b', A)).toThrow(/only the asker may use it/);
    expect(() => approvals.useExact(id, 'user:c', A)).toThrow(/only the asker may use it/);
    const exact = events().filter((e) => e.action === 'privacy.exact');
    expect(exact.map((e) => [e.actor, e.outcome])).toEqual([
      ['user:a', 'refused'],
      ['user:a', 'ok'],
      ['user:a', 'refused'],
      ['user:a', 'refused'],
      ['user:b', 'refused'],
      ['user:c', 'refused'],
    ]);
    expect(exact[1]?.detail).toMatchObject({ approval: id, approvedBy: 'user:b', metric: A.metric });
    expect(exact[2]?.detail.code).toBe('FV_EXACT_ANSWER_REFUSED');
    expect(
      events()
        .filter((e) => e.action === 'approvals.approve')
        .map((e) => e.outcome),
    ).toEqual(['refused', 'ok']);
  });

  it('expires, and refuses other approvals and hand edits', () => {
    const { dir, approvals, alice, bob } = deployment();
    const view = approvals.proposeExact(A, alice, 'one week', 1);
    const id = view.proposal.id;
    approvals.approve(id, bob);
    const after = Date.parse(view.proposal.expiresAt) + 1;
    expect(() => approvals.useExact(id, 'user:a', A, after)).toThrow(/expired at/);
    // An expiry moved later by hand voids it; a query changed by hand fails its signatures.
    const file = join(dir, 'proposals.json');
    const stored = readFileSync(file, 'utf8');
    const records = JSON.parse(stored);
    records[0].expiresAt = new Date(after + 3_600_000).toISOString();
    writeFileSync(file, JSON.stringify(records));
    expect(() => approvals.useExact(id, 'user:a', A)).toThrow(/expired at/);
    records[0].expiresAt = view.proposal.expiresAt;
    records[0].exact.query.to = '2026-12-06';
    writeFileSync(file, JSON.stringify(records));
    expect(() => approvals.useExact(id, 'user:a', { ...A, to: '2026-12-06' })).toThrow(
      expect.objectContaining({ code: 'FV_STATE_TAMPERED' }),
    );
    writeFileSync(file, stored);
    // A settings or principal approval is not an exact answer's.
    const other = approvals.proposePrincipal({ type: 'token', role: 'analyst', name: 'ci' }, alice, 'ci');
    approvals.approve(other.proposal.id, bob);
    expect(() => approvals.useExact(other.proposal.id, 'user:a', A)).toThrow(/not an approval of an exact/);
    expect(() => approvals.useExact('0000000000', 'user:a', A)).toThrow(
      expect.objectContaining({ code: 'FV_APPROVAL_UNKNOWN' }),
    );
  });
});
