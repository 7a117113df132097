import { type Policy, readColumns } from '../policy/index.ts';
import { quoteIdent, quoteLiteral } from './sql-text.ts';

/** The publication change capture reads; with a gate, also the gate's schema and its slot. */
export const DEFAULT_PUBLICATION = 'fleetvault';
/** The role that owns the gate: it holds REPLICATION and never logs in. */
export const DEFAULT_REPLICATION_ROLE = 'fleetvault_replication';

/** SQLSTATE the peek guard raises when decoded changes would carry more than the policy reads. */
export const GUARD_SQLSTATE = 'FVP01';

/** The columns the policy reads, per table: exactly what the publication may carry. */
export function publishedColumns(policy: Policy): Record<string, string[]> {
  return Object.fromEntries([...policy.tables.values()].map((t) => [t.name, readColumns(t)]));
}

/** `CREATE PUBLICATION` (or `ALTER … SET TABLE`) with column lists equal to what the policy reads. */
export function publicationSql(policy: Policy, name: string, verb: 'CREATE' | 'ALTER'): string {
  const tables = Object.entries(publishedColumns(policy))
    .map(
      ([t, cols]) =>
        `${quoteIdent(policy.schema)}.${quoteIdent(t)} (${cols.map((c) => quoteIdent(c)).join(', ')})`,
    )
    .join(', ');
  return verb === 'CREATE'
    ? `CREATE PUBLICATION ${quoteIdent(name)} FOR TABLE ${tables} WITH (publish = 'insert, update, delete, truncate')`
    : `ALTER PUBLICATION ${quoteIdent(name)} SET TABLE ${tables}`;
}

/**
 * A query giving one row per policy table whose replica identity would make PostgreSQL refuse
 * UPDATE or DELETE once the table is published with the policy's column list, or would keep the
 * policy's primary key out of deletes: `(table_name, problem)`, problem NULL when it is fine.
 * Measured on PostgreSQL 15: REPLICA IDENTITY FULL with a column list, NOTHING, or a table without
 * a primary key all make every UPDATE and DELETE on the table fail.
 */
export function replicaIdentitySql(policy: Policy): string {
  const spec = [...policy.tables.values()].map((t) => ({
    name: t.name,
    pk: [...t.primaryKey].sort(),
    cols: readColumns(t),
  }));
  return `SELECT t.name AS table_name, CASE
  WHEN c.oid IS NULL THEN NULL
  WHEN c.relreplident = 'n' THEN format('%s has REPLICA IDENTITY NOTHING: published, PostgreSQL refuses every UPDATE and DELETE on it. Change capture needs the replica identity to be the policy''s primary key (%s)', t.name, array_to_string(t.pk, ', '))
  WHEN c.relreplident = 'f' AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND NOT a.attname::text = ANY (t.cols))
    THEN format('%s has REPLICA IDENTITY FULL, but the publication carries only the policy''s columns: published that way, PostgreSQL refuses every UPDATE and DELETE on it. Change capture needs the replica identity to be the policy''s primary key (%s); for a primary key on it: ALTER TABLE %s REPLICA IDENTITY DEFAULT', t.name, array_to_string(t.pk, ', '), quote_ident(t.name))
  WHEN c.relreplident IN ('d', 'i') AND k.cols IS NULL THEN format('%s has no primary key (and no replica identity index): published, PostgreSQL refuses every UPDATE and DELETE on it. Change capture needs a primary key or a unique index on the policy''s primary key (%s) as its replica identity', t.name, array_to_string(t.pk, ', '))
  WHEN c.relreplident IN ('d', 'i') AND k.cols <> t.pk THEN format('%s has replica identity (%s), not the policy''s primary key (%s): deletes would not carry the key the store holds', t.name, array_to_string(k.cols, ', '), array_to_string(t.pk, ', '))
END AS problem
FROM jsonb_to_recordset(${quoteLiteral(JSON.stringify(spec))}::jsonb) AS t(name text, pk text[], cols text[])
LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = ${quoteLiteral(policy.schema)}
LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = t.name
LEFT JOIN LATERAL (
  SELECT array_agg(a.attname::text ORDER BY a.attname::text) AS cols
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
  WHERE i.indrelid = c.oid AND CASE c.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END
) k ON true`;
}

/**
 * Whether a gate exists in schema `$1`, whether the connected role may use it (schema USAGE and
 * EXECUTE) and whether every role may. From the catalog: naming a schema the role may not use
 * would be refused outright.
 */
