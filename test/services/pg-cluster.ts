// A PostgreSQL cluster of the tests' own: Debian's initdb and pg_ctl, a temporary data directory,
// a free loopback port, logical decoding on, superuser `postgres` with trust auth on loopback.
// The machine's own cluster (if any) is never used, reconfigured or restarted.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';

/** The one role of the test cluster that must log in with its password (the others use trust). */
export const PASSWORD_ROLE = 'fv_password_user';

export interface PgCluster {
  readonly host: string;
  readonly port: number;
  /** The data directory (removed by `stop()`). */
  readonly dir: string;
  stop(): void;
}

/** Settings the tests need; everything else is initdb's default. */
const SETTINGS: Readonly<Record<string, string | number>> = {
  listen_addresses: "'127.0.0.1'",
  wal_level: 'logical',
  max_replication_slots: 40,
  max_wal_senders: 40,
  max_connections: 300,
  // A throwaway cluster: durability across a power cut is not what the tests prove
  // (crash tests kill fleetvault, never PostgreSQL).
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
  shared_buffers: "'256MB'",
  max_wal_size: "'2GB'",
  log_min_messages: 'warning',
};

/** The newest Debian PostgreSQL server binaries (`/usr/lib/postgresql/<major>/bin`). */
export function postgresBinDir(): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const majors = readdirSync(base)
    .filter((d) => existsSync(join(base, d, 'bin', 'initdb')) && existsSync(join(base, d, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  return majors[0] === undefined ? undefined : join(base, majors[0], 'bin');
}

const isRoot = () => process.getuid?.() === 0;

/** Runs a PostgreSQL binary as user `postgres` when we are root (initdb refuses root), else as us. */
function runPg(bin: string, args: readonly string[]): void {
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, [...args]];
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `${bin.split('/').pop()} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().slice(-1500)}`,
    );
  }
}

/** Creates and starts a fresh cluster; resolves once it accepts connections. */
export async function startPgCluster(): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (!bin)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)',
    );
  const root = mkdtempSync(join(tmpdir(), 'fv-pg-'));
  const dir = join(root, 'data');
  if (isRoot()) {
    chmodSync(root, 0o755);
    execFileSync('chown', ['postgres:postgres', root]);
  }
  const port = await freePort();
  const stop = () => {
    if (existsSync(join(dir, 'postmaster.pid'))) {
      spawnSync(isRoot() ? 'runuser' : join(bin, 'pg_ctl'), [
        ...(isRoot() ? ['-u', 'postgres', '--', join(bin, 'pg_ctl')] : []),
        '-D',
        dir,
        '-m',
        'immediate',
        '-w',
        'stop',
      ]);
    }
    rmSync(root, { recursive: true, force: true });
  };
  try {
    runPg(join(bin, 'initdb'), [
      '-D',
      dir,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C',
      '-N',
    ]);
    const conf = Object.entries({ ...SETTINGS, port, unix_socket_directories: `'${root}'` })
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n');
    writeFileSync(join(dir, 'postgresql.auto.conf'), `${conf}\n`);
    // Loopback only, trust: the tests connect as postgres and as the roles they create; one role
    // logs in with a password, so a wrong password is a real refusal (the CLI error table).
    writeFileSync(
      join(dir, 'pg_hba.conf'),
      `host all ${PASSWORD_ROLE} 127.0.0.1/32 scram-sha-256\nlocal all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n`,
    );
    if (isRoot())
      execFileSync('chown', [
        'postgres:postgres',
        join(dir, 'postgresql.auto.conf'),
        join(dir, 'pg_hba.conf'),
      ]);
    runPg(join(bin, 'pg_ctl'), ['-D', dir, '-l', join(root, 'server.log'), '-w', '-t', '60', 'start']);
  } catch (error) {
    const log = join(root, 'server.log');
    const tail = existsSync(log) ? `\n${readFileSync(log, 'utf8').slice(-1500)}` : '';
    stop();
    throw new Error(`${(error as Error).message}${tail}`);
  }
  return { host: '127.0.0.1', port, dir, stop };
}
