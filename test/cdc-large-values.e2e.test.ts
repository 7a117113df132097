// End to end (slow): change capture of a table with large (TOAST) values on PostgreSQL 15, under
// write load. An UPDATE that leaves a large value unchanged does not carry it in the WAL; the
// old advice (REPLICA IDENTITY FULL) makes PostgreSQL 15 refuse every UPDATE and DELETE on a
// table published with a column list. fleetvault reads such values back by key through the
// policy's columns, never publishes a table whose replica identity would break its updates, and
// its advice is the statement this test runs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hmacPseudonymizer, loadKeyFile, pseudonymToUuid } from '../src/privacy/index.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, pgUrl, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';

const WORDS = [
  'amber',
  'bison',
  'cedar',
  'delta',
  'ember',
  'fjord',
  'gravel',
  'harbor',
  'island',
  'juniper',
  'kettle',
  'lantern',
  'meadow',
  'nectar',
  'orchid',
  'pebble',
  'quartz',
  'river',
  'saffron',
  'timber',
  'umber',
  'violet',
  'willow',
  'yarrow',
  'zephyr',
  'basalt',
  'copper',
  'dune',
  'estuary',
  'falcon',
];
// About 40 kB of words per value: compressed, still far above the 2 kB that moves it out of line.
const BIG = `(SELECT string_agg((ARRAY[${WORDS.map((w) => `'${w}'`).join(',')}])[1 + floor(random() * ${WORDS.length})::int], ' ') FROM generate_series(1, 6000 + ($1::bigint % 7)))`;

const POLICY = `version: 1
reviewed: true
k: 2
schema: public
on_detect: block
tables:
  notes:
    primary_key: id
    columns:
      id:           { class: identifier, domain: note }
      author_email: { class: personal }
      body:         { class: attribute }
      status:       { class: attribute }
      n:            { class: measure }
      updated_at:   { class: time }
`;

/** Concurrent production writes: updates that leave the large value alone, some that change it, deletes and inserts. */
let fresh = 1000;

