import pg from 'pg';
import { FvError } from '../errors/index.ts';
import { isPostgresUrl, sourceError } from './source-errors.ts';
import { describeUrl } from './sql-text.ts';

/**
 * Connects to the source PostgreSQL. A failure is one clear error naming the server (never the
 * password). The session is read-only and pinned to UTC.
 */
export async function connectSource(url: string): Promise<pg.Client> {
  if (!isPostgresUrl(url)) {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.trim())?.[1];
    throw new FvError(
      'FV_SOURCE_URL',
      scheme ? `the source URL is a ${scheme}: URL; fleetvault reads PostgreSQL` : 'the source is not a URL',
    );
  }
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
    const mapped = sourceError(error, { server: describeUrl(url) });
    if (mapped && mapped.code !== 'FV_SOURCE_QUERY') throw mapped;
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
