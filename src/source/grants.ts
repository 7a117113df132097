import { type Policy, readColumns, type TablePolicy } from '../policy/index.ts';
import { quoteIdent, quoteLiteral } from './sql-text.ts';

export const DEFAULT_READER_ROLE = 'fleetvault_reader';

/** The one GRANT that lets a role read exactly the listed columns of one table. */
export function grantFor(schema: string, table: string, columns: readonly string[], role: string): string {
  const cols = columns.map(quoteIdent).join(', ');
  return `GRANT SELECT (${cols}) ON ${quoteIdent(schema)}.${quoteIdent(table)} TO ${quoteIdent(role)};`;
}

export function tableGrant(policy: Policy, table: TablePolicy, role: string): string {
  return grantFor(policy.schema, table.name, readColumns(table), role);
}

/**
 * The SQL an operator runs once: a login role that may read exactly the columns the policy
 * needs, and nothing else. Safe to run again (the role is created only if missing).
 *
 * @example
 * grantStatements(policy, { role: 'fleetvault_reader', database: 'prod' }).join('\n');
 */
export function grantStatements(policy: Policy, opts: { role: string; database: string }): string[] {
  const role = quoteIdent(opts.role);
  return [
    `-- fleetvault least-privilege reader for ${policy.file}`,
    `-- Set its password afterwards with: \\password ${opts.role}`,
    `DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(opts.role)}) THEN CREATE ROLE ${role} LOGIN; END IF; END $$;`,
    `GRANT CONNECT ON DATABASE ${quoteIdent(opts.database)} TO ${role};`,
    `GRANT USAGE ON SCHEMA ${quoteIdent(policy.schema)} TO ${role};`,
    ...[...policy.tables.values()].map((t) => tableGrant(policy, t, opts.role)),
  ];
}
