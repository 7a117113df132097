import pg from 'pg';
import { FvError } from '../errors/index.ts';
import { describeUrl } from './sql-text.ts';

/**
 * Connects to the source PostgreSQL. A failure is one clear error naming the server (never the
 * password). The session is read-only and pinned to UTC.
 */
export async function connectSource(url: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'fleetvault',
    connectionTimeoutMillis: 10_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query("SET default_transaction_read_only = on; SET TIME ZONE 'UTC'");
  } catch (error) {
    await client.end().catch(() => {});
    const reason = (error as { code?: string }).code ?? 'connection failed';
    throw new FvError('FV_SOURCE_UNREACHABLE', `cannot connect to source ${describeUrl(url)} (${reason})`);
  }
  return client;
}

/** The database name of a connection URL (for GRANT CONNECT). */
export function databaseOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || 'postgres';
  } catch {
    return 'postgres';
  }
}
