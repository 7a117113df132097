import { randomBytes } from 'node:crypto';
import pg from 'pg';

// The cluster the global setup (test/setup/global-services.ts) started for this run: the tests
// never fall back to a server the machine happens to run.
function fromEnv(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests through vitest (its global setup starts PostgreSQL)`);
  return value;
}
export const PG_HOST = fromEnv('FV_TEST_PG_HOST');
export const PG_PORT = Number(fromEnv('FV_TEST_PG_PORT'));

export function pgUrl(database: string, user = 'postgres'): string {
  return `postgres://${user}@${PG_HOST}:${PG_PORT}/${database}`;
}

export async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh database on the tests' PostgreSQL, dropped (with its roles) by `drop()`. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  readonly roles: string[];
  query(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'fv_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await withClient(pgUrl('postgres'), (c) => c.query(`CREATE DATABASE ${name}`));
  const url = pgUrl(name);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const roles: string[] = [];
  return {
    name,
    url,
    roles,
    query: (sql, params) => client.query(sql, params),
    async drop() {
      await client.end();
      await withClient(pgUrl('postgres'), async (c) => {
        // Change-capture slots hold WAL and block the drop: they go first.
        await c.query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1',
          [name],
        );
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        for (const r of roles) await c.query(`DROP ROLE IF EXISTS ${r}`);
      });
    },
  };
}
