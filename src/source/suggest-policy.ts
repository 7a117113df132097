import { CLASS_RULES, type ColumnClass } from '../policy/index.ts';
import { piiScanner } from '../privacy/index.ts';
import type { PgQueryable } from './introspect.ts';
import type { SourceColumn, SourceTable } from './source-schema.ts';
import { quoteIdent } from './sql-text.ts';

const SECRET =
  /(pass(word|wd)?(_?hash)?$|secret|token|api_?key|private_?key|credential|salt|otp|session_?key)/i;
const IDENT_DROP = /(^|_)(mac|serial|imei|iccid|imsi|udid)($|_)/i;
const SENSITIVE =
  /(weight|height|bmi|body_?fat|heart|pulse|blood|health|diagnos|medic|gender|(^|_)sex($|_)|religio|ethnic|pregnan)/i;
const PERSONAL =
  /(e_?mail|name|nick|phone|mobile|address|street|city|zip|postal|ssid|(^|_)ip($|_)|ip_?addr|birth|(^|_)dob($|_)|(^|_)lat|(^|_)lon|location|gps|ssn|passport)/i;
const BIRTH = /(birth|(^|_)dob($|_))/i;
const IP = /((^|_)ip($|_)|ip_?addr)/i;
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

function guess(table: SourceTable, col: SourceColumn): Suggestion {
  const n = col.name;
  if (SECRET.test(n)) return { cls: 'secret', extra: '' };
  const soleKey = table.primaryKey.length === 1 && table.primaryKey[0] === n;
  if (soleKey || n === 'id') return { cls: 'identifier', extra: `, domain: ${singular(table.name)}` };
  if (/_id$/i.test(n) || /(^|_)(uuid|guid)$/i.test(n))
    return { cls: 'identifier', extra: `, domain: ${n.replace(/_(id|uuid|guid)$/i, '')}` };
  if (IDENT_DROP.test(n)) return { cls: 'identifier', extra: ', action: drop' };
  if (SENSITIVE.test(n)) return { cls: 'sensitive', extra: '' };
  if (PERSONAL.test(n)) {
    if (BIRTH.test(n) && (col.kind === 'date' || col.kind.startsWith('timestamp')))
      return { cls: 'personal', extra: ', transform: year' };
    if (IP.test(n)) return { cls: 'personal', extra: '', note: 'or transform: ip_prefix' };
    return { cls: 'personal', extra: '' };
  }
  if (col.kind === 'date' || col.kind === 'timestamp' || col.kind === 'timestamptz')
    return { cls: 'time', extra: '' };
  if (col.kind === 'integer' || col.kind === 'bigint' || col.kind === 'float')
    return { cls: 'measure', extra: '' };
  return { cls: 'attribute', extra: '' };
}

async function sampleHit(
  db: PgQueryable,
  table: SourceTable,
  col: SourceColumn,
): Promise<string | undefined> {
  if (!col.readable) return undefined;
  const scanner = piiScanner();
  const sql = `SELECT ${quoteIdent(col.name)}::text AS v FROM ${quoteIdent(table.schema)}.${quoteIdent(table.name)} WHERE ${quoteIdent(col.name)} IS NOT NULL LIMIT ${SAMPLE}`;
  const rows = await db.query<{ v: string }>(sql);
  for (const r of rows.rows) {
    const hit = scanner.detect(r.v);
    if (hit) return hit;
  }
  return undefined;
}

/** What a column's name alone suggests it holds: the classes a reviewer must look at first. */
export function classByName(name: string): 'secret' | 'personal' | 'sensitive' | undefined {
  if (SECRET.test(name)) return 'secret';
  if (SENSITIVE.test(name)) return 'sensitive';
  if (PERSONAL.test(name)) return 'personal';
  return undefined;
}

/**
 * Drafts a policy from column names, types and sampled values (values are only tested against the
 * detectors, never written). The draft says `reviewed: false`; sync refuses it until a person
 * has reviewed every line.
 */
export async function suggestPolicy(
  db: PgQueryable,
  tables: readonly SourceTable[],
  schema: string,
): Promise<string> {
  const out: string[] = [
    '# fleetvault data contract, drafted by `fleetvault policy suggest`.',
    '# Review every line: the class decides what leaves production. Then set reviewed: true.',
    `# Classes: ${Object.entries(CLASS_RULES)
      .map(([c, r]) => `${c} (${r.meaning})`)
      .join('; ')}.`,
    'version: 1',
    'reviewed: false',
    'k: 10',
    `schema: ${schema}`,
    'on_detect: block',
    '',
    'tables:',
  ];
  for (const table of tables) {
    const names = table.columns.map((c) => c.name);
    const pk = table.primaryKey.length > 0 ? table.primaryKey : names.includes('id') ? ['id'] : [];
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
      let s = guess({ ...table, primaryKey: pk }, col);
      let note = s.note;
      if (s.cls === 'attribute' && col.kind === 'text') {
        const hit = await sampleHit(db, table, col);
        if (hit) {
          s = { cls: 'personal', extra: '' };
          note = `sampled values matched the ${hit} detector`;
        }
      }
      const key = `${col.name}:`.padEnd(width + 1);
      out.push(`      ${key} { class: ${s.cls}${s.extra} }  # ${col.type}${note ? `; ${note}` : ''}`);
    }
    out.push('');
  }
  return `${out.join('\n').trimEnd()}\n`;
}
