import { CLASS_RULES, type ColumnClass } from '../policy/index.ts';
import { columnEvidence, piiScanner, textShape } from '../privacy/index.ts';
import type { PgQueryable } from './introspect.ts';
import { sourceError } from './source-errors.ts';
import type { SourceColumn, SourceTable } from './source-schema.ts';
import { quoteIdent } from './sql-text.ts';

const SECRET =
  /(pass(word|wd)?(_?hash)?$|secret|token|api_?key|private_?key|credential|salt|otp|session_?key)/i;
const IDENT_DROP = /(^|_)(mac|serial|imei|iccid|imsi|udid)($|_)/i;
const SENSITIVE =
  /(weight|height|bmi|body_?fat|heart|pulse|blood|health|diagnos|medic|gender|(^|_)sex($|_)|religio|ethnic|pregnan)/i;
// A bare `name` (of a product, a genre, an artist) is left to the values; a person's name is not.
const PERSONAL =
  /(e_?mail|(first|last|middle|given|family|sur|full|display|contact|customer|user|nick|maiden|ship|person|owner|recipient|sender|account)_?name|nick|phone|mobile|(^|_)fax($|_)|(^|_)ext(ension)?($|_)|msisdn|address|street|city|zip|postal|ssid|(^|_)ip($|_)|ip_?addr|birth|(^|_)dob($|_)|(^|_)lat|(^|_)lon|location|gps|ssn|social_?security|passport|iban|photo|picture|avatar|(^|_)notes?($|_)|comment|biograph|(^|_)bio($|_)|homepage)/i;
const BIRTH = /(birth|(^|_)dob($|_))/i;
const ADDRESS = /(address|street|city|postal|zip)/i;
// In a table holding addresses, these are address parts too ("Dublin" is a state in Chinook).
const ADDRESS_PART = /(^|_)(state|region|province|county|district|suburb)($|_)/i;
const IP = /((^|_)ip($|_)|ip_?addr)/i;
// Names of columns that hold a closed set of labels (an empty table still gets `attribute`).
const CATEGORICAL =
  /(^|_)(status|state|type|kind|category|genre|code|model|version|platform|provider|country|region|currency|language|locale|timezone|outcome|level|format|mime|unit|plan|tier|sku|brand|colou?r|size|channel|source|method)($|_)/i;
const SAMPLE = 200;

interface Suggestion {
  readonly cls: ColumnClass;
  readonly extra: string;
  readonly note?: string;
}

function singular(name: string): string {
  if (/ies$/.test(name)) return name.replace(/ies$/, 'y');
  if (/(ss|us|is)$/.test(name)) return name;
  return name.replace(/s$/, '');
}

const CURSOR_NAMES = ['updated_at', 'modified_at', 'last_modified', 'modified', 'updated', 'changed_at'];

/**
 * The pseudonym domain of a key column: the domain of the column its foreign key references
 * (followed to the end), else its table's for a sole primary key, else its name without `_id`.
 */
function domainOf(
  catalog: ReadonlyMap<string, SourceTable>,
  table: SourceTable,
  column: string,
  seen = new Set<string>(),
): string {
  const id = `${table.name}.${column}`;
  const fk = table.foreignKeys?.find((f) => f.columns.includes(column));
  const ref = fk ? catalog.get(fk.refTable) : undefined;
  if (fk && ref && !seen.has(id)) {
    seen.add(id);
    return domainOf(catalog, ref, fk.refColumns[fk.columns.indexOf(column)] as string, seen);
  }
  if (table.primaryKey.length === 1 && table.primaryKey[0] === column) return singular(table.name);
  if (/_(id|uuid|guid)$/i.test(column)) return column.replace(/_(id|uuid|guid)$/i, '');
  if (column === 'id') return singular(table.name);
  return `${singular(table.name)}_${column}`;
}