export const GATE_STATE_SQL = `SELECT count(p.oid) > 0 AS exists,
  coalesce(bool_or(has_schema_privilege(n.oid, 'USAGE') AND has_function_privilege(p.oid, 'EXECUTE')), false) AS mine,
  coalesce(bool_or(has_schema_privilege('public', n.oid, 'USAGE') OR has_function_privilege('public', p.oid, 'EXECUTE')), false) AS public,
  min(o.rolname) AS owner, coalesce(bool_or(o.rolcanlogin), false) AS owner_logs_in
FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
WHERE n.nspname = $1 AND p.proname = 'peek' AND p.proargtypes = '23'::oidvector`;

export interface PeekFunction {
  /** Schema-qualified name of the function to create, e.g. `"fleetvault".peek` or `pg_temp.fv_peek`. */
  readonly name: string;
  readonly slot: string;
  readonly publication: string;
  /** Runs as its owner (the gate) rather than as the caller (a session of a REPLICATION role). */
  readonly definer: boolean;
}

/**
 * A function that reads the slot with pgoutput and the publication, and refuses, inside
 * PostgreSQL and before returning a single row, any decoded change that would carry more than
 * the policy reads. Decoding sees the publication as it was when each change was written, so a
 * publication widened by hand and put back still sends the wider columns for changes made in
 * between: checking today's publication is not enough. The guard checks every Relation message
 * (the table, by its current name, must be a policy table; every column must be one the policy
 * reads) and every row (its column count must be its relation's), and the slot's plugin. A
 * raised error returns nothing: the rows are gathered before the function returns.
 */
export function peekFunctionSql(policy: Policy, f: PeekFunction): string {
  const allowed = quoteLiteral(JSON.stringify(publishedColumns(policy)));
  const slot = quoteLiteral(f.slot);
  const err = `USING ERRCODE = '${GUARD_SQLSTATE}'`;
  return `CREATE OR REPLACE FUNCTION ${f.name}(upto integer) RETURNS SETOF bytea
LANGUAGE plpgsql ${f.definer ? 'SECURITY DEFINER ' : ''}SET search_path = pg_catalog, pg_temp
AS $fv$
DECLARE
  allowed constant jsonb := ${allowed}::jsonb;
  relcols jsonb := '{}'::jsonb;
  d bytea;
  tag integer;
  rel bigint;
  tname text;
  cols jsonb;
  p integer;
  n integer;
  e integer;
  col text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = ${slot} AND plugin = 'pgoutput' AND database = current_database()) THEN
    RAISE EXCEPTION 'replication slot % is not a pgoutput slot of this database', ${slot} ${err};
  END IF;
  FOR d IN SELECT data FROM pg_logical_slot_peek_binary_changes(${slot}, NULL, upto, 'proto_version', '1', 'publication_names', ${quoteLiteral(quoteIdent(f.publication))}) LOOP
    tag := get_byte(d, 0);
    IF tag IN (73, 85, 68) THEN -- Insert, Update, Delete: as many columns as their relation sent
      rel := (get_byte(d, 1)::bigint << 24) | (get_byte(d, 2) << 16) | (get_byte(d, 3) << 8) | get_byte(d, 4);
      IF (relcols ->> rel::text) IS NULL OR (relcols ->> rel::text)::integer <> ((get_byte(d, 6) << 8) | get_byte(d, 7)) THEN
        RAISE EXCEPTION 'a change to relation % does not match the columns announced for it', rel ${err};
      END IF;
    ELSIF tag = 82 THEN -- Relation: a policy table, announcing only columns the policy reads
      rel := (get_byte(d, 1)::bigint << 24) | (get_byte(d, 2) << 16) | (get_byte(d, 3) << 8) | get_byte(d, 4);
      SELECT c.relname INTO tname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
        WHERE c.oid = rel::oid AND s.nspname = ${quoteLiteral(policy.schema)};
      cols := allowed -> tname;
      IF cols IS NULL THEN
        RAISE EXCEPTION 'changes to relation % (%) were published, but it is not a policy table', rel, coalesce(tname, 'gone') ${err};
      END IF;
      p := 5;
      p := p + position('\\x00'::bytea IN substring(d FROM p + 1));
      p := p + position('\\x00'::bytea IN substring(d FROM p + 1));
      p := p + 1;
      n := (get_byte(d, p) << 8) | get_byte(d, p + 1);
      p := p + 2;
      FOR i IN 1..n LOOP
        p := p + 1;
        e := p + position('\\x00'::bytea IN substring(d FROM p + 1)) - 1;
        col := convert_from(substring(d FROM p + 1 FOR e - p), 'UTF8');
        IF NOT cols ? col THEN
          RAISE EXCEPTION 'the publication carried %.%, which the policy does not read', tname, col ${err};
        END IF;
        p := e + 1 + 8;
      END LOOP;
      relcols := relcols || jsonb_build_object(rel::text, n);
    ELSIF tag NOT IN (66, 67, 84, 89, 79) THEN -- Begin, Commit, Truncate, Type, Origin carry no values
      RAISE EXCEPTION 'unexpected change-capture message %', chr(tag) ${err};
    END IF;
    RETURN NEXT d;
  END LOOP;
END
$fv$`;
}

