import { FvError } from '../../errors/index.ts';
import { readSecret, type SecretSource, secretInUrl } from '../../privacy/index.ts';

/**
 * Where a ClickHouse store lives, parsed from `clickhouse://user@host:8123[,host2:8124]/db?cluster=name`
 * (plain HTTP, loopback only) or `clickhouses://…` (HTTPS). The password never travels in the URL.
 */
export interface ClickHouseLocation {
  readonly user: string;
  readonly password: string;
  /** HTTP endpoints, `host:port`; the first also holds fleetvault's bookkeeping tables. */
  readonly hosts: readonly string[];
  readonly database: string;
  /** The `<remote_servers>` cluster the tables are sharded over; absent: one server. */
  readonly cluster?: string;
  /** HTTPS (`clickhouses://`); plain HTTP is allowed to loopback hosts only. */
  readonly secure: boolean;
  /** A PEM file of the CA that signed the servers' certificates (FLEETVAULT_CLICKHOUSE_CA). */
  readonly caFile?: string;
  /** The location without its password, safe to print. */
  readonly display: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PARAMS = new Set(['cluster', 'password_file']);

/** Where the password comes from: a 0600 file or the environment, never the command line. */
export const CLICKHOUSE_PASSWORD: SecretSource = {
  what: 'the ClickHouse password',
  fileVariable: 'FLEETVAULT_CLICKHOUSE_PASSWORD_FILE',
  variable: 'FLEETVAULT_CLICKHOUSE_PASSWORD',
};
const HOST = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

export function isClickHouseUrl(location: string): boolean {
  return /^clickhouses?:\/\//.test(location);
}

/** 127.0.0.0/8, ::1 and localhost: where the password and rows may travel in plain HTTP. */
function isLoopbackHost(hostPort: string): boolean {
  const host = hostPort.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Parses a ClickHouse store location. The password comes from the file `?password_file=` names or
 * FLEETVAULT_CLICKHOUSE_PASSWORD_FILE names (readable by its owner only), else from
 * FLEETVAULT_CLICKHOUSE_PASSWORD: a URL holding one is refused (FV_SECRET_IN_URL), since a
 * command line is visible to every user of the machine for as long as the command runs.
 */
export function parseClickHouseUrl(location: string, env = process.env): ClickHouseLocation {
  const bad = (why: string): never => {
    throw new FvError(
      'FV_USAGE',
      `--store ${why}; expected clickhouse[s]://user@host:8123[,host2:port…]/database[?cluster=name][&password_file=path]`,
    );
  };
  const m = /^clickhouse(s?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)\/([^/?#]+)(?:\?([^#]*))?$/.exec(
    location,
  );
  if (!m) return bad('is not a ClickHouse URL');
  const secure = m[1] === 's';
  const user = decodeURIComponent(m[2] || 'default');
  if (m[3] !== undefined) throw secretInUrl('--store', CLICKHOUSE_PASSWORD, '?password_file=');
  const hosts = String(m[4]).split(',');
  for (const h of hosts) if (!HOST.test(h)) bad(`has a host without a port (${h.split(':')[0]})`);
  const database = decodeURIComponent(String(m[5]));
  if (!NAME.test(database)) bad('names a database that is not a plain identifier');
  const params = new URLSearchParams(m[6] ?? '');
  for (const k of params.keys()) if (!PARAMS.has(k)) bad(`has an unknown parameter "${k}"`);
  const cluster = params.get('cluster') ?? undefined;
  if (cluster !== undefined && !NAME.test(cluster)) bad('names a cluster that is not a plain identifier');
  if (cluster === undefined && hosts.length > 1) bad('lists several hosts but no ?cluster=');
  const display = `clickhouse${secure ? 's' : ''}://${user}@${hosts.join(',')}/${database}${cluster ? `?cluster=${cluster}` : ''}`;
  const remote = hosts.find((h) => !isLoopbackHost(h));
  if (!secure && remote) {
    throw new FvError(
      'FV_STORE_INSECURE',
      `--store ${display}: plain HTTP to ${remote} would carry the password and the rows in the clear beyond this machine; use clickhouses:// (HTTPS)`,
    );
  }
  const caFile = secure ? env.FLEETVAULT_CLICKHOUSE_CA || undefined : undefined;
  const file = params.get('password_file') ?? undefined;
  const password = readSecret({ ...CLICKHOUSE_PASSWORD, ...(file ? { file } : {}) }, env);
  return {
    user,
    password,
    hosts,
    database,
    ...(cluster ? { cluster } : {}),
    secure,
    ...(caFile ? { caFile } : {}),
    display,
  };
}