function byNameAndType(
  catalog: ReadonlyMap<string, SourceTable>,
  table: SourceTable,
  col: SourceColumn,
): Suggestion | undefined {
  const n = col.name;
  if (col.binary) return { cls: 'personal', extra: '', note: 'binary (bytea): never read' };
  if (SECRET.test(n)) return { cls: 'secret', extra: '' };
  const inKey = table.primaryKey.includes(n) && (table.primaryKey.length === 1 || col.kind !== 'integer');
  const referencing = table.foreignKeys?.some((f) => f.columns.includes(n)) === true;
  if (referencing || inKey || n === 'id' || /_id$/i.test(n) || /(^|_)(uuid|guid)$/i.test(n)) {
    const domain = domainOf(catalog, table, n);
    return {
      cls: 'identifier',
      extra: `, domain: ${domain}`,
      ...(referencing ? { note: 'domain of the column its foreign key references' } : {}),
    };
  }
  if (IDENT_DROP.test(n)) return { cls: 'identifier', extra: ', action: drop' };
  if (ADDRESS_PART.test(n) && table.columns.some((c) => ADDRESS.test(c.name) && c.name !== n))
    return { cls: 'personal', extra: '', note: 'part of an address in this table' };
  if (SENSITIVE.test(n)) return { cls: 'sensitive', extra: '' };
  if (PERSONAL.test(n)) {
    if (BIRTH.test(n) && (col.kind === 'date' || col.kind.startsWith('timestamp')))
      return { cls: 'personal', extra: ', transform: year' };
    if (IP.test(n)) return { cls: 'personal', extra: '', note: 'or transform: ip_prefix' };
    return { cls: 'personal', extra: '' };
  }
  return undefined;
}

async function sample(db: PgQueryable, table: SourceTable, col: SourceColumn): Promise<string[]> {
  if (!col.readable || col.binary || table.populated === false) return [];
  const c = quoteIdent(col.name);
  const sql = `SELECT ${c}::text AS v FROM ${quoteIdent(table.schema)}.${quoteIdent(table.name)} WHERE ${c} IS NOT NULL LIMIT ${SAMPLE}`;
  try {
    return (await db.query<{ v: string }>(sql)).rows.map((r) => r.v);
  } catch (error) {
    throw sourceError(error, { relation: `${table.schema}.${table.name}` }) ?? error;
  }
}

/** What a column's name alone suggests it holds: the classes a reviewer must look at first. */
export function classByName(name: string): 'secret' | 'personal' | 'sensitive' | undefined {
  if (SECRET.test(name)) return 'secret';
  if (SENSITIVE.test(name)) return 'sensitive';
  if (PERSONAL.test(name)) return 'personal';
  return undefined;
}

/**
 * Drafts a policy from the catalog (keys, foreign keys, types), column names and sampled values
 * (values are only tested against the detectors, never written). Free text of unknown content
 * is drafted `personal` (dropped) unless its values are a closed set of labels or codes; binary
 * columns are never read; views and materialized views are not drafted (their rows come from
 * tables) and are listed at the end. The draft says `reviewed: false`; sync refuses it until a
 * person has reviewed every line.
 */