export interface CdcGrantOptions {
  /** The login role fleetvault connects as (no REPLICATION). */
  readonly role: string;
  readonly publication: string;
  readonly replicationRole: string;
}

/**
 * The SQL a superuser runs once for least-privilege change capture: the publication (column lists
 * exactly what the policy reads; refused when a table's replica identity would make PostgreSQL
 * refuse its updates), a NOLOGIN role with REPLICATION that owns a schema of the publication's
 * name, and in it the gate: SECURITY DEFINER functions that create, read (through the guard,
 * pgoutput and this publication only), advance and drop the one slot of that name. The login role
 * may only EXECUTE them: it can neither create a slot nor decode WAL itself. Safe to run again.
 */
export function cdcGrantStatements(policy: Policy, opts: CdcGrantOptions): string[] {
  const gate = quoteIdent(opts.publication);
  const owner = quoteIdent(opts.replicationRole);
  const login = quoteIdent(opts.role);
  const slot = quoteLiteral(opts.publication);
  const fns = ['peek(integer)', 'start()', 'advance(pg_lsn)', 'stop()', 'policy()'].map(
    (f) => `${gate}.${f}`,
  );
  const definer = 'LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp';
  return [
    `-- change capture without REPLICATION for ${opts.role}: publication, replication role and gate ${opts.publication}`,
    `DO $fv$ DECLARE r record; BEGIN
  FOR r IN ${replicaIdentitySql(policy)} LOOP
    IF r.problem IS NOT NULL THEN RAISE EXCEPTION 'fleetvault: %', r.problem; END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = ${quoteLiteral(opts.publication)}) THEN
    ${publicationSql(policy, opts.publication, 'ALTER')};
    ALTER PUBLICATION ${gate} SET (publish = 'insert, update, delete, truncate');
  ELSE
    ${publicationSql(policy, opts.publication, 'CREATE')};
  END IF;
END $fv$;`,
    `DO $fv$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(opts.replicationRole)}) THEN CREATE ROLE ${owner} NOLOGIN REPLICATION; END IF; END $fv$;`,
    `CREATE SCHEMA IF NOT EXISTS ${gate} AUTHORIZATION ${owner};`,
    `REVOKE ALL ON SCHEMA ${gate} FROM PUBLIC;`,
    `GRANT USAGE ON SCHEMA ${gate} TO ${login};`,
    `${peekFunctionSql(policy, { name: `${gate}.peek`, slot: opts.publication, publication: opts.publication, definer: true })};`,
    `CREATE OR REPLACE FUNCTION ${gate}.start() RETURNS pg_lsn ${definer} AS $fv$ SELECT lsn FROM pg_create_logical_replication_slot(${slot}, 'pgoutput') $fv$;`,
    `CREATE OR REPLACE FUNCTION ${gate}.advance(upto pg_lsn) RETURNS void ${definer} AS $fv$ SELECT pg_replication_slot_advance(${slot}, upto) $fv$;`,
    `CREATE OR REPLACE FUNCTION ${gate}.stop() RETURNS void ${definer} AS $fv$ SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${slot} AND database = current_database() $fv$;`,
    `CREATE OR REPLACE FUNCTION ${gate}.policy() RETURNS jsonb ${definer} AS $fv$ SELECT ${quoteLiteral(JSON.stringify(publishedColumns(policy)))}::jsonb $fv$;`,
    ...fns.map((f) => `ALTER FUNCTION ${f} OWNER TO ${owner};`),
    ...fns.map((f) => `REVOKE ALL ON FUNCTION ${f} FROM PUBLIC;`),
    ...fns.map((f) => `GRANT EXECUTE ON FUNCTION ${f} TO ${login};`),
  ];
}
