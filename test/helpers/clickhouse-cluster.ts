// A ClickHouse cluster on loopback ports for tests and benchmarks: Debian's clickhouse-server run
// once per server (as user clickhouse when root), each with its own config, ports and data
// directory; with `replicas: 2`, each shard on two servers with ReplicatedReplacingMergeTree
// tables coordinated by a ZooKeeper from Debian's `zookeeper` package (a plain java process on a
// loopback port, its data in the run's folder). The servers share one users file with the two users fleetvault needs (README, "ClickHouse
// store"): `fv`, which sync and ingest write with, and `fv_reader`, read-only and limited to the
// store's database, which serve reads with. Their passwords are in 0600 files, never in a URL.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface ClickHouseCluster {
  /** The writer: `clickhouse://fv@127.0.0.1:<http1>,127.0.0.1:<http2>/fv?cluster=fv&password_file=…` */
  readonly url: string;
  /** The same database as `fv_reader` (read-only, database fv only), for serve and metrics. */
  readonly readerUrl: string;
  /** With `tls`: `clickhouses://…` over each node's HTTPS port, and the CA file that signed them. */
  readonly https?: { readonly url: string; readonly caFile: string };
  readonly user: string;
  readonly password: string;
  readonly reader: { readonly user: string; readonly password: string; readonly passwordFile: string };
  /** Every server, shard by shard (with replicas: shard 1 replica 1, shard 1 replica 2, shard 2 …). */
  readonly nodes: ReadonlyArray<{
    readonly http: number;
    readonly tcp: number;
    /** The interserver port replicas fetch parts from (HTTPS only with `tls` and replicas). */
    readonly inter: number;
    readonly dir: string;
    readonly shard: number;
    readonly replica: number;
  }>;
  /** With replicas: the ZooKeeper the servers coordinate through. */
  readonly zookeeper?: { readonly port: number; kill(): void; start(): Promise<void> };
  /** `kill -9` of server `i`; `start(i)` starts it again on the same ports and data (if it is down). */
  kill(i: number): void;
  start(i: number): Promise<void>;
  /** Creates another database on every node; resolves to the store URL for it. */
  database(name: string): Promise<string>;
  /** Runs one statement on node `i` (0-based) and resolves to its TabSeparated answer. */
  query(i: number, sql: string): Promise<string>;
  stop(): Promise<void>;
}

const SERVER = '/usr/sbin/clickhouse-server';
/**
 * The servers' log level: warning, unless FV_CH_LOG_LEVEL asks for more (information, debug,
 * trace) to see what replication did, for example while reproducing an intermittent failure.
 */
const LOG_LEVEL = /^(warning|information|debug|trace)$/.test(process.env.FV_CH_LOG_LEVEL ?? '')
  ? (process.env.FV_CH_LOG_LEVEL as string)
  : 'warning';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * The writer (default profile) and the reader: profile `reader` with readonly = 2 (no write, no DDL,
 * no change of `readonly` itself, but the per-query limits fleetvault sets are allowed; readonly = 1
 * would refuse those) and `allow_databases` naming the store's database only.
 */
