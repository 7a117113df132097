// Builds bench/corpus/public-corpus.json from public sources (see PROVENANCE.md). Not part of the
// build or the tests: run it by hand after updating a source.
//   node bench/corpus/build-public-corpus.mjs <dir with the source files> postgres://postgres@127.0.0.1:5432/postgres
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const [dir, adminUrl] = process.argv.slice(2);
const out = [];
const add = (label, value, source, column) => {
  if (typeof value === 'string' && value.trim() !== '')
    out.push(column ? [label, value, source, column] : [label, value, source]);
};
// Presidio labels fleetvault disagrees with on purpose, and why (PROVENANCE.md lists them).
const NOT_PERSONAL = [
  [
    /^(?:Use local ipv6 ::|Unspecified ::|src=:: dst=::1|my ip: ::1|connecting from ::1|Loopback ::1)$/,
    'loopback or unspecified address: points at no one',
  ],
  [
    /\d\.\d+\/(?:[0-9]|1\d|2[0-4])\.?$|:[^.]*\/(?:[0-9]|[1-5]\d|6[0-4])\.?$/,
    'a network prefix, not an address',
  ],
  [/^::1?\/\d+$/, 'loopback or unspecified address: points at no one'],
  [/^10\.0\.0\.0\/123$/, 'not a valid prefix length'],
  [
    /^(?:Broadcast 255\.255\.255\.255|Default 0\.0\.0\.0)$/,
    'broadcast or unspecified address: points at no one',
  ],
  [/^192\.168\.1\.1\.1$/, 'five parts: not an IPv4 address'],
];

// ---- Presidio's labelled recognizer tests (MIT) ------------------------------------------------
const PRESIDIO = {
  email: 'email',
  credit_card: 'card',
  iban: 'iban',
  ip: 'ip',
  mac: 'mac',
  us_ssn: 'ssn',
  phone: 'phone',
  url: 'url_credentials',
};
for (const [file, label] of Object.entries(PRESIDIO)) {
  const text = readFileSync(join(dir, `presidio_${file}.py`), 'utf8');
  for (const m of text.matchAll(/^\s*\(\s*"((?:[^"\\]|\\.)*)"\s*,\s*(\d+)\s*,/gm)) {
    const value = JSON.parse(`"${m[1].replace(/\\'/g, "'")}"`);
    const expected = Number(m[2]);
    let l = label;
    if (label === 'ip') l = /[0-9A-Fa-f]*:[0-9A-Fa-f]*:/.test(value) ? 'ipv6' : 'ipv4';
    const why = NOT_PERSONAL.find(([re]) => re.test(value));
    if (label === 'ip' && expected > 0 && why) {
      add(`not:${l}`, value, `presidio:test_${file}_recognizer.py (relabelled: ${why[1]})`);
      continue;
    }
    // URLs in Presidio's test carry no credentials: they are negatives for url_credentials.
    if (label === 'url_credentials') add('not:url_credentials', value, `presidio:test_${file}_recognizer.py`);
    else add(expected > 0 ? l : `not:${l}`, value, `presidio:test_${file}_recognizer.py`);
  }
}

// ---- Chinook and Northwind, loaded into a scratch database -------------------------------------
async function load(name, sql) {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const db = `fv_corpus_${randomBytes(3).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${db}`);
  const url = new URL(adminUrl);
  url.pathname = `/${db}`;
  const c = new pg.Client({ connectionString: url.toString() });
  await c.connect();
  await c.query(sql);
  return {
    q: async (s) => (await c.query(s)).rows,
    async drop() {
      await c.end();
      await admin.query(`DROP DATABASE ${db}`);
      await admin.end();
    },
    name,
  };
}

const chinookSql = readFileSync(join(dir, 'chinook.sql'), 'utf8');
const chinook = await load('chinook', chinookSql.slice(chinookSql.indexOf('CREATE TABLE')));
for (const r of await chinook.q(
  'SELECT first_name, last_name, email, phone, fax FROM customer UNION ALL SELECT first_name, last_name, email, phone, fax FROM employee',
)) {
  add('email', r.email, 'chinook:customer+employee.email');
  add('phone', r.phone, 'chinook:customer+employee.phone', 'phone');
  add('phone', r.fax, 'chinook:customer+employee.fax', 'fax');
  add('person_name', `${r.first_name} ${r.last_name}`, 'chinook:customer+employee.first_name+last_name');
  add('person_name', `${r.last_name}, ${r.first_name}`, 'chinook:customer+employee (last, first)');
  add(
    'person_name',
    `${r.first_name.toUpperCase()} ${r.last_name.toUpperCase()}`,
    'chinook:customer+employee (upper case)',
  );
  add(
    'person_name',
    JSON.stringify({ customer: `${r.first_name} ${r.last_name}`, orders: 7 }),
    'chinook:report row as JSON',
  );
}
for (const r of await chinook.q('SELECT DISTINCT name FROM track UNION SELECT DISTINCT title FROM album'))
  add('none', r.name, 'chinook:track.name+album.title (titles)');
