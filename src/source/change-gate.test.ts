import { describe, expect, it } from 'vitest';
import { readPolicyFile } from '../policy/index.ts';
import { cdcGrantStatements, peekFunctionSql, publicationSql } from './change-gate.ts';

const { policy } = readPolicyFile(
  new URL('../../examples/demo/fleetvault.policy.yaml', import.meta.url).pathname,
);
const demo = policy as NonNullable<typeof policy>;

describe('change-capture gate SQL', () => {
  it('publishes exactly the columns the policy reads: no secret, no dropped column', () => {
    const sql = publicationSql(demo, 'fleetvault', 'CREATE');
    expect(sql).toContain(
      '"public"."users" ("id", "birth_date", "country", "timezone", "created_at", "updated_at", "deleted_at")',
    );
    for (const never of [
      'password_hash',
      'email',
      'api_token',
      'access_token',
      'refresh_token',
      'wifi_ssid',
      'mac',
    ]) {
      expect(sql).not.toContain(`"${never}"`);
    }
    expect(sql).toContain("publish = 'insert, update, delete, truncate'");
  });

  it('the login role may only execute the gate: no REPLICATION for it, nothing for PUBLIC, the functions owned by a NOLOGIN role', () => {
    const sql = cdcGrantStatements(demo, {
      role: 'reader',
      publication: 'fv',
      replicationRole: 'fv_repl',
    }).join('\n');
    expect(sql).toContain('CREATE ROLE "fv_repl" NOLOGIN REPLICATION');
    expect(sql).not.toMatch(/ALTER ROLE "reader"|CREATE ROLE "reader"[^;]*REPLICATION/);
    for (const f of ['peek(integer)', 'start()', 'advance(pg_lsn)', 'stop()', 'policy()']) {
      expect(sql).toContain(`ALTER FUNCTION "fv".${f} OWNER TO "fv_repl";`);
      expect(sql).toContain(`REVOKE ALL ON FUNCTION "fv".${f} FROM PUBLIC;`);
      expect(sql).toContain(`GRANT EXECUTE ON FUNCTION "fv".${f} TO "reader";`);
    }
    expect(sql).toContain('REVOKE ALL ON SCHEMA "fv" FROM PUBLIC;');
    // Every function pins its search path: a caller's objects cannot stand in for the catalog's.
    expect(sql.match(/SECURITY DEFINER SET search_path = pg_catalog, pg_temp/g)?.length).toBe(5);
  });

  it('the guarded peek fixes its slot, plugin options and publication: the caller chooses only how many', () => {
    const sql = peekFunctionSql(demo, { name: '"fv".peek', slot: 'fv', publication: 'fv', definer: true });
    expect(sql).toContain(
      "pg_logical_slot_peek_binary_changes('fv', NULL, upto, 'proto_version', '1', 'publication_names', '\"fv\"')",
    );
    expect(sql).toMatch(/CREATE OR REPLACE FUNCTION "fv".peek\(upto integer\)/);
    expect(sql).toContain("plugin = 'pgoutput'");
    expect(sql).not.toContain('password_hash');
  });
});
