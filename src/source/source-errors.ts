import { FvError } from '../errors/index.ts';

const AUTH = new Set(['28000', '28P01']);
const HOST = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME']);
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/**
 * The catalog error for a driver or network failure while talking to the source, or undefined
 * when it is not one fleetvault knows. The message names the server or relation and the driver's
 * code, never the driver's text (which can quote values).
 *
 * @example
 * throw sourceError(e, { server: 'db.internal:5432/prod' }) ?? e;
 */
export function sourceError(
  error: unknown,
  where: { readonly server?: string; readonly relation?: string },
): FvError | undefined {
  const code = (error as { code?: unknown }).code;
  const c = typeof code === 'string' ? code : '';
  const server = where.server ? ` ${where.server}` : '';
  if (AUTH.has(c)) return new FvError('FV_SOURCE_AUTH', `the source${server} refused the login (${c})`);
  if (c === '3D000')
    return new FvError('FV_SOURCE_DATABASE', `the database of the source${server} does not exist (${c})`);
  if (HOST.has(c))
    return new FvError('FV_SOURCE_HOST', `the host of the source${server} does not resolve (${c})`);
  if (UNREACHABLE.has(c))
    return new FvError('FV_SOURCE_UNREACHABLE', `cannot connect to the source${server} (${c})`);
  if (c === '55000' && where.relation) {
    return new FvError(
      'FV_SOURCE_NOT_POPULATED',
      `${where.relation} is a materialized view that has never been populated (${c})`,
    );
  }
  if (c === '42501' && where.relation) {
    return new FvError(
      'FV_SOURCE_PRIVILEGE',
      `the source refused to read ${where.relation} (permission denied)`,
    );
  }
  const message = error instanceof Error ? error.message : '';
  if (c === '' && /timeout|terminated/i.test(message)) {
    return new FvError('FV_SOURCE_UNREACHABLE', `cannot connect to the source${server} (timeout)`);
  }
  if (/^[0-9A-Z]{5}$/.test(c)) {
    return new FvError(
      'FV_SOURCE_QUERY',
      `the source${server} refused a query${where.relation ? ` on ${where.relation}` : ''} (${c})`,
    );
  }
  return undefined;
}

/** Whether a URL names a PostgreSQL server (the only source fleetvault reads). */
export function isPostgresUrl(url: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(url.trim());
}
