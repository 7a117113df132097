// End to end (slow): a column of a table's own key domain (`users.referred_by`) is a reference,
// not a link to follow. Erasing a person clears their pseudonym from the rows that refer to them,
// and keeps those rows, in the erasure itself and in every later sync (staged and row path, first
// copy, incremental and full) and change capture. Before, it erased the people they referred.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';

const POLICY = `version: 1
reviewed: true
k: 2
tables:
  members:
    primary_key: id
    cursor: updated_at
    columns:
      id:          { class: identifier, domain: member }
      referred_by: { class: identifier, domain: member }
      plan:        { class: attribute }
      updated_at:  { class: time }
  orders:
    primary_key: id
    cursor: id
    columns:
      id:        { class: identifier, domain: order }
      member_id: { class: identifier, domain: member }
      total:     { class: measure }
`;

/** 2,000 members, member n referred by n - 1 (member 1 by nobody); an order per member. */
const MEMBERS = 2_000;

describe('references within a table’s own domain', () => {
  let db: TestDatabase;
  let dir: string;
  let key: string;
  let policy: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    await db.query(
      `CREATE TABLE members (id bigint PRIMARY KEY, referred_by bigint, plan text, updated_at timestamptz NOT NULL);
       INSERT INTO members SELECT g, NULLIF(g - 1, 0), 'basic', now() - interval '1 day' FROM generate_series(1, ${MEMBERS}) g;
       CREATE TABLE orders (id bigint PRIMARY KEY, member_id bigint, total numeric(10, 2));
       INSERT INTO orders SELECT g, g, 10 FROM generate_series(1, ${MEMBERS}) g;`,
    );
    dir = mkdtempSync(join(tmpdir(), 'fv-selfref-'));
    key = join(dir, 'k');
    policy = join(dir, 'policy.yaml');
    writeFileSync(policy, POLICY);
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  const p = (id: number) =>
    pseudonymToUuid(hmacPseudonymizer(loadKeyFile(key), 'member', 0).pseudonym(String(id)));
  const args = (cmd: string, store: string, ...extra: string[]) => [
    cmd,
    ...(cmd === 'sync' ? ['--source', db.url] : []),
    '--policy',
    policy,
    '--store',
    store,
    '--key-file',
    key,
    '--state-dir',
    join(dir, 'state'),
    ...extra,
  ];
  /** Members held, who refers member `n + 1`, and orders held. */
  const state = async (store: string, n: number) => {
    const one = async (sql: string) => String((await queryStore(store, sql))[0]?.[0]);
    return {
      members: Number(await one('SELECT count(*) FROM members')),
      erased: Number(await one(`SELECT count(*) FROM members WHERE id = '${p(n)}'`)),
      next: await one(`SELECT referred_by::VARCHAR FROM members WHERE id = '${p(n + 1)}'`),
      orders: Number(await one('SELECT count(*) FROM orders')),
    };
  };

  it('forget clears the erased member from the member they referred, on both paths, and later syncs keep it so', async () => {
    for (const [path, env] of [
      ['staged', {}],
      ['rows', { FLEETVAULT_SYNC_PATH: 'rows' }],
    ] as const) {
      const store = join(dir, `${path}.duckdb`);
      const first = await runCli(args('sync', store), { env });
      expect(first.code, first.stderr).toBe(0);
      expect(await state(store, 100)).toEqual({
        members: MEMBERS,
        erased: 1,
        next: p(100),
        orders: MEMBERS,
      });
      const f = await runCli(args('forget', store, '--user-id', '100', '--domain', 'member', '--json'));
      expect(f.code, f.stderr).toBe(0);
      // The member and their order go; the member they referred stays, without the reference.
      expect(JSON.parse(f.stdout).deleted).toEqual({ members: 1, orders: 1 });
      const after = { members: MEMBERS - 1, erased: 0, next: 'null', orders: MEMBERS - 1 };
      expect(await state(store, 100), path).toEqual(after);
      // Production still refers member 101 to member 100, and changes member 101.
      await db.query("UPDATE members SET plan = 'pro', updated_at = now() WHERE id = 101");
      const runs: Array<[string, string[]]> = [
        ['incremental', []],
        ['full', ['--full']],
      ];
      for (const [what, extra] of runs) {
        const r = await runCli(args('sync', store, ...extra), {
          env: { ...env, FLEETVAULT_SYNC_TRACE: '1' },
        });
        expect(r.code, `${path} ${what}: ${r.stderr}`).toBe(0);
        const taken = path === 'staged' && what === 'full' ? 'staged path' : 'row path';
        expect(r.stderr, `${path} ${what}`).toContain(`sync members: ${taken}`);
        expect(await state(store, 100), `${path} ${what}`).toEqual(after);
      }
      await db.query("UPDATE members SET plan = 'basic' WHERE id = 101");
    }
  });
});