function writeLoad(url: string) {
  let stop = false;
  const errors: string[] = [];
  let statements = 0;
  const done = (async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      for (let i = 0; !stop; i++) {
        const id = 1 + Math.floor(Math.random() * 400);
        try {
          if (i % 25 === 24) {
            // A deleted key stays deleted in the store (erasure is final): new rows get new keys.
            await c.query('DELETE FROM notes WHERE id = $1', [id]);
            await c.query(
              `INSERT INTO notes (id, author_email, body, status, n) VALUES ($1, 'someone@example.com', ${BIG}, 'new', 0)`,
              [fresh++],
            );
          } else if (i % 10 === 9) {
            await c.query(`UPDATE notes SET body = ${BIG}, updated_at = now() WHERE id = $1`, [id]);
          } else {
            await c.query(
              `UPDATE notes SET status = 's' || $1::int % 9, n = n + 1, updated_at = now() WHERE id = $2`,
              [i, id],
            );
          }
          statements++;
        } catch (error) {
          errors.push((error as Error).message);
        }
      }
    } finally {
      await c.end();
    }
  })();
  return {
    errors,
    get statements() {
      return statements;
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

describe('change capture of large (TOAST) values without REPLICA IDENTITY FULL', () => {
  let db: TestDatabase;
  let dir: string;
  let store: string;
  let key: string;
  let policy: string;
  let reader: string;
  let pub: string;
  let grantsSql: string;
  const sync = (source: string, publication: string, target = store, ...extra: string[]) =>
    runCli([
      'sync',
      '--mode',
      'cdc',
      '--publication',
      publication,
      '--source',
      source,
      '--policy',
      policy,
      '--store',
      target,
      '--key-file',
      key,
      '--state-dir',
      join(dir, 'state'),
      ...extra,
    ]);
  const identity = async () =>
    (await db.query("SELECT relreplident AS r FROM pg_class WHERE oid = 'notes'::regclass")).rows[0]
      .r as string;
  const updateWorks = async () => {
    await db.query("UPDATE notes SET status = 'probe' WHERE id = 1");
    await db.query('DELETE FROM notes WHERE id = 400');
  };
  const expectStoreEqualsSource = async () => {
    const k = loadKeyFile(key);
    const p = hmacPseudonymizer(k, 'note');
    const source = (await db.query('SELECT id::text AS id, status, n, md5(body) AS h FROM notes')).rows
      .map((r) => `${pseudonymToUuid(p.pseudonym(r.id))} ${r.status} ${r.n} ${r.h}`)
      .sort();
    const stored = (await queryStore(store, 'SELECT id::VARCHAR, status, n, md5(body) FROM notes'))
      .map((r) => r.join(' '))
      .sort();
    expect(stored.length).toBe(source.length);
    expect(stored).toEqual(source);
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-cdc-toast-'));
    store = join(dir, 'store.duckdb');
    key = join(dir, 'k');
    policy = join(dir, 'notes.policy.yaml');
    writeFileSync(policy, POLICY);
    const tag = randomBytes(3).toString('hex');
    reader = `fv_toastr_${tag}`;
    pub = `fv_toast_${tag}`;
    db.roles.push(reader, `fv_toastx_${tag}`);
    await db.query(
      'CREATE TABLE notes (id bigint PRIMARY KEY, author_email text NOT NULL, body text NOT NULL, status text NOT NULL, n integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())',
    );
    await db.query(
      `INSERT INTO notes (id, author_email, body, status, n) SELECT g, 'person' || g || '@example.com', ${BIG.replace('$1::bigint', 'g')}, 'open', 0 FROM generate_series(1, 400) g`,
    );
    // Real TOAST: the values live out of line, so an update that leaves them alone does not send them.
    const chunks = await db.query(
      "SELECT count(*)::int AS n FROM pg_class t JOIN pg_class c ON c.reltoastrelid = t.oid WHERE c.oid = 'notes'::regclass",
    );
    expect(chunks.rows[0].n).toBe(1);
    const toast = (
      await db.query("SELECT reltoastrelid::regclass::text AS t FROM pg_class WHERE oid = 'notes'::regclass")
    ).rows[0].t as string;
    expect((await db.query(`SELECT count(DISTINCT chunk_id)::int AS n FROM ${toast}`)).rows[0].n).toBe(400);
    const grants = await runCli([
      'policy',
      'grants',
      '--policy',
      policy,
      '--role',
      reader,
      '--database',
      db.name,
      '--mode',
      'cdc',
      '--publication',
      pub,
      '--replication-role',
      `fv_toastx_${tag}`,
    ]);
    expect(grants.code, grants.stderr).toBe(0);
    grantsSql = grants.stdout;
    expect((await runCli(['init', '--key-file', key])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('a table with REPLICA IDENTITY FULL is never published: the grants SQL and sync refuse, production keeps updating, and the advised statement lets setup finish', async () => {
    await db.query('ALTER TABLE notes REPLICA IDENTITY FULL');
    await expect(db.query(grantsSql)).rejects.toThrow(/fleetvault: notes has REPLICA IDENTITY FULL/);
    const direct = await sync(db.url, `${pub}_d`, join(dir, 'direct.duckdb'));
    expect(direct.code).toBe(1);
    expect(direct.stderr).toContain('FV_CDC_SETUP');
    expect(direct.stderr).toContain('notes has REPLICA IDENTITY FULL');
    const advice = /ALTER TABLE "?notes"? REPLICA IDENTITY DEFAULT/.exec(direct.stderr)?.[0];
    expect(advice).toBeDefined();
    // Nothing was created, so nothing refuses production's writes.
    expect((await db.query('SELECT count(*)::int AS n FROM pg_publication')).rows[0].n).toBe(0);
    expect(
      (
        await db.query(
          'SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database()',
        )
      ).rows[0].n,
    ).toBe(0);
    await updateWorks();
    await db.query(advice as string);
    expect(await identity()).toBe('d');
    await db.query(grantsSql);
    const first = await sync(pgUrl(db.name, reader), pub);
    expect(first.code, first.stderr).toBe(0);
    await updateWorks();
  });

  it('large values an update did not carry are read back by key through the policy columns: under write load the store equals production', async () => {
    const load = writeLoad(db.url);
    try {
      for (let round = 0; round < 3; round++) {
        while (load.statements < (round + 1) * 150 && load.errors.length === 0)
          await new Promise((r) => setTimeout(r, 50));
        const r = await sync(pgUrl(db.name, reader), pub, store, '--json');
        expect(r.code, r.stderr).toBe(0);
      }
    } finally {
      await load.stop();
    }
    expect(load.errors).toEqual([]);
    expect(load.statements).toBeGreaterThanOrEqual(450);
    const r = await sync(pgUrl(db.name, reader), pub, store, '--json');
    expect(r.code, r.stderr).toBe(0);
    await expectStoreEqualsSource();
    expect(await identity()).toBe('d');
    // The dropped column never reached the store.
    expect(
      await queryStore(
        store,
        "SELECT count(*) FROM information_schema.columns WHERE column_name = 'author_email'",
      ),
    ).toEqual([['0']]);
  });

  it('REPLICA IDENTITY FULL set after setup (the old advice) breaks production updates; fleetvault names the table and a statement that, run, brings updates and change capture back', async () => {
    await db.query('ALTER TABLE notes REPLICA IDENTITY FULL');
    await expect(db.query("UPDATE notes SET status = 'x' WHERE id = 2")).rejects.toMatchObject({
      detail: 'Column list used by the publication does not cover the replica identity.',
    });
    const refused = await sync(pgUrl(db.name, reader), pub);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('FV_CDC_SETUP');
    const advice = /ALTER TABLE "?notes"? REPLICA IDENTITY DEFAULT/.exec(refused.stderr)?.[0];
    expect(advice).toBeDefined();
    await db.query(advice as string);
    const load = writeLoad(db.url);
    try {
      while (load.statements < 200 && load.errors.length === 0) await new Promise((r) => setTimeout(r, 50));
      const r = await sync(pgUrl(db.name, reader), pub);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await load.stop();
    }
    expect(load.errors).toEqual([]);
    const r = await sync(pgUrl(db.name, reader), pub);
    expect(r.code, r.stderr).toBe(0);
    await expectStoreEqualsSource();
  });
});
