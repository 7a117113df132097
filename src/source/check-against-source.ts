import { type Policy, type Problem, readColumns } from '../policy/index.ts';
import { DEFAULT_READER_ROLE, grantFor } from './grants.ts';
import type { SourceTable } from './source-schema.ts';

export interface SourceCheckOptions {
  /** Treat a role that can read columns it never needs as an error, not a warning. */
  readonly strict?: boolean;
  /** Role name used in suggested GRANTs. */
  readonly role?: string;
}

/**
 * Compares a policy with the live source catalog: unclassified columns, entries naming tables or
 * columns that do not exist, transforms that do not fit a column's type, and the connected
 * role's privileges (needed but unreadable; readable but never needed).
 */
export function checkAgainstSource(
  policy: Policy,
  source: ReadonlyMap<string, SourceTable>,
  opts: SourceCheckOptions = {},
): Problem[] {
  const problems: Problem[] = [];
  const role = opts.role ?? DEFAULT_READER_ROLE;
  const add = (
    code: Problem['code'],
    severity: Problem['severity'],
    path: string,
    pos: { line: number; col: number },
    message: string,
  ) => problems.push({ code, severity, path, file: policy.file, line: pos.line, col: pos.col, message });

  for (const table of policy.tables.values()) {
    const path = `tables.${table.name}`;
    const src = source.get(table.name);
    if (!src) {
      add(
        'FV_POLICY_UNKNOWN_TABLE',
        'error',
        path,
        table.pos,
        `table ${policy.schema}.${table.name} does not exist in the source`,
      );
      continue;
    }
    const srcCols = new Map(src.columns.map((c) => [c.name, c]));
    if (src.relation === 'materialized_view' && src.populated === false) {
      add(
        'FV_SOURCE_NOT_POPULATED',
        'error',
        path,
        table.pos,
        `${table.name} is a materialized view that has never been populated; run REFRESH MATERIALIZED VIEW ${policy.schema}.${table.name} on the source, or leave it out of the policy`,
      );
    }
    for (const col of src.columns) {
      if (!table.columns.has(col.name)) {
        add(
          'FV_POLICY_UNCLASSIFIED_COLUMN',
          'error',
          `${path}.columns`,
          table.pos,
          `column ${table.name}.${col.name} (${col.type}) is not classified; add it under ${path}.columns with a class`,
        );
      }
    }
    for (const rule of table.columns.values()) {
      const col = srcCols.get(rule.name);
      if (!col) {
        add(
          'FV_POLICY_UNKNOWN_COLUMN',
          'error',
          `${path}.columns.${rule.name}`,
          rule.pos,
          `column ${table.name}.${rule.name} does not exist in the source; remove it from the policy`,
        );
        continue;
      }
      if (col.binary && rule.action !== 'never_read' && rule.action !== 'drop') {
        add(
          'FV_POLICY_BINARY',
          'error',
          `${path}.columns.${rule.name}`,
          rule.pos,
          `column ${table.name}.${rule.name} is binary (${col.type}): its values cannot be scanned, so fleetvault never reads them; classify it personal (dropped) or secret`,
        );
        continue;
      }
      if (rule.transform && !rule.transform.accepts(col.kind)) {
        add(
          'FV_POLICY_TRANSFORM_TYPE',
          'error',
          `${path}.columns.${rule.name}.transform`,
          rule.pos,
          `transform ${rule.transform.name} does not apply to ${table.name}.${rule.name} of type ${col.type}`,
        );
      }
    }
    const needed = readColumns(table).filter((c) => srcCols.has(c));
    const unreadable = needed.filter((c) => srcCols.get(c)?.readable === false);
    if (unreadable.length > 0) {
      add(
        'FV_SOURCE_PRIVILEGE',
        'error',
        path,
        table.pos,
        `the connected role cannot read ${unreadable.map((c) => `${table.name}.${c}`).join(', ')}; run: ${grantFor(policy.schema, table.name, unreadable, role)}`,
      );
    }
    const overreach = src.columns.filter(
      (c) => c.readable && table.columns.has(c.name) && !needed.includes(c.name),
    );
    if (overreach.length > 0) {
      const names = overreach.map((c) => {
        const rule = table.columns.get(c.name);
        return `${c.name} (${rule ? `${rule.class}, ${rule.action === 'never_read' ? 'never read' : rule.action}` : '?'})`;
      });
      add(
        'FV_SOURCE_OVERPRIVILEGED',
        opts.strict ? 'error' : 'warning',
        path,
        table.pos,
        `the connected role can read ${table.name} columns it never needs: ${names.join(', ')}; connect as a role made by \`fleetvault policy grants\``,
      );
    }
  }
  return problems;
}
