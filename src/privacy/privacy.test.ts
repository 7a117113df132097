import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKeyFile, keyFromBytes, loadKeyFile } from './key-file.ts';
import { hmacPseudonymizer, pseudonymToUuid } from './pseudonymizer.ts';
import { sealedBox } from './sealed-box.ts';

const k1 = keyFromBytes(Buffer.alloc(32, 1));
const k2 = keyFromBytes(Buffer.alloc(32, 2));

describe('pseudonyms', () => {
  it('are deterministic per key and domain, 128-bit, and differ across domains and keys (property)', () => {
    const user = hmacPseudonymizer(k1, 'user');
    const userAgain = hmacPseudonymizer(k1, 'user', 1);
    const device = hmacPseudonymizer(k1, 'device');
    const otherKey = hmacPseudonymizer(k2, 'user');
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (v) => {
        const p = user.pseudonym(v);
        return (
          p === userAgain.pseudonym(v) &&
          p < 2n ** 128n &&
          p !== device.pseudonym(v) &&
          p !== otherKey.pseudonym(v)
        );
      }),
    );
  });

  it('distinct inputs give distinct pseudonyms (property)', () => {
    const user = hmacPseudonymizer(k1, 'user');
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => a === b || user.pseudonym(a) !== user.pseudonym(b)),
    );
  });

  it('print as UUIDs', () => {
    expect(pseudonymToUuid(1n)).toBe('00000000-0000-0000-0000-000000000001');
  });
});

describe('key file', () => {
  it('is created with mode 0600 and refused when group or others can read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-key-'));
    const file = join(dir, 'master.key');
    const created = createKeyFile(file);
    expect(loadKeyFile(file).fingerprint).toBe(created.fingerprint);
    expect(() => createKeyFile(file)).toThrow(/already exists/);
    chmodSync(file, 0o640);
    expect(() => loadKeyFile(file)).toThrow(expect.objectContaining({ code: 'FV_KEY_FILE_INSECURE' }));
    const bogus = join(dir, 'bogus.key');
    writeFileSync(bogus, 'hello', { mode: 0o600 });
    expect(() => loadKeyFile(bogus)).toThrow(expect.objectContaining({ code: 'FV_KEY_FILE_INVALID' }));
    expect(() => loadKeyFile(join(dir, 'missing'))).toThrow(
      expect.objectContaining({ code: 'FV_KEY_FILE_MISSING' }),
    );
  });
});

describe('sealed box', () => {
  it('round-trips, and refuses tampering, another context or another key', () => {
    const box = sealedBox(k1, 'checkpoint');
    // A canary no random base64 text will contain by chance (a bare "42" did, 1 run in ~70).
    const plain = '["2026-01-01", "canary-user-4242"]';
    const sealed = box.seal(plain, 'checkpoint:users');
    expect(sealed).not.toContain('canary-user-4242');
    expect(Buffer.from(sealed, 'base64').includes('canary-user-4242')).toBe(false);
    expect(box.open(sealed, 'checkpoint:users')).toBe(plain);
    expect(box.open(sealed, 'checkpoint:devices')).toBeUndefined();
    expect(sealedBox(k2, 'checkpoint').open(sealed, 'checkpoint:users')).toBeUndefined();
    const flipped = Buffer.from(sealed, 'base64');
    flipped[flipped.length - 1] = (flipped[flipped.length - 1] ?? 0) ^ 1;
    expect(box.open(flipped.toString('base64'), 'checkpoint:users')).toBeUndefined();
  });
});
