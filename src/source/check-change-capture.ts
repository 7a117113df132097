import type { FvCode } from '../errors/index.ts';
import type { Policy, Problem } from '../policy/index.ts';
import { GATE_STATE_SQL, publishedColumns, replicaIdentitySql } from './change-gate.ts';
import type { PgQueryable } from './introspect.ts';
import { quoteIdent } from './sql-text.ts';

type Add = (code: FvCode, severity: Problem['severity'], table: string | undefined, message: string) => void;

function collector(policy: Policy): { problems: Problem[]; add: Add } {
  const problems: Problem[] = [];
  const add: Add = (code, severity, table, message) => {
    const pos = (table && policy.tables.get(table)?.pos) || { line: 1, col: 1 };
    problems.push({
      code,
      severity,
      path: table ? `tables.${table}` : 'tables',
      file: policy.file,
      line: pos.line,
      col: pos.col,
      message,
    });
  };
  return { problems, add };
}

const sameColumns = (a: readonly string[] | undefined, b: readonly string[]) =>
  a !== undefined && a.length === b.length && [...a].sort().join('\u0000') === [...b].sort().join('\u0000');

/**
 * Tables whose replica identity would make PostgreSQL refuse every UPDATE and DELETE once they
 * are published with the policy's column lists (or would keep the policy's key out of deletes).
 * Checked before a publication is created, and on every run.
 */
export async function replicaIdentityProblems(db: PgQueryable, policy: Policy): Promise<Problem[]> {
  const { problems, add } = collector(policy);
  const rows = await db.query<{ table_name: string; problem: string | null }>(replicaIdentitySql(policy));
  for (const r of rows.rows) if (r.problem) add('FV_CDC_SETUP', 'error', r.table_name, r.problem);
  return problems;
}

/**
 * The publication must carry exactly the columns the policy reads, for exactly its tables, every
 * kind of change, no row filter; a gate must let through exactly the same. Checked before anything
 * is read from the slot: a difference stops change capture, it is never repaired silently.
 */
export async function publicationProblems(
  db: PgQueryable,
  policy: Policy,
  publication: string,
  gate?: Record<string, string[]>,
): Promise<Problem[]> {
  const { problems, add } = collector(policy);
  const want = publishedColumns(policy);
  const pub = (
    await db.query<{
      puballtables: boolean;
      pubinsert: boolean;
      pubupdate: boolean;
      pubdelete: boolean;
      pubtruncate: boolean;
    }>(
      'SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1',
      [publication],
    )
  ).rows[0];
  if (!pub) {
    add(
      'FV_CDC_PUBLICATION',
      'error',
      undefined,
      `publication ${publication} does not exist; run the SQL from \`fleetvault policy grants --mode cdc\` as a superuser`,
    );
  } else {
    if (pub.puballtables) {
      add(
        'FV_CDC_PUBLICATION',
        'error',
        undefined,
        `publication ${publication} is FOR ALL TABLES: it publishes every column of every table`,
      );
    }
    const missing = (['insert', 'update', 'delete', 'truncate'] as const).filter(
      (k) => !pub[`pub${k}` as keyof typeof pub],
    );
    if (missing.length > 0) {
      add(
        'FV_CDC_PUBLICATION',
        'error',
        undefined,
        `publication ${publication} does not publish ${missing.join(', ')}: those changes would never reach the store`,
      );
    }
    const tables = await db.query<{
      schemaname: string;
      tablename: string;
      attnames: string[] | null;
      rowfilter: string | null;
    }>(
      'SELECT schemaname, tablename, attnames::text[] AS attnames, rowfilter FROM pg_publication_tables WHERE pubname = $1',
      [publication],
    );
    const seen = new Set<string>();
    for (const r of tables.rows) {
      const cols = r.schemaname === policy.schema ? want[r.tablename] : undefined;
      if (!cols) {
        add(
          'FV_CDC_PUBLICATION',
          'error',
          undefined,
          `publication ${publication} publishes ${r.schemaname}.${r.tablename}, which is not a policy table`,
        );
        continue;
      }
      seen.add(r.tablename);
      if (!sameColumns(r.attnames ?? [], cols)) {
        const extra = (r.attnames ?? []).filter((c) => !cols.includes(c));
        const lacking = cols.filter((c) => !(r.attnames ?? []).includes(c));
        add(
          'FV_CDC_PUBLICATION',
          'error',
          r.tablename,
          `publication ${publication} carries other columns of ${r.tablename} than the policy reads${extra.length ? ` (also ${extra.join(', ')})` : ''}${lacking.length ? ` (without ${lacking.join(', ')})` : ''}`,
        );
      }
      if (r.rowfilter) {
        add(
          'FV_CDC_PUBLICATION',
          'error',
          r.tablename,
          `publication ${publication} filters the rows of ${r.tablename}: the others would never reach the store`,
        );
      }
    }
    for (const t of Object.keys(want)) {
      if (!seen.has(t)) {
        add('FV_CDC_PUBLICATION', 'error', t, `publication ${publication} does not publish ${t}`);
      }
    }
  }
  if (gate) {
    for (const [t, cols] of Object.entries(want)) {
      if (!sameColumns(gate[t], cols)) {
        add(
          'FV_CDC_PUBLICATION',
          'error',
          t,
          `the change-capture gate ${publication} was made for another policy (columns of ${t}); run the SQL from \`fleetvault policy grants --mode cdc\` again`,
        );
      }
    }
    for (const t of Object.keys(gate)) {
      if (!want[t]) {
        add(
          'FV_CDC_PUBLICATION',
          'error',
          undefined,
          `the change-capture gate ${publication} lets ${t} through, which is not a policy table; run the SQL from \`fleetvault policy grants --mode cdc\` again`,
        );
      }
    }
  }
  return problems;
}