for (const r of await chinook.q(
  'SELECT name FROM genre UNION SELECT name FROM media_type UNION SELECT name FROM playlist',
))
  add('none', r.name, 'chinook:genre+media_type+playlist (labels)');
for (const r of await chinook.q(
  "SELECT invoice_date::text AS a, to_char(invoice_date, 'DD/MM/YYYY') AS b, to_char(invoice_date, 'Mon DD, YYYY') AS c, total::text AS d FROM invoice",
)) {
  add('none', r.a, 'chinook:invoice.invoice_date (dates)');
  add('none', r.b, 'chinook:invoice.invoice_date (dates)');
  add('none', r.c, 'chinook:invoice.invoice_date (dates)');
  add('none', r.d, 'chinook:invoice.total (numbers)');
}
for (const r of await chinook.q('SELECT name FROM track ORDER BY track_id LIMIT 500')) {
  add('none', createHash('md5').update(r.name).digest('hex'), 'md5 of chinook:track.name (hashes)');
  add('none', createHash('sha1').update(r.name).digest('hex'), 'sha1 of chinook:track.name (hashes)');
  add('none', createHash('sha256').update(r.name).digest('hex'), 'sha256 of chinook:track.name (hashes)');
  add('none', `"${createHash('md5').update(r.name).digest('hex')}"`, 'etag of chinook:track.name (hashes)');
}
for (const r of await chinook.q(
  'SELECT track_id::text AS a, bytes::text AS b, milliseconds::text AS c FROM track ORDER BY track_id LIMIT 500',
)) {
  add('none', r.a, 'chinook:track.track_id (ids)');
  add('none', r.b, 'chinook:track.bytes (numbers)');
  add('none', r.c, 'chinook:track.milliseconds (numbers)');
}
await chinook.drop();

const northwind = await load('northwind', readFileSync(join(dir, 'northwind.sql'), 'utf8'));
for (const r of await northwind.q(
  "SELECT first_name || ' ' || last_name AS n, home_phone AS p FROM employees UNION ALL SELECT contact_name, phone FROM customers UNION ALL SELECT contact_name, phone FROM suppliers",
)) {
  add('person_name', r.n, 'northwind:employees+customers+suppliers contact names');
  add('phone', r.p, 'northwind:employees.home_phone+customers.phone+suppliers.phone', 'phone');
}
for (const r of await northwind.q(
  'SELECT fax FROM customers WHERE fax IS NOT NULL UNION ALL SELECT fax FROM suppliers WHERE fax IS NOT NULL',
))
  add('phone', r.fax, 'northwind:customers+suppliers.fax', 'fax');
for (const r of await northwind.q('SELECT photo_path FROM employees'))
  add('person_name', r.photo_path, 'northwind:employees.photo_path (surname in a URL)');
for (const r of await northwind.q('SELECT product_name, quantity_per_unit FROM products')) {
  add('none', r.product_name, 'northwind:products.product_name (titles)');
  add('none', r.quantity_per_unit, 'northwind:products.quantity_per_unit (product codes)');
}
for (const r of await northwind.q('SELECT customer_id, company_name FROM customers'))
  add('none', r.customer_id, 'northwind:customers.customer_id (ids)');
for (const r of await northwind.q(
  "SELECT order_id::text AS a, order_date::text AS b, to_char(shipped_date, 'MM/DD/YYYY') AS c, freight::text AS d FROM orders",
)) {
  add('none', r.a, 'northwind:orders.order_id (ids)');
  add('none', r.b, 'northwind:orders.order_date (dates)');
  add('none', r.c, 'northwind:orders.shipped_date (dates)');
  add('none', r.d, 'northwind:orders.freight (numbers)');
}
for (const r of await northwind.q('SELECT category_name, description FROM categories')) {
  add('none', r.category_name, 'northwind:categories (labels)');
  add('none', r.description, 'northwind:categories.description (text)');
}
await northwind.drop();

// ---- Public package versions, tarball URLs and integrity hashes (this repository's lockfile) ---
const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8'));
for (const [path, p] of Object.entries(lock.packages ?? {})) {
  if (!path) continue;
  add('none', p.version, 'npm package-lock: versions');
  add('none', p.integrity, 'npm package-lock: integrity hashes (sha512-…)');
  add('none', p.resolved, 'npm package-lock: tarball URLs');
}
// ---- Git object ids of the public repositories above (hashes) -----------------------------------
for (const line of readFileSync(join(dir, 'git-ids.txt'), 'utf8').split('\n'))
  add('none', line.trim(), 'git commit ids of the source repositories (hashes)');

const seen = new Set();
const unique = out.filter(([l, v]) => {
  const k = `${l}\u0000${v}`;
  if (seen.has(k)) return false;
  seen.add(k);
  return true;
});
writeFileSync(
  join(process.cwd(), 'bench/corpus/public-corpus.json'),
  `${JSON.stringify(unique, null, 0).replace(/\],\[/g, '],\n[')}\n`,
);
process.stdout.write(`${unique.length} values\n`);