const usersXml = (
  user: string,
  password: string,
  reader: string,
  readerPassword: string,
) => `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><max_threads>2</max_threads><max_memory_usage>4000000000</max_memory_usage><load_balancing>random</load_balancing></default>
    <reader><readonly>2</readonly><max_threads>2</max_threads><max_memory_usage>4000000000</max_memory_usage><load_balancing>random</load_balancing></reader>
  </profiles>
  <users>
    <${user}>
      <password>${password}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </${user}>
    <${reader}>
      <password>${readerPassword}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>reader</profile>
      <quota>default</quota>
      <allow_databases><database>fv</database></allow_databases>
    </${reader}>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;

function configXml(opts: {
  dir: string;
  http: number;
  tcp: number;
  inter: number;
  https?: number;
  users: string;
  shard: number;
  replica: number;
  servers: ReadonlyArray<{ tcp: number; shard: number }>;
  user: string;
  password: string;
  zookeeper?: number;
  interserverPassword: string;
}): string {
  const replicated = opts.zookeeper !== undefined;
  const shardNumbers = [...new Set(opts.servers.map((s) => s.shard))];
  const shards = shardNumbers
    .map(
      (n) =>
        `<shard>${replicated ? '<internal_replication>true</internal_replication>' : ''}${opts.servers
          .filter((s) => s.shard === n)
          .map(
            (s) =>
              `<replica><host>127.0.0.1</host><port>${s.tcp}</port><user>${opts.user}</user><password>${opts.password}</password></replica>`,
          )
          .join('')}</shard>`,
    )
    .join('');
  const zookeeper = replicated
    ? `
  <zookeeper><node><host>127.0.0.1</host><port>${opts.zookeeper}</port></node><session_timeout_ms>6000</session_timeout_ms><operation_timeout_ms>3000</operation_timeout_ms></zookeeper>
  <macros><shard>${opts.shard}</shard><replica>s${opts.shard}r${opts.replica}</replica></macros>`
    : '';
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>${LOG_LEVEL}</level><log>${opts.dir}/log/server.log</log><errorlog>${opts.dir}/log/error.log</errorlog><size>${LOG_LEVEL === 'warning' ? '10M' : '200M'}</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${opts.http}</http_port>${
    opts.https
      ? `
  <https_port>${opts.https}</https_port>
  <openSSL><server><certificateFile>${opts.dir}/../tls/server.pem</certificateFile><privateKeyFile>${opts.dir}/../tls/server.key</privateKeyFile><verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols><preferServerCiphers>true</preferServerCiphers></server><client><loadDefaultCAFile>false</loadDefaultCAFile><caConfig>${opts.dir}/../tls/ca.pem</caConfig><verificationMode>strict</verificationMode><disableProtocols>sslv2,sslv3,tlsv1,tlsv1_1</disableProtocols><invalidCertificateHandler><name>RejectCertificateHandler</name></invalidCertificateHandler></client></openSSL>`
      : ''
  }
  <tcp_port>${opts.tcp}</tcp_port>${
    // With TLS and replicas, replicas fetch parts from each other over HTTPS only, verified
    // against the run's CA, and with credentials (README, "Interserver TLS").
    opts.https && replicated
      ? `
  <interserver_https_port>${opts.inter}</interserver_https_port>
  <interserver_http_credentials><user>replication</user><password>${opts.interserverPassword}</password></interserver_http_credentials>`
      : `
  <interserver_http_port>${opts.inter}</interserver_http_port>`
  }
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_connections>256</max_connections>
  <keep_alive_timeout>3</keep_alive_timeout>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <path>${opts.dir}/data/</path>
  <tmp_path>${opts.dir}/tmp/</tmp_path>
  <user_files_path>${opts.dir}/user_files/</user_files_path>
  <format_schema_path>${opts.dir}/format_schemas/</format_schema_path>
  <users_config>${opts.users}</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <remote_servers><fv>${shards}</fv></remote_servers>${zookeeper}
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
</yandex>
`;
}

async function ping(http: number, user: string, password: string): Promise<boolean> {
  try {
    const r = await fetch(`http://127.0.0.1:${http}/?query=SELECT%201`, {
      headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': password },
    });
    return r.ok;
  } catch {
    return false;
  }
}

/** A CA and a certificate for 127.0.0.1 it signed, made with openssl in `dir`. */
function makeCertificates(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=fleetvault test CA',
  );
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  );
  rmSync(join(dir, 'ca.key'));
}

const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';

/** Answers ZooKeeper's `ruok` with `imok`: the server is up and serving. */
async function zookeeperOk(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write('ruok'));
    // A server still starting may take the connection and never answer: ask again later.
    s.setTimeout(1000, () => s.destroy());
    let got = '';
    s.on('data', (d) => {
      got += String(d);
    });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(got === 'imok'));
  });
}

/**
 * ZooKeeper from Debian's package, standalone, as a plain java process of the current user on a
 * free loopback port, its data in `dir`. Its jar's manifest names the jars it needs.
 */
