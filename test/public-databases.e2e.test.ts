// End to end (slow): two public sample databases with personal data that nobody on the project
// wrote (Chinook, MIT; Northwind, Ms-PL; test/fixtures/public-databases/), loaded into PostgreSQL,
// then the README's walk-through: `policy suggest`, a review, `policy check`, `sync`. Every
// personal value of the source is then looked for in the store: zero hits.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.ts';
import { createTestDatabase, type TestDatabase } from './helpers/pg.ts';
import { queryStore } from './helpers/store-dump.ts';

const FIXTURES = new URL('./fixtures/public-databases/', import.meta.url);

interface Sample {
  readonly name: string;
  readonly file: string;
  /** The SQL to load (the dump's own database creation left out). */
  readonly sql: (text: string) => string;
  /** Hand-labelled: every column holding a person's data, as `table.column`. */
  readonly personal: readonly string[];
}

const SAMPLES: readonly Sample[] = [
  {
    name: 'Chinook',
    file: 'chinook-postgresql.sql.gz',
    sql: (t) => t.slice(t.indexOf('CREATE TABLE')),
    personal: [
      'customer.first_name',
      'customer.last_name',
      'customer.company',
      'customer.address',
      'customer.city',
      'customer.postal_code',
      'customer.phone',
      'customer.fax',
      'customer.email',
      'employee.first_name',
      'employee.last_name',
      'employee.birth_date',
      'employee.address',
      'employee.city',
      'employee.postal_code',
      'employee.phone',
      'employee.fax',
      'employee.email',
      'invoice.billing_address',
      'invoice.billing_city',
      'invoice.billing_postal_code',
    ],
  },
  {
    name: 'Northwind',
    file: 'northwind.sql.gz',
    sql: (t) => t,
    personal: [
      'customers.company_name',
      'customers.contact_name',
      'customers.address',
      'customers.city',
      'customers.postal_code',
      'customers.phone',
      'customers.fax',
      'employees.last_name',
      'employees.first_name',
      'employees.birth_date',
      'employees.address',
      'employees.city',
      'employees.postal_code',
      'employees.home_phone',
      'employees.extension',
      'employees.photo',
      'employees.notes',
      'employees.photo_path',
      'suppliers.company_name',
      'suppliers.contact_name',
      'suppliers.address',
      'suppliers.city',
      'suppliers.postal_code',
      'suppliers.phone',
      'suppliers.fax',
      'suppliers.homepage',
      'orders.ship_name',
      'orders.ship_address',
      'orders.ship_city',
      'orders.ship_postal_code',
      'shippers.phone',
    ],
  },
];

const KEPT = /\{ class: (attribute|measure|time)/;

describe.each(SAMPLES)('$name, a public sample database: suggest → review → check → sync', (sample) => {
  let db: TestDatabase;
  const dir = mkdtempSync(join(tmpdir(), `fv-${sample.name.toLowerCase()}-`));

  afterAll(async () => {
    await db?.drop();
  });

  it('copies nothing personal: no personal value of the source is in the store', async () => {
    db = await createTestDatabase();
    await db.query(sample.sql(gunzipSync(readFileSync(new URL(sample.file, FIXTURES))).toString('utf8')));
    expect((await runCli(['init', '--key-file', join(dir, 'k')])).code).toBe(0);

    // 1. Draft.
    const draft = join(dir, 'draft.yaml');
    const suggest = await runCli(['policy', 'suggest', '--source', db.url, '--out', draft]);
    expect(suggest.code, suggest.stderr).toBe(0);
    const text = readFileSync(draft, 'utf8');

    // 2. Review, as the README says: read every line. The reviewer's list of personal columns
    //    must find each of them dropped, generalized, pseudonymized or never read.
    const lines = new Map<string, string>();
    let table = '';
    for (const line of text.split('\n')) {
      const t = /^ {2}([\w"]+):$/.exec(line);
      if (t) table = t[1] as string;
      const c = /^ {6}(\w+): +(\{.*)$/.exec(line);
      if (c) lines.set(`${table}.${c[1]}`, c[2] as string);
    }
    for (const column of sample.personal) {
      expect(lines.get(column), column).toBeDefined();
      expect(lines.get(column), column).not.toMatch(KEPT);
    }
    const reviewed = join(dir, 'policy.yaml');
    writeFileSync(reviewed, text.replace('reviewed: false', 'reviewed: true'));

    // 3. Check, 4. sync: no false alarm stops it.
    const state = ['--state-dir', join(dir, 'state')];
    const check = await runCli(['policy', 'check', '--policy', reviewed, '--source', db.url]);
    expect(check.code, check.stdout).toBe(0);
    const store = join(dir, 'store.duckdb');
    const sync = await runCli([
      'sync',
      '--source',
      db.url,
      '--policy',
      reviewed,
      '--store',
      store,
      '--key-file',
      join(dir, 'k'),
      ...state,
    ]);
    expect(sync.code, sync.stdout + sync.stderr).toBe(0);
    expect(sync.stdout).not.toContain('refused');

    // 5. Every personal value of the source, searched in every cell of the store and in the
    //    store file's bytes: exact cells for short values, anywhere for longer ones.
    const values = new Set<string>();
    for (const column of sample.personal) {
      const [t, c] = column.split('.') as [string, string];
      const r = await db.query(`SELECT DISTINCT "${c}"::text AS v FROM "${t}" WHERE "${c}" IS NOT NULL`);
      for (const row of r.rows as Array<{ v: string }>)
        if (row.v.trim().length >= 3) values.add(row.v.trim());
    }
    expect(values.size).toBeGreaterThan(200);
    const tables = (
      await queryStore(
        store,
        "SELECT table_name FROM duckdb_tables() WHERE NOT starts_with(table_name, '_fv')",
      )
    ).map((r) => String(r[0]));
    expect(tables.length).toBeGreaterThan(5);
    const cells = new Set<string>();
    const texts: string[] = [];
    for (const t of tables) {
      for (const row of await queryStore(store, `SELECT * FROM "${t}"`)) {
        for (const v of row) {
          if (v === null) continue;
          const s = String(v);
          cells.add(s);
          if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(s)) texts.push(s);
        }
      }
    }
    const all = texts.join('\u0000');
    const bytes = readFileSync(store).toString('latin1');
    // A value that is also a value of a column the review keeps ("Singapore" the country as well
    // as the city, "100" a quantity as well as a postal code) is no evidence of a leak.
    const shared = new Set<string>();
    for (const [column, rule] of lines) {
      if (!KEPT.test(rule) || sample.personal.includes(column)) continue;
      const [t, c] = column.split('.') as [string, string];
      const r = await db.query(`SELECT DISTINCT "${c}"::text AS v FROM "${t}" WHERE "${c}" IS NOT NULL`);
      for (const row of r.rows as Array<{ v: string }>) shared.add(row.v.trim());
    }
    for (const v of shared) values.delete(v);
    const hits = [...values].filter(
      (v) => cells.has(v) || (v.length >= 6 && /\p{L}/u.test(v) && (all.includes(v) || bytes.includes(v))),
    );
    expect(hits, `${hits.length} personal values found in the store`).toEqual([]);
  });
});