export async function suggestPolicy(
  db: PgQueryable,
  tables: readonly SourceTable[],
  schema: string,
  catalog: ReadonlyMap<string, SourceTable> = new Map(tables.map((t) => [t.name, t])),
): Promise<string> {
  const scanner = piiScanner();
  const out: string[] = [
    '# fleetvault data contract, drafted by `fleetvault policy suggest`.',
    '# Review every line: the class decides what leaves production. Then set reviewed: true.',
    `# Classes: ${Object.entries(CLASS_RULES)
      .map(([c, r]) => `${c} (${r.meaning})`)
      .join('; ')}.`,
    '# Free text is drafted personal (dropped) until you know it holds nothing personal.',
    'version: 1',
    'reviewed: false',
    'k: 10',
    `schema: ${schema}`,
    'on_detect: block',
    '',
    'tables:',
  ];
  const skipped: string[] = [];
  for (const table of tables) {
    if (table.relation === 'view' || table.relation === 'materialized_view') {
      skipped.push(
        `${table.name} (${table.relation === 'view' ? 'view' : `materialized view${table.populated === false ? ', never populated' : ''}`})`,
      );
      continue;
    }
    const names = table.columns.map((c) => c.name);
    const pk = table.primaryKey.length > 0 ? table.primaryKey : names.includes('id') ? ['id'] : [];
    const keyed = { ...table, primaryKey: pk };
    out.push(`  ${table.name}:`);
    if (pk.length === 0)
      out.push('    primary_key: []  # no primary key found: name the column(s) that identify a row');
    else out.push(pk.length === 1 ? `    primary_key: ${pk[0]}` : `    primary_key: [${pk.join(', ')}]`);
    const cursor = CURSOR_NAMES.map((c) =>
      table.columns.find((x) => x.name === c && x.kind.startsWith('timestamp')),
    ).find((c) => c !== undefined);
    if (cursor)
      out.push(`    cursor: ${cursor.name}  # must grow whenever a row changes: check that it does`);
    else
      out.push(
        '    # no cursor: rebuilt every sync; for an append-only table set cursor: <increasing column>',
      );
    if (table.columns.some((c) => c.name === 'deleted_at')) out.push('    soft_delete: deleted_at');
    out.push('    columns:');
    const width = Math.max(...names.map((n) => n.length)) + 1;
    for (const col of table.columns) {
      const s = await suggestColumn(db, catalog, keyed, col, scanner);
      const key = `${col.name}:`.padEnd(width + 1);
      out.push(`      ${key} { class: ${s.cls}${s.extra} }  # ${col.type}${s.note ? `; ${s.note}` : ''}`);
    }
    out.push('');
  }
  if (skipped.length > 0) {
    out.push(
      `# Not drafted: ${skipped.join(', ')}.`,
      '# Their rows come from the tables above, and they often gather personal data (a report per',
      '# customer). To copy one anyway, add it by hand with a primary_key and every text column',
      '# personal until you have checked it.',
    );
  }
  return `${out.join('\n').trimEnd()}\n`;
}

async function suggestColumn(
  db: PgQueryable,
  catalog: ReadonlyMap<string, SourceTable>,
  table: SourceTable,
  col: SourceColumn,
  scanner: ReturnType<typeof piiScanner>,
): Promise<Suggestion> {
  const named = byNameAndType(catalog, table, col);
  if (named && named.cls !== 'sensitive') return named;
  const numeric =
    col.kind === 'integer' || col.kind === 'bigint' || col.kind === 'float' || col.kind === 'decimal';
  const text = col.kind === 'text';
  // Values are evidence for text, and for numbers whose column name gives them a meaning
  // (11 digits in `phone`, an integer in `client_ip`).
  const values =
    text || (numeric && scanner.forColumn(col.name) !== scanner) ? await sample(db, table, col) : [];
  const evidence = columnEvidence(col.name, values, scanner);
  if (named) return named;
  if (evidence) {
    return {
      cls: 'personal',
      extra: '',
      note: `sampled values matched the ${evidence.detector} detector (${evidence.hits} of ${evidence.sampled})`,
    };
  }
  if (col.kind === 'date' || col.kind === 'timestamp' || col.kind === 'timestamptz')
    return { cls: 'time', extra: '' };
  if (numeric || col.kind === 'boolean') return { cls: 'measure', extra: '' };
  if (col.kind === 'uuid')
    return { cls: 'identifier', extra: `, domain: ${domainOf(catalog, table, col.name)}` };
  const shape = textShape(values);
  if (shape === 'categorical' || shape === 'codes')
    return {
      cls: 'attribute',
      extra: '',
      note: `${shape}: ${new Set(values).size} distinct of ${values.length} sampled`,
    };
  if (shape === 'empty' && CATEGORICAL.test(col.name))
    return { cls: 'attribute', extra: '', note: 'no values yet; name says labels' };
  return {
    cls: 'personal',
    extra: '',
    note:
      shape === 'empty'
        ? 'no values to judge: personal until checked'
        : `free text (${new Set(values).size} distinct of ${values.length} sampled): personal until checked`,
  };
}