/**
 * Everything `policy check --mode cdc` reports about change capture for the connected role: a
 * role with REPLICATION (it can decode every column of every table; column GRANTs do not apply
 * to WAL decoding), the gate (present, usable by this role only, made for this policy), the
 * publication and the tables' replica identity.
 */
export async function changeCaptureProblems(
  db: PgQueryable,
  policy: Policy,
  opts: { publication: string; strict?: boolean },
): Promise<Problem[]> {
  const { problems, add } = collector(policy);
  const role = (
    await db.query<{ name: string; replication: boolean }>(
      'SELECT rolname AS name, rolsuper OR rolreplication AS replication FROM pg_roles WHERE rolname = current_user',
    )
  ).rows[0];
  const gate = (
    await db.query<{
      exists: boolean;
      mine: boolean;
      public: boolean;
      owner: string;
      owner_logs_in: boolean;
    }>(GATE_STATE_SQL, [opts.publication])
  ).rows[0];
  if (role?.replication) {
    add(
      'FV_SOURCE_OVERPRIVILEGED',
      opts.strict ? 'error' : 'warning',
      undefined,
      `role ${role.name} has REPLICATION (or is a superuser): it can decode every column of every table from the WAL, secrets included, whatever its GRANTs; connect as a role without it, through the gate of \`fleetvault policy grants --mode cdc\``,
    );
  }
  if (gate?.public) {
    add(
      'FV_SOURCE_OVERPRIVILEGED',
      'error',
      undefined,
      `every role may execute the change-capture gate ${opts.publication}; run the SQL from \`fleetvault policy grants --mode cdc\` again (it revokes that)`,
    );
  }
  if (gate?.owner_logs_in) {
    add(
      'FV_SOURCE_OVERPRIVILEGED',
      opts.strict ? 'error' : 'warning',
      undefined,
      `the change-capture gate ${opts.publication} belongs to role ${gate.owner}, which can log in: whoever logs in as it can decode every column of every table; ALTER ROLE ${gate.owner} NOLOGIN`,
    );
  }
  let gatePolicy: Record<string, string[]> | undefined;
  if (gate?.exists && gate.mine) {
    gatePolicy = (
      await db.query<{ p: Record<string, string[]> }>(`SELECT ${quoteIdent(opts.publication)}.policy() AS p`)
    ).rows[0]?.p;
  } else if (!role?.replication) {
    add(
      'FV_CDC_UNAVAILABLE',
      'error',
      undefined,
      gate?.exists
        ? `role ${role?.name} may not execute the change-capture gate ${opts.publication}; run the SQL from \`fleetvault policy grants --mode cdc --role ${role?.name}\``
        : `no change-capture gate ${opts.publication} in this database and role ${role?.name} has no REPLICATION; as a superuser, run the SQL from \`fleetvault policy grants --mode cdc\``,
    );
  }
  problems.push(...(await replicaIdentityProblems(db, policy)));
  problems.push(...(await publicationProblems(db, policy, opts.publication, gatePolicy)));
  return problems;
}
