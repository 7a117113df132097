import { describe, expect, it } from 'vitest';
import { type GrantTerms, grantTargets, grantText } from './approved-state.ts';
import type { SecurityState } from './security-state.ts';

const before: SecurityState = {
  principals: { 'user:a1': 'admin', 'user:b2': 'admin' },
  keys: { 'user:a1': 'ka', 'user:b2': 'kb' },
  credentials: { 'user:a1': 'ca', 'user:b2': 'cb' },
};
const request = { type: 'user', role: 'admin', name: 'alice' };
const rekeyAlice: GrantTerms = {
  payload: 2,
  expiresAt: '2026-12-08T00:00:00.000Z',
  mode: 'rekey',
  principal: 'user:a1',
};
const fresh: GrantTerms = { payload: 2, expiresAt: '2026-12-08T00:00:00.000Z', mode: 'new' };

describe('principal grant terms (signing payload 2)', () => {
  it('a re-key changes exactly the principal it names, which must exist', () => {
    expect(grantTargets(rekeyAlice, 'user:a1', before)).toBe(true);
    expect(grantTargets(rekeyAlice, 'user:b2', before)).toBe(false);
    expect(grantTargets({ ...rekeyAlice, principal: 'user:zz' }, 'user:zz', before)).toBe(false);
  });

  it('a new principal is only an id the version before does not name', () => {
    expect(grantTargets(fresh, 'user:c3', before)).toBe(true);
    expect(grantTargets(fresh, 'user:b2', before)).toBe(false);
    expect(grantTargets(fresh, 'user:x9', { credentials: { 'user:x9': 'c' } })).toBe(false);
  });

  it('the signed text covers the expiry and the target; payload 1 (request alone) stays readable', () => {
    const v2 = grantText('s', 'p1', request, rekeyAlice);
    expect(v2).toContain('2026-12-08T00:00:00.000Z');
    expect(v2).toContain('user:a1');
    expect(grantText('s', 'p1', request, { ...rekeyAlice, expiresAt: '2027-12-08T00:00:00.000Z' })).not.toBe(
      v2,
    );
    expect(grantText('s', 'p1', request)).toBe(
      '{"proposal":"p1","request":{"name":"alice","role":"admin","type":"user"},"stateId":"s"}',
    );
  });
});
