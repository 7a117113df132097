import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AdminKeys, publicKeyText, type Signer } from './admin-key.ts';
import { ApprovedState, type StateDoc } from './approved-state.ts';
import { mergeState, type SecurityState } from './security-state.ts';

const head = { records: 0, hash: '0'.repeat(64) };

function deployment() {
  const dir = mkdtempSync(join(tmpdir(), 'fv-state-unit-'));
  const keys = new AdminKeys(dir);
  const state = new ApprovedState(dir);
  const enroll = (id: string, secret: string, role: 'admin' | 'analyst' = 'admin'): Signer => {
    const signer = keys.create(id, secret);
    const cur = state.current()?.state ?? { probeSeconds: 300, listeners: [] };
    state.write(
      mergeState(cur, {
        principals: { ...(cur.principals ?? {}), [id]: role },
        keys: { [id]: publicKeyText(signer.key) },
      }),
      signer,
      head,
      { bootstrap: true },
    );
    return signer;
  };
  return { dir, keys, state, enroll };
}

describe('signed security state', () => {
  it('a private key opens only with its own secret, and is never stored in the clear', () => {
    const { dir, keys } = deployment();
    const a = keys.create('user:a', 'alice-password');
    expect(publicKeyText(keys.unseal('user:a', 'alice-password').key)).toBe(publicKeyText(a.key));
    expect(() => keys.unseal('user:a', 'guess')).toThrow(/no signing key/);
    const file = readFileSync(join(dir, 'keys', 'user-a.json'), 'utf8');
    expect(file).not.toMatch(/PRIVATE KEY/);
  });

  it('weakening needs two different admins of the version before; strengthening one; bootstrap ends at two', () => {
    const { state, enroll } = deployment();
    const alice = enroll('user:a', 'pa');
    const bob = enroll('user:b', 'pb');
    expect(state.current()?.version).toBe(2);
    // Bootstrap is over: a third principal cannot sign itself in.
    expect(() => enroll('user:c', 'pc', 'analyst')).toThrow(/two different admins/);
    const cur = state.current()?.state as SecurityState;
    expect(() => state.write({ ...cur, k: 10 }, alice, head)).not.toThrow(); // first seen: one signature
    const v3 = state.current() as StateDoc;
    expect(() => state.write({ ...v3.state, k: 5 }, alice, head)).toThrow(/two different admins/);
    expect(() => state.write({ ...v3.state, k: 20 }, bob, head)).not.toThrow(); // stronger
    expect(state.current()?.version).toBe(4);
  });

  it('an edited, re-signed or older file is refused on read', () => {
    const { state, enroll } = deployment();
    const alice = enroll('user:a', 'pa');
    enroll('user:b', 'pb');
    state.write({ ...(state.current()?.state as SecurityState), k: 10 }, alice, head);
    const path = state.path;
    const v3 = readFileSync(path, 'utf8');
    writeFileSync(path, v3.replace('"k": 10', '"k": 2'));
    expect(() => new ApprovedState(state.dir).current()).toThrow(/FV_STATE_TAMPERED|not the newest|edited/);
    const v2 = readFileSync(join(state.historyDir, '00000002.json'), 'utf8');
    writeFileSync(path, v2);
    expect(() => new ApprovedState(state.dir).current()).toThrow(/version 3 was signed since/);
    writeFileSync(path, v3);
    expect(new ApprovedState(state.dir).current()?.version).toBe(3);
  });
});
