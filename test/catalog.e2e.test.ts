// End to end (slow): `policy suggest`, `scan`, `check` and `sync` on catalog features the demo
// schema does not have: views, a never-populated materialized view, a primary key with INCLUDE
// columns, foreign keys, binary columns, free text, numbers that are phone numbers, exact money;
// and every connection failure mapped to a catalog code with advice.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rowsAddUp, type TableResult } from '../src/sync/index.ts';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, PG_HOST, PG_PORT, type TestDatabase } from './helpers/pg.ts';
import { dumpStore, queryStore } from './helpers/store-dump.ts';

const SCHEMA = `
CREATE TABLE staff (staff_id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL,
  picture bytea, email text, store_id int);
CREATE TABLE store (store_id int PRIMARY KEY, manager_staff_id int NOT NULL REFERENCES staff (staff_id),
  address text, region text);
CREATE TABLE payment (payment_id int, amount numeric(7,2) NOT NULL, staff_ref int REFERENCES staff (staff_id),
  paid_at timestamptz NOT NULL, CONSTRAINT payment_pk PRIMARY KEY (payment_id) INCLUDE (amount));
CREATE TABLE events (id bigint PRIMARY KEY, status text, code text, message text, phone bigint, visits int);
CREATE VIEW customer_report AS SELECT staff_id, first_name || ' ' || last_name AS full_name,
  json_build_object('customer', first_name || ' ' || last_name)::text AS doc FROM staff;
CREATE MATERIALIZED VIEW never_filled AS SELECT staff_id, email FROM staff WITH NO DATA;
INSERT INTO staff SELECT g, (ARRAY['Mary','John','Linda','Robert','Susan'])[1 + g % 5],
  (ARRAY['Smith','Johnson','Williams','Brown','Jones'])[1 + g % 5], decode('89504e470d0a1a0a', 'hex'),
  'staff' || g || '@canary.example', 1 + g % 3 FROM generate_series(1, 60) g;
INSERT INTO store SELECT g, g * 7, g || ' Canary Lane, Springfield', (ARRAY['north','south'])[1 + g % 2]
  FROM generate_series(1, 6) g;
INSERT INTO payment SELECT g, (ARRAY[0.10, 0.20, 19.99, 4.01])[1 + g % 4], 1 + g % 60, now() - g * interval '1 hour'
  FROM generate_series(1, 4000) g;
INSERT INTO events SELECT g, (ARRAY['ok','fail','retry'])[1 + g % 3], 'E-' || lpad(g::text, 5, '0'),
  'device ' || g || ' reported a problem after ' || (g % 17) || ' minutes of uptime', 14155550000 + g, g % 9
  FROM generate_series(1, 300) g;
`;

