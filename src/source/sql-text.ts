/** Quotes an SQL identifier (PostgreSQL and DuckDB share the rule). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes a string literal with standard_conforming_strings semantics. */
export function quoteLiteral(value: string): string {
  if (value.includes('\\')) return `E'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  return `'${value.replaceAll("'", "''")}'`;
}

/** A connection URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    const user = u.username ? `${decodeURIComponent(u.username)}@` : '';
    return `${u.protocol}//${user}${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'the given source URL';
  }
}
