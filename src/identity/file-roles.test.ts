import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isFvError } from '../errors/index.ts';
import { principalsAboveViewer } from './principals.ts';
import { TokenStore } from './token-store.ts';
import { UserStore } from './user-store.ts';

/** What `serve` reads at start (principalsAboveViewer): a role not one of ROLES exactly is refused. */
const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (error) {
    if (isFvError(error)) return `${error.code} ${error.message}`;
    throw error;
  }
  return 'accepted';
};

describe('roles in the tokens and users files', () => {
  it('refuses an entry whose role is not a known role exactly (Admin), naming the entry, not its values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fv-roles-'));
    const tokens = new TokenStore(join(dir, 'tokens.json'));
    const users = new UserStore(join(dir, 'users.json'));
    tokens.create({ role: 'viewer', name: 'grafana', days: null });
    await users.add('carol', 'viewer');
    expect(refusal(() => principalsAboveViewer(tokens, users))).toBe('accepted');

    const edit = (file: string, role: string) => {
      const all = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Array<{ role: string }>;
      (all[0] as { role: string }).role = role;
      writeFileSync(join(dir, file), JSON.stringify(all));
    };
    edit('users.json', 'Admin');
    const byUser = refusal(() => principalsAboveViewer(tokens, users));
    expect(byUser).toMatch(
      /^FV_STATE_CORRUPT user file .*users\.json: entry 1 has a role that is not one of/,
    );
    expect(byUser).not.toContain('carol');
    edit('users.json', 'viewer');
    edit('tokens.json', 'admin ');
    expect(refusal(() => new TokenStore(join(dir, 'tokens.json')).list())).toMatch(
      /^FV_STATE_CORRUPT token file .*tokens\.json: entry 1 has a role/,
    );
  });
});