describe('policy suggest, scan, check and sync on a real-world catalog', () => {
  let db: TestDatabase;
  let dir: string;
  let draft: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(join(tmpdir(), 'fv-catalog-'));
    await db.query(SCHEMA);
    expect((await runCli(['init', '--key-file', join(dir, 'k')])).code).toBe(0);
  });

  afterAll(async () => {
    await db?.drop();
  });

  it('drafts without crashing on a never-populated materialized view, and drafts what the catalog says', async () => {
    const file = join(dir, 'draft.yaml');
    const r = await runCli(['policy', 'suggest', '--source', db.url, '--out', file]);
    expect(r.code, r.stderr).toBe(0);
    draft = readFileSync(file, 'utf8');
    // Foreign keys give domains: the manager is a staff member, so joins work.
    expect(draft).toMatch(/manager_staff_id: +\{ class: identifier, domain: staff \}/);
    expect(draft).toMatch(/staff_ref: +\{ class: identifier, domain: staff \}/);
    // INCLUDE columns are not part of the key.
    expect(draft).toContain('    primary_key: payment_id\n');
    // Binary is never read; free text is personal; labels and codes are attributes.
    expect(draft).toMatch(/picture: +\{ class: personal \} +# bytea; binary \(bytea\): never read/);
    expect(draft).toMatch(/message: +\{ class: personal \} +# text; free text/);
    expect(draft).toMatch(/address: +\{ class: personal \}/);
    expect(draft).toMatch(/status: +\{ class: attribute \}/);
    expect(draft).toMatch(/code: +\{ class: attribute \} +# text; codes/);
    expect(draft).toMatch(/phone: +\{ class: personal \}/);
    expect(draft).toMatch(/visits: +\{ class: measure \}/);
    // Views and materialized views are not drafted, and the draft says so.
    expect(draft).not.toMatch(/^ {2}customer_report:/m);
    expect(draft).toContain(
      '# Not drafted: customer_report (view), never_filled (materialized view, never populated).',
    );
  });

  it('scan finds the names a view gathers, reports binary columns unread, and skips the empty materialized view', async () => {
    const r = await runCli(['scan', '--url', db.url, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const find = (t: string, c: string) =>
      report.findings.find((f: { table: string; column: string }) => f.table === t && f.column === c);
    expect(find('customer_report', 'full_name')).toMatchObject({ evidence: 'values', kind: 'person_name' });
    expect(find('customer_report', 'doc')).toMatchObject({ evidence: 'values', kind: 'person_name' });
    expect(find('staff', 'picture')).toMatchObject({ evidence: 'binary' });
    expect(find('events', 'phone')).toMatchObject({ evidence: 'values', kind: 'phone' });
    expect(find('events', 'code')).toBeUndefined();
    expect(report.skipped).toEqual([expect.objectContaining({ table: 'never_filled' })]);
    expect(r.stdout).not.toContain('canary.example');
    expect(r.stdout).not.toContain('Smith');
  });

  it('the reviewed draft checks and syncs; money is exact; nothing personal reaches the store', async () => {
    const file = join(dir, 'reviewed.yaml');
    writeFileSync(file, draft.replace('reviewed: false', 'reviewed: true'));
    const check = await runCli(['policy', 'check', '--policy', file, '--source', db.url]);
    expect(check.code, check.stdout).toBe(0);
    const store = join(dir, 's.duckdb');
    const sync = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      file,
      '--store',
      store,
      '--key-file',
      join(dir, 'k'),
    ]);
    expect(sync.code, sync.stderr + sync.stdout).toBe(0);
    const [[type, total]] = (await queryStore(
      store,
      "SELECT (SELECT data_type FROM duckdb_columns() WHERE table_name = 'payment' AND column_name = 'amount'), sum(amount)::VARCHAR FROM payment",
    )) as [[string, string]];
    const expected = (await db.query('SELECT sum(amount)::text AS s FROM payment')).rows[0].s;
    expect(type).toBe('DECIMAL(7,2)');
    expect(total).toBe(expected);
    const dump = await dumpStore(store);
    for (const secret of ['canary.example', 'Canary Lane', 'Smith', 'Johnson', '1415555', 'PNG', 'iVBOR'])
      expect(dump, secret).not.toContain(secret);
  });

  it('refuses to keep a binary column, and names a never-populated materialized view instead of a driver code', async () => {
    const binary = join(dir, 'binary.yaml');
    writeFileSync(
      binary,
      draft
        .replace('reviewed: false', 'reviewed: true')
        .replace(/picture: +\{ class: personal \}/, 'picture: { class: attribute }'),
    );
    const check = await runCli(['policy', 'check', '--policy', binary, '--source', db.url, '--json']);
    expect(check.code).toBe(1);
    expect(JSON.parse(check.stdout).problems.map((p: { code: string }) => p.code)).toContain(
      'FV_POLICY_BINARY',
    );
    const mv = join(dir, 'mv.yaml');
    writeFileSync(
      mv,
      'version: 1\nreviewed: true\ntables:\n  never_filled:\n    primary_key: staff_id\n    columns:\n      staff_id: { class: identifier, domain: staff }\n      email: { class: personal }\n',
    );
    const sync = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      mv,
      '--store',
      join(dir, 'mv.duckdb'),
      '--key-file',
      join(dir, 'k'),
    ]);
    expect(sync.code).toBe(1);
    expect(sync.stderr).toContain('FV_SOURCE_NOT_POPULATED');
    expect(sync.stderr).toContain('REFRESH MATERIALIZED VIEW');
    expect(sync.stderr).not.toContain('unexpected');
  });

  it('a transform that makes every value NULL and a PII hit each stop their table, with advice; the other tables are copied and reported', async () => {
    const file = join(dir, 'unfit.yaml');
    writeFileSync(
      file,
      draft
        .replace('reviewed: false', 'reviewed: true')
        .replace(/address: +\{ class: personal \}/, 'address: { class: personal, transform: ip_prefix }')
        .replace(/message: +\{ class: personal \}/, 'message: { class: attribute }'),
    );
    await db.query("UPDATE events SET message = 'call me on +1 415 555 0199' WHERE id = 150");
    const store = join(dir, 'unfit.duckdb');
    // Its own state folder: this policy keeps a column the earlier syncs dropped, which the
    // two-person rule rightly refuses in theirs.
    const state = ['--state-dir', join(dir, 'state-unfit')];
    const r = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      file,
      '--store',
      store,
      '--key-file',
      join(dir, 'k'),
      '--json',
      ...state,
    ]);
    expect(r.code).toBe(1);
    const result = JSON.parse(r.stdout);
    const by = (t: string) => result.tables.find((x: { table: string }) => x.table === t);
    expect(by('store')).toMatchObject({ status: 'refused', error: { code: 'FV_TRANSFORM_UNFIT' } });
    expect(by('store').error.message).toContain('store.address');
    expect(by('events')).toMatchObject({ status: 'refused', error: { code: 'FV_PII_DETECTED' } });
    // Every row read is counted once, the refused batches' rows as blocked.
    for (const t of result.tables as TableResult[]) expect(rowsAddUp(t), t.table).toBe(true);
    expect(by('events').rowsBlocked).toBeGreaterThan(0);
    expect(by('staff').status).toBe('copied');
    expect(by('payment').status).toBe('copied');
    const human = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      file,
      '--store',
      join(dir, 'unfit2.duckdb'),
      '--key-file',
      join(dir, 'k'),
      ...state,
    ]);
    expect(human.stdout).toMatch(/store +\[refused/);
    expect(human.stdout).toContain('how to solve');
    expect(human.stdout).not.toContain('415 555');
    expect(human.stdout + human.stderr).not.toContain('Canary Lane');
  });

  it('every connection failure names a catalog code and what to do, for suggest, scan, check and sync alike', async () => {
    const cases: Array<[string, string]> = [
      [`postgres://postgres@${PG_HOST}:${PG_PORT}/fv_no_such_database_x`, 'FV_SOURCE_DATABASE'],
      [`postgres://fv_no_such_role_x@${PG_HOST}:${PG_PORT}/${db.name}`, 'FV_SOURCE_AUTH'],
      ['postgres://postgres@no-such-host.invalid:5432/prod', 'FV_SOURCE_HOST'],
      ['mysql://root@127.0.0.1:3306/prod', 'FV_SOURCE_URL'],
    ];
    for (const [url, code] of cases) {
      for (const args of [
        ['policy', 'suggest', '--source', url],
        ['scan', '--url', url],
        ['policy', 'check', '--policy', join(dir, 'reviewed.yaml'), '--source', url],
        [
          'sync',
          '--source',
          url,
          '--policy',
          join(dir, 'reviewed.yaml'),
          '--store',
          join(dir, 'x.duckdb'),
          '--key-file',
          join(dir, 'k'),
        ],
      ]) {
        const r = await runCli(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
        expect(r.stderr, args.join(' ')).toContain(code);
        expect(r.stderr).toContain('how to solve');
        expect(r.stderr).not.toContain('unexpected');
      }
    }
  });
});
