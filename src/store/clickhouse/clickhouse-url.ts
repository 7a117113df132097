import { FvError } from '../../errors/index.ts';

/** Where a ClickHouse store lives, parsed from `clickhouse://user:pass@host:8123[,host2:8124]/db?cluster=name`. */
export interface ClickHouseLocation {
  readonly user: string;
  readonly password: string;
  /** HTTP endpoints, `host:port`; the first also holds fleetvault's bookkeeping tables. */
  readonly hosts: readonly string[];
  readonly database: string;
  /** The `<remote_servers>` cluster the tables are sharded over; absent: one server. */
  readonly cluster?: string;
  /** The location without its password, safe to print. */
  readonly display: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HOST = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

export function isClickHouseUrl(location: string): boolean {
  return location.startsWith('clickhouse://');
}

/**
 * Parses a ClickHouse store location. The password may instead come from
 * FLEETVAULT_CLICKHOUSE_PASSWORD (so it stays out of the process list). Messages never repeat it.
 */
export function parseClickHouseUrl(location: string, env = process.env): ClickHouseLocation {
  const bad = (why: string): never => {
    throw new FvError(
      'FV_USAGE',
      `--store ${why}; expected clickhouse://user:password@host:8123[,host2:port…]/database[?cluster=name]`,
    );
  };
  const m = /^clickhouse:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/([^/?#]+)(?:\?([^#]*))?$/.exec(location);
  if (!m) return bad('is not a ClickHouse URL');
  const user = decodeURIComponent(m[1] || 'default');
  const password = m[2] !== undefined ? decodeURIComponent(m[2]) : (env.FLEETVAULT_CLICKHOUSE_PASSWORD ?? '');
  const hosts = String(m[3]).split(',');
  for (const h of hosts) if (!HOST.test(h)) bad(`has a host without a port (${h.split(':')[0]})`);
  const database = decodeURIComponent(String(m[4]));
  if (!NAME.test(database)) bad('names a database that is not a plain identifier');
  const params = new URLSearchParams(m[5] ?? '');
  for (const k of params.keys()) if (k !== 'cluster') bad(`has an unknown parameter "${k}"`);
  const cluster = params.get('cluster') ?? undefined;
  if (cluster !== undefined && !NAME.test(cluster)) bad('names a cluster that is not a plain identifier');
  if (cluster === undefined && hosts.length > 1) bad('lists several hosts but no ?cluster=');
  const display = `clickhouse://${user}@${hosts.join(',')}/${database}${cluster ? `?cluster=${cluster}` : ''}`;
  return { user, password, hosts, database, ...(cluster ? { cluster } : {}), display };
}