async function startZooKeeper(dir: string): Promise<{ port: number; kill(): void; start(): Promise<void> }> {
  const port = await freePort();
  mkdirSync(join(dir, 'data'), { recursive: true });
  const cfg = join(dir, 'zoo.cfg');
  writeFileSync(
    cfg,
    [
      'tickTime=500',
      'minSessionTimeout=1000',
      'maxSessionTimeout=10000',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      '4lw.commands.whitelist=ruok',
      'admin.enableServer=false',
      'autopurge.purgeInterval=0',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'java',
      ['-Xmx256m', '-cp', ZOOKEEPER_JAR, 'org.apache.zookeeper.server.ZooKeeperServerMain', cfg],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: false },
    );
    let err = '';
    child.stderr?.on('data', (d) => {
      err = (err + String(d)).slice(-2000);
    });
    const deadline = Date.now() + 60_000;
    while (!(await zookeeperOk(port))) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`zookeeper on port ${port} did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  await start();
  return {
    port,
    kill: () => {
      child?.kill('SIGKILL');
    },
    start,
  };
}

/**
 * Starts a cluster as `startOnce` does. A free port is found by binding and releasing it, so on a
 * busy machine another process may take it before a server binds it: that start is cleaned up
 * and the cluster started again on new ports (three tries).
 */
export async function startClickHouseCluster(
  shardCount = 2,
  opts: { tls?: boolean; replicas?: number } = {},
): Promise<ClickHouseCluster> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(shardCount, opts);
    } catch (error) {
      if (attempt >= 3 || !/Address already in use/.test(String((error as Error).message))) throw error;
    }
  }
}

/**
 * Starts a fresh cluster named `fv` with database `fv`: `shardCount` shards, each on `replicas`
 * servers (with more than one, ZooKeeper too and `internal_replication`); `stop()` kills it all
 * and removes its files. As root the servers run as user clickhouse (through runuser), otherwise
 * as the current user. With `tls`, each server also serves HTTPS with a certificate from a CA
 * made for the run, and with replicas too, the replicas fetch parts from each other over HTTPS
 * only (`interserver_https_port`, the peer's certificate checked against that CA, credentials).
 */
async function startOnce(
  shardCount: number,
  opts: { tls?: boolean; replicas?: number },
): Promise<ClickHouseCluster> {
  const root = mkdtempSync(join(tmpdir(), 'fv-ch-'));
  chmodSync(root, 0o755);
  if (opts.tls) makeCertificates(join(root, 'tls'));
  const replicas = opts.replicas ?? 1;
  const user = 'fv';
  const password = randomBytes(12).toString('hex');
  const reader = 'fv_reader';
  const readerPassword = randomBytes(12).toString('hex');
  const interserverPassword = randomBytes(12).toString('hex');
  const users = join(root, 'users.xml');
  writeFileSync(users, usersXml(user, password, reader, readerPassword), { mode: 0o640 });
  // The clients' password files: owner-only, outside the servers' folder (which clickhouse owns).
  const secrets = mkdtempSync(join(tmpdir(), 'fv-ch-secrets-'));
  const passwordFile = join(secrets, 'fv.pw');
  const readerPasswordFile = join(secrets, 'fv_reader.pw');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  writeFileSync(readerPasswordFile, `${readerPassword}\n`, { mode: 0o600 });
  const nodes: Array<{
    http: number;
    tcp: number;
    inter: number;
    https?: number;
    dir: string;
    shard: number;
    replica: number;
  }> = [];
  for (let shard = 1; shard <= shardCount; shard++) {
    for (let replica = 1; replica <= replicas; replica++) {
      nodes.push({
        ...(opts.tls ? { https: await freePort() } : {}),
        http: await freePort(),
        tcp: await freePort(),
        inter: await freePort(),
        dir: join(root, replicas > 1 ? `node${shard}-${replica}` : `node${shard}`),
        shard,
        replica,
      });
    }
  }
  let zookeeper: Awaited<ReturnType<typeof startZooKeeper>> | undefined;
  const pidOf = (n: (typeof nodes)[0]): number | undefined => {
    const pidFile = join(n.dir, 'server.pid');
    if (!existsSync(pidFile)) return undefined;
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  };
  /**
   * Why server `n` is gone when it was not killed here (its pid file kept, its process not
   * running): the crash lines of its error log (signal, BaseDaemon's stack frames, fatal messages; query text
   * left out), also copied whole to a folder kept after `stop()`. Empty while it runs.
   */
  const deaths = new Map<(typeof nodes)[0], string>();
  const died = (n: (typeof nodes)[0]): string => {
    const known = deaths.get(n);
    if (known !== undefined) return known;
    const pid = pidOf(n);
    if (pid === undefined) return '';
    try {
      process.kill(pid, 0);
      return '';
    } catch {
      // not running: it ended by itself
    }
    const log = join(n.dir, 'log');
    const kept = mkdtempSync(join(tmpdir(), 'fv-ch-crash-'));
    cpSync(log, kept, { recursive: true });
    const errors = existsSync(join(log, 'error.log')) ? readFileSync(join(log, 'error.log'), 'utf8') : '';
    const crash = errors
      .split('\n')
      .filter((l) =>
        /BaseDaemon|signal|Received|Segmentation|Fatal|Terminate|Memory limit|std::bad_alloc|^\S*\s*\d+\. /.test(
          l,
        ),
      )
      .slice(-40)
      .map((l) => l.slice(0, 300))
      .join('\n');
    const why = `clickhouse-server on port ${n.http} (pid ${pid}) ended by itself; its logs are kept in ${kept}:\n${crash || '(no crash lines in error.log)'}`;
    deaths.set(n, why);
    return why;
  };
  const kill = (i: number) => {
    const n = nodes[i] as (typeof nodes)[0];
    const pid = pidOf(n);
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(join(n.dir, 'server.pid'), { force: true });
  };
  const stop = async () => {
    // A server that ended by itself fails the run that started it, with its crash lines.
    const crashes = nodes.map(died).filter((why) => why !== '');
    for (let i = 0; i < nodes.length; i++) kill(i);
    zookeeper?.kill();
    await new Promise((r) => setTimeout(r, 200));
    rmSync(root, { recursive: true, force: true });
    rmSync(secrets, { recursive: true, force: true });
    if (crashes.length > 0) throw new Error(crashes.join('\n'));
  };
  // As root the servers run as Debian's clickhouse user; otherwise as whoever runs the tests.
  const asRoot = process.getuid?.() === 0;
  const waitFor = async (n: (typeof nodes)[0]) => {
    const deadline = Date.now() + 60_000;
    while (!(await ping(n.http, user, password))) {
      if (Date.now() > deadline) {
        const log = join(n.dir, 'log/error.log');
        throw new Error(
          `clickhouse-server on port ${n.http} did not answer: ${
            existsSync(log)
              ? readFileSync(log, 'utf8')
                  .split('\n')
                  .filter((l) => l.includes('Exception'))
                  .slice(0, 3)
                  .map((l) => l.slice(0, 700))
                  .join('\n')
              : 'no log'
          }`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const launch = (n: (typeof nodes)[0]) => {
    const server = [
      SERVER,
      `--config-file=${join(n.dir, 'config.xml')}`,
      `--pid-file=${join(n.dir, 'server.pid')}`,
      '--daemon',
    ];
    const [cmd, ...args] = asRoot ? ['runuser', '-u', 'clickhouse', '--', ...server] : server;
    const r = spawnSync(cmd as string, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`clickhouse-server did not start: ${r.stderr || r.stdout}`);
  };
  try {
    if (replicas > 1) zookeeper = await startZooKeeper(join(root, 'zookeeper'));
    for (const n of nodes) {
      for (const d of ['data', 'tmp', 'log', 'user_files', 'format_schemas']) {
        mkdirSync(join(n.dir, d), { recursive: true });
      }
      writeFileSync(
        join(n.dir, 'config.xml'),
        configXml({
          ...n,
          users,
          servers: nodes,
          user,
          password,
          interserverPassword,
          ...(zookeeper ? { zookeeper: zookeeper.port } : {}),
        }),
      );
    }
    if (asRoot) execFileSync('chown', ['-R', 'clickhouse:clickhouse', root]);
    for (const n of nodes) launch(n);
    for (const n of nodes) await waitFor(n);
  } catch (error) {
    await stop().catch(() => undefined); // the start's own error says more
    throw error;
  }
  const hosts = nodes.map((n) => `127.0.0.1:${n.http}`).join(',');
  const query = async (i: number, sql: string): Promise<string> => {
    const n = nodes[i] as (typeof nodes)[0];
    const send = () =>
      fetch(`http://127.0.0.1:${n.http}/`, {
        method: 'POST',
        body: sql,
        headers: { 'X-ClickHouse-User': user, 'X-ClickHouse-Key': password },
      });
    // A kept-alive socket the server closed after its keep_alive_timeout fails once: send again.
    const dead = (error: Error) => {
      const why = died(n);
      throw why ? new Error(`node ${i + 1}: ${why}`, { cause: error }) : error;
    };
    const r = await send().catch(send).catch(dead);
    const text = await r.text().catch(dead);
    if (!r.ok) throw new Error(`node ${i + 1}: ${text.slice(0, 300)}`);
    return text;
  };
  const database = async (name: string) => {
    for (let i = 0; i < nodes.length; i++) await query(i, `CREATE DATABASE IF NOT EXISTS ${name}`);
    return `clickhouse://${user}@${hosts}/${name}?cluster=fv&password_file=${passwordFile}`;
  };
  const url = await database('fv');
  const https = opts.tls
    ? {
        url: `clickhouses://${user}@${nodes.map((n) => `127.0.0.1:${n.https}`).join(',')}/fv?cluster=fv&password_file=${passwordFile}`,
        caFile: join(root, 'tls', 'ca.pem'),
      }
    : undefined;
  return {
    url,
    readerUrl: `clickhouse://${reader}@${hosts}/fv?cluster=fv&password_file=${readerPasswordFile}`,
    ...(https ? { https } : {}),
    user,
    password,
    reader: { user: reader, password: readerPassword, passwordFile: readerPasswordFile },
    nodes: nodes.map(({ http, tcp, inter, dir, shard, replica }) => ({
      http,
      tcp,
      inter,
      dir,
      shard,
      replica,
    })),
    ...(zookeeper ? { zookeeper } : {}),
    kill,
    start: async (i: number) => {
      const n = nodes[i] as (typeof nodes)[0];
      if (await ping(n.http, user, password)) return; // running already
      launch(n);
      await waitFor(n);
    },
    database,
    query,
    stop,
  };
}
